/**
 * The most a response cache could save in a run, from the run's own counts. A cache answers a request only with an
 * answer it already has, so the first occurrence of each distinct prompt must go upstream; at best every later
 * occurrence (a repeat) is a hit. The ceiling of the cut is then what the repeats cost in a run WITHOUT the cache:
 * the upstream calls they made and the dollars their bills paid, over the whole run's. Requests are identified as
 * the engine's cache keys them (src/engine/cache-key.ts: tenant, model, messages, lengths, parameters), in order of
 * arrival; a request that is not cacheable counts as distinct.
 *
 * What keeps a real cache below the ceiling: a TTL (a repeat after the entry expired misses again), and repeats
 * that arrive while the first occurrence is still running (a hit only when the engine coalesces identical requests
 * in flight).
 */
import { cacheKeyOf } from '../../src/engine/cache-key.js';
import type { EngineRequest } from '../../src/engine/engine-types.js';
import { Random } from '../../src/random.js';
import { splitRequestBills, type Price } from '../measure/billing.js';
import type { RequestObservation } from '../measure/types.js';
import type { Scenario } from '../scenario.js';
import { buildWorkload, type PlannedRequest } from '../workload/index.js';

/** A planned request's cache identity: the key the engine would give it (its id when it has none). */
function identityOf(req: PlannedRequest): string {
  const engineRequest: EngineRequest = {
    id: req.id,
    kind: 'chat',
    tenant: req.tenant,
    request: {
      id: req.id,
      // As the virtual runner sends it (harness/run/virtual.ts): one served model name, lengths as mock hints.
      model: 'primary',
      messages: req.messages,
      promptTokens: req.promptTokens,
      maxTokens: req.outputTokens,
      outputTokens: req.outputTokens,
      apiKey: req.tenant,
      ...(req.temperature !== undefined ? { params: { temperature: req.temperature } } : {}),
    },
  };
  return req.kind === 'chat' ? (cacheKeyOf(engineRequest) ?? `id:${req.id}`) : `id:${req.id}`;
}

/**
 * The cache identity of every request a scenario's workload plans for `seed` (the same build as the virtual run's),
 * by request id. Single-request sessions only (each session one request); other kinds are refused, naming the kind.
 */
export function plannedIdentities(scenario: Scenario, seed: number, durationMs: number, baseDir = process.cwd()): Map<string, { key: string; atMs: number }> {
  const built = buildWorkload(scenario.workload, new Random(seed).derive('workload'), { durationMs, baseDir });
  const out = new Map<string, { key: string; atMs: number }>();
  for (const s of built.sessions) {
    if (s.plan.kind !== 'single') throw new TypeError(`cache ceiling: expected single-request sessions, got a ${s.plan.kind} session (${s.id})`);
    out.set(s.plan.request.id, { key: identityOf(s.plan.request), atMs: s.startAtMs });
  }
  return out;
}

/** The ceiling of what a cache could cut, and what it is made of. */
export interface CacheCeiling {
  readonly requests: number;
  /** Distinct cache identities: each one's first occurrence must go upstream. */
  readonly distinct: number;
  /** Requests that repeat an earlier one (requests − distinct): at best, all hits. */
  readonly repeats: number;
  /** Upstream calls of the run without a cache, and of them, those its repeats made. */
  readonly calls: number;
  readonly repeatCalls: number;
  /** The most the cache could cut upstream calls by: repeatCalls / calls. */
  readonly maxCallCut: number;
  /** Dollars the run without a cache paid, and of them, what its repeats' bills paid (null when unpriced). */
  readonly usd: number | null;
  readonly repeatUsd: number | null;
  /** The most the cache could cut cost by: repeatUsd / usd (null when unpriced). */
  readonly maxCostCut: number | null;
}

const paid = (p: Price | undefined, obs: RequestObservation): number | null => {
  if (p?.kind !== 'tokens') return null;
  let usd = 0;
  for (const s of splitRequestBills(obs.bills ?? [], true)) {
    const b = s.bill;
    usd += ((b.inputTokens - b.cachedInputTokens) * p.inputPer1M + b.cachedInputTokens * p.cachedInputPer1M + b.outputTokens * p.outputPer1M) / 1e6;
  }
  return usd;
};

/**
 * The ceiling from a run without the cache: its requests' observations (`onRequest` of the virtual runner, bills
 * included), their planned identities ({@link plannedIdentities}), and the price of the primary model (a fallback's
 * bills are priced the same here; pass the scenario's price). A request missing from `identities` counts as distinct.
 */
export function cacheCeiling(observed: readonly RequestObservation[], identities: ReadonlyMap<string, { key: string; atMs: number }>, price: Price | undefined): CacheCeiling {
  const ordered = [...observed].sort((a, b) => a.intendedStartMs - b.intendedStartMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const seen = new Set<string>();
  let calls = 0;
  let repeatCalls = 0;
  let usd: number | null = price?.kind === 'tokens' ? 0 : null;
  let repeatUsd: number | null = usd;
  let repeats = 0;
  for (const obs of ordered) {
    const key = identities.get(obs.id)?.key ?? `id:${obs.id}`;
    const repeat = seen.has(key);
    seen.add(key);
    const dollars = paid(price, obs);
    calls += obs.upstreamCalls;
    if (usd !== null && dollars !== null) usd += dollars;
    if (!repeat) continue;
    repeats++;
    repeatCalls += obs.upstreamCalls;
    if (repeatUsd !== null && dollars !== null) repeatUsd += dollars;
  }
  return {
    requests: ordered.length,
    distinct: seen.size,
    repeats,
    calls,
    repeatCalls,
    maxCallCut: calls === 0 ? 0 : repeatCalls / calls,
    usd,
    repeatUsd,
    maxCostCut: usd === null || repeatUsd === null || usd === 0 ? null : repeatUsd / usd,
  };
}
