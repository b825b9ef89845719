/**
 * A lighter or shorter run of a scenario, said out loud (`npm run scenario NAME -- --scale F --duration D`).
 *
 * - `scale` F (0 < F <= 1) runs the scenario at F of its load: a burst's session count, an open-loop arrival rate or
 *   the closed-loop user count times F (harness/tune/capacity.ts `scaleWorkload`, as the capacity search scales it).
 *   The deployments, routes, policies, faults and their timeline, and the SLOs stay the scenario's. A live run of a
 *   large scenario (fleet-10k: 10,000 sessions in 60 s) needs it: one machine cannot generate and serve the full load
 *   and measure it honestly at once.
 * - A `burst` of arrivals ignores the arrival window (it always has its sessions), so `--duration` shorter than the
 *   burst used to keep every session, spread over the burst's own span, while the per-second figures were divided by
 *   the shorter window. Here a burst that runs past the window is cut to it at the same rate: sessions times the
 *   share of the burst's span inside the window.
 * - Fault phases that start at or after the end of the arrival window are kept where they are (they hit only the
 *   requests still running then) and listed in a scaled run's note.
 *
 * The scaling is recorded in the RunResult (`scenario.config.scaling`) and the description, so every report says it.
 */
import type { JsonValue } from '../measure/types.js';
import type { Scenario } from '../scenario.js';
import { fleetPhases, isFleetModel } from '../scenario-fleet.js';
import { scaleWorkload } from '../tune/capacity.js';

/** What was scaled, as the RunResult records it. */
export interface RunScaling {
  /** The share of the scenario's load run (1 = all of it). */
  readonly loadScale: number;
  /** What the load scale changed: `burst session count`, `session arrival rate`, `closed-loop user count`, ... */
  readonly scaled: string | null;
  /** A burst's sessions in the scenario and in this run. */
  readonly sessions: { readonly scenario: number; readonly run: number } | null;
  /** A burst cut to the arrival window (at its own rate): its span in the scenario and in this run, ms. */
  readonly burstCut: { readonly scenarioMs: number; readonly runMs: number } | null;
  /** Fault phases starting at or after the arrival window's end (they hit only requests still running). */
  readonly phasesAfterWindow: readonly string[];
  /** One line for people. */
  readonly note: string;
}

/** Options of {@link scaleScenarioRun}. */
export interface ScaleRunOptions {
  /** 0 < scale <= 1. @default 1 */
  readonly scale?: number;
  /** The run's arrival window. @default the scenario's durationMs */
  readonly durationMs?: number;
}

/** The scenario as this run plays it, and what changed (null when nothing did). */
export function scaleScenarioRun(s: Scenario, o: ScaleRunOptions): { scenario: Scenario; scaling: RunScaling | null } {
  const scale = o.scale ?? 1;
  if (!(scale > 0 && scale <= 1)) throw new RangeError(`scale: expected a number in (0, 1], got ${scale}`);
  const windowMs = o.durationMs ?? s.durationMs;
  let workload = s.workload;
  let scaled: string | null = null;
  if (scale !== 1) ({ workload, scaled } = scaleWorkload(workload, scale));
  const before = 'arrivals' in s.workload ? s.workload.arrivals : undefined;
  let burstCut: RunScaling['burstCut'] = null;
  if ('arrivals' in workload && workload.arrivals.kind === 'burst') {
    const a = workload.arrivals;
    const at = a.atMs ?? 0;
    // Only a window the user shortened (`--duration`) cuts a burst; a scenario's own burst may run past its window.
    if (o.durationMs !== undefined && at + a.withinMs > windowMs) {
      const inside = Math.max(0, windowMs - at);
      const sessions = Math.round((a.sessions * inside) / a.withinMs);
      burstCut = { scenarioMs: a.withinMs, runMs: inside };
      workload = { ...workload, arrivals: { ...a, sessions, withinMs: Math.max(1, inside) } };
    }
  }
  const sessions =
    before?.kind === 'burst' && 'arrivals' in workload && workload.arrivals.kind === 'burst' && (scale !== 1 || burstCut !== null)
      ? { scenario: before.sessions, run: workload.arrivals.sessions }
      : null;
  const phasesAfterWindow = phases(s)
    .filter((p) => p.atMs >= windowMs)
    .map((p) => `${p.name} at ${seconds(p.atMs)}`);
  // Only a run whose load changed is a scaled run (phases past a shorter window are the same as before it).
  if (scale === 1 && burstCut === null) return { scenario: s, scaling: null };
  const parts: string[] = [];
  if (scale !== 1) parts.push(`at ${pct(scale)} of its load (${scaled ?? 'load'}${sessions !== null && burstCut === null ? ` ${fmtInt(sessions.scenario)} -> ${fmtInt(sessions.run)}` : ''})`);
  if (burstCut !== null && sessions !== null) {
    parts.push(`with its burst cut to the ${seconds(windowMs)} arrival window at the same rate (${fmtInt(sessions.scenario)} sessions in ${seconds(burstCut.scenarioMs)} -> ${fmtInt(sessions.run)} in ${seconds(burstCut.runMs)})`);
  }
  if (phasesAfterWindow.length > 0) parts.push(`fault phases after the arrival window hit only requests still running (${phasesAfterWindow.join(', ')})`);
  const note = `run ${parts.join('; ')}; deployments, routes, policies, faults and SLOs as the scenario's`;
  const scaling: RunScaling = { loadScale: scale, scaled, sessions, burstCut, phasesAfterWindow, note };
  return { scenario: { ...s, workload, description: `${s.description} [scaled: ${note}]` }, scaling };
}

/** The scaling as JSON for `scenario.config.scaling`. */
export function scalingJson(s: RunScaling): JsonValue {
  return JSON.parse(JSON.stringify(s)) as JsonValue;
}

/** Every timeline phase of the scenario (a fleet's, or the model's and its fallback's), with its name. */
function phases(s: Scenario): Array<{ name: string; atMs: number }> {
  const m = s.model;
  if (isFleetModel(m)) return fleetPhases(m).map(({ phase }, i) => ({ name: phase.name ?? `phase ${i + 1}`, atMs: phase.atMs }));
  return [...(m.faults?.timeline ?? []), ...(m.fallbackFaults?.timeline ?? [])].map((p, i) => ({ name: p.name ?? `phase ${i + 1}`, atMs: p.atMs }));
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))} s`;
const pct = (f: number): string => `${Number((f * 100).toFixed(2))}%`;
const fmtInt = (n: number): string => n.toLocaleString('en-US');
