import { describe, expect, it } from 'vitest';
import { Recorder } from '../measure/recorder.js';
import type { RequestObservation } from '../measure/types.js';
import { renderMarkdown } from './markdown.js';
import { buildRunResult } from './run-result.js';
import { parseRunResult } from './schema.js';
import { renderTable } from './table.js';

/** A policy whose requests carry the given cache verdicts (undefined: not cacheable or no cache). */
function policy(name: string, verdicts: Array<RequestObservation['cache']>) {
  const rec = new Recorder({ policy: name, slo: { ttftMs: 500 } });
  verdicts.forEach((cache, i) => {
    const t = i * 100;
    const stale = cache === 'stale';
    rec.complete({
      id: `${name}${i}`,
      class: 'q',
      intendedStartMs: t,
      firstTokenAtMs: t + 10,
      endAtMs: t + 20,
      chunks: [{ atMs: t + 10, count: 4 }],
      tokens: 4,
      outcome: stale ? 'degraded' : 'ok',
      ...(stale ? { degraded: 'cached', reason: 'cached' } : {}),
      queuedMs: 0,
      backoffMs: 0,
      attempts: cache === 'hit' ? 0 : 1,
      upstreamCalls: cache === 'hit' ? 0 : 1,
      ...(cache !== undefined ? { cache } : {}),
    });
  });
  return rec.finish({ durationMs: 1_000, wastedTokens: 0, tokensComputed: 0, gpuUtilization: null, meanBatchSize: null, faultPhases: [] });
}

function result(policies: ReturnType<typeof policy>[]) {
  return buildRunResult({
    seed: 1,
    scenario: { name: 'cache', description: 'cache table', durationMs: 1_000, mode: 'virtual', config: {} },
    slo: { ttftMs: 500 },
    thresholds: [],
    faultPhases: [],
    policies,
    meta: { gitCommit: null, machine: { platform: 'linux', arch: 'x64', cpus: 2, cpuModel: null, memoryBytes: null }, nodeVersion: 'v20', wallMs: 1, simulatedMs: 1_000, startedAt: '2026-01-01T00:00:00.000Z', loadGenerator: null },
  });
}

describe('response cache in the summary and the reports', () => {
  it('counts hits, misses and stale answers (a stale answer is a miss) and renders them per policy', () => {
    const r = result([policy('plain', [undefined, undefined]), policy('cached', ['miss', 'hit', 'hit', 'stale'])]);
    expect(r.policies[0]?.summary.responseCache).toBeUndefined();
    expect(r.policies[1]?.summary.responseCache).toEqual({ hits: 2, misses: 2, stale: 1, hitRate: 0.5 });
    expect(parseRunResult(JSON.parse(JSON.stringify(r))).policies[1]?.summary.responseCache).toEqual({ hits: 2, misses: 2, stale: 1, hitRate: 0.5 });
    const md = renderMarkdown(r);
    expect(md).toContain('### Response cache');
    expect(md).toContain('| cached | 2 | 2 | 50.0% | 1 | 2 | — |');
    expect(md).toContain('| plain | — | — | — | — | 2 | — |');
    expect(renderTable(r)).toMatch(/cached\s+2\s+2\s+50\.0%\s+1\s+2/);
  });

  it('is absent when no policy had a cache', () => {
    const r = result([policy('plain', [undefined])]);
    expect(renderMarkdown(r)).not.toContain('Response cache');
    expect(renderTable(r)).not.toContain('Response cache');
  });
});
