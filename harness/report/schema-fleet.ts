/** The zod schema of `PolicyResult.fleet` (harness/measure/fleet.ts), part of the RunResult schema (./schema.ts). */
import { z } from 'zod';

const count = z.number().int().nonnegative();
const num = z.number();
const nullableNum = z.number().nullable();
const nullableCount = count.nullable();
const nullableSeries = z.array(nullableNum);
/** A fleet run's deployments and replicas (harness/measure/fleet.ts); absent for a single model. */
export const fleetResultSchema = z.object({
  deployments: z.array(
    z.object({
      name: z.string(),
      replicasStart: count,
      replicasPeak: count,
      replicasEnd: count,
      routed: nullableCount,
      requests: count,
      busyGpuHours: num,
      provisionedGpuHours: num,
      costUsd: nullableNum,
    }),
  ),
  replicas: z.array(
    z.object({
      id: z.string(),
      deployment: z.string(),
      requests: count,
      utilizationMean: nullableNum,
      queueMean: nullableNum,
      batchMean: nullableNum,
      ejections: count,
      busyGpuHours: num,
      provisionedGpuHours: num,
      provisionedAtMs: num,
      joinedAtMs: nullableNum,
      removedAtMs: nullableNum,
    }),
  ),
  hedges: count,
  hedgesLost: count,
  events: z.array(
    z.object({
      atMs: num,
      type: z.enum(['ejected', 'returned', 'provisioned', 'joined', 'removed', 'deprovisioned']),
      deployment: z.string(),
      replica: z.string(),
      detail: z.string().optional(),
    }),
  ),
  series: z.object({
    replicas: z.record(
      z.string(),
      z.object({ gpuUtilization: nullableSeries, waiting: nullableSeries, running: nullableSeries, outstanding: nullableSeries, ejected: nullableSeries }),
    ),
    replicaCount: z.record(z.string(), z.array(count)),
  }),
});

