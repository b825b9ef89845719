import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy.js';
import { bestPolicy, rankingOf, serializeSweep } from './document.js';
import { syntheticSweep } from './fixture.js';
import { renderTuneHtml } from './report-html.js';
import { noiseNote, overridesOf, renderTuneMarkdown, sweepVerdict } from './report-md.js';
import { configLabel } from './space.js';

const doc3 = syntheticSweep([1, 2, 3]);
const doc1 = syntheticSweep([1]);

describe('tuning report (Markdown)', () => {
  it('states the verdict, the best configuration and the ranked table with spreads', () => {
    const md = renderTuneMarkdown(doc3);
    const best = rankingOf(doc3).best!;
    expect(md).toMatch(/^## ✅ Tuning `tiny-burst`: 12 of 24 configurations meet the SLOs; best: concurrency\.limit=128/);
    expect(md).toContain(`\`${configLabel(best.assignments)}\` (id \`${best.id}\`)`);
    expect(md).toContain('| # | Configuration | Meets SLO | Goodput/s | TTFT p99 | E2E p99 | Amplif. | Wasted | Recovery | Id |');
    // 24 data rows, in rank order, each with median [min–max].
    const section = md.slice(md.indexOf('### Ranked configurations'), md.indexOf('### SLO detail'));
    const rows = section.split('\n').filter((l) => /^\| \d+ \| concurrency/.test(l));
    expect(rows).toHaveLength(24);
    expect(rows.map((l) => Number(l.split('|')[1]))).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    expect(rows[0]).toMatch(/yes \(3\/3\) \| [\d.]+ \\\[[\d.]+–[\d.]+\\\]/); // brackets escaped for Markdown
    expect(md).toContain('Ranking: meets every SLO in every seed first; then higher median goodput; then lower median p99 E2E');
    expect(md).toContain('### Pareto front: goodput against p99 E2E');
    expect(md).toContain('**concurrency.limit (rows) × retryBudget.ratio (columns)**');
    expect(md).toContain('### Sensitivity');
    expect(md).toContain('"overrides": {');
  });

  it('says when the winner is within seed noise, and that one seed measures none', () => {
    expect(noiseNote(doc1)).toMatch(/^One seed per configuration: no spread was measured/);
    const note = noiseNote(doc3)!;
    const ties = rankingOf(doc3).ties;
    if (ties.length === 0) expect(note).toMatch(/larger than the seed-to-seed noise/);
    else expect(note).toMatch(/^Within noise: /);
    // A sweep where everyone overlaps the winner: shift the runner-up's spread onto the winner's.
    const r = rankingOf(doc3);
    const tied = { ...doc3, ranking: { ...doc3.ranking, ties: [r.configs[1]!.id] } };
    expect(noiseNote(tied)).toContain('#2 overlaps the winner');
  });

  it('says clearly when no configuration meets the SLOs', () => {
    const none = { ...doc1, ranking: { ...doc1.ranking, bestId: null, configs: doc1.ranking.configs.map((c) => ({ ...c, meetsAll: false, meetsCount: 0 })) } };
    expect(sweepVerdict(none)).toBe('no configuration meets the SLOs (0 of 24)');
    const md = renderTuneMarkdown(none);
    expect(md).toMatch(/^## ❌ Tuning/);
    expect(md).toContain('**No configuration meets every SLO.**');
    expect(bestPolicy(none)).toBeNull();
    expect(renderTuneHtml(none)).toContain('no configuration meets the SLOs');
  });

  it('the best policy is a complete, valid Policy with the winning knobs', () => {
    const p = bestPolicy(doc3)!;
    const best = rankingOf(doc3).best!;
    expect(parsePolicy(p)).toEqual(p);
    expect(p.concurrency.limit).toBe(best.assignments['concurrency.limit']);
    expect(p.name).toBe(`tiny-burst-tuned-${best.id}`);
    expect(overridesOf({ 'concurrency.limit': 64, 'retry.maxAttempts': 2, 'concurrency.mode': 'aimd' })).toEqual({ concurrency: { limit: 64, mode: 'aimd' }, retry: { maxAttempts: 2 } });
  });

  it('renders the same bytes for the same sweep, and sweep.json round-trips', () => {
    expect(renderTuneMarkdown(syntheticSweep([1, 2, 3]))).toBe(renderTuneMarkdown(doc3));
    expect(JSON.parse(serializeSweep(doc3))).toEqual(JSON.parse(JSON.stringify(doc3)));
  });
});
