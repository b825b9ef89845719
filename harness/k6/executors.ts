/**
 * Maps a workload's arrival process onto a k6 executor, saying what the mapping loses. k6 starts iterations
 * evenly spaced at a (possibly ramping) rate, or runs a fixed number of iterations per VU; it has no random
 * arrival process. So:
 * - constant → `constant-arrival-rate` (exact); poisson → the same (evenly spaced: the randomness of the gaps is lost);
 * - ramp → `ramping-arrival-rate` (linear, as the scenario's rate is);
 * - spike → `ramping-arrival-rate` with zero-length steps up and down;
 * - burst → `per-vu-iterations`: one VU per session, each sleeping until its seeded start time in the window
 *   (above `maxBurstVus` sessions: `constant-arrival-rate` over the window instead);
 * - users (closed loop) → `constant-vus`, or `ramping-vus` with a ramp (harness/k6/executor-users.ts);
 * - gamma and trace replay → the seeded arrival times counted into bins and replayed as `ramping-arrival-rate`
 *   steps: counts per bin are exact, the pattern inside a bin is evenly spaced.
 */
import { expectedRatePerSec, isTraceWorkload, type ArrivalSpec, type WorkloadSpec } from '../workload/index.js';
import { usersExecutor } from './executor-users.js';
import { integerRates, k6Duration } from './units.js';

/** A `ramping-arrival-rate` stage. */
export interface K6Stage {
  readonly duration: string;
  readonly target: number;
}

/** The k6 scenario configs the generator writes (a subset of `@types/k6` `Scenario`). */
export type K6ExecutorConfig =
  | {
      readonly executor: 'per-vu-iterations';
      readonly vus: number;
      readonly iterations: number;
      readonly maxDuration: string;
      readonly gracefulStop: string;
    }
  | {
      readonly executor: 'constant-arrival-rate';
      readonly rate: number;
      readonly timeUnit: string;
      readonly duration: string;
      readonly startTime?: string;
      readonly preAllocatedVUs: number;
      readonly maxVUs: number;
      readonly gracefulStop: string;
    }
  | {
      readonly executor: 'ramping-arrival-rate';
      readonly startRate: number;
      readonly timeUnit: string;
      readonly stages: readonly K6Stage[];
      readonly preAllocatedVUs: number;
      readonly maxVUs: number;
      readonly gracefulStop: string;
    }
  | { readonly executor: 'constant-vus'; readonly vus: number; readonly duration: string; readonly gracefulStop: string }
  | {
      readonly executor: 'ramping-vus';
      readonly startVUs: number;
      readonly stages: readonly K6Stage[];
      readonly gracefulRampDown: string;
      readonly gracefulStop: string;
    };

/** A k6 executor for a workload, and how the script picks a session for an iteration. */
export interface ExecutorPlan {
  readonly config: K6ExecutorConfig;
  /**
   * `vu`: VU i plays session i and sleeps until its start time (per-vu-iterations). `iteration`: the k6 scheduler
   * starts the iteration; iteration i plays session i (cycling through the embedded sessions). `user`: closed
   * loop (constant-vus, ramping-vus): each VU plays sessions back to back, iteration i session i, then thinks.
   */
  readonly sessionBy: 'vu' | 'iteration' | 'user';
  /** Comment lines: the mapping and what it loses. */
  readonly notes: readonly string[];
}

/** Options of {@link k6Executor}. */
export interface ExecutorOptions {
  /** The scenario's arrival window. */
  readonly durationMs: number;
  /** Time given to sessions still running when arrivals stop (k6 `gracefulStop`). @default 120_000 */
  readonly drainMs?: number;
  /** Largest burst played with one VU per session. @default 2000 */
  readonly maxBurstVus?: number;
  /** Seeded session start times; required for gamma arrivals and trace replay. */
  readonly arrivalTimesMs?: readonly number[];
  /** Bin width for gamma and trace replay. @default max(1 s, durationMs / 200) rounded up to whole seconds */
  readonly binMs?: number;
  /**
   * Expected time one session keeps its VU, ms (its calls and think times; {@link estimateSessionMs}). Arrival-rate
   * executors pre-allocate the sessions in flight at the peak rate (Little's law), with headroom. @default 10_000
   */
  readonly sessionMs?: number;
}

/** Pre-allocated VUs per expected session in flight: headroom for sessions slower than estimated. */
const VU_HEADROOM = 1.5;
/** maxVUs covers at least this many seconds of arrivals at the peak rate (a target far slower than estimated). */
const MAX_VU_SECONDS = 60;
const MAX_VUS_CAP = 20_000;
const DEFAULT_SESSION_MS = 10_000;

/** Maps `workload`'s arrivals to a k6 executor. */
export function k6Executor(workload: WorkloadSpec, o: ExecutorOptions): ExecutorPlan {
  const drain = k6Duration(o.drainMs ?? 120_000);
  if (isTraceWorkload(workload)) {
    return binned(requireTimes(o, 'trace replay'), o, drain, [
      'Trace replay: k6 cannot start iterations at given timestamps, so the trace\'s arrival times (after windowing',
      'and speed-up) are counted into bins and replayed as ramping-arrival-rate steps; counts per bin are exact,',
      'arrivals inside a bin are evenly spaced.',
    ]);
  }
  const a = workload.arrivals;
  switch (a.kind) {
    case 'constant':
    case 'poisson': {
      const r = integerRates([a.ratePerSec]);
      const notes =
        a.kind === 'constant'
          ? [`Constant arrivals at ${a.ratePerSec}/s → constant-arrival-rate (exact).`]
          : [
              `Poisson arrivals at ${a.ratePerSec}/s → constant-arrival-rate. k6 has no Poisson executor: arrivals are evenly`,
              'spaced (inter-arrival CV 0, not 1), so the mean rate matches and the short-term clumping does not.',
            ];
      return {
        sessionBy: 'iteration',
        notes: [...notes, ...roundingNote(r.maxErrorPerSec)],
        config: {
          executor: 'constant-arrival-rate',
          rate: r.rates[0] as number,
          timeUnit: r.timeUnit,
          duration: k6Duration(o.durationMs),
          ...vuPool(a.ratePerSec, o.sessionMs),
          gracefulStop: drain,
        },
      };
    }
    case 'ramp':
    case 'spike':
      return piecewise(a, o, drain);
    case 'gamma':
      return binned(requireTimes(o, 'gamma arrivals'), o, drain, [
        `Gamma arrivals (${a.ratePerSec}/s, cv ${a.cv}) → ramping-arrival-rate. k6 has no renewal-process executor: the`,
        'seeded arrival times are counted into bins and replayed as steps; counts per bin are exact, burstiness',
        'shorter than a bin is lost.',
      ]);
    case 'burst':
      return burst(a, o, drain);
    case 'users':
      return usersExecutor(a, o, drain);
  }
}

function requireTimes(o: ExecutorOptions, what: string): readonly number[] {
  if (o.arrivalTimesMs === undefined) throw new RangeError(`k6Executor: ${what} needs arrivalTimesMs (the seeded session start times), got none`);
  return o.arrivalTimesMs;
}

/**
 * The VU pool of an arrival-rate executor: `preAllocatedVUs` holds the sessions in flight at the peak rate (rate ×
 * expected session time, Little's law) times {@link VU_HEADROOM}; `maxVUs` lets it grow to twice that, or to 60 s of
 * arrivals when that is more, for a target slower than estimated.
 */
export function vuPool(peakPerSec: number, sessionMs: number = DEFAULT_SESSION_MS): { preAllocatedVUs: number; maxVUs: number } {
  const inFlight = (peakPerSec * sessionMs) / 1000;
  const preAllocatedVUs = Math.min(MAX_VUS_CAP, Math.max(1, Math.ceil(inFlight * VU_HEADROOM)));
  const maxVUs = Math.min(MAX_VUS_CAP, Math.max(10, 2 * preAllocatedVUs, Math.ceil(peakPerSec * MAX_VU_SECONDS)));
  return { preAllocatedVUs, maxVUs };
}

function roundingNote(maxErrorPerSec: number): string[] {
  return maxErrorPerSec > 0 ? [`k6 rates are integers per timeUnit: rounding changed a rate by up to ${maxErrorPerSec.toPrecision(2)}/s.`] : [];
}

function burst(a: Extract<ArrivalSpec, { kind: 'burst' }>, o: ExecutorOptions, drain: string): ExecutorPlan {
  const at = a.atMs ?? 0;
  const max = o.maxBurstVus ?? 2000;
  if (a.sessions <= max) {
    return {
      sessionBy: 'vu',
      notes: [
        `Burst of ${a.sessions} sessions within ${a.withinMs} ms${at > 0 ? ` from ${at} ms` : ''} → per-vu-iterations: ${a.sessions} VUs, one`,
        'iteration each; VU i sleeps until session i\'s seeded start time, so the arrival times are the harness\'s own.',
      ],
      config: {
        executor: 'per-vu-iterations',
        vus: a.sessions,
        iterations: 1,
        maxDuration: k6Duration(Math.max(o.durationMs, at + a.withinMs)),
        gracefulStop: drain,
      },
    };
  }
  return {
    sessionBy: 'iteration',
    notes: [
      `Burst of ${a.sessions} sessions within ${a.withinMs} ms → constant-arrival-rate of ${a.sessions} per ${a.withinMs} ms (more than`,
      `${max} sessions: one VU per session would be too many). Arrivals are evenly spaced in the window, not uniform random.`,
    ],
    config: {
      executor: 'constant-arrival-rate',
      rate: a.sessions,
      timeUnit: k6Duration(a.withinMs),
      duration: k6Duration(a.withinMs),
      ...(at > 0 ? { startTime: k6Duration(at) } : {}),
      ...vuPool((a.sessions * 1000) / a.withinMs, o.sessionMs),
      gracefulStop: drain,
    },
  };
}

/** A rate as (time ms, rate/s) breakpoints; between two points the rate is linear, a repeated time is a jump. */
type Breakpoint = readonly [atMs: number, perSec: number];

function piecewise(a: Extract<ArrivalSpec, { kind: 'ramp' | 'spike' }>, o: ExecutorOptions, drain: string): ExecutorPlan {
  const end = o.durationMs;
  const points: Breakpoint[] = [[0, expectedRatePerSec(a, 0)]];
  const add = (t: number, r: number): void => {
    if (t > 0 && t <= end) points.push([t, r]);
  };
  let notes: string[];
  if (a.kind === 'ramp') {
    const at = a.atMs ?? 0;
    const stop = Math.min(end, at + a.overMs);
    if (at < end) {
      add(at, a.fromPerSec);
      add(stop, stop === at + a.overMs ? a.toPerSec : a.fromPerSec + ((a.toPerSec - a.fromPerSec) * (stop - at)) / a.overMs);
    }
    notes = [
      `Ramp from ${a.fromPerSec}/s to ${a.toPerSec}/s over ${a.overMs} ms${at > 0 ? ` from ${at} ms` : ''} → ramping-arrival-rate (linear, as`,
      'the scenario\'s). The scenario thins a Poisson process; k6 spaces arrivals evenly at the current rate.',
    ];
  } else {
    const stop = Math.min(end, a.atMs + a.durationMs);
    if (a.atMs < end) {
      add(a.atMs, a.baseRatePerSec);
      add(a.atMs, a.spikeRatePerSec);
      add(stop, a.spikeRatePerSec);
      if (stop < end) add(stop, a.baseRatePerSec);
    }
    notes = [
      `Spike from ${a.baseRatePerSec}/s to ${a.spikeRatePerSec}/s at ${a.atMs} ms for ${a.durationMs} ms → ramping-arrival-rate with`,
      'zero-length steps up and down. The scenario draws Poisson arrivals; k6 spaces them evenly at each rate.',
    ];
  }
  const last = points[points.length - 1] as Breakpoint;
  if (last[0] < end) points.push([end, last[1]]);
  return stagesFrom(points, drain, notes, o.sessionMs);
}

function stagesFrom(points: readonly Breakpoint[], drain: string, notes: readonly string[], sessionMs: number | undefined): ExecutorPlan {
  const r = integerRates(points.map((p) => p[1]));
  const stages: K6Stage[] = [];
  for (let i = 1; i < points.length; i++) {
    const t0 = (points[i - 1] as Breakpoint)[0];
    const t1 = (points[i] as Breakpoint)[0];
    stages.push({ duration: k6Duration(t1 - t0), target: r.rates[i] as number });
  }
  return {
    sessionBy: 'iteration',
    notes: [...notes, ...roundingNote(r.maxErrorPerSec)],
    config: {
      executor: 'ramping-arrival-rate',
      startRate: r.rates[0] as number,
      timeUnit: r.timeUnit,
      stages,
      ...vuPool(Math.max(...points.map((p) => p[1])), sessionMs),
      gracefulStop: drain,
    },
  };
}

function binned(times: readonly number[], o: ExecutorOptions, drain: string, notes: readonly string[]): ExecutorPlan {
  const binMs = o.binMs ?? Math.max(1000, Math.ceil(o.durationMs / 200 / 1000) * 1000);
  const bins = Math.max(1, Math.ceil(o.durationMs / binMs));
  const counts = new Array<number>(bins).fill(0);
  for (const t of times) {
    const i = Math.floor(t / binMs);
    if (i >= 0 && i < bins) counts[i] = (counts[i] as number) + 1;
  }
  // Rates are counts per bin, so the time unit is the bin: a step holds `count` iterations per bin for one bin.
  const stages: K6Stage[] = [];
  let current = counts[0] as number;
  let holdMs = 0;
  const flush = (): void => {
    if (holdMs > 0) stages.push({ duration: k6Duration(holdMs), target: current });
    holdMs = 0;
  };
  counts.forEach((c, i) => {
    const width = Math.min(binMs, o.durationMs - i * binMs);
    if (c !== current) {
      flush();
      stages.push({ duration: '0s', target: c });
      current = c;
    }
    holdMs += width;
  });
  flush();
  const peakPerSec = (Math.max(0, ...counts) * 1000) / binMs;
  return {
    sessionBy: 'iteration',
    notes: [...notes, `Bins of ${k6Duration(binMs)}; ${times.length} seeded arrivals.`],
    config: {
      executor: 'ramping-arrival-rate',
      startRate: counts[0] as number,
      timeUnit: k6Duration(binMs),
      stages,
      ...vuPool(peakPerSec, o.sessionMs),
      gracefulStop: drain,
    },
  };
}

/**
 * Iterations a k6 arrival-rate config schedules (the integral of its rate), or the VUs × iterations of a
 * per-VU config. For tests and for the script's header.
 */
export function scheduledIterations(c: K6ExecutorConfig): number {
  switch (c.executor) {
    case 'per-vu-iterations':
      return c.vus * c.iterations;
    case 'constant-arrival-rate':
      return (c.rate * parseK6Duration(c.duration)) / parseK6Duration(c.timeUnit);
    case 'ramping-arrival-rate': {
      const unit = parseK6Duration(c.timeUnit);
      let rate = c.startRate;
      let total = 0;
      for (const s of c.stages) {
        total += (((rate + s.target) / 2) * parseK6Duration(s.duration)) / unit;
        rate = s.target;
      }
      return total;
    }
    case 'constant-vus':
    case 'ramping-vus':
      // Closed loop: as many iterations as the VUs finish; nothing is scheduled.
      return NaN;
  }
}

/** Parses the duration strings {@link k6Duration} writes (`'60s'`, `'1500ms'`) into ms. */
export function parseK6Duration(d: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(d);
  if (!m) throw new RangeError(`parseK6Duration: expected a duration like 60s or 1500ms, got ${JSON.stringify(d)}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}
