/**
 * Embeddings on a mock model: one forward pass per call (cost = per call + per item + per token, on the GPU's
 * clock), a unit vector per input drawn from the input's text, and bad items failing alone.
 */
import { abortReason, withoutStack } from '../src/errors.js';
import { BadRequestError, ConnectionRefusedError, ContextLengthExceededError } from '../src/upstream/errors.js';
import type { EmbeddingItem, EmbeddingRequest } from '../src/upstream/model-client.js';
import type { Gpu } from './gpu.js';
import { embeddingMs, type GpuProfile } from './profiles.js';
import { estimateTextTokens, KeyedRandom, requestKey } from './tokens.js';

/** The inputs of one embedding call, sized: the valid ones go through the pass, the others fail alone. */
export interface EmbeddingBatch {
  readonly tokens: readonly number[];
  readonly ok: readonly boolean[];
  /** Tokens of the valid inputs. */
  readonly totalTokens: number;
  /** Number of valid inputs. */
  readonly items: number;
}

export function sizeEmbedding(req: EmbeddingRequest, contextWindow: number): EmbeddingBatch {
  const tokens = req.inputs.map((t, i) => req.inputTokens?.[i] ?? estimateTextTokens(t));
  const ok = tokens.map((n, i) => n > 0 && n <= contextWindow && req.inputs[i] !== undefined);
  let total = 0;
  let items = 0;
  tokens.forEach((n, i) => {
    if (ok[i]) {
      total += n;
      items++;
    }
  });
  return { tokens, ok, totalTokens: total, items };
}

/** Runs the batch's forward pass on the GPU; rejects on abort, or with ConnectionRefusedError on a crash. */
export function embeddingPass(gpu: Gpu, profile: GpuProfile, batch: EmbeddingBatch, signal: AbortSignal, name: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      job.abort();
      reject(abortReason(signal));
    };
    const job = gpu.submitEmbedding(
      embeddingMs(profile.embedding, batch.items, batch.totalTokens),
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      () => {
        signal.removeEventListener('abort', onAbort);
        reject(withoutStack(() => new ConnectionRefusedError(`model ${name} crashed`)));
      },
    );
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** One item per input: a vector for a valid one, its error for the others. */
export function embeddingItems(req: EmbeddingRequest, batch: EmbeddingBatch, profile: GpuProfile, seed: string): EmbeddingItem[] {
  return req.inputs.map((text, i) => {
    const n = batch.tokens[i] as number;
    if (batch.ok[i]) return { ok: true, embedding: embeddingVector(seed, profile.embedding.dimensions, text), tokens: n };
    return {
      ok: false,
      error: n > profile.contextWindow ? new ContextLengthExceededError(n, profile.contextWindow) : new BadRequestError(`input[${i}]: expected non-empty text, got an empty string`),
    };
  });
}

/** A unit vector drawn from the model's seed and the text: the same text always gets the same vector. */
export function embeddingVector(seed: string, dimensions: number, text: string): number[] {
  const r = new KeyedRandom(requestKey(seed, `embedding:${text}`));
  const v: number[] = [];
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    const x = r.next() * 2 - 1;
    v.push(x);
    norm += x * x;
  }
  const k = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return v.map((x) => x * k);
}
