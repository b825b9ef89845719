/**
 * Decoding of an OpenAI-compatible streamed completion (`stream: true`): SSE framing by eventsource-parser, then
 * the chunk JSON of chat (`choices[0].delta.content`) or completions (`choices[0].text`), the finish reason, the
 * usage chunk (`stream_options.include_usage`), `[DONE]`, and in-stream error events.
 *
 * Token counts: the mock server adds a vendor field `x_mock: { index, count }` to every token chunk (sim/sse.ts),
 * because one chunk may carry several tokens. Servers without it (vLLM, OpenAI) are counted one token per
 * non-empty chunk, indexed from where the call started; their final `usage` remains the authoritative total.
 */
import { createParser, type EventSourceParser } from 'eventsource-parser';

/** Tokens decoded since the last {@link CompletionStreamDecoder.take}, coalesced into one chunk. */
export interface TokenBatch {
  readonly type?: undefined;
  /** Absolute index of the first token. */
  readonly index: number;
  readonly count: number;
  readonly text: string;
}

/**
 * A part of a chunk the engine does not interpret, as the upstream sent it: choice 0's delta without `content`
 * and `role` (`tool_calls`, `refusal`, `reasoning_content`, ...) and its `logprobs`; another choice's delta whole.
 */
export interface ExtraDelta {
  readonly type: 'extra';
  readonly choice: number;
  readonly delta?: Readonly<Record<string, unknown>>;
  readonly logprobs?: unknown;
  readonly finishReason?: string;
}

interface ChunkChoice {
  readonly index?: unknown;
  readonly delta?: ({ readonly content?: unknown } & Record<string, unknown>) | null;
  readonly text?: unknown;
  readonly logprobs?: unknown;
  readonly finish_reason?: unknown;
}

interface ChunkBody {
  readonly choices?: unknown;
  readonly usage?: ({
    readonly prompt_tokens?: unknown;
    readonly completion_tokens?: unknown;
    readonly prompt_tokens_details?: { readonly cached_tokens?: unknown } | null;
  } & Record<string, unknown>) | null;
  readonly x_mock?: { readonly index?: unknown; readonly count?: unknown } | null;
  readonly error?: unknown;
  readonly object?: unknown;
  readonly message?: unknown;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** A JSON string literal (escapes included, raw control characters excluded, as JSON.parse wants). */
const JSON_STRING = String.raw`"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"`;
/** A JSON integer >= 0 (no leading zeros, as JSON.parse wants). */
const JSON_UINT = '(?:0|[1-9][0-9]*)';
/**
 * The common token chunk, byte for byte as the mock (sim/sse.ts) writes it and close to what OpenAI and vLLM send:
 * one choice 0 with content (chat) or text (completions), no finish reason, no usage, optional `x_mock`. Matched
 * whole (anchored, every key and value spelled out), so a match carries exactly the fields JSON.parse would give;
 * anything else (other keys, key order, whitespace, errors) goes through JSON.parse. A token costs a regular
 * expression instead of parsing five objects.
 */
const TOKEN_CHUNK = new RegExp(
  `^\\{"id":${JSON_STRING},"object":"(?:chat\\.completion\\.chunk|text_completion)","created":${JSON_UINT},"model":${JSON_STRING},` +
    `"choices":\\[\\{"index":0,(?:"delta":\\{"content":(${JSON_STRING})\\}|"text":(${JSON_STRING})),"logprobs":null,"finish_reason":null\\}\\]` +
    `(?:,"x_mock":\\{"index":(${JSON_UINT}),"count":(${JSON_UINT})\\})?\\}$`,
);

/** The value of a JSON string literal matched by JSON_STRING. */
function stringValue(literal: string): string {
  return literal.includes('\\') ? (JSON.parse(literal) as string) : literal.slice(1, -1);
}

/** The message of an in-stream error: OpenAI's `{ error: { message } }` or vLLM's `{ object: 'error', message }`. */
function errorMessage(body: ChunkBody): string | undefined {
  if (body.error !== undefined && body.error !== null) {
    const m = (body.error as { message?: unknown }).message;
    return typeof m === 'string' ? m : typeof body.error === 'string' ? body.error : JSON.stringify(body.error);
  }
  if (body.object === 'error') return typeof body.message === 'string' ? body.message : 'error';
  return undefined;
}

/**
 * Incremental decoder of one streamed completion. Feed it text as it arrives; after each feed, `take()` the
 * tokens decoded so far and check `failure` and `done`. Events after `[DONE]` or a failure are ignored.
 */
export class CompletionStreamDecoder {
  /** Absolute index of the next token: the call's start plus the tokens decoded. */
  next: number;
  /** `[DONE]` arrived. */
  done = false;
  /** Why the stream is broken (an in-stream error event, an unparseable chunk); undefined while healthy. */
  failure: string | undefined;
  /** The finish reason of choice 0 as the server sent it (`stop`, `length`, `tool_calls`, ...). */
  finishReason: string | undefined;
  /** The usage chunk, when the server sent one (`wire`: the object as sent). */
  usage: { promptTokens: number; completionTokens: number; cachedPromptTokens?: number; wire: Readonly<Record<string, unknown>> } | undefined;
  /** Closed token batches and extras, in stream order, waiting for `take()` (empty unless extras arrived). */
  private readonly queue: Array<TokenBatch | ExtraDelta> = [];

  private readonly parser: EventSourceParser;
  private batchIndex = 0;
  private batchCount = 0;
  private batchText = '';
  private tail = '';
  private fed = false;

  /** @param startIndex the first token's absolute index (`resumeFrom`, or 0). */
  constructor(startIndex: number) {
    this.next = startIndex;
    this.parser = createParser({ onEvent: (e) => this.onData(e.data) });
  }

  /** Feeds decoded text (any split, including mid-event). */
  feed(text: string): void {
    if (text.length === 0) return;
    this.fed = true;
    this.tail = (this.tail + text).slice(-4);
    this.parser.feed(text);
  }

  /**
   * True when bytes arrived after the last complete event: the stream broke inside an event, i.e. a truncated
   * chunk. False before any byte and right after a blank line.
   */
  get partial(): boolean {
    if (!this.fed) return false;
    const t = this.tail;
    return !(t.endsWith('\n\n') || t.endsWith('\r\r') || t.endsWith('\r\n\r\n'));
  }

  /** Characters of token text decoded and not yet taken. */
  get pendingChars(): number {
    return this.batchText.length;
  }

  /** In stream order: the tokens decoded since the last call as one chunk, or an extra; undefined when none. */
  take(): TokenBatch | ExtraDelta | undefined {
    if (this.queue.length > 0) return this.queue.shift();
    if (this.batchCount === 0) return undefined;
    const b: TokenBatch = { index: this.batchIndex, count: this.batchCount, text: this.batchText };
    this.batchCount = 0;
    this.batchText = '';
    return b;
  }

  private onData(data: string): void {
    if (this.done || this.failure !== undefined) return;
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    const m = TOKEN_CHUNK.exec(data);
    if (m !== null) {
      const text = stringValue(m[1] ?? m[2] ?? '""');
      this.add(text, m[3] === undefined ? undefined : Number(m[3]), m[4] === undefined ? undefined : Number(m[4]));
      return;
    }
    let body: ChunkBody;
    try {
      body = JSON.parse(data) as ChunkBody;
    } catch {
      this.failure = `truncated chunk (unparseable event: ${JSON.stringify(data.slice(0, 60))})`;
      return;
    }
    if (body === null || typeof body !== 'object') {
      this.failure = `unexpected event: ${JSON.stringify(data.slice(0, 60))}`;
      return;
    }
    const err = errorMessage(body);
    if (err !== undefined) {
      this.failure = `error event in stream: ${err}`;
      return;
    }
    if (body.usage !== undefined && body.usage !== null) {
      const p = body.usage.prompt_tokens;
      const c = body.usage.completion_tokens;
      // Prompt tokens served from the server's prefix cache (vLLM, OpenAI), when it reports them.
      const cached = body.usage.prompt_tokens_details?.cached_tokens;
      if (isCount(p) && isCount(c)) this.usage = { promptTokens: p, completionTokens: c, ...(isCount(cached) ? { cachedPromptTokens: cached } : {}), wire: body.usage };
    }
    if (!Array.isArray(body.choices)) return;
    for (const raw of body.choices as unknown[]) {
      const choice = raw as ChunkChoice;
      if (choice === null || typeof choice !== 'object') continue;
      const reason = typeof choice.finish_reason === 'string' ? choice.finish_reason : undefined;
      if (choice.index !== undefined && choice.index !== 0) {
        // Another choice (n > 1): the engine streams choice 0; the others pass through as they came.
        this.extra({
          type: 'extra',
          choice: isCount(choice.index) ? choice.index : 0,
          ...(choice.delta != null ? { delta: choice.delta } : choice.text !== undefined ? { delta: { text: choice.text } } : {}),
          ...(choice.logprobs != null ? { logprobs: choice.logprobs } : {}),
          ...(reason !== undefined ? { finishReason: reason } : {}),
        });
        continue;
      }
      const content = choice.delta?.content ?? choice.text;
      const x = body.x_mock;
      this.add(typeof content === 'string' ? content : '', x?.index, x?.count);
      const rest = choice.delta == null ? undefined : otherDeltaFields(choice.delta);
      if (rest !== undefined || choice.logprobs != null) {
        this.extra({ type: 'extra', choice: 0, ...(rest !== undefined ? { delta: rest } : {}), ...(choice.logprobs != null ? { logprobs: choice.logprobs } : {}) });
      }
      if (reason !== undefined) this.finishReason = reason;
    }
  }

  /** Closes the token batch in progress (order is kept) and queues the extra. */
  private extra(e: ExtraDelta): void {
    if (this.batchCount > 0) {
      this.queue.push({ index: this.batchIndex, count: this.batchCount, text: this.batchText });
      this.batchCount = 0;
      this.batchText = '';
    }
    this.queue.push(e);
  }

  /** Whether anything waits for `take()`. */
  get pending(): boolean {
    return this.batchCount > 0 || this.queue.length > 0;
  }

  /** Tokens of choice 0: `x_mock` counts when valid, else one token per non-empty text from where we are. */
  private add(text: string, xIndex: unknown, xCount: unknown): void {
    const count = isCount(xCount) ? xCount : text.length > 0 ? 1 : 0;
    if (count === 0) return;
    const index = isCount(xIndex) ? xIndex : this.next;
    if (this.batchCount === 0) this.batchIndex = index;
    this.batchCount += count;
    this.batchText += text;
    this.next = index + count;
  }
}

/** A delta's fields besides `content` and `role` that carry something (not null); undefined when none. */
function otherDeltaFields(delta: Readonly<Record<string, unknown>>): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const k in delta) {
    if (k === 'content' || k === 'role') continue;
    const v = delta[k];
    if (v === null || v === undefined) continue;
    (out ??= {})[k] = v;
  }
  return out;
}
