import type { Clock } from '../time/clock.js';
import { OverloadedError } from '../upstream/errors.js';
import type {
  CallOptions,
  CompletionBatchRequest,
  CompletionBatchResult,
  EmbeddingRequest,
  EmbeddingResult,
  ModelRequest,
  StreamEvent,
  StreamOptions,
  UpstreamCapabilities,
} from '../upstream/model-client.js';
import { failing, intersectCapabilities, type ReplicaDeployment } from './deployment.js';
import { chooseDeployment } from './route-rules.js';
import type { Deployment, Fleet, FleetConfig, FleetEvent } from './types.js';

/**
 * The whole fleet as one ModelClient: a streamed call goes to the deployment the routing rules pick
 * (StreamOptions.route), or along that deployment's fallback chain when it has no replica in service; the
 * deployment then balances, ejects and hedges. Embeddings and batched completions (which carry no route) go to the
 * default deployment, along its fallback chain too.
 */
export class FleetClient implements Fleet {
  private readonly byName: ReadonlyMap<string, ReplicaDeployment>;
  private readonly names: ReadonlySet<string>;
  private readonly listeners = new Set<(e: FleetEvent) => void>();
  private caps: UpstreamCapabilities | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly config: FleetConfig,
    deployments: readonly ReplicaDeployment[],
  ) {
    this.byName = new Map(deployments.map((d) => [d.name, d]));
    this.names = new Set(this.byName.keys());
    for (const d of deployments) {
      d.onEvent((e) => {
        if (e.type === 'replica-added' || e.type === 'replica-removed') this.caps = undefined;
        this.emit(e);
      });
    }
  }

  /** What every replica of the fleet can do (a fleet's replicas speak one dialect). */
  get capabilities(): UpstreamCapabilities {
    this.caps ??= intersectCapabilities([...this.byName.values()].filter((d) => d.size > 0).map((d) => d.capabilities));
    return this.caps;
  }

  deployment(name: string): Deployment | undefined {
    return this.byName.get(name);
  }

  deployments(): readonly Deployment[] {
    return [...this.byName.values()];
  }

  onEvent(listener: (e: FleetEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stream(request: ModelRequest, options?: StreamOptions): AsyncIterable<StreamEvent> {
    const choice = chooseDeployment(this.config.routes ?? [], this.names, this.config.defaultDeployment, options?.route, request);
    const d = this.inService(choice.deployment);
    if (d === undefined) return failing(this.noDeployment(choice.deployment));
    if (this.listeners.size > 0) this.emit({ type: 'routed', deployment: d.name, id: request.id, rule: choice.rule, atMs: this.clock.now() });
    options?.onRouted?.(d.name);
    return d.stream(request, options);
  }

  async embed(request: EmbeddingRequest, options?: CallOptions): Promise<EmbeddingResult> {
    const d = this.inService(this.config.defaultDeployment);
    if (d === undefined) throw this.noDeployment(this.config.defaultDeployment);
    return d.embed(request, options);
  }

  async completeBatch(request: CompletionBatchRequest, options?: CallOptions): Promise<CompletionBatchResult> {
    const d = this.inService(this.config.defaultDeployment);
    if (d === undefined) throw this.noDeployment(this.config.defaultDeployment);
    return d.completeBatch(request, options);
  }

  async listModels(options?: CallOptions): Promise<ReadonlyArray<Readonly<Record<string, unknown>> & { readonly id: string }>> {
    const seen = new Set<string>();
    const out: (Readonly<Record<string, unknown>> & { readonly id: string })[] = [];
    for (const d of this.byName.values()) {
      for (const m of await d.listModels(options)) {
        if (seen.has(m.id)) continue;
        seen.add(m.id);
        out.push(m);
      }
    }
    return out;
  }

  /** `name`, or the first deployment along its fallback chain with a replica in service. */
  private inService(name: string): ReplicaDeployment | undefined {
    const visited = new Set<string>();
    let at: string | undefined = name;
    while (at !== undefined && !visited.has(at)) {
      visited.add(at);
      const d = this.byName.get(at);
      if (d !== undefined && d.inService() > 0) return d;
      at = this.config.deployments[at]?.fallback;
    }
    return undefined;
  }

  private noDeployment(name: string): OverloadedError {
    return new OverloadedError(undefined, `deployment "${name}" and its fallbacks have no replica in service (503)`);
  }

  private emit(e: FleetEvent): void {
    for (const l of this.listeners) l(e);
  }
}
