/**
 * Self-monitoring of the load generator: its event-loop delay (perf_hooks.monitorEventLoopDelay) and its CPU
 * (process.cpuUsage) over a run. When the generator itself was the bottleneck, latencies it measured include its
 * own delays, so the run is marked invalid, with the reasons.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Clock } from '../../src/time/clock.js';

/** The `meta.loadGenerator` slot of a RunResult. */
export interface LoadGeneratorReport {
  readonly valid: boolean;
  readonly reasons: string[];
  readonly eventLoopLagP99Ms: number | null;
  readonly cpuPct: number | null;
}

/** When the generator counts as the bottleneck. */
export interface LoadLimits {
  /** @default 50 */
  readonly maxLagP99Ms?: number;
  /** Percent of one core. @default 90 */
  readonly maxCpuPct?: number;
}

const RESOLUTION_MS = 10;

/** Watches this process from `start` to `stop`. */
export class LoadMonitor {
  readonly #clock: Clock;
  readonly #h: IntervalHistogram;
  #t0 = 0;
  #cpu0: NodeJS.CpuUsage = { user: 0, system: 0 };

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  }

  start(): void {
    this.#h.reset();
    this.#h.enable();
    this.#t0 = this.#clock.now();
    this.#cpu0 = process.cpuUsage();
  }

  /** Ends the watch and judges it. */
  stop(limits: LoadLimits = {}): LoadGeneratorReport {
    this.#h.disable();
    const wallMs = this.#clock.now() - this.#t0;
    const cpu = process.cpuUsage(this.#cpu0);
    const cpuPct = wallMs > 0 ? round(((cpu.user + cpu.system) / 1000 / wallMs) * 100) : null;
    // The histogram records the time between the monitor's ticks; the lag is what exceeds its period.
    const lag = this.#h.count > 0 ? round(Math.max(0, this.#h.percentile(99) / 1e6 - RESOLUTION_MS)) : null;
    return judge(lag, cpuPct, limits);
  }
}

/** Judges a generator's lag and CPU against the limits. */
export function judge(lagP99Ms: number | null, cpuPct: number | null, limits: LoadLimits = {}): LoadGeneratorReport {
  const maxLag = limits.maxLagP99Ms ?? 50;
  const maxCpu = limits.maxCpuPct ?? 90;
  const reasons: string[] = [];
  if (lagP99Ms !== null && lagP99Ms > maxLag) reasons.push(`load generator event-loop lag p99 ${lagP99Ms} ms > ${maxLag} ms`);
  if (cpuPct !== null && cpuPct > maxCpu) reasons.push(`load generator CPU ${cpuPct}% of a core > ${maxCpu}%`);
  return { valid: reasons.length === 0, reasons, eventLoopLagP99Ms: lagP99Ms, cpuPct };
}

/** Several policies' reports as one: invalid when any was, the worst lag and CPU. */
export function mergeReports(reports: ReadonlyArray<{ readonly policy: string; readonly report: LoadGeneratorReport }>): LoadGeneratorReport {
  const max = (xs: Array<number | null>): number | null => xs.reduce<number | null>((m, x) => (x === null ? m : m === null ? x : Math.max(m, x)), null);
  return {
    valid: reports.every((r) => r.report.valid),
    reasons: reports.flatMap((r) => r.report.reasons.map((s) => `${r.policy}: ${s}`)),
    eventLoopLagP99Ms: max(reports.map((r) => r.report.eventLoopLagP99Ms)),
    cpuPct: max(reports.map((r) => r.report.cpuPct)),
  };
}

const round = (x: number): number => Math.round(x * 10) / 10;
