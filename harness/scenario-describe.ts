/**
 * A scenario in words, for `npm run scenario NAME -- --help`: its workload, model and faults, the policies it
 * compares and how they are judged. A pure function of the Scenario; the CLI prints it.
 */
import type { FaultPlanInput } from '../sim/faults.js';
import { thresholdLabel } from './report/thresholds.js';
import type { Scenario, ScenarioModel, ScenarioPolicy, ScenarioProfile } from './scenario.js';
import { fleetPhases } from './scenario-fleet.js';

/**
 * A value on one line, shorter than JSON: `{ a: 1, b: lognormal(median 400, sigma 0.8) in [16, 8000] }`.
 * Distributions (objects with a `kind`) read as `kind(field value, ...)`.
 */
function compact(v: unknown): string {
  if (v === null || typeof v !== 'object') return typeof v === 'string' ? v : String(v);
  if (Array.isArray(v)) return `[${v.map(compact).join(', ')}]`;
  const o = v as Record<string, unknown>;
  if (o['kind'] === 'bounded' && 'dist' in o) {
    return `${compact(o['dist'])} in [${o['min'] === undefined ? '' : compact(o['min'])}, ${o['max'] === undefined ? '' : compact(o['max'])}]`;
  }
  const entries = Object.entries(o).filter(([k, x]) => x !== undefined && !(typeof o['kind'] === 'string' && k === 'kind'));
  const body = entries.map(([k, x]) => `${k}${typeof o['kind'] === 'string' ? ' ' : ': '}${compact(x)}`).join(', ');
  return typeof o['kind'] === 'string' ? `${o['kind']}(${body})` : `{ ${body} }`;
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))} s`;

function profileText(p: ScenarioProfile | undefined, fallback: string): string {
  if (p === undefined) return fallback;
  return typeof p === 'string' ? p : `custom ${compact(p)}`;
}

function workloadLines(w: Scenario['workload']): string[] {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(w)) {
    if (key === 'mix' && Array.isArray(value)) {
      const total = value.reduce((sum: number, e: { weight?: number }) => sum + (e.weight ?? 0), 0);
      lines.push(`  mix (${value.length} request kinds, share by weight):`);
      for (const e of value as Array<{ name?: string; weight?: number; kind?: string } & Record<string, unknown>>) {
        const { name, weight, kind, ...rest } = e;
        const share = total > 0 && weight !== undefined ? `${((weight / total) * 100).toFixed(0)}%` : '?';
        lines.push(`    ${String(name ?? '?').padEnd(16)} ${share.padStart(4)}  ${kind ?? ''} ${compact(rest)}`);
      }
    } else {
      lines.push(`  ${key}: ${compact(value)}`);
    }
  }
  return lines;
}

function faultLines(label: string, plan: FaultPlanInput | undefined): string[] {
  if (plan === undefined) return [];
  const { timeline, ...base } = plan;
  const lines: string[] = [];
  if (Object.keys(base).length > 0) lines.push(`  ${label} faults, all run long: ${compact(base)}`);
  for (const p of timeline ?? []) {
    const phase = p as { name?: string; atMs: number; durationMs?: number; fault?: unknown };
    const end = phase.durationMs === undefined ? 'end' : seconds(phase.atMs + phase.durationMs);
    lines.push(`  ${label} timeline ${seconds(phase.atMs)} to ${end}: ${phase.name ?? 'phase'} ${compact(phase.fault ?? {})}`);
  }
  return lines;
}

/** A fleet's deployments, routes and fault phases (scenario `model.deployments`). */
function fleetLines(s: Scenario): string[] {
  const m = s.model;
  const lines = Object.entries(m.deployments ?? {}).map(([name, d]) => {
    const extras = [d.fallback !== undefined ? `fallback ${d.fallback}` : '', d.autoscale !== undefined ? `autoscale ${compact(d.autoscale)}` : ''].filter((x) => x !== '');
    return `  deployment ${name}: ${d.replicas} × ${profileText(d.profile as ScenarioModel['profile'], '?')}${extras.length > 0 ? `, ${extras.join(', ')}` : ''}`;
  });
  for (const r of m.routes ?? []) lines.push(`  route ${r.name ?? r.deployment}: ${compact(r.when)} → ${r.deployment}`);
  lines.push(`  otherwise → ${m.defaultDeployment ?? Object.keys(m.deployments ?? {})[0] ?? '?'}`);
  for (const { phase, target } of fleetPhases(m)) lines.push(`  timeline ${seconds(phase.atMs)} to ${seconds(phase.atMs + phase.durationMs)} on ${target}: ${phase.name ?? 'phase'} ${compact(phase.fault)}`);
  return lines;
}

function policyLine(p: ScenarioPolicy): string {
  if (typeof p === 'string') return `  ${p} (preset)`;
  const overrides = p.overrides === undefined ? '' : ` with ${compact(p.overrides)}`;
  return `  ${p.name}: preset ${p.preset}${overrides}${p.description !== undefined ? ` (${p.description})` : ''}`;
}

function sloText(b: { ttftMs?: number | undefined; e2eMs?: number | undefined; tpotMs?: number | undefined }): string {
  const parts = [
    b.ttftMs !== undefined ? `TTFT <= ${b.ttftMs} ms` : undefined,
    b.e2eMs !== undefined ? `E2E <= ${b.e2eMs} ms` : undefined,
    b.tpotMs !== undefined ? `TPOT <= ${b.tpotMs} ms` : undefined,
  ].filter((x) => x !== undefined);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/** How to run the scenario and where the flags are, in the caller's program (`npm run scenario` or the bin). */
export interface DescribeHints {
  /** e.g. `npm run scenario burst-1000` */
  readonly run: string;
  /** e.g. `npm run scenario -- --help` */
  readonly flagsHelp: string;
}

/** The description of `s`, ending with how to run it. */
export function describeScenario(s: Scenario, hints: DescribeHints): string {
  const m = s.model;
  const lines = [
    `${s.name}: ${s.description}`,
    '',
    `Seed ${s.seed}; arrivals over ${seconds(s.durationMs)} (the run goes on until every accepted request has ended).`,
    '',
    'Workload',
    ...workloadLines(s.workload),
    '',
    'Model and faults',
    ...(m.deployments !== undefined
      ? fleetLines(s)
      : [
          `  primary profile: ${profileText(m.profile, 'h100-llama3-8b (default)')}`,
          `  fallback profile: ${profileText(m.fallbackProfile, 'none (policies have no fallback)')}`,
          ...(m.rateLimits !== undefined ? [`  primary rate limits: ${compact(m.rateLimits)}`] : []),
          ...faultLines('primary', m.faults),
          ...faultLines('fallback', m.fallbackFaults),
          ...(m.faults === undefined && m.fallbackFaults === undefined ? ['  no faults'] : []),
        ]),
    '',
    'Policies compared',
    ...s.policies.map(policyLine),
    ...(s.targets ?? []).map((t) => `  ${t.name}: external target (live mode)`),
    '',
    'Judged by',
    `  SLO: ${sloText(s.slo)}`,
    ...Object.entries(s.slo.classes ?? {}).map(([c, b]) => `  SLO of class ${c}: ${sloText(b)}`),
    ...(s.thresholds ?? []).map((t) => `  threshold: ${thresholdLabel(t)}${t.policy !== undefined ? ` (policy ${t.policy})` : ''} (exit 99 when broken)`),
    ...(s.regress !== undefined
      ? [`  regression tolerance: p99 TTFT +${s.regress.tolerance.p99TtftPct}%, p99 E2E +${s.regress.tolerance.p99E2ePct}%, goodput -${s.regress.tolerance.goodputPct}%`]
      : []),
    ...(s.recovery !== undefined ? [`  recovery: ${compact(s.recovery)}`] : []),
    ...(s.takesTrace === true ? ['', 'Replays a trace: pass --trace PATH to use another file.'] : []),
    '',
    `Run it: ${hints.run}`,
    `Flags (policies, seed, duration, mode, output): ${hints.flagsHelp}`,
    '',
  ];
  return lines.join('\n');
}
