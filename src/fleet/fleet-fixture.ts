/** A deployment of scripted replicas on a VirtualClock, for the fleet's tests. */
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import type { RouteMeta } from '../upstream/model-client.js';
import { FakeModel, type StreamScript } from '../engine/testing/fake-model.js';
import { ReplicaDeployment } from './deployment.js';
import { fleetPolicySchema, type FleetPolicyInput } from './policy-schema.js';
import { drain } from './testing.js';
import type { FleetEvent } from './types.js';

/** What a replica does on its next call (settable while the test runs); absent: answers 2 tokens after 10 ms. */
export type Behaviour = () => StreamScript;

export function scriptedDeployment(n: number, policy: FleetPolicyInput, seed = 1) {
  const clock = new VirtualClock();
  const ids = Array.from({ length: n }, (_, i) => `d/${i}`);
  const behaviour = new Map<string, Behaviour>();
  const clients = new Map(ids.map((id) => [id, new FakeModel(clock, () => (behaviour.get(id) ?? (() => ({ tokens: 2 })))())]));
  const d = new ReplicaDeployment({
    name: 'd',
    clock,
    random: new Random(seed),
    policy: fleetPolicySchema.parse(policy),
    replicas: ids.map((id) => ({ id, client: clients.get(id) as FakeModel })),
  });
  const events: FleetEvent[] = [];
  d.onEvent((e) => events.push(e));
  let seq = 0;
  /** Which replica served one call, and its error code if it failed. */
  const call = async (route?: RouteMeta): Promise<{ replica: string; code?: string }> => {
    const id = `q${seq++}`;
    let code: string | undefined;
    try {
      await clock.run(drain(d.stream({ id, model: 'm' }, route === undefined ? {} : { route })));
    } catch (e) {
      code = (e as { code?: string }).code ?? 'UNKNOWN';
    }
    const replica = ids.find((r) => (clients.get(r) as FakeModel).callsFor(id).length > 0) ?? 'none';
    return code === undefined ? { replica } : { replica, code };
  };
  const ejected = (): string[] => d.states().filter((s) => s.ejected).map((s) => s.id);
  return { clock, d, ids, clients, behaviour, events, call, ejected };
}
