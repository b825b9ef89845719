import { describe, expect, it } from 'vitest';
import { Recorder } from '../measure/recorder.js';
import type { RequestObservation } from '../measure/types.js';
import { renderMarkdown } from './markdown.js';
import { buildRunResult } from './run-result.js';
import type { RunResult } from './schema.js';
import { renderTable } from './table.js';

/** Two policies with hand-computable numbers. */
function tinyResult(): RunResult {
  const mk = (name: string, outcomes: RequestObservation['outcome'][], upstream: number) => {
    const rec = new Recorder({ policy: name, slo: { ttftMs: 500 } });
    outcomes.forEach((outcome, i) => {
      const t = i * 1000;
      const served = outcome === 'ok' || outcome === 'degraded';
      rec.complete({
        id: `${name}${i}`,
        class: 'interactive',
        intendedStartMs: t,
        ...(served ? { firstTokenAtMs: t + 100 } : {}),
        endAtMs: t + (served ? 1000 : 5),
        chunks: served ? [{ atMs: t + 100, count: 1 }, { atMs: t + 1000, count: 9 }] : [],
        tokens: served ? 10 : 0,
        outcome,
        queuedMs: 0,
        backoffMs: 0,
        attempts: 1,
        upstreamCalls: upstream,
      });
    });
    rec.gauge(0, { queueDepth: 12, inFlight: 3, concurrencyLimit: 4, breakerState: 'closed' });
    return rec.finish({ durationMs: 10_000, wastedTokens: 25, tokensComputed: 100, gpuUtilization: 0.42, meanBatchSize: 3, faultPhases: [{ name: 'blip', atMs: 2000, durationMs: 1000 }] });
  };
  return buildRunResult({
    seed: 1,
    scenario: { name: 'tiny|pipe', description: 'Two | policies', durationMs: 10_000, mode: 'virtual', config: {} },
    slo: { ttftMs: 500 },
    thresholds: [{ metric: 'okFraction', op: '>=', value: 0.75 }],
    faultPhases: [{ name: 'blip', atMs: 2000, durationMs: 1000 }],
    policies: [
      mk('alpha', ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'shed', 'failed'], 1),
      mk('beta', ['ok', 'ok', 'ok', 'ok', 'ok', 'degraded', 'degraded', 'timeout', 'timeout', 'failed'], 3),
    ],
    meta: { gitCommit: 'abcdef1234567890', machine: { platform: 'linux', arch: 'x64', cpus: 2, cpuModel: null, memoryBytes: null }, nodeVersion: 'v20.1.0', wallMs: 50, simulatedMs: 10_000, startedAt: '2025-02-03T04:05:06.000Z', loadGenerator: null },
  });
}

describe('renderMarkdown', () => {
  const r = tinyResult();
  const md = renderMarkdown(r);

  it('has one table row per policy with the right numbers', () => {
    // alpha: 8 ok of 10, 1 shed, 1 failed; TTFT 100 ms; E2E 1 s; goodput 8/10 s; 1 call each; 25 of 100 tokens wasted.
    expect(md).toContain('| alpha | 10 | 80.0% | 0.0% | 10.0% | 10.0% | 100 ms | 100 ms | 1.00 s | 0.80 | 0.80 | — | 1.00× | 25.0% | — | — | 12 | 42.0% |');
    // beta: 5 ok, 2 degraded, 2 timeouts + 1 failure = 30% failed; amplification 3.
    expect(md).toContain('| beta | 10 | 50.0% | 20.0% | 0.0% | 30.0% | 100 ms | 100 ms | 1.00 s | 0.50 | 0.70 | — | 3.00× | 25.0% | — | — | 12 | 42.0% |');
    expect(md).toContain('| Policy | Requests | OK | Degraded | Shed | Failed | TTFT p50 | TTFT p99 | E2E p99 | Goodput/s | In SLO/s | Of ceiling | Amplif. | Wasted | $/1k good | Wasted $ | Peak queue | GPU util | Recovery |');
  });

  it('says why requests were not ok, top reasons per policy', () => {
    expect(md).toContain('### Why not ok');
    expect(md).toContain('| alpha | failed 1, shed 1 |');
    expect(md).toContain('| beta | degraded 2, timeout 2, failed 1 |');
  });

  it('shows thresholds pass/fail, fault phases, the legend and meta; escapes pipes', () => {
    expect(md).toMatch(/\| ✅ pass \| alpha \| `okFraction >= 0.75` \| 80.0% \|/);
    expect(md).toMatch(/\| ❌ fail \| beta \| `okFraction >= 0.75` \| 50.0% \|/);
    expect(md).toContain('1 of 2 thresholds failed');
    expect(md).toContain('### Fault phases');
    expect(md).toContain('`blip`');
    expect(md).toContain('- **Goodput/s**: ok requests per second that met every SLO');
    expect(md).toContain('Two \\| policies');
    expect(md).toContain('commit abcdef123456');
    expect(md.startsWith('## ❌ Scenario `tiny|pipe`')).toBe(true);
  });

  it('is a pure function: same result, same text', () => {
    expect(renderMarkdown(tinyResult())).toBe(md);
  });

  it('shows unknown values as —, never 0', () => {
    const copy = structuredClone(r);
    const p = copy.policies[0]!;
    (p.summary as { wastedTokenFraction: number | null }).wastedTokenFraction = null;
    (p.summary as { gpuUtilization: number | null }).gpuUtilization = null;
    expect(renderMarkdown(copy)).toMatch(/\| alpha \| 10 \|.*\| 1\.00× \| — \| — \| — \| 12 \| — \|/);
  });
});

describe('renderTable', () => {
  it('aligns the same columns in plain text', () => {
    const text = renderTable(tinyResult());
    const lines = text.split('\n');
    const header = lines.find((l) => l.startsWith('Policy'))!;
    const alpha = lines.find((l) => l.startsWith('alpha'))!;
    const beta = lines.find((l) => l.startsWith('beta'))!;
    expect(header).toContain('Goodput/s');
    // Right-aligned columns end at the same position as their header.
    const end = header.indexOf('Goodput/s') + 'Goodput/s'.length;
    expect(alpha.slice(0, end).endsWith('0.80')).toBe(true);
    expect(beta.slice(0, end).endsWith('0.50')).toBe(true);
    expect(text).toContain('FAIL  beta  okFraction >= 0.75  (actual 50.0%)');
    expect(text).toContain('Recovery after fault phases:');
    expect(lines.filter((l) => l.startsWith('|'))).toEqual([]); // not Markdown
  });
});

describe('the goodput ceiling in reports', () => {
  const withCeiling = (ceiling: RunResult['ceiling']): RunResult => ({ ...tinyResult(), ceiling });

  it("prints each policy's share of it and says what set it", () => {
    const r = withCeiling({ goodputPerSec: 1.6, requests: 16, planned: 20, feasible: 18, limit: 'capacity', windowMs: 4000 });
    const md = renderMarkdown(r);
    expect(md).toContain('| alpha | 10 | 80.0% | 0.0% | 10.0% | 10.0% | 100 ms | 100 ms | 1.00 s | 0.80 | 0.80 | 50.0% |');
    expect(md).toContain('| beta | 10 | 50.0% | 20.0% | 0.0% | 30.0% | 100 ms | 100 ms | 1.00 s | 0.50 | 0.70 | 31.3% |');
    expect(md).toContain('Goodput ceiling: 1.60/s (16 requests)');
    expect(md).toContain('windows of 4.00 s');
    expect(renderTable(r)).toContain('Goodput ceiling: 1.60/s (16 requests), an upper bound no policy can exceed');
  });

  it('says unknown when the workload could not be bounded, and stays silent for results that predate it', () => {
    expect(renderMarkdown(withCeiling(null))).toContain('Goodput ceiling: unknown');
    expect(renderMarkdown(tinyResult())).not.toContain('Goodput ceiling');
  });

  it('says a fleet run has no ceiling because none is computed for fleets, not that it could not be bounded', () => {
    const r = withCeiling(null);
    const fleet: RunResult = { ...r, scenario: { ...r.scenario, config: { model: { deployments: { default: { replicas: 2 } } } } } };
    expect(renderMarkdown(fleet)).toContain('Goodput ceiling: not computed for a fleet');
    expect(renderMarkdown(fleet)).not.toContain('could not be bounded');
  });
});
