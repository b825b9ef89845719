import { abortReason } from '../../errors.js';
import type { Clock } from '../../time/clock.js';
import type {
  EmbeddingItem,
  EmbeddingRequest,
  EmbeddingResult,
  ModelClient,
  ModelRequest,
  StreamEvent,
  StreamOptions,
  CallOptions,
  UpstreamCapabilities,
} from '../../upstream/model-client.js';

/** What one scripted stream call does. Times are virtual ms on the fake's clock. */
export interface StreamScript {
  /** Total output tokens of the request. @default 10 */
  tokens?: number;
  /** Tokens per chunk. @default 1 */
  chunk?: number;
  /** Delay before the first chunk (or the error). @default 10 */
  ttftMs?: number;
  /** Delay between chunks. @default 5 */
  itlMs?: number;
  /** Thrown before any token. */
  error?: Error;
  /** Thrown once `afterTokens` tokens (counted from 0, resume included) have been sent. */
  failAfter?: { afterTokens: number; error: Error };
  /** Stop sending after this many tokens and keep the call open until aborted (a stall). */
  stallAfter?: number;
  /** Never answer (until aborted). */
  hang?: boolean;
  /** Ignore `resumeFrom` and restart from token 0, as a server without resume does. @default false */
  ignoreResume?: boolean;
}

/** What one scripted embed call does. */
export interface EmbedScript {
  /** @default 5 */
  latencyMs?: number;
  /** Thrown for the whole call. */
  error?: Error;
  /** Inputs (by text) that fail individually. */
  failInputs?: ReadonlyMap<string, Error>;
}

/** One call the fake received. */
export interface FakeCall {
  readonly kind: 'stream' | 'embed';
  readonly id: string;
  readonly atMs: number;
  readonly resumeFrom: number | undefined;
  /** This call's number for this request id, from 0. */
  readonly n: number;
  readonly request: ModelRequest | EmbeddingRequest;
  aborted: boolean;
}

/** Deterministic token text: depends only on (request id, token index), so a resumed stream continues exactly. */
export function tokenText(id: string, index: number): string {
  return `${id}#${index} `;
}

/** The whole expected output text of `tokens` tokens. */
export function expectedText(id: string, tokens: number): string {
  let s = '';
  for (let i = 0; i < tokens; i++) s += tokenText(id, i);
  return s;
}

function waitForAbort(signal: AbortSignal | undefined): Promise<never> {
  return new Promise<never>((_, reject) => {
    if (signal === undefined) return;
    if (signal.aborted) reject(abortReason(signal));
    else signal.addEventListener('abort', () => reject(abortReason(signal)), { once: true });
  });
}

/**
 * A scripted ModelClient on a Clock, for engine tests: `script(request, n)` says what call number `n` (per
 * request id) does. Records every call, counts live streams and honours AbortSignal.
 */
export class FakeModel implements ModelClient {
  readonly calls: FakeCall[] = [];
  /** Streams currently open. */
  active = 0;
  /** Largest number of streams open at once. */
  peakActive = 0;
  private readonly perId = new Map<string, number>();
  /** Continues and reproduces by default (its text is a function of the request); tests may say otherwise. */
  capabilities: UpstreamCapabilities = { continuation: true, reproducible: true };

  constructor(
    private readonly clock: Clock,
    private readonly script: (request: ModelRequest, n: number) => StreamScript = () => ({}),
    private readonly embedScript: (request: EmbeddingRequest, n: number) => EmbedScript = () => ({}),
  ) {}

  /** Calls made for one request id. */
  callsFor(id: string): FakeCall[] {
    return this.calls.filter((c) => c.id === id);
  }

  private record(kind: 'stream' | 'embed', request: ModelRequest | EmbeddingRequest, resumeFrom: number | undefined): FakeCall {
    const n = this.perId.get(request.id) ?? 0;
    this.perId.set(request.id, n + 1);
    const call: FakeCall = { kind, id: request.id, atMs: this.clock.now(), resumeFrom, n, request, aborted: false };
    this.calls.push(call);
    return call;
  }

  stream(request: ModelRequest, options: StreamOptions = {}): AsyncIterable<StreamEvent> {
    const call = this.record('stream', request, options.resumeFrom);
    const s = this.script(request, call.n);
    const clock = this.clock;
    const signal = options.signal;
    signal?.addEventListener('abort', () => (call.aborted = true), { once: true });
    const total = s.tokens ?? 10;
    const chunk = s.chunk ?? 1;
    const start = s.ignoreResume === true ? 0 : Math.min(options.resumeFrom ?? 0, total);
    const counts = (d: number): void => {
      this.active += d;
      this.peakActive = Math.max(this.peakActive, this.active);
    };
    return {
      async *[Symbol.asyncIterator](): AsyncGenerator<StreamEvent> {
        counts(1);
        try {
          if (s.hang === true) await waitForAbort(signal);
          await clock.sleep(s.ttftMs ?? 10, signal);
          if (s.error !== undefined) throw s.error;
          for (let i = start; i < total; ) {
            if (s.failAfter !== undefined && i >= s.failAfter.afterTokens) throw s.failAfter.error;
            if (s.stallAfter !== undefined && i >= s.stallAfter) await waitForAbort(signal);
            if (i > start) await clock.sleep(s.itlMs ?? 5, signal);
            let end = Math.min(total, i + chunk);
            if (s.failAfter !== undefined && s.failAfter.afterTokens > i) end = Math.min(end, s.failAfter.afterTokens);
            let text = '';
            for (let k = i; k < end; k++) text += tokenText(request.id, k);
            yield { type: 'tokens', index: i, count: end - i, text };
            i = end;
          }
          yield { type: 'done', usage: { promptTokens: request.promptTokens ?? 1, completionTokens: total - start }, finishReason: 'stop' };
        } finally {
          counts(-1);
        }
      },
    };
  }

  async embed(request: EmbeddingRequest, options: CallOptions = {}): Promise<EmbeddingResult> {
    const call = this.record('embed', request, undefined);
    const s = this.embedScript(request, call.n);
    await this.clock.sleep(s.latencyMs ?? 5, options.signal);
    if (s.error !== undefined) throw s.error;
    const items: EmbeddingItem[] = request.inputs.map((input) => {
      const err = s.failInputs?.get(input);
      return err !== undefined ? { ok: false, error: err } : { ok: true, embedding: [input.length, 1], tokens: Math.ceil(input.length / 4) };
    });
    return { items, usage: { promptTokens: items.reduce((n, it) => n + (it.ok ? it.tokens : 0), 0) } };
  }
}
