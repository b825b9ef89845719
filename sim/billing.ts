/**
 * What a mock model bills, attempt by attempt, the way a provider does: every call that reached the GPU bills its
 * prompt (for a continuation, the prompt plus the prefix it sends again), prefix-cache hits at the cached-input
 * rate, and every output token it computed, whether or not that token reached the client. A call refused before it
 * ran (429, 503, connection refused, cancelled while still queued) bills nothing.
 */

/** One billed upstream call. Tokens are counts; prices are applied by whoever reads the bill. */
export interface BilledAttempt {
  /** The request id the call carried (the engine keeps the client's id across retries and resumes). */
  readonly id: string;
  /** The served model name. */
  readonly model: string;
  readonly kind: 'generate' | 'embed';
  /** When the call reached the model, and when it ended (simulated or wall ms of the model's clock). */
  readonly startMs: number;
  readonly endMs: number;
  /** Input tokens billed, cached ones included: prompt + resumed prefix. */
  readonly inputTokens: number;
  /** Of `inputTokens`, those served from the prefix cache (billed at the cached-input price). 0 without caching. */
  readonly cachedInputTokens: number;
  /** Output tokens this call computed (delivered or not). */
  readonly outputTokens: number;
  /** Of `outputTokens`, those the call made visible to its client before it ended. */
  readonly deliveredTokens: number;
  /**
   * Context tokens the GPU computed again after preempting the call (recompute). A token-priced provider does not
   * bill them (they are not in `inputTokens`); they cost GPU time, which a GPU-hour price charges as waste.
   */
  readonly recomputedTokens: number;
  /** The output index the call started at (> 0 for a resumed stream). */
  readonly resumeFrom: number;
  /** The call ended normally (stop, length, or an embeddings answer), not broken, aborted or crashed. */
  readonly completed: boolean;
}

/** Running totals of a model's bills (exported in its metrics). */
export interface BillingTotals {
  readonly billedCalls: number;
  /** Uncached input tokens (billed at the input price). */
  readonly billedInputTokens: number;
  readonly billedCachedInputTokens: number;
  readonly billedOutputTokens: number;
}

/** A model's bill book: totals, and listeners that get each bill as the call ends. */
export class BillBook {
  private readonly listeners = new Set<(b: BilledAttempt) => void>();
  private calls = 0;
  private input = 0;
  private cached = 0;
  private output = 0;

  on(listener: (b: BilledAttempt) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  bill(b: BilledAttempt): void {
    this.calls++;
    this.input += b.inputTokens - b.cachedInputTokens;
    this.cached += b.cachedInputTokens;
    this.output += b.outputTokens;
    for (const l of this.listeners) l(b);
  }

  totals(): BillingTotals {
    return { billedCalls: this.calls, billedInputTokens: this.input, billedCachedInputTokens: this.cached, billedOutputTokens: this.output };
  }
}
