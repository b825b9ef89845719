import type { Policy } from '../policy.js';
import type { Clock } from '../time/clock.js';
import type { EmbeddingRequest, ModelClient } from '../upstream/model-client.js';
import { Batcher, type BatchItemResult } from './batcher.js';
import type { Job } from './job.js';

interface EmbedItem {
  readonly job: Job;
  readonly request: EmbeddingRequest;
}

type Vectors = ReadonlyArray<readonly number[]>;

/**
 * Embedding calls for the engine: batchable requests go through one Batcher per model (one upstream `embed`
 * per batch, results split back by input offsets, per-input errors kept per request); the rest call directly.
 * A request whose inputs include a failed one fails with that input's error.
 */
export class Embedder {
  private readonly batchers = new Map<'primary' | 'fallback', Batcher<EmbedItem, Vectors>>();
  private seq = 0;

  constructor(
    private readonly clock: Clock,
    private readonly policy: Policy,
    private readonly clients: { primary: ModelClient; fallback?: ModelClient },
    private readonly onUpstreamCall: (model: 'primary' | 'fallback', jobs: readonly Job[]) => void,
  ) {}

  /** One attempt for `job` on `model`. Resolves with one vector per input; throws the (typed) error. */
  call(model: 'primary' | 'fallback', job: Job, signal: AbortSignal): Promise<Vectors> {
    const request = job.req.embedding;
    if (request === undefined) return Promise.reject(new TypeError('an embedding request needs `embedding`'));
    if (job.req.batchable === true && this.policy.batching.enabled) return this.batcher(model).submit({ job, request }, signal);
    return this.direct(model, job, request, signal);
  }

  private client(model: 'primary' | 'fallback'): ModelClient {
    return model === 'fallback' ? (this.clients.fallback ?? this.clients.primary) : this.clients.primary;
  }

  private async direct(model: 'primary' | 'fallback', job: Job, request: EmbeddingRequest, signal: AbortSignal): Promise<Vectors> {
    this.onUpstreamCall(model, [job]);
    const r = await this.client(model).embed(request, { signal });
    const out: Array<readonly number[]> = [];
    for (const item of r.items) {
      if (!item.ok) throw item.error;
      out.push(item.embedding);
    }
    return out;
  }

  private batcher(model: 'primary' | 'fallback'): Batcher<EmbedItem, Vectors> {
    let b = this.batchers.get(model);
    if (b === undefined) {
      const p = this.policy.batching;
      b = new Batcher<EmbedItem, Vectors>(
        this.clock,
        {
          mode: p.mode,
          maxSize: p.maxSize,
          maxWaitMs: p.maxWaitMs,
          ...(p.maxTokens !== undefined ? { maxTokens: p.maxTokens } : {}),
          tokensOf: (it: EmbedItem) => it.request.inputTokens?.reduce((a, n) => a + n, 0) ?? it.request.inputs.reduce((a, s) => a + Math.ceil(s.length / 4), 0),
        },
        (items) => this.flush(model, items),
      );
      this.batchers.set(model, b);
    }
    return b;
  }

  private async flush(model: 'primary' | 'fallback', items: EmbedItem[]): Promise<Array<BatchItemResult<Vectors>>> {
    const first = items[0];
    if (first === undefined) return [];
    const inputs: string[] = [];
    const tokens: number[] = [];
    let allCounted = true;
    for (const it of items) {
      inputs.push(...it.request.inputs);
      if (it.request.inputTokens === undefined) allCounted = false;
      else tokens.push(...it.request.inputTokens);
    }
    const request: EmbeddingRequest = {
      id: `batch-${this.seq++}`,
      model: first.request.model,
      inputs,
      ...(allCounted ? { inputTokens: tokens } : {}),
      ...(first.request.apiKey !== undefined ? { apiKey: first.request.apiKey } : {}),
    };
    this.onUpstreamCall(model, items.map((it) => it.job));
    let result;
    try {
      result = await this.client(model).embed(request);
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      return items.map(() => ({ ok: false, error: e }));
    }
    let at = 0;
    return items.map((it) => {
      const n = it.request.inputs.length;
      const slice = result.items.slice(at, at + n);
      at += n;
      const vectors: Array<readonly number[]> = [];
      for (const item of slice) {
        if (!item.ok) return { ok: false, error: item.error };
        vectors.push(item.embedding);
      }
      if (vectors.length !== n) return { ok: false, error: new Error(`expected ${n} embeddings, got ${vectors.length}`) };
      return { ok: true, value: vectors };
    });
  }
}
