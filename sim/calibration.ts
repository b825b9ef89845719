/**
 * Calibration of the mock GPU against published measurements (../shared/data/calibration, see its README):
 * the fits that produced the profiles' step-time constants, and the error of each profile against the tables.
 * Pure functions of CSV text and profiles; `calibration.test.ts` reads the files, prints the table and asserts.
 *
 * - Vidur's non-attention step table gives the mlp() curve: `fitMlp` searches the knee (flatTokens) in steps of 8
 *   and solves base and slope by weighted least squares on relative error (weights 1/y²).
 * - NeMo's end-to-end latencies (128 in, 20 out, batch 1–8 submitted together) give the per-step overhead:
 *   `simulateNemo` runs the real step loop, and since E2E is linear in overheadMs (steps × overheadMs),
 *   `fitOverhead` solves it in closed form, again on relative error.
 */
import { VirtualClock } from '../src/time/virtual-clock.js';
import { Gpu } from './gpu.js';
import type { GpuProfile, StepTimeModel } from './profiles.js';

/** One row of nemo-llama2-7b-latency.csv. */
export interface NemoRow {
  readonly gpu: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly batch: number;
  readonly avgLatencyMs: number;
}

/** One row of vidur-llama2-7b-mlp-step.csv. */
export interface VidurRow {
  readonly gpu: string;
  readonly tokensInStep: number;
  readonly nonAttentionStepMs: number;
}

/** Which table rows calibrate which profile. */
export const CALIBRATION_TARGETS: Readonly<Record<string, { readonly nemoGpu: string; readonly vidurGpu: string }>> = {
  'h100-llama3-8b': { nemoGpu: 'H100', vidurGpu: 'H100' },
  'a100-llama3-8b': { nemoGpu: 'A100-80GB', vidurGpu: 'A100' },
};

/** Parses a small CSV with a header row into records (no quoting: the calibration files have none). */
export function parseCsv(text: string): Array<Record<string, string>> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  return lines.slice(1).map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(header.map((h, i) => [h, (cells[i] ?? '').trim()]));
  });
}

function num(row: Record<string, string>, field: string, file: string): number {
  const v = Number(row[field]);
  if (row[field] === undefined || row[field] === '' || !Number.isFinite(v)) {
    throw new Error(`${file}: expected a number in column ${field}, got ${JSON.stringify(row[field])}`);
  }
  return v;
}

export function parseNemo(text: string): NemoRow[] {
  return parseCsv(text).map((r) => ({
    gpu: r['gpu'] ?? '',
    inputTokens: num(r, 'input_tokens', 'nemo'),
    outputTokens: num(r, 'output_tokens', 'nemo'),
    batch: num(r, 'batch', 'nemo'),
    avgLatencyMs: num(r, 'avg_latency_ms', 'nemo'),
  }));
}

export function parseVidur(text: string): VidurRow[] {
  return parseCsv(text).map((r) => ({
    gpu: r['gpu'] ?? '',
    tokensInStep: num(r, 'tokens_in_step', 'vidur'),
    nonAttentionStepMs: num(r, 'non_attention_step_ms', 'vidur'),
  }));
}

/** The non-attention part of a step: the piecewise-linear mlp() of the step model. */
export function mlpMs(s: Pick<StepTimeModel, 'baseMs' | 'flatTokens' | 'perTokenMs'>, tokens: number): number {
  return s.baseMs + s.perTokenMs * Math.max(0, tokens - s.flatTokens);
}

/** Fits mlp() to (tokens, ms) points: knee on a grid of 8, base and slope by weighted least squares. */
export function fitMlp(points: ReadonlyArray<{ tokens: number; ms: number }>): { baseMs: number; flatTokens: number; perTokenMs: number; mape: number } {
  let best = { baseMs: 0, flatTokens: 0, perTokenMs: 0, mape: Infinity };
  for (let knee = 0; knee <= 512; knee += 8) {
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    let e = 0;
    for (const p of points) {
      const x = Math.max(0, p.tokens - knee);
      const w = 1 / (p.ms * p.ms);
      a += w;
      b += w * x;
      c += w * x * x;
      d += w * p.ms;
      e += w * x * p.ms;
    }
    const det = a * c - b * b;
    if (det === 0) continue;
    const fit = { baseMs: (d * c - b * e) / det, flatTokens: knee, perTokenMs: (a * e - b * d) / det };
    const mape = mean(points.map((p) => Math.abs(mlpMs(fit, p.tokens) - p.ms) / p.ms));
    if (mape < best.mape) best = { ...fit, mape };
  }
  return best;
}

/** The NeMo setup on the step loop: `batch` sequences submitted together; mean E2E latency and steps taken. */
export async function simulateNemo(
  profile: GpuProfile,
  batch: number,
  inputTokens: number,
  outputTokens: number,
): Promise<{ avgLatencyMs: number; steps: number }> {
  const clock = new VirtualClock();
  const gpu = new Gpu(profile, clock);
  const ends: number[] = [];
  for (let i = 0; i < batch; i++) {
    gpu.submit(
      { promptTokens: inputTokens, startIndex: 0, endIndex: outputTokens },
      { onToken: () => undefined, onFinish: () => ends.push(clock.now()), onDrop: () => undefined },
    );
  }
  await clock.runUntilIdle();
  if (ends.length !== batch) throw new Error(`simulateNemo: expected ${batch} sequences to finish, got ${ends.length}`);
  return { avgLatencyMs: mean(ends), steps: gpu.stats().steps };
}

/** Error of one profile against the NeMo rows of its GPU. */
export interface NemoComparison {
  readonly rows: ReadonlyArray<{ batch: number; publishedMs: number; simulatedMs: number; errorPct: number }>;
  /** Mean absolute percentage error. */
  readonly mapePct: number;
}

export async function compareNemo(profile: GpuProfile, rows: readonly NemoRow[]): Promise<NemoComparison> {
  const out: Array<NemoComparison['rows'][number]> = [];
  for (const r of rows) {
    const sim = (await simulateNemo(profile, r.batch, r.inputTokens, r.outputTokens)).avgLatencyMs;
    out.push({ batch: r.batch, publishedMs: r.avgLatencyMs, simulatedMs: sim, errorPct: (100 * (sim - r.avgLatencyMs)) / r.avgLatencyMs });
  }
  return { rows: out, mapePct: mean(out.map((r) => Math.abs(r.errorPct))) };
}

/** The overhead (ms per step) that best fits the NeMo rows, all else in the profile fixed (closed form). */
export async function fitOverhead(profile: GpuProfile, rows: readonly NemoRow[]): Promise<number> {
  const zero: GpuProfile = { ...profile, step: { ...profile.step, overheadMs: 0 } };
  let num = 0;
  let den = 0;
  for (const r of rows) {
    const { avgLatencyMs: base, steps } = await simulateNemo(zero, r.batch, r.inputTokens, r.outputTokens);
    const w = 1 / (r.avgLatencyMs * r.avgLatencyMs);
    num += w * steps * (r.avgLatencyMs - base);
    den += w * steps * steps;
  }
  return num / den;
}

/** Error of a profile's mlp() against the Vidur rows of its GPU. */
export function compareVidur(profile: GpuProfile, rows: readonly VidurRow[]): { rows: Array<{ tokens: number; publishedMs: number; modelMs: number; errorPct: number }>; mapePct: number } {
  const out = rows.map((r) => {
    const m = mlpMs(profile.step, r.tokensInStep);
    return { tokens: r.tokensInStep, publishedMs: r.nonAttentionStepMs, modelMs: m, errorPct: (100 * (m - r.nonAttentionStepMs)) / r.nonAttentionStepMs };
  });
  return { rows: out, mapePct: mean(out.map((r) => Math.abs(r.errorPct))) };
}

function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length === 0 ? 0 : s / xs.length;
}
