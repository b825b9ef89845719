import type { Random } from '../random.js';
import type { BalancerKind, RouteMeta } from './types.js';

/** What a balancer sees of one replica in service. */
export interface Candidate {
  readonly id: string;
  /** Calls in flight on it (hedges included). */
  readonly outstanding: number;
}

/**
 * Picks one replica for a call among those in service (never empty). A balancer keeps only its own state (a
 * round-robin counter, a hash ring); the replicas' load comes in the candidates.
 */
export interface Balancer {
  readonly kind: BalancerKind;
  pick(candidates: readonly Candidate[], route: RouteMeta | undefined): Candidate;
  /** The deployment's replica set changed (ids of every replica, ejected ones included): a ring rebuilds. */
  replicasChanged?(ids: readonly string[]): void;
}

/** Options a balancer factory needs. */
export interface BalancerOptions {
  readonly kind: BalancerKind;
  /** Its own seeded stream (power of two choices). */
  readonly random: Random;
  /** Affinity's bound on a replica's load, as a multiple of the mean. */
  readonly boundedLoadFactor: number;
}
