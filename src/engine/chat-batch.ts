import type { Policy } from '../policy.js';
import type { Clock } from '../time/clock.js';
import { ServerError } from '../upstream/errors.js';
import type { ChatMessage, CompletionBatchRequest, ModelClient, ModelRequest, Usage } from '../upstream/model-client.js';
import { Batcher, type BatchItemResult } from './batcher.js';
import type { Job } from './job.js';
import { estimateTokens } from './router.js';

/**
 * The prompt a chat request is sent as inside a multi-prompt completions call: one `role: content` line per
 * message, then `assistant:` for the model to continue. A `prompt` request is sent as it is.
 */
export function renderChatPrompt(request: ModelRequest): string {
  if (request.messages === undefined) return request.prompt ?? '';
  return `${request.messages.map((m: ChatMessage) => `${m.role}: ${m.content}`).join('\n')}\nassistant:`;
}

interface ChatItem {
  readonly job: Job;
  readonly prompt: string;
  /** The prompt's tokens: given, or estimated from the rendered text. */
  readonly promptTokens: number;
}

/** One job's share of a batched call. */
interface ChatAnswer {
  readonly text: string;
  readonly finishReason: string;
  readonly usage: Usage;
}

/**
 * Splits `total` into integer shares proportional to `weights` (largest remainder, so they add up to `total`;
 * equal shares when every weight is 0).
 */
export function apportion(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, w) => a + w, 0);
  const exact = weights.map((w) => (sum > 0 ? (total * w) / sum : total / weights.length));
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, n) => a + n, 0);
  const order = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    out[i] = (out[i] ?? 0) + 1;
    left--;
  }
  return out;
}

/**
 * Batchable chat calls for the engine: a `batchable` chat job whose upstream takes several prompts in one call
 * (`capabilities.batchPrompts` and `completeBatch`: the `vllm` and `mock` dialects over HTTP) goes through a
 * Batcher, one per model and call shape (model name, `max_tokens`, API key, other body fields), and the batch is
 * ONE non-streamed `/v1/completions` call with `prompt: [p1, p2, ...]` (each chat rendered by renderChatPrompt).
 * Choices go back to their jobs by `index`. The upstream reports usage for the whole call only, so each job's
 * usage is a share of it, marked `estimated`: prompt tokens in proportion to each job's prompt tokens, completion
 * tokens in proportion to the characters of its answer. A failed call fails every job of the batch with its
 * error; each job then retries (or not) under the normal retry policy.
 */
export class ChatBatcher {
  private readonly batchers = new Map<string, Batcher<ChatItem, ChatAnswer>>();
  private seq = 0;

  constructor(
    private readonly clock: Clock,
    private readonly policy: Policy,
    private readonly clients: { primary: ModelClient; fallback?: ModelClient },
    private readonly onUpstreamCall: (model: 'primary' | 'fallback', jobs: readonly Job[]) => void,
  ) {}

  private client(model: 'primary' | 'fallback'): ModelClient {
    return model === 'fallback' ? (this.clients.fallback ?? this.clients.primary) : this.clients.primary;
  }

  /**
   * Whether this attempt of `job` goes into a batch: a `batchable` chat job, batching on, an upstream that takes
   * prompt arrays, nothing delivered yet (a batch answers whole, it cannot continue a stream), and no mock hint
   * (fault, prefix, output or prompt token counts): those are per-call headers, which one batched call cannot
   * carry per prompt, so a workload that sets them keeps them by running alone.
   */
  accepts(model: 'primary' | 'fallback', job: Job): boolean {
    const r = job.request;
    const client = this.client(model);
    return (
      job.req.kind === 'chat' && job.req.batchable === true && this.policy.batching.enabled && r !== undefined &&
      client.capabilities?.batchPrompts === true && typeof client.completeBatch === 'function' &&
      job.delivered === 0 && !job.started && r.fault === undefined && (r.prefix === undefined || r.prefix.length === 0) &&
      r.outputTokens === undefined && r.promptTokens === undefined
    );
  }

  /** One attempt for `job` on `model`: delivers its answer to the job at once; throws the (typed) error. */
  async call(model: 'primary' | 'fallback', job: Job, signal: AbortSignal): Promise<void> {
    const r = job.request;
    if (r === undefined) throw new TypeError('a chat request needs `request`');
    const prompt = renderChatPrompt(r);
    const item: ChatItem = { job, prompt, promptTokens: r.promptTokens ?? estimateTokens(prompt) };
    const key = JSON.stringify([model, r.model, r.maxTokens ?? null, r.apiKey ?? null, r.params ?? null]);
    const answer = await this.batcher(key, model, r).submit(item, signal);
    const tokens = answer.usage.completionTokens;
    if (answer.text.length > 0 || tokens > 0) job.deliver(0, tokens, answer.text, this.clock.now());
    job.usage = answer.usage;
    job.finishReason = answer.finishReason;
  }

  private batcher(key: string, model: 'primary' | 'fallback', shape: ModelRequest): Batcher<ChatItem, ChatAnswer> {
    let b = this.batchers.get(key);
    if (b === undefined) {
      const p = this.policy.batching;
      const maxOut = shape.maxTokens ?? 0;
      b = new Batcher<ChatItem, ChatAnswer>(
        this.clock,
        {
          mode: p.mode,
          maxSize: p.maxSize,
          maxWaitMs: p.maxWaitMs,
          ...(p.maxTokens !== undefined ? { maxTokens: p.maxTokens } : {}),
          tokensOf: (it: ChatItem) => it.promptTokens + maxOut,
        },
        (items) => this.flush(model, shape, items),
      );
      this.batchers.set(key, b);
    }
    return b;
  }

  private async flush(model: 'primary' | 'fallback', shape: ModelRequest, items: ChatItem[]): Promise<Array<BatchItemResult<ChatAnswer>>> {
    if (items.length === 0) return [];
    const request: CompletionBatchRequest = {
      id: `chat-batch-${this.seq++}`,
      model: shape.model,
      prompts: items.map((it) => it.prompt),
      ...(shape.maxTokens !== undefined ? { maxTokens: shape.maxTokens } : {}),
      ...(shape.apiKey !== undefined ? { apiKey: shape.apiKey } : {}),
      ...(shape.params !== undefined ? { params: shape.params } : {}),
    };
    this.onUpstreamCall(model, items.map((it) => it.job));
    const client = this.client(model);
    let result;
    try {
      if (client.completeBatch === undefined) throw new TypeError('the upstream has no completeBatch');
      result = await client.completeBatch(request);
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      return items.map(() => ({ ok: false, error: e }));
    }
    const texts = items.map((_, i) => result.choices.find((c) => c.index === i));
    const prompt = result.usage?.promptTokens ?? items.reduce((a, it) => a + it.promptTokens, 0);
    const completion = result.usage?.completionTokens ?? texts.reduce((a, c) => a + estimateTokens(c?.text ?? ''), 0);
    const promptShares = apportion(prompt, items.map((it) => it.promptTokens));
    const completionShares = apportion(completion, texts.map((c) => c?.text.length ?? 0));
    return items.map((_, i) => {
      const c = texts[i];
      if (c === undefined) return { ok: false, error: new ServerError(502, `batched completions: no choice for prompt ${i}`) };
      return {
        ok: true,
        value: {
          text: c.text,
          finishReason: c.finishReason,
          usage: { promptTokens: promptShares[i] ?? 0, completionTokens: completionShares[i] ?? 0, estimated: true },
        },
      };
    });
  }
}
