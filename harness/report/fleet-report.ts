/**
 * The per-replica part of the reports, for fleet runs (`PolicyResult.fleet`): tables of deployments and replicas
 * per policy, and chart data (GPU utilization and waiting queue per replica over time, one chart per policy and
 * metric). Pure functions of the RunResult; empty for runs without a fleet.
 */
import { fmtInt, fmtMs, fmtNum, fmtPct, fmtUsd } from './format.js';
import { PALETTE, type LineChart } from './html-charts.js';
import type { RunResult } from './schema.js';

type FleetOf = NonNullable<RunResult['policies'][number]['fleet']>;

/** A table as plain cells (renderers escape and lay it out). */
export interface PlainTable {
  readonly headers: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
  readonly align: ReadonlyArray<'left' | 'right'>;
}

/** True when some policy of the run has a fleet section. */
export function hasFleet(result: RunResult): boolean {
  return result.policies.some((p) => p.fleet !== undefined);
}

/** Deployments of every policy: replicas, routing, requests, GPU-hours and cost. */
export function deploymentsTable(result: RunResult): PlainTable {
  const rows = result.policies.flatMap((p) =>
    (p.fleet?.deployments ?? []).map((d) => [
      p.name,
      d.name,
      d.replicasStart === d.replicasPeak && d.replicasPeak === d.replicasEnd ? String(d.replicasStart) : `${d.replicasStart} → peak ${d.replicasPeak} → ${d.replicasEnd}`,
      fmtInt(d.routed),
      fmtInt(d.requests),
      fmtNum(d.busyGpuHours, 3),
      fmtNum(d.provisionedGpuHours, 3),
      fmtUsd(d.costUsd),
    ]),
  );
  return {
    headers: ['Policy', 'Deployment', 'Replicas', 'Routed', 'Calls', 'GPU-h busy', 'GPU-h provisioned', 'Cost'],
    rows,
    align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
  };
}

/** One policy's replicas: calls received, utilization, mean waiting queue, ejections, GPU-hours, life. */
export function replicasTable(fleet: FleetOf): PlainTable {
  const life = (r: FleetOf['replicas'][number]): string => {
    const parts: string[] = [];
    if (r.provisionedAtMs > 0) parts.push(`provisioned ${fmtMs(r.provisionedAtMs)}`);
    if (r.joinedAtMs !== null && r.joinedAtMs > r.provisionedAtMs) parts.push(`joined ${fmtMs(r.joinedAtMs)}`);
    if (r.removedAtMs !== null) parts.push(`removed ${fmtMs(r.removedAtMs)}`);
    return parts.length === 0 ? 'whole run' : parts.join(', ');
  };
  return {
    headers: ['Replica', 'Calls', 'GPU busy', 'Batch (mean)', 'Queue (mean)', 'Ejections', 'GPU-h busy', 'GPU-h provisioned', 'In service'],
    rows: fleet.replicas.map((r) => [
      r.id,
      fmtInt(r.requests),
      fmtPct(r.utilizationMean),
      fmtNum(r.batchMean, 1),
      fmtNum(r.queueMean, 1),
      fmtInt(r.ejections),
      fmtNum(r.busyGpuHours, 4),
      fmtNum(r.provisionedGpuHours, 4),
      life(r),
    ]),
    align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
  };
}

/** One line of facts about a policy's fleet: hedges and fleet events. */
export function fleetFacts(fleet: FleetOf): string {
  const count = (t: string): number => fleet.events.filter((e) => e.type === t).length;
  const facts = [`${fleet.hedges} hedges (${fleet.hedgesLost} lost)`, `${count('ejected')} ejections`, `${count('returned')} returns`];
  if (count('provisioned') > 0 || count('removed') > 0) facts.push(`autoscaling: ${count('provisioned')} provisioned, ${count('joined')} joined, ${count('removed')} removed`);
  return facts.join(' · ');
}

/** Autoscaling events of a policy (provisioned, joined, removed), as text lines. */
export function autoscaleLines(fleet: FleetOf): string[] {
  return fleet.events
    .filter((e) => e.type === 'provisioned' || e.type === 'joined' || e.type === 'removed')
    .map((e) => `${fmtMs(e.atMs)} ${e.type} ${e.replica}${e.detail === undefined ? '' : ` (${e.detail})`}`);
}

/** Per-replica charts: for each policy with a fleet, GPU utilization and waiting queue per replica, then replica counts. */
export function fleetCharts(result: RunResult): LineChart[] {
  const out: LineChart[] = [];
  result.policies.forEach((p, pi) => {
    const f = p.fleet;
    if (f === undefined) return;
    const bucketMs = p.series.bucketMs;
    const xs = p.series.arrivals.map((_, i) => (i * bucketMs) / 1000);
    const ids = Object.keys(f.series.replicas);
    const chart = (key: 'gpuUtilization' | 'waiting' | 'running' | 'outstanding', title: string, yLabel: string, scale: number): LineChart => ({
      id: `fleet-${pi}-${key}`,
      title: `${p.name}: ${title}`,
      xLabel: 'time since start (s)',
      yLabel,
      xKind: 'time',
      xs,
      series: ids.map((id, i) => ({
        label: id,
        color: PALETTE[i % PALETTE.length]!,
        ...(i >= PALETTE.length ? { dash: true } : {}),
        values: (f.series.replicas[id]?.[key] ?? []).map((v) => (v === null ? null : Math.round(v * scale * 1e4) / 1e4)),
      })),
    });
    out.push(chart('gpuUtilization', 'GPU utilization per replica', 'utilization (%)', 100));
    out.push(chart('waiting', 'Waiting queue per replica (sequences waiting for a GPU slot)', 'waiting sequences', 1));
    out.push(chart('running', 'Decode batch per replica (sequences running on the GPU)', 'running sequences', 1));
    out.push(chart('outstanding', 'Outstanding at the balancer per replica', 'calls', 1));
    const counts = Object.entries(f.series.replicaCount);
    if (f.events.some((e) => e.type === 'provisioned')) {
      out.push({
        id: `fleet-${pi}-replicas`,
        title: `${p.name}: replicas in service per deployment`,
        xLabel: 'time since start (s)',
        yLabel: 'replicas',
        xKind: 'time',
        xs,
        series: counts.map(([d, v], i) => ({ label: d, color: PALETTE[i % PALETTE.length]!, values: v })),
      });
    }
  });
  return out;
}
