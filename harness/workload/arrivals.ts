/**
 * Arrival processes: when sessions start. The open-loop ones start sessions independent of how fast the system
 * answers, and turn a spec and a seeded stream into sorted arrival times in [0, durationMs). `users` is closed
 * loop: a user's next session starts after its last one ended (harness/workload/closed-loop.ts); its "arrival
 * times" here are when each user starts.
 */
import { z } from 'zod';
import { standardGamma } from '../../sim/distributions.js';
import { ValidationError } from '../../src/errors.js';
import type { Random } from '../../src/random.js';
import { distSchema } from './dist.js';

const rate = z.number().min(0);
const positiveRate = z.number().positive();
const ms = z.number().min(0);

/** Most closed-loop users in one run. */
export const MAX_USERS = 100_000;

/**
 * How sessions arrive, as JSON.
 * - `constant`: exactly every 1000/ratePerSec ms, first at 0 (inter-arrival CV 0).
 * - `poisson`: exponential gaps with mean 1000/ratePerSec (CV 1).
 * - `gamma`: gamma-distributed gaps with the given mean rate and coefficient of variation `cv`
 *   (cv > 1 is bursty, cv < 1 is smoother than Poisson; cv = 1 is Poisson).
 * - `ramp`: a Poisson process whose rate moves linearly from `fromPerSec` to `toPerSec` over `overMs`
 *   (starting at `atMs`, default 0), and stays at `toPerSec` afterwards.
 * - `spike`: Poisson at `baseRatePerSec`, and at `spikeRatePerSec` during [atMs, atMs + durationMs).
 * - `burst`: exactly `sessions` arrivals, uniform in [atMs, atMs + withinMs) (default atMs 0), regardless of the
 *   run's duration: "1,000 sessions in about 2 s".
 * - `users`: closed loop (k6 constant/ramping VUs, GuideLLM concurrent): `users` users, user i starting at
 *   `rampUpMs * i / users`, each playing sessions from the mix back to back with `thinkTimeMs` between one's end and
 *   the next one's start (at least `failurePauseMs` after a session whose every request failed), until the arrival
 *   window closes (sessions running then finish).
 */
export const arrivalSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('constant'), ratePerSec: positiveRate }).strict(),
  z.object({ kind: z.literal('poisson'), ratePerSec: positiveRate }).strict(),
  z.object({ kind: z.literal('gamma'), ratePerSec: positiveRate, cv: z.number().positive() }).strict(),
  z
    .object({ kind: z.literal('ramp'), fromPerSec: rate, toPerSec: rate, overMs: z.number().positive(), atMs: ms.optional() })
    .strict(),
  z
    .object({
      kind: z.literal('spike'),
      baseRatePerSec: rate,
      spikeRatePerSec: rate,
      atMs: ms,
      durationMs: z.number().positive(),
    })
    .strict(),
  z
    .object({ kind: z.literal('burst'), sessions: z.number().int().min(0), withinMs: z.number().positive(), atMs: ms.optional() })
    .strict(),
  z
    .object({
      kind: z.literal('users'),
      /** Users: sessions in flight at once when `thinkTimeMs` is 0. */
      users: z.number().int().min(1).max(MAX_USERS),
      /** User i starts at `rampUpMs * i / users`; all run from `rampUpMs` on. @default 0 */
      rampUpMs: ms.optional(),
      /** Pause between a user's session ending and its next one starting. @default 0 */
      thinkTimeMs: distSchema.optional(),
      /**
       * The least pause after a session whose every request failed: a user tries again after a moment rather than
       * at once (and a loop of instant refusals cannot stall virtual time). @default 1000
       */
      failurePauseMs: z.number().positive().optional(),
    })
    .strict(),
]);

/** An arrival process spec; see {@link arrivalSchema}. */
export type ArrivalSpec = z.infer<typeof arrivalSchema>;

/** Hard cap on arrivals from one process, so a typo like ratePerSec: 1e9 fails loudly instead of eating memory. */
export const MAX_ARRIVALS = 5_000_000;

/** Sorted arrival times in ms, in [0, durationMs) (a burst may extend past durationMs; it always has `sessions`). */
export function arrivalTimes(spec: ArrivalSpec, random: Random, durationMs: number): number[] {
  switch (spec.kind) {
    case 'constant': {
      const gap = 1000 / spec.ratePerSec;
      const n = Math.ceil(durationMs / gap);
      guard(n);
      return Array.from({ length: n }, (_, i) => i * gap).filter((t) => t < durationMs);
    }
    case 'poisson':
      return renewal(() => random.exponential(1000 / spec.ratePerSec), durationMs);
    case 'gamma': {
      const shape = 1 / (spec.cv * spec.cv);
      const scale = 1000 / spec.ratePerSec / shape;
      return renewal(() => standardGamma(shape, random) * scale, durationMs);
    }
    case 'ramp': {
      const at = spec.atMs ?? 0;
      const rateAt = (t: number): number => {
        if (t < at) return spec.fromPerSec;
        if (t >= at + spec.overMs) return spec.toPerSec;
        return spec.fromPerSec + ((spec.toPerSec - spec.fromPerSec) * (t - at)) / spec.overMs;
      };
      return thinned(rateAt, Math.max(spec.fromPerSec, spec.toPerSec), random, durationMs);
    }
    case 'spike': {
      const end = spec.atMs + spec.durationMs;
      const rateAt = (t: number): number => (t >= spec.atMs && t < end ? spec.spikeRatePerSec : spec.baseRatePerSec);
      return thinned(rateAt, Math.max(spec.baseRatePerSec, spec.spikeRatePerSec), random, durationMs);
    }
    case 'burst': {
      guard(spec.sessions);
      const at = spec.atMs ?? 0;
      const times = Array.from({ length: spec.sessions }, () => at + random.next() * spec.withinMs);
      return times.sort((a, b) => a - b);
    }
    case 'users':
      return Array.from({ length: spec.users }, (_, i) => userStartMs(i, spec.users, spec.rampUpMs ?? 0)).filter((t) => t < durationMs);
  }
}

/** When closed-loop user `i` of `count` starts: evenly over the ramp, the first at 0 (as k6 ramping-vus adds VUs). */
export function userStartMs(i: number, count: number, rampUpMs: number): number {
  return (rampUpMs * i) / count;
}

/** The process's expected rate at time `t` (ms), in arrivals per second. For tests and reports. */
export function expectedRatePerSec(spec: ArrivalSpec, t: number): number {
  switch (spec.kind) {
    case 'constant':
    case 'poisson':
    case 'gamma':
      return spec.ratePerSec;
    case 'ramp': {
      const at = spec.atMs ?? 0;
      if (t < at) return spec.fromPerSec;
      if (t >= at + spec.overMs) return spec.toPerSec;
      return spec.fromPerSec + ((spec.toPerSec - spec.fromPerSec) * (t - at)) / spec.overMs;
    }
    case 'spike':
      return t >= spec.atMs && t < spec.atMs + spec.durationMs ? spec.spikeRatePerSec : spec.baseRatePerSec;
    case 'burst': {
      const at = spec.atMs ?? 0;
      return t >= at && t < at + spec.withinMs ? (spec.sessions * 1000) / spec.withinMs : 0;
    }
    case 'users':
      // Closed loop: the rate is whatever the system's answers allow; only the users' starts are scheduled.
      return NaN;
  }
}

/** A renewal process: i.i.d. gaps, the first arrival one gap after 0 (so the process is not synchronized at 0). */
function renewal(gap: () => number, durationMs: number): number[] {
  const out: number[] = [];
  for (let t = gap(); t < durationMs; t += gap()) {
    out.push(t);
    guard(out.length);
  }
  return out;
}

/** A non-homogeneous Poisson process by thinning (Lewis–Shedler): candidates at `maxPerSec`, kept with rate(t)/max. */
function thinned(rateAt: (t: number) => number, maxPerSec: number, random: Random, durationMs: number): number[] {
  const out: number[] = [];
  if (maxPerSec <= 0) return out;
  const meanGap = 1000 / maxPerSec;
  for (let t = random.exponential(meanGap); t < durationMs; t += random.exponential(meanGap)) {
    if (random.next() * maxPerSec < rateAt(t)) {
      out.push(t);
      guard(out.length);
    }
  }
  return out;
}

function guard(n: number): void {
  if (n > MAX_ARRIVALS) throw new ValidationError('workload.arrivals', `at most ${MAX_ARRIVALS} arrivals over the run`, n);
}
