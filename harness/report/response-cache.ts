/**
 * The response-cache table shared by the Markdown and terminal renderers: per policy, the cache's hits, misses, hit
 * rate and stale answers served, beside its upstream calls and dollars. Absent when no policy had a cache.
 */
import { fmtInt, fmtPct, fmtUsd } from './format.js';
import type { RunResult } from './schema.js';

/** What the table says, for a legend. */
export const RESPONSE_CACHE_LEGEND =
  "Cacheable requests (temperature 0 or a fixed seed, no tools) answered by the engine's response cache: a hit makes no upstream call and bills nothing; a stale answer is served, as `degraded: cached`, only when the upstream failed.";

/** Headers, rows and alignment of the table, or undefined when no policy reported a response cache. */
export function responseCacheTable(result: RunResult): { headers: string[]; rows: string[][]; align: Array<'left' | 'right'> } | undefined {
  if (!result.policies.some((p) => p.summary.responseCache !== undefined)) return undefined;
  return {
    headers: ['Policy', 'Hits', 'Misses', 'Hit rate', 'Stale served', 'Upstream calls', 'Total $'],
    rows: result.policies.map((p) => {
      const c = p.summary.responseCache;
      return [p.name, fmtInt(c?.hits ?? null), fmtInt(c?.misses ?? null), fmtPct(c?.hitRate ?? null), fmtInt(c?.stale ?? null), fmtInt(p.counters.upstreamCalls), fmtUsd(p.summary.cost.totalUsd)];
    }),
    align: ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
  };
}
