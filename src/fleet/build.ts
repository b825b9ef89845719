import type { Random } from '../random.js';
import type { Clock } from '../time/clock.js';
import { ReplicaDeployment } from './deployment.js';
import { FleetConfigError } from './errors.js';
import { FleetClient } from './fleet-client.js';
import type { FleetPolicy } from './policy-schema.js';
import type { Fleet, FleetConfig, Replica } from './types.js';

/** What {@link buildFleet} needs. */
export interface BuildFleetOptions {
  readonly clock: Clock;
  /** Each deployment derives its own stream (`fleet/<name>`), so adding one never shifts another's numbers. */
  readonly random: Random;
  readonly config: FleetConfig;
  /** The policy's `fleet` section (`policy.fleet`). */
  readonly policy: FleetPolicy;
  /** The replicas of each deployment by its name (a deployment may start with none and be scaled out). */
  readonly replicas: Readonly<Record<string, readonly Replica[]>>;
}

/** Checks that every name the config uses exists; throws {@link FleetConfigError} naming the field otherwise. */
export function validateFleetConfig(config: FleetConfig, replicas: Readonly<Record<string, readonly Replica[]>>): void {
  const names = Object.keys(config.deployments);
  const known = (n: string): boolean => Object.hasOwn(config.deployments, n);
  const list = names.map((n) => JSON.stringify(n)).join(', ');
  if (names.length === 0) throw new FleetConfigError('deployments', 'expected at least one deployment, got none');
  if (!known(config.defaultDeployment)) {
    throw new FleetConfigError('defaultDeployment', `expected one of the deployments (${list}), got ${JSON.stringify(config.defaultDeployment)}`);
  }
  (config.routes ?? []).forEach((r, i) => {
    if (!known(r.deployment)) throw new FleetConfigError(`routes[${i}].deployment`, `expected one of the deployments (${list}), got ${JSON.stringify(r.deployment)}`);
  });
  for (const [name, d] of Object.entries(config.deployments)) {
    if (d.fallback === undefined) continue;
    if (d.fallback === name) throw new FleetConfigError(`deployments.${name}.fallback`, 'a deployment cannot fall back to itself');
    if (!known(d.fallback)) throw new FleetConfigError(`deployments.${name}.fallback`, `expected one of the deployments (${list}), got ${JSON.stringify(d.fallback)}`);
  }
  for (const name of Object.keys(replicas)) {
    if (!known(name)) throw new FleetConfigError(`replicas.${name}`, `expected replicas of a configured deployment (${list})`);
  }
}

/**
 * Builds a fleet: one deployment per configured name over its replicas, balanced, ejecting and hedging as the
 * policy's `fleet` section says, behind a router by the config's ordered rules and default. Throws
 * {@link FleetConfigError} (code `FLEET_CONFIG`) when a route's deployment, a fallback or the default does not exist,
 * or a replica id repeats within a deployment.
 */
export function buildFleet(opts: BuildFleetOptions): Fleet {
  validateFleetConfig(opts.config, opts.replicas);
  const deployments = Object.keys(opts.config.deployments).map(
    (name) =>
      new ReplicaDeployment({
        name,
        clock: opts.clock,
        random: opts.random.derive(`fleet/${name}`),
        policy: opts.policy,
        replicas: opts.replicas[name] ?? [],
      }),
  );
  return new FleetClient(opts.clock, opts.config, deployments);
}
