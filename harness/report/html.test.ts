import { describe, expect, it } from 'vitest';
import { renderHtml } from './html.js';
import type { RunResult } from './schema.js';
import { syntheticRunResult } from './synthetic-run.js';

const result = syntheticRunResult(42, 20_000, 10);

describe('renderHtml (static checks; test/report-html.test.ts renders it in Chromium)', () => {
  const html = renderHtml(result);

  it('is one self-contained file: uPlot inlined, nothing fetched', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=/);
    // The only URLs are the SVG namespace and uPlot's licence banner; neither is fetched.
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg|github\.com\/leeoniya\/uPlot)/);
    expect(html).toContain('uPlot');
    expect(html.match(/<script/g)).toHaveLength(3);
  });

  it('has a container per chart, the comparison table and the legend', () => {
    for (const id of ['cdf-ttftMs', 'cdf-e2eMs', 'bars-ttftMs', 'bars-e2eMs', 'ts-arrivals', 'ts-ok', 'ts-queue', 'ts-inflight', 'ts-429', 'ts-gpu']) {
      expect(html).toContain(`data-chart="${id}"`);
    }
    expect(html).toContain('<table class="compare">');
    expect(html).toContain('<dt>Goodput/s</dt><dd>ok requests per second that met every SLO</dd>');
    expect(html).toContain('Fault phases and recovery');
  });

  it('charts the reasons and the breaker beside the fault phases, tables the reasons, and states the ceiling', () => {
    for (const id of ['ts-reasons', 'ts-breaker']) expect(html).toContain(`data-chart="${id}"`);
    expect(html).toContain('<h2>Why not ok</h2>');
    const withCeiling = renderHtml({ ...result, ceiling: { goodputPerSec: 12.5, requests: 250, planned: 260, feasible: 255, limit: 'capacity', windowMs: 8000 } });
    expect(withCeiling).toContain('<p class="muted" data-ceiling>Goodput ceiling: 12.50/s (250 requests)');
    expect(withCeiling).toContain('<dt>Of ceiling</dt>');
  });

  it('escapes text from the result, including a </script> in embedded JSON', () => {
    const evil = structuredClone(result) as { -readonly [K in keyof RunResult]: RunResult[K] };
    evil.scenario = { ...evil.scenario, description: '<img src=x onerror=alert(1)>' };
    evil.faultPhases = [{ ...evil.faultPhases[0]!, name: '</script><script>alert(1)</script>' }];
    const h = renderHtml(evil as RunResult);
    expect(h).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(h).not.toContain('<img src=x');
    expect(h.match(/<\/script>/g)).toHaveLength(3);
  });

  it('is deterministic', () => {
    expect(renderHtml(syntheticRunResult(42, 20_000, 10))).toBe(html);
  });
});

describe('renderHtml cost breakdown', () => {
  it('shows what the money went to per policy, and spend per second beside the fault phases', () => {
    const priced = structuredClone(result);
    priced.policies.forEach((p, i) => {
      Object.assign(p.summary, {
        tokens: { billedInput: 1000 * (i + 1), billedCachedInput: 0, billedOutput: 500, delivered: 400 },
        cost: { totalUsd: 0.5, per1kGoodUsd: 0.25, wastedUsd: 0.125, gpuHours: 0.01, idleGpuHours: 0.02, idleUsd: null, byKind: { first: 0.25, retry: 0.125, resume: 0.0625, fallback: 0.0625 } },
      });
      Object.assign(p.series, { spendUsd: p.series.arrivals.map((_, k) => (k === 1 ? 0.5 : 0)) });
    });
    const html = renderHtml(priced);
    expect(html).toContain('<h2>What it cost</h2>');
    const row = `<td>${priced.policies[1]!.name}</td><td class="num">$0.5000</td><td class="num">$0.2500</td><td class="num">$0.1250</td><td class="num">$0.0625</td><td class="num">$0.0625</td><td class="num">$0.1250</td><td class="num">2000</td>`;
    expect(html).toContain(row);
    expect(html).toContain('data-chart="ts-spend"');
    expect(html).toContain('<th class="num">$/1k good</th><th class="num">Wasted $</th>');
    // Unpriced runs have no breakdown, and the spend chart says it was not reported.
    expect(renderHtml(result)).not.toContain('What it cost');
  });
});
