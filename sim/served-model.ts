/**
 * What the HTTP transport needs of a model: the subset of `MockModel` (sim/mock-model.ts) it calls. Declared
 * here so the transport depends on a small interface, not on the core's internals; `MockModel` satisfies it.
 */
import type { EmbeddingRequest, EmbeddingResult } from '../src/upstream/model-client.js';
import type { GenerateRequest, Generation, SignalSource } from './types.js';

/** Health of one model: `cold-start` and `crashed` answer 503. */
export interface ModelHealth {
  readonly ready: boolean;
  readonly state: 'ready' | 'cold-start' | 'crashed';
}

/** A snapshot of one model's GPU and fault counters. */
export interface ModelMetrics {
  readonly running: number;
  readonly waiting: number;
  /** Fraction of KV blocks in use, 0..1. */
  readonly kvCacheUsage: number;
  readonly busyFraction: number;
  readonly meanBatchSize: number;
  readonly tokensComputed: number;
  readonly wastedTokens: number;
  readonly requests: number;
  /** Prompt tokens looked up in / found in the prefix cache (vLLM's counters). */
  readonly prefixCacheQueries: number;
  readonly prefixCacheHits: number;
  /** What the model billed (sim/billing.ts); absent on a served model that does not bill (a proxy). */
  readonly billedInputTokens?: number;
  readonly billedCachedInputTokens?: number;
  readonly billedOutputTokens?: number;
  readonly faultCounts: Readonly<Record<string, number>>;
}

/** The events the transport listens to (metrics, crash). Fields it does not know are ignored. */
export interface ServedModelEvent {
  readonly type: string;
  readonly [field: string]: unknown;
}

export interface ServedModel {
  readonly name: string;
  generate(req: GenerateRequest, signal: AbortSignal): Promise<Generation>;
  /**
   * `generate`, answered synchronously when admission needs no wait: a refusal throws at once, and
   * `abort.signal` is read only once the request waits or is admitted (see MockModel.start).
   */
  start(req: GenerateRequest, abort: SignalSource): Generation | Promise<Generation>;
  embed(req: EmbeddingRequest, signal: AbortSignal): Promise<EmbeddingResult>;
  setFaults(plan: unknown): void;
  getFaults(): unknown;
  /** Provider rate limits at run time (`PUT /mock/rate-limits`); absent on models that have none. */
  setRateLimits?(limits: unknown): void;
  getRateLimits?(): unknown;
  health(): ModelHealth;
  metrics(): ModelMetrics;
  onEvent(listener: (e: ServedModelEvent) => void): () => void;
}
