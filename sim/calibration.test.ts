import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CALIBRATION_TARGETS,
  compareNemo,
  compareVidur,
  fitMlp,
  fitOverhead,
  parseNemo,
  parseVidur,
  simulateNemo,
  type NemoRow,
  type VidurRow,
} from './calibration.js';
import { VirtualClock } from '../src/time/virtual-clock.js';
import { Gpu } from './gpu.js';
import { getProfile, stepMs, type GpuProfile } from './profiles.js';

/**
 * Batch-1 TTFT of a prompt of `systemTokens` shared system prompt + `queryTokens` new tokens, cold (first request)
 * and warm (the same system prompt again), on a fresh GPU of `profile`.
 */
async function warmColdTtft(profile: GpuProfile, systemTokens: number, queryTokens: number): Promise<{ coldMs: number; warmMs: number }> {
  const clock = new VirtualClock();
  const gpu = new Gpu(profile, clock);
  const once = async (q: string): Promise<number> => {
    const start = clock.now();
    let first = Number.NaN;
    gpu.submit(
      { promptTokens: systemTokens + queryTokens, startIndex: 0, endIndex: 1, prefix: [{ id: 'sys', tokens: systemTokens }, { id: q, tokens: queryTokens }] },
      { onToken: () => (first = clock.now() - start), onFinish: () => {}, onDrop: () => {} },
    );
    await clock.runUntilIdle();
    return first;
  };
  return { coldMs: await once('q1'), warmMs: await once('q2') };
}

// The published tables live beside the repository (never copied into it): <repo>/../shared/data/calibration.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = resolve(repoRoot, '../shared/data/calibration');

function readTable(name: string): string {
  const path = resolve(dataDir, name);
  if (!existsSync(path)) {
    throw new Error(
      `calibration data missing: expected ${path} (the shared data directory ../shared/data/calibration beside the repository); ` +
        'the calibration test compares the mock GPU profiles against these published tables and cannot run without them',
    );
  }
  return readFileSync(path, 'utf8');
}

const nemo: NemoRow[] = parseNemo(readTable('nemo-llama2-7b-latency.csv'));
const vidur: VidurRow[] = parseVidur(readTable('vidur-llama2-7b-mlp-step.csv'));

describe('calibration against published tables', () => {
  for (const [name, target] of Object.entries(CALIBRATION_TARGETS)) {
    it(`${name}: NeMo E2E MAPE ≤ 15%, and the constants are the ones the fits give`, async () => {
      const profile = getProfile(name);
      const nemoRows = nemo.filter((r) => r.gpu === target.nemoGpu);
      const vidurRows = vidur.filter((r) => r.gpu === target.vidurGpu);
      expect(nemoRows.length).toBeGreaterThanOrEqual(4);
      expect(vidurRows.length).toBeGreaterThanOrEqual(5);

      const n = await compareNemo(profile, nemoRows);
      const v = compareVidur(profile, vidurRows);
      const lines = [
        `\n${name} vs NeMo ${target.nemoGpu} (Llama-2-7B, 128 in / 20 out, avg E2E ms)`,
        '  batch  published  simulated  error',
        ...n.rows.map((r) => `  ${String(r.batch).padStart(5)}  ${r.publishedMs.toFixed(1).padStart(9)}  ${r.simulatedMs.toFixed(1).padStart(9)}  ${r.errorPct.toFixed(1).padStart(5)}%`),
        `  MAPE ${n.mapePct.toFixed(2)}%`,
        `${name} mlp() vs Vidur ${target.vidurGpu} (non-attention step ms)`,
        '  tokens  published  model  error',
        ...v.rows.map((r) => `  ${String(r.tokens).padStart(6)}  ${r.publishedMs.toFixed(1).padStart(9)}  ${r.modelMs.toFixed(1).padStart(5)}  ${r.errorPct.toFixed(1).padStart(5)}%`),
        `  MAPE ${v.mapePct.toFixed(2)}%`,
      ];
      console.log(lines.join('\n'));

      expect(n.mapePct).toBeLessThanOrEqual(15);
      expect(v.mapePct).toBeLessThanOrEqual(10);

      // The profile's constants are the fits' results (rounded), not numbers tuned by hand.
      const mlp = fitMlp(vidurRows.map((r) => ({ tokens: r.tokensInStep, ms: r.nonAttentionStepMs })));
      expect(profile.step.flatTokens).toBe(mlp.flatTokens);
      expect(profile.step.baseMs).toBeCloseTo(mlp.baseMs, 1);
      expect(profile.step.perTokenMs / mlp.perTokenMs).toBeCloseTo(1, 2);
      const overhead = await fitOverhead(profile, nemoRows);
      expect(profile.step.overheadMs).toBeCloseTo(overhead, 1);
    });
  }

  it('one decode step alone sits above the memory-bandwidth floor (weights / HBM bandwidth)', async () => {
    // 16 GB of weights over 3.35 TB/s (H100) ≈ 4.8 ms; over 2.04 TB/s (A100) ≈ 7.8 ms.
    expect(stepMs(getProfile('h100-llama3-8b').step, 1, 200)).toBeGreaterThan(4.8);
    expect(stepMs(getProfile('a100-llama3-8b').step, 1, 200)).toBeGreaterThan(7.8);
    // Batch 1, 128 in / 20 out: E2E is a prefill step plus 19 decode steps of the loop, nothing else.
    const p = getProfile('h100-llama3-8b');
    let expected = stepMs(p.step, 128, 128);
    for (let k = 1; k < 20; k++) expected += stepMs(p.step, 1, 128 + k);
    expect((await simulateNemo(p, 1, 128, 20)).avgLatencyMs).toBeCloseTo(expected, 9);
  });

  it('reports the full-batch decode step against the llm-d H100 8B reference (ITL 12 ± 2 ms, ×2 at full batch)', () => {
    const s = getProfile('h100-llama3-8b').step;
    const light = stepMs(s, 8, 8 * 600);
    const full = stepMs(s, 256, 256 * 600);
    console.log(`\nh100-llama3-8b decode step: 8 seqs × 600 ctx ${light.toFixed(1)} ms; 256 seqs × 600 ctx ${full.toFixed(1)} ms (llm-d: 12 ± 2 ms, about 24 ms at full batch)`);
    expect(light).toBeGreaterThan(6);
    expect(light).toBeLessThan(14);
    expect(full / light).toBeGreaterThan(1.5);
    expect(full / light).toBeLessThan(3);
  });

  it('reports the prefix-caching speed-up against a published vLLM APC measurement (Llama-3.1-8B, batch 1)', async () => {
    // Published (gigagpu.com, "RTX 5060 Ti 16GB with prefix caching": vLLM, Llama-3.1-8B FP8, batch 1, 200-token
    // query): TTFT cold → warm 280 → 40 ms with a 2k system prompt (×7.0), 1,100 → 60 ms with 8k (×18). Another
    // GPU, so the speed-up is compared, not the milliseconds.
    const rows = [
      { systemTokens: 2_000, published: 280 / 40 },
      { systemTokens: 8_000, published: 1_100 / 60 },
    ];
    for (const name of ['h100-llama3-8b', 'a100-llama3-8b']) {
      for (const r of rows) {
        const t = await warmColdTtft(getProfile(name), r.systemTokens, 200);
        const speedup = t.coldMs / t.warmMs;
        const err = speedup / r.published - 1;
        console.log(`${name} APC ${r.systemTokens} + 200 tokens: cold ${t.coldMs.toFixed(1)} ms, warm ${t.warmMs.toFixed(1)} ms, ×${speedup.toFixed(1)} (published ×${r.published.toFixed(1)}, ${(err * 100).toFixed(0)}%)`);
        // The shape must hold: a large speed-up that grows with the cached share of the prompt.
        expect(speedup).toBeGreaterThan(r.published / 2);
        expect(speedup).toBeLessThan(r.published * 2);
      }
    }
  });
});
