import { z } from 'zod';
import { BALANCER_KINDS } from './types.js';

/**
 * The policy's `fleet` section: how a deployment of several replicas balances, ejects outliers and hedges
 * (src/fleet). With a single replica none of it changes anything: every balancer picks the only replica, and the
 * ejection cap (`maxEjectedPercent` of one replica, rounded down) never lets it be ejected.
 */

const ms = () => z.number().min(0).max(86_400_000);

const balancerSchema = z.strictObject({
  /**
   * `round-robin`, `least-outstanding` (fewest calls in flight), `power-of-two` (the less loaded of two replicas
   * drawn at random) or `affinity` (consistent hashing on the request's affinity key, with bounded load).
   * @default 'power-of-two'
   */
  kind: z.enum(BALANCER_KINDS).default('power-of-two'),
  /**
   * Affinity: a replica with more than ceil(factor × mean outstanding) calls passes the key on to the next replica
   * on the ring (consistent hashing with bounded loads, Mirrokni et al.). @default 1.25
   */
  boundedLoadFactor: z.number().min(1).max(100).default(1.25),
});

const successRateSchema = z.strictObject({
  /** Eject replicas whose success rate over an interval is far below the others'. @default true */
  enabled: z.boolean().default(true),
  /** Calls a replica needs in the interval to be judged. @default 100 */
  minRequests: z.number().int().min(1).default(100),
  /** Replicas with enough calls needed before any is judged. @default 5 */
  minReplicas: z.number().int().min(1).default(5),
  /** Ejected below mean − stdevFactor × stdev of the judged replicas' success rates. @default 1.9 */
  stdevFactor: z.number().min(0).max(100).default(1.9),
  /** The interval over which success rates are counted (and then reset). @default 10_000 */
  intervalMs: z.number().min(1).max(86_400_000).default(10_000),
});

const ejectionSchema = z.strictObject({
  /** Outlier ejection, Envoy style. @default true */
  enabled: z.boolean().default(true),
  /** Consecutive 5xx (any server error, gateway failures included) that eject a replica. @default 5 */
  consecutive5xx: z.number().int().min(1).default(5),
  /**
   * Consecutive gateway failures (connection refused, 502/503/504, a broken stream, no token within the idle
   * timeout) that eject a replica. @default 5
   */
  consecutiveGatewayFailures: z.number().int().min(1).default(5),
  successRate: successRateSchema.prefault({}),
  /** The first ejection's length; the n-th ejection lasts n times this, up to `maxEjectionMs`. @default 30_000 */
  baseEjectionMs: ms().default(30_000),
  /** The longest an ejection lasts. @default 300_000 */
  maxEjectionMs: ms().default(300_000),
  /** At most this share of a deployment's replicas is ejected at once (rounded down). @default 50 */
  maxEjectedPercent: z.number().min(0).max(100).default(50),
});

const hedgingSchema = z.strictObject({
  /**
   * Send a second attempt to another replica when the first has not sent its first token after the hedge delay;
   * the first to answer wins and the other is cancelled. Each hedge spends one retry from the retry budget.
   * @default false
   */
  enabled: z.boolean().default(false),
  /** The hedge delay is this percentile of the deployment's recent times to first token. @default 0.95 */
  percentile: z.number().gt(0).max(1).default(0.95),
  /** Lower bound of the hedge delay. @default 50 */
  minDelayMs: ms().default(50),
  /** Upper bound of the hedge delay (and the delay before any time to first token is known). @default 5000 */
  maxDelayMs: ms().default(5000),
  /** Recent times to first token kept per deployment. @default 200 */
  windowSize: z.number().int().min(1).max(100_000).default(200),
});

/** The policy's `fleet` section. */
export const fleetPolicySchema = z.strictObject({
  balancer: balancerSchema.prefault({}),
  ejection: ejectionSchema.prefault({}),
  hedging: hedgingSchema.prefault({}),
});

/** A validated, fully defaulted `fleet` section. */
export type FleetPolicy = z.output<typeof fleetPolicySchema>;
export type FleetPolicyInput = z.input<typeof fleetPolicySchema>;

/** The `fleet` section's defaults (the `resilient` preset's). */
export function defaultFleetPolicy(): FleetPolicy {
  return fleetPolicySchema.parse({});
}
