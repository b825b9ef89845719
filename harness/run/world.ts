/**
 * One policy's world for a virtual run: a fresh VirtualClock, seeded Random streams, the mock GPU models
 * in-process, and the engine with that policy. Every policy of a scenario gets an identical world but for the
 * policy, so they all see the same workload and the same faults for a given seed. With a transport
 * (harness/run/transport.ts), the driver and the models are reached across delayed hops, as over HTTP in live mode.
 */
import { Engine } from '../../src/engine/engine.js';
import type { Policy } from '../../src/policy.js';
import { Random } from '../../src/random.js';
import { VirtualClock } from '../../src/time/virtual-clock.js';
import { InProcessModelClient } from '../../sim/in-process.js';
import { MockModel } from '../../sim/mock-model.js';
import { DEFAULT_PROFILE } from '../../sim/profiles.js';
import type { ModelClient } from '../../src/upstream/model-client.js';
import type { Scenario } from '../scenario.js';
import { isFleetModel } from '../scenario-fleet.js';
import { buildFleetWorld, type FleetWorld } from './fleet-world.js';
import { isZeroTransport, parseTransport, transportedModelClient, transportedSubmit, type Submit, type Transport } from './transport.js';

/** The served model names the engine routes between. */
export const PRIMARY_MODEL = 'primary';
export const FALLBACK_MODEL = 'fallback';

/** How a world is built beyond the scenario, policy and seed. */
export interface WorldOptions {
  /**
   * The HTTP hops of live mode, modelled as delays (harness/run/transport.ts): the driver reaches the engine
   * through `clientToEngine` (`World.submit`), the engine reaches each model through `engineToModel`. Validated
   * here. @default no delay: the world is built exactly as without a transport
   */
  readonly transport?: Transport;
}

export interface World {
  readonly clock: VirtualClock;
  readonly random: Random;
  readonly engine: Engine;
  /** The engine as the load driver reaches it: across the client→engine hop when there is one, else `engine.submit`. */
  readonly submit: Submit;
  readonly models: readonly MockModel[];
  /** The primary model; in a fleet, the first replica of the default deployment. */
  readonly primary: MockModel;
  /** The fleet, when the scenario has `model.deployments` (then `models` grows as the autoscaler provisions). */
  readonly fleet?: FleetWorld;
  close(): void;
}

/** Builds the world for one policy of `scenario` with root seed `seed`. */
export function buildWorld(scenario: Scenario, policy: Policy, seed: number, options: WorldOptions = {}): World {
  const transport = options.transport === undefined ? undefined : parseTransport(options.transport);
  // Nothing in a world waits on real I/O: promise work is settled with ticks, not event-loop turns.
  const clock = new VirtualClock({ drain: 'tick' });
  const random = new Random(seed);
  // Each hop draws from streams of its own, so a transport shifts no other component's numbers.
  const served = (model: MockModel): ModelClient =>
    isZeroTransport(transport)
      ? servedBy(model)
      : transportedModelClient(servedBy(model), { clock, hop: transport?.engineToModel, random: random.derive(`transport/engine-to-${model.name}`) });
  const m = scenario.model;
  if (isFleetModel(m)) return buildFleetEngineWorld(scenario, policy, clock, random, served, transport);
  const primary = new MockModel({
    name: PRIMARY_MODEL,
    profile: m.profile ?? DEFAULT_PROFILE,
    clock,
    random: random.derive('model/primary'),
    ...(m.faults !== undefined ? { faults: m.faults } : {}),
    ...(m.rateLimits !== undefined ? { rateLimits: m.rateLimits } : {}),
  });
  const fallback =
    m.fallbackProfile === undefined
      ? undefined
      : new MockModel({
          name: FALLBACK_MODEL,
          profile: m.fallbackProfile,
          clock,
          random: random.derive('model/fallback'),
          ...(m.fallbackFaults !== undefined ? { faults: m.fallbackFaults } : {}),
        });
  const models = fallback === undefined ? [primary] : [primary, fallback];
  const engine = new Engine({
    clock,
    random: random.derive('engine'),
    policy,
    primary: served(primary),
    ...(fallback !== undefined ? { fallback: served(fallback) } : {}),
    // A context-length refusal goes to the fallback only when its window is larger (contextFallback).
    contextTokens: { primary: primary.profile.contextWindow, ...(fallback !== undefined ? { fallback: fallback.profile.contextWindow } : {}) },
  });
  const direct: Submit = (request, signal) => engine.submit(request, signal);
  return {
    clock,
    random,
    engine,
    submit: isZeroTransport(transport) ? direct : transportedSubmit(direct, { clock, hop: transport?.clientToEngine, random: random.derive('transport/client-to-engine') }),
    models,
    primary,
    close: () => models.forEach((x) => x.close()),
  };
}

/** A ModelClient bound to one model: the engine sends the same request to primary or fallback, and this names it. */
function servedBy(model: MockModel): ModelClient {
  const client = new InProcessModelClient(model);
  return {
    capabilities: client.capabilities,
    stream: (request, options) => client.stream({ ...request, model: model.name }, options),
    embed: (request, options) => client.embed({ ...request, model: model.name }, options),
    // Batchable chat goes as one multi-prompt completions call (src/engine/chat-batch.ts), as over HTTP.
    completeBatch: (request, options) => client.completeBatch({ ...request, model: model.name }, options),
  };
}

/** The world of a fleet scenario: the Fleet (harness/run/fleet-world.ts) as the engine's primary, no fallback. */
function buildFleetEngineWorld(
  scenario: Scenario,
  policy: Policy,
  clock: VirtualClock,
  random: Random,
  served: (model: MockModel) => ModelClient,
  transport: Transport | undefined,
): World {
  const fleet = buildFleetWorld(scenario, policy, clock, random, served);
  const engine = new Engine({ clock, random: random.derive('engine'), policy, primary: fleet.fleet });
  const direct: Submit = (request, signal) => engine.submit(request, signal);
  const defaultName = `${scenario.model.defaultDeployment ?? Object.keys(scenario.model.deployments ?? {})[0] ?? ''}/0`;
  return {
    clock,
    random,
    engine,
    submit: isZeroTransport(transport) ? direct : transportedSubmit(direct, { clock, hop: transport?.clientToEngine, random: random.derive('transport/client-to-engine') }),
    models: fleet.models,
    primary: fleet.models.find((x) => x.name === defaultName) ?? (fleet.models[0] as MockModel),
    fleet,
    close: () => fleet.close(),
  };
}
