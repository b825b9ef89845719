/**
 * A synthetic but realistic RunResult, built through the Recorder from seeded random data: three policies
 * under a 10-second upstream outage. The first never recovers (metastable), the second sheds and recovers,
 * the third degrades to a fallback and recovers fast. For renderer tests and report demos; it models
 * nothing, it only produces plausible data with every feature a report must show.
 */
import { Random } from '../../src/random.js';
import { Recorder } from '../measure/recorder.js';
import type { PolicyResult } from '../measure/result.js';
import type { FaultPhase, Outcome, SloSpec, Threshold } from '../measure/types.js';
import { buildRunResult } from './run-result.js';
import type { RunResult } from './schema.js';

interface Profile {
  readonly name: string;
  /** Health 0..1 at time t (1 = unaffected). */
  health(tMs: number): number;
  /** What a request that hit trouble becomes. */
  readonly trouble: Outcome;
  readonly retries: number;
  readonly queueScale: number;
}

const FAULT: FaultPhase = { name: 'primary-outage', atMs: 20_000, durationMs: 10_000, description: 'primary answers 503 to 80% of requests' };
const inFault = (t: number): boolean => t >= FAULT.atMs && t < FAULT.atMs + FAULT.durationMs;
const afterFault = (t: number): number => t - (FAULT.atMs + FAULT.durationMs);

const PROFILES: readonly Profile[] = [
  { name: 'naive', health: (t) => (inFault(t) ? 0.15 : afterFault(t) >= 0 ? 0.35 : 1), trouble: 'failed', retries: 3, queueScale: 400 },
  { name: 'bounded', health: (t) => (inFault(t) ? 0.4 : afterFault(t) >= 0 ? Math.min(1, 0.5 + afterFault(t) / 8000) : 1), trouble: 'shed', retries: 1, queueScale: 64 },
  { name: 'resilient', health: (t) => (inFault(t) ? 0.6 : afterFault(t) >= 0 ? Math.min(1, 0.8 + afterFault(t) / 2000) : 1), trouble: 'degraded', retries: 1, queueScale: 32 },
];

/** The SLO the synthetic run is judged against. */
export const SYNTHETIC_SLO: SloSpec = { ttftMs: 1000, e2eMs: 8000, classes: { batch: { ttftMs: 5000, e2eMs: 30_000 } } };

/** Thresholds the synthetic run carries: some pass, some fail. */
export const SYNTHETIC_THRESHOLDS: readonly Threshold[] = [
  { metric: 'ttftMs', stat: 'p99', op: '<=', value: 3000 },
  { metric: 'okFraction', op: '>=', value: 0.6 },
  { metric: 'recoveryMs', op: '<=', value: 15_000, policy: 'resilient' },
];

function runPolicy(p: Profile, seed: number, durationMs: number, ratePerSec: number): PolicyResult {
  const rng = new Random(seed).derive(`synthetic/${p.name}`);
  const rec = new Recorder({ policy: p.name, config: { preset: p.name, retries: p.retries, queueScale: p.queueScale }, slo: SYNTHETIC_SLO });
  let wasted = 0;
  let computed = 0;
  for (let t = 0; t < durationMs; t += 250) {
    const h = p.health(t);
    rec.gauge(t, {
      queueDepth: Math.round((1 - h) * p.queueScale * (0.8 + 0.4 * rng.next())),
      inFlight: Math.round(24 + (1 - h) * 40 * rng.next()),
      concurrencyLimit: p.name === 'naive' ? null : 32,
      breakerState: p.name === 'resilient' && inFault(t) ? (t % 2000 < 1500 ? 'open' : 'half-open') : 'closed',
      ...(p.name === 'naive' ? {} : { budgetLevel: Math.max(0, 10 * h) }),
      gpuUtilization: Math.min(1, 0.55 + 0.3 * (1 - h) + 0.05 * rng.next()),
    });
    if (h < 1 && rng.chance(1 - h)) rec.rateLimited(t, 1 + rng.int(0, p.retries * 3));
  }
  let id = 0;
  for (let t = rng.exponential(1000 / ratePerSec); t < durationMs; t += rng.exponential(1000 / ratePerSec)) {
    rec.arrival(t);
    const h = p.health(t);
    const batch = rng.chance(0.2);
    const troubled = !rng.chance(h);
    const slow = 1 + (1 - h) * 6;
    const ttft = Math.exp(rng.normal(Math.log(250), 0.5)) * slow + (batch ? 400 : 0);
    const tokens = rng.int(20, batch ? 600 : 250);
    const itl = 18 * (1 + (1 - h));
    const attempts = troubled ? 1 + p.retries : 1;
    computed += tokens * attempts;
    let outcome: Outcome = troubled ? p.trouble : 'ok';
    if (outcome === 'ok' && rng.chance(0.004)) outcome = 'timeout';
    if (outcome === 'failed' || outcome === 'shed') {
      wasted += outcome === 'failed' ? tokens * p.retries : 0;
      const end = t + (outcome === 'shed' ? 2 + rng.uniform(0, 5) : ttft * 2);
      rec.complete({ id: `${p.name}-${id++}`, class: batch ? 'batch' : 'interactive', intendedStartMs: t, endAtMs: end, chunks: [], tokens: 0, outcome, queuedMs: outcome === 'shed' ? 0 : ttft * 0.5, backoffMs: outcome === 'failed' ? 150 * p.retries : 0, attempts: outcome === 'shed' ? 0 : attempts, upstreamCalls: outcome === 'shed' ? 0 : attempts });
      continue;
    }
    const chunks: Array<{ atMs: number; count: number }> = [];
    let at = t + ttft;
    for (let sent = 0; sent < tokens; ) {
      const k = Math.min(tokens - sent, rng.int(1, 4));
      chunks.push({ atMs: at, count: k });
      sent += k;
      at += itl * k * (0.7 + 0.6 * rng.next());
    }
    const last = chunks[chunks.length - 1]!.atMs;
    rec.complete({
      id: `${p.name}-${id++}`,
      class: batch ? 'batch' : 'interactive',
      intendedStartMs: t,
      firstTokenAtMs: t + ttft,
      endAtMs: outcome === 'timeout' ? last + 30_000 : last,
      chunks,
      tokens,
      outcome,
      ...(outcome === 'degraded' ? { degraded: 'fallback' } : {}),
      queuedMs: ttft * 0.4,
      backoffMs: troubled ? 120 : 0,
      attempts,
      upstreamCalls: attempts,
    });
  }
  return rec.finish({ durationMs, wastedTokens: wasted, tokensComputed: computed, gpuUtilization: null, meanBatchSize: 18.5, faultPhases: [FAULT] });
}

/**
 * Builds the synthetic RunResult.
 * @param seed @default 42
 * @param durationMs @default 60_000
 * @param ratePerSec @default 20
 */
export function syntheticRunResult(seed = 42, durationMs = 60_000, ratePerSec = 20): RunResult {
  return buildRunResult({
    seed,
    scenario: {
      name: 'synthetic-outage',
      description: 'Synthetic data: 20 req/s of chat traffic through a 10 s primary outage (not a simulation; for report tests).',
      durationMs,
      mode: 'virtual',
      config: { ratePerSec, fault: FAULT.name },
    },
    slo: SYNTHETIC_SLO,
    thresholds: SYNTHETIC_THRESHOLDS,
    faultPhases: [FAULT],
    policies: PROFILES.map((p) => runPolicy(p, seed, durationMs, ratePerSec)),
    meta: {
      gitCommit: '0000000000000000000000000000000000000000',
      machine: { platform: 'linux', arch: 'x64', cpus: 2, cpuModel: 'synthetic', memoryBytes: null },
      nodeVersion: 'v20.0.0',
      wallMs: 1234,
      simulatedMs: durationMs,
      startedAt: '2025-01-01T00:00:00.000Z',
      loadGenerator: null,
    },
  });
}
