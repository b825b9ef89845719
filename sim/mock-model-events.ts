/**
 * What a mock model observes about itself: its typed events (for histograms, reports and the process supervisor),
 * its counters (requests, completions, refusals, injected faults by kind) and the metrics snapshot built from them
 * and the GPU's own counters.
 */
import type { BillingTotals } from './billing.js';
import type { GenerationOutcome } from './generation.js';
import type { Gpu } from './gpu.js';

/** Events of a model, for histograms, reports and the process supervisor. */
export type MockModelEvent =
  | {
      readonly type: 'request-done';
      readonly id: string;
      readonly outcome: GenerationOutcome;
      /** From `generate` being called to the first token made visible; undefined when none was. */
      readonly ttftMs: number | undefined;
      readonly e2eMs: number;
      /** Time waiting for a GPU slot; undefined when never scheduled. */
      readonly queueMs: number | undefined;
      /** Gap before each token after the first (a chunk of k tokens spreads its gap over k). */
      readonly itlMs: readonly number[] | undefined;
      readonly promptTokens: number;
      /** Prompt tokens served from the prefix cache. */
      readonly cachedTokens: number;
      /** Tokens delivered by this call. */
      readonly completionTokens: number;
    }
  | { readonly type: 'request-rejected'; readonly id: string; readonly status: number | undefined; readonly code: string }
  | { readonly type: 'fault'; readonly kind: string; readonly id?: string }
  | { readonly type: 'crash'; readonly downtimeMs: number; readonly coldStartMs: number }
  | { readonly type: 'ready' };

/** A snapshot of a model's counters. */
export interface MockModelMetrics {
  readonly running: number;
  readonly waiting: number;
  /** KV blocks in use, 0..1. */
  readonly kvCacheUsage: number;
  /** GPU busy time over time since creation, 0..1. */
  readonly busyFraction: number;
  /** Mean sequences per generation step. */
  readonly meanBatchSize: number;
  readonly tokensComputed: number;
  readonly outputTokens: number;
  /** Output tokens computed that no client received (aborted, disconnected, held back, recomputed after preemption). */
  readonly wastedTokens: number;
  readonly preemptions: number;
  readonly steps: number;
  readonly busyMs: number;
  readonly elapsedMs: number;
  /** Generate and embed calls received. */
  readonly requests: number;
  /** Generations open now. */
  readonly inFlight: number;
  readonly completed: number;
  readonly rejected: number;
  readonly embeddingCalls: number;
  /** Prompt tokens looked up in the prefix cache (`vllm:prefix_cache_queries`). */
  readonly prefixCacheQueries: number;
  /** Prompt tokens found there (`vllm:prefix_cache_hits`). */
  readonly prefixCacheHits: number;
  /** Calls billed, and the tokens they billed (sim/billing.ts): uncached input, cached input, output computed. */
  readonly billedCalls: number;
  readonly billedInputTokens: number;
  readonly billedCachedInputTokens: number;
  readonly billedOutputTokens: number;
  /** Injected faults by kind: `status-429`, `rate-limit`, `queue-full`, `disconnect`, `stall`, `hang`, `crash`, `refused`, `cold-start`. */
  readonly faultCounts: Readonly<Record<string, number>>;
}

/** A model's listeners and counters. Events are built only when someone listens (`listening`). */
export class ModelEvents {
  private readonly listeners = new Set<(e: MockModelEvent) => void>();
  private readonly counts: Record<string, number> = {};
  /** Generate and embed calls received. */
  requests = 0;
  completed = 0;
  rejected = 0;

  get listening(): boolean {
    return this.listeners.size > 0;
  }

  on(listener: (e: MockModelEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(e: MockModelEvent): void {
    for (const l of this.listeners) l(e);
  }

  /** Counts an injected fault (or refusal) of `kind` and tells the listeners. */
  count(kind: string, id?: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    if (this.listeners.size > 0) this.emit(id === undefined ? { type: 'fault', kind } : { type: 'fault', kind, id });
  }

  /** Injected faults by kind, counted so far (a copy). */
  faultCounts(): Record<string, number> {
    return { ...this.counts };
  }

  /** Counts a refused request and tells the listeners. */
  refused(id: string, err: unknown): void {
    this.rejected++;
    if (this.listeners.size > 0) {
      const e = err as { status?: number; code?: string };
      this.emit({ type: 'request-rejected', id, status: e.status, code: e.code ?? 'UNKNOWN' });
    }
  }

  /** The metrics snapshot: these counters and the GPU's. */
  metrics(gpu: Gpu, inFlight: number, billing: BillingTotals): MockModelMetrics {
    const s = gpu.stats();
    return {
      running: gpu.runningCount,
      waiting: gpu.waiting,
      kvCacheUsage: gpu.kvUsage,
      busyFraction: s.elapsedMs > 0 ? Math.min(1, s.busyMs / s.elapsedMs) : 0,
      meanBatchSize: s.steps > 0 ? s.batchedSeqs / s.steps : 0,
      tokensComputed: s.tokensComputed,
      outputTokens: s.outputTokens,
      wastedTokens: s.wastedTokens,
      preemptions: s.preemptions,
      steps: s.steps,
      busyMs: s.busyMs,
      elapsedMs: s.elapsedMs,
      requests: this.requests,
      inFlight,
      completed: this.completed,
      rejected: this.rejected,
      embeddingCalls: s.embeddingCalls,
      prefixCacheQueries: s.prefixCacheQueries,
      prefixCacheHits: s.prefixCacheHits,
      ...billing,
      faultCounts: { ...this.counts },
    };
  }
}
