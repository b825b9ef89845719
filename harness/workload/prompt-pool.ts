/**
 * Repeated prompts: a pool of N popular prompts that a share of single-request sessions ask again, picked by a Zipf
 * popularity law (prompt k with weight 1/k^s), as FAQ bots, search boxes and agents' fixed sub-questions repeat
 * their questions. Each pool prompt has one identity: the same messages, lengths and `temperature: 0` whoever asks
 * it, so that a response cache keyed by the request (src/engine/cache-key.ts) answers it again. Unlike
 * `repeatFraction` (a double submit sharing an idempotency key), these are different users' requests with no key.
 */
import { z } from 'zod';
import type { Random } from '../../src/random.js';
import { sampleInt } from './dist.js';
import { SYSTEM_MESSAGE, tenantSystem } from './session-common.js';
import type { MixEntry } from './spec.js';
import type { PlannedRequest } from './types.js';

/** The `repeatedPrompts` option of a synthetic workload. */
export const repeatedPromptsSchema = z
  .object({
    /** Share of single-request sessions that ask a pool prompt instead of a prompt of their own. */
    fraction: z.number().min(0).max(1),
    /** Distinct prompts in the pool. */
    poolSize: z.number().int().min(1).max(1_000_000),
    /** Zipf exponent s: prompt k is asked with weight 1/k^s; 0 is uniform. @default 1 */
    zipfExponent: z.number().min(0).max(10).optional(),
  })
  .strict();
export type RepeatedPrompts = z.infer<typeof repeatedPromptsSchema>;

/** @see RepeatedPrompts.zipfExponent */
export const DEFAULT_ZIPF_EXPONENT = 1;

/** The cumulative Zipf weights of a pool, for picking a prompt by one uniform draw. */
export class ZipfPicker {
  readonly #cdf: Float64Array;

  constructor(poolSize: number, exponent: number) {
    this.#cdf = new Float64Array(poolSize);
    let sum = 0;
    for (let k = 1; k <= poolSize; k++) {
      sum += 1 / k ** exponent;
      this.#cdf[k - 1] = sum;
    }
    for (let i = 0; i < poolSize; i++) this.#cdf[i] = (this.#cdf[i] as number) / sum;
  }

  /** The 0-based rank picked by `u` in [0, 1): rank 0 is the most popular. */
  pick(u: number): number {
    let lo = 0;
    let hi = this.#cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#cdf[mid] as number) > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

type SingleEntry = Extract<MixEntry, { kind: 'single' }>;

/**
 * The request of pool prompt `rank` for class `entry`, asked by session `sessionId` of `tenant`. Its lengths come
 * from the stream `random` (derive it from the prompt's rank and class only), so every ask of it is identical but
 * for the request id.
 */
export function pooledRequest(
  entry: SingleEntry,
  rank: number,
  random: Random,
  seat: { readonly id: string; readonly tenant: string; readonly tenantSystemTokens?: number },
): PlannedRequest {
  const own = sampleInt(entry.promptTokens, random, 1);
  const outputTokens = sampleInt(entry.outputTokens, random, 1);
  const priority = entry.priority ?? 'interactive';
  const promptTokens = own + (seat.tenantSystemTokens ?? 0);
  const label = `pool/${entry.name}/${rank}`;
  return {
    id: `${seat.id}/t0`,
    class: entry.name,
    kind: 'chat',
    tenant: seat.tenant,
    priority,
    promptTokens,
    prefix: [...tenantSystem(seat.tenant, seat.tenantSystemTokens), { id: label, tokens: own }],
    outputTokens,
    messages: [SYSTEM_MESSAGE, { role: 'user', content: `[${label}] popular prompt of ${promptTokens} tokens` }],
    batchable: entry.batchable ?? priority === 'batch',
    temperature: 0,
    ...(entry.deadlineMs !== undefined ? { deadlineMs: entry.deadlineMs } : {}),
  };
}
