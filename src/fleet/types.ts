/**
 * The fleet's contract (issue #18): named deployments, each a set of replicas behind one ModelClient that balances,
 * ejects outliers and hedges, and a router that picks a deployment by ordered rules on request metadata. The
 * engine sees the whole fleet as its `primary` (and, when there is one, `fallback`) ModelClient; the metadata the
 * rules read reaches the fleet in {@link StreamOptions.route}.
 */
import type { ModelClient, RouteMeta } from '../upstream/model-client.js';

export type { RouteMeta };

/** The balancers a policy can pick (policy `fleet.balancer.kind`). */
export const BALANCER_KINDS = ['round-robin', 'least-outstanding', 'power-of-two', 'affinity'] as const;
export type BalancerKind = (typeof BALANCER_KINDS)[number];

/** One replica as a deployment sees it. */
export interface Replica {
  /** Stable id, unique in its deployment (`<deployment>/<index>`, e.g. `default/3`). */
  readonly id: string;
  readonly client: ModelClient;
}

/** What a balancer and the reports see of one replica at a moment. */
export interface ReplicaState {
  readonly id: string;
  /** Calls sent and not finished (hedges included). */
  readonly outstanding: number;
  /** Ejected by outlier detection until `ejectedUntilMs`. */
  readonly ejected: boolean;
  readonly ejectedUntilMs?: number;
  /** Times this replica has been ejected so far (the ejection time grows with it). */
  readonly ejections: number;
  /** Calls and failures since the start (for reports). */
  readonly calls: number;
  readonly failures: number;
}

/** Typed events of a deployment (observe, never poll). */
export type FleetEvent =
  | { readonly type: 'ejected'; readonly deployment: string; readonly replica: string; readonly untilMs: number; readonly reason: 'consecutive-5xx' | 'consecutive-gateway' | 'success-rate'; readonly atMs: number }
  | { readonly type: 'returned'; readonly deployment: string; readonly replica: string; readonly atMs: number }
  | { readonly type: 'hedge'; readonly deployment: string; readonly id: string; readonly from: string; readonly to: string; readonly atMs: number }
  | { readonly type: 'hedge-lost'; readonly deployment: string; readonly id: string; readonly replica: string; readonly atMs: number }
  | { readonly type: 'routed'; readonly deployment: string; readonly id: string; readonly rule: string; readonly atMs: number }
  | { readonly type: 'replica-added' | 'replica-removed'; readonly deployment: string; readonly replica: string; readonly atMs: number };

/** A deployment: a ModelClient over its replicas, whose replica set may change while it runs (autoscaling). */
export interface Deployment extends ModelClient {
  readonly name: string;
  addReplica(replica: Replica): void;
  /** Stops sending new calls to it; calls in flight finish. */
  removeReplica(id: string): void;
  states(): readonly ReplicaState[];
  onEvent(listener: (e: FleetEvent) => void): () => void;
}

/** One ordered routing rule: the first whose every given condition matches picks `deployment`. */
export interface RouteRule {
  /** Shown in events and reports. @default `deployment` */
  readonly name?: string;
  readonly deployment: string;
  readonly when: {
    /** `interactive` / `batch`, or a 1–10 level range. */
    readonly priority?: 'interactive' | 'batch' | { readonly min?: number; readonly max?: number };
    readonly tenantId?: string | readonly string[];
    /** The request names this deployment (`modelHint`). */
    readonly modelHint?: string;
    /** Prompt tokens at least this many (long context). */
    readonly minPromptTokens?: number;
    readonly batchable?: boolean;
    readonly requestClass?: string | readonly string[];
  };
}

/** One deployment as configured (scenario `model.deployments`, `serve --fleet`): its replicas come separately. */
export interface DeploymentConfig {
  /** Where its requests go when it has no replica in service (none, or all ejected): another deployment's name. */
  readonly fallback?: string;
}

/** The fleet's shape: deployments by name, ordered rules, and the default deployment for what no rule matches. */
export interface FleetConfig {
  readonly deployments: Readonly<Record<string, DeploymentConfig>>;
  readonly routes?: readonly RouteRule[];
  readonly defaultDeployment: string;
}

/**
 * The whole fleet as one ModelClient (the engine's upstream): `stream` routes by the rules (StreamOptions.route),
 * then the chosen deployment balances, ejects and hedges. Built by `buildFleet` (src/fleet/build.ts).
 */
export interface Fleet extends ModelClient {
  deployment(name: string): Deployment | undefined;
  deployments(): readonly Deployment[];
  /** Events of every deployment, plus `routed`. */
  onEvent(listener: (e: FleetEvent) => void): () => void;
}
