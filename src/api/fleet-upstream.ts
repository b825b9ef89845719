/**
 * `serve --fleet`: one HttpModelClient per replica base URL of the fleet file, each deployment's replicas named
 * `<deployment>/<index>`, and `buildFleet` over them with the policy's `fleet` section (balancer, outlier ejection,
 * hedging). The fleet is the engine's primary upstream; its routing rules read the request's metadata.
 */
import { buildFleet } from '../fleet/build.js';
import type { FleetPolicy } from '../fleet/policy-schema.js';
import type { Fleet, Replica } from '../fleet/types.js';
import type { Random } from '../random.js';
import type { Clock } from '../time/clock.js';
import { HttpModelClient } from '../upstream/http-openai.js';
import type { UpstreamDialect } from '../upstream/model-client.js';
import type { FleetFile } from './fleet-file.js';
import { withModel } from './model-alias.js';

/** Options of {@link buildFleetUpstream}. */
export interface FleetUpstreamOptions {
  readonly clock: Clock;
  /** The fleet's root stream (each deployment derives `fleet/<name>`). */
  readonly random: Random;
  readonly policy: FleetPolicy;
  /** Dialect of deployments that name none (`--upstream-dialect`). */
  readonly dialect: UpstreamDialect;
  /** Connection pool per replica. */
  readonly connections: number;
  readonly keepAliveTimeoutMs: number;
  readonly apiKey?: string;
}

/** The fleet and every replica's client (to close). */
export interface FleetUpstream {
  readonly fleet: Fleet;
  readonly clients: readonly HttpModelClient[];
}

export function buildFleetUpstream(file: FleetFile, o: FleetUpstreamOptions): FleetUpstream {
  const clients: HttpModelClient[] = [];
  const replicas: Record<string, Replica[]> = {};
  for (const [name, d] of Object.entries(file.deployments)) {
    replicas[name] = d.replicas.map((baseUrl, i) => {
      const client = new HttpModelClient({
        baseUrl,
        clock: o.clock,
        dialect: d.dialect ?? o.dialect,
        connections: o.connections,
        keepAliveTimeoutMs: o.keepAliveTimeoutMs,
        ...(o.apiKey !== undefined ? { apiKey: o.apiKey } : {}),
      });
      clients.push(client);
      return { id: `${name}/${i}`, client: d.model !== undefined ? withModel(client, d.model) : client };
    });
  }
  const fleet = buildFleet({ clock: o.clock, random: o.random, config: file.config, policy: o.policy, replicas });
  return { fleet, clients };
}
