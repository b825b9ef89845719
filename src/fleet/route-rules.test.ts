import { describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { OverloadedError } from '../upstream/errors.js';
import type { ModelRequest, RouteMeta } from '../upstream/model-client.js';
import { FakeModel } from '../engine/testing/fake-model.js';
import { buildFleet } from './build.js';
import { defaultFleetPolicy } from './policy-schema.js';
import { drain } from './testing.js';
import type { FleetConfig, FleetEvent, RouteRule } from './types.js';

const RULES: RouteRule[] = [
  { name: 'long-context', deployment: 'long', when: { minPromptTokens: 8000 } },
  { name: 'vip', deployment: 'fast', when: { priority: { min: 8 } } },
  { name: 'tenants', deployment: 'fast', when: { tenantId: ['acme', 'globex'], priority: 'interactive' } },
  { name: 'batchable', deployment: 'bulk', when: { batchable: true } },
  { deployment: 'long', when: { requestClass: ['summarize', 'rag'] } },
];
const CONFIG: FleetConfig = {
  deployments: { default: {}, fast: { fallback: 'default' }, long: {}, bulk: { fallback: 'fast' } },
  routes: RULES,
  defaultDeployment: 'default',
};

function setup(config: FleetConfig = CONFIG, empty: readonly string[] = []) {
  const clock = new VirtualClock();
  const clients = new Map(Object.keys(config.deployments).map((n) => [n, new FakeModel(clock, () => ({ tokens: 2 }))]));
  const replicas = Object.fromEntries([...clients].filter(([n]) => !empty.includes(n)).map(([n, client]) => [n, [{ id: `${n}/0`, client }]]));
  const fleet = buildFleet({ clock, random: new Random(7), config, policy: defaultFleetPolicy(), replicas });
  const events: FleetEvent[] = [];
  fleet.onEvent((e) => events.push(e));
  /** Where one request went: the deployment whose replica got the call, and the rule that picked it. */
  const routeOf = async (route: RouteMeta | undefined, request: Partial<ModelRequest> = {}) => {
    const id = `r${events.length}`;
    await clock.run(drain(fleet.stream({ id, model: 'm', prompt: 'hi', ...request }, route === undefined ? {} : { route })));
    const served = [...clients].filter(([, c]) => c.callsFor(id).length > 0).map(([n]) => n);
    const routed = events.find((e) => e.type === 'routed' && e.id === id);
    return { deployment: served.join(','), rule: routed?.type === 'routed' ? routed.rule : undefined };
  };
  return { clock, fleet, clients, events, routeOf };
}

describe('routing rules', () => {
  it('send what no rule matches to the default deployment', async () => {
    const { routeOf } = setup();
    expect(await routeOf(undefined)).toEqual({ deployment: 'default', rule: 'default' });
    expect(await routeOf({ priority: 'interactive', tenantId: 'initech' })).toEqual({ deployment: 'default', rule: 'default' });
  });

  it('route a long prompt (given or estimated tokens) to the long-context deployment', async () => {
    const { routeOf } = setup();
    expect(await routeOf({}, { promptTokens: 8000 })).toEqual({ deployment: 'long', rule: 'long-context' });
    expect(await routeOf({}, { promptTokens: 7999 })).toEqual({ deployment: 'default', rule: 'default' });
    expect(await routeOf({}, { prompt: 'x'.repeat(4 * 8000) })).toEqual({ deployment: 'long', rule: 'long-context' });
  });

  it('match a priority level range only when the request carries a level', async () => {
    const { routeOf } = setup();
    expect(await routeOf({ priorityLevel: 9 })).toEqual({ deployment: 'fast', rule: 'vip' });
    expect(await routeOf({ priorityLevel: 8 })).toEqual({ deployment: 'fast', rule: 'vip' });
    expect(await routeOf({ priorityLevel: 7 })).toEqual({ deployment: 'default', rule: 'default' });
    expect(await routeOf({ priority: 'interactive' })).toEqual({ deployment: 'default', rule: 'default' });
  });

  it('match a tenant list together with the priority class', async () => {
    const { routeOf } = setup();
    expect(await routeOf({ tenantId: 'globex', priority: 'interactive' })).toEqual({ deployment: 'fast', rule: 'tenants' });
    // No class given counts as interactive.
    expect(await routeOf({ tenantId: 'acme' })).toEqual({ deployment: 'fast', rule: 'tenants' });
    expect(await routeOf({ tenantId: 'acme', priority: 'batch' })).toEqual({ deployment: 'default', rule: 'default' });
  });

  it('match batchable and the request class; an unnamed rule is named by its deployment', async () => {
    const { routeOf } = setup();
    expect(await routeOf({ batchable: true })).toEqual({ deployment: 'bulk', rule: 'batchable' });
    expect(await routeOf({ batchable: false })).toEqual({ deployment: 'default', rule: 'default' });
    expect(await routeOf({ requestClass: 'rag' })).toEqual({ deployment: 'long', rule: 'long' });
    expect(await routeOf({ requestClass: 'chat' })).toEqual({ deployment: 'default', rule: 'default' });
  });

  it('take the first matching rule in order', async () => {
    const { routeOf } = setup();
    expect(await routeOf({ priorityLevel: 10, batchable: true }, { promptTokens: 9000 })).toEqual({ deployment: 'long', rule: 'long-context' });
    expect(await routeOf({ priorityLevel: 10, batchable: true })).toEqual({ deployment: 'fast', rule: 'vip' });
  });

  it('send a request whose model hint names a deployment there; other hints are no hint', async () => {
    const { routeOf } = setup();
    expect(await routeOf({ modelHint: 'bulk', priorityLevel: 10 })).toEqual({ deployment: 'bulk', rule: 'modelHint' });
    expect(await routeOf({ modelHint: 'fallback' })).toEqual({ deployment: 'default', rule: 'default' });
    const withHintRule = setup({ ...CONFIG, routes: [{ name: 'hinted', deployment: 'fast', when: { modelHint: 'quick' } }] });
    expect(await withHintRule.routeOf({ modelHint: 'quick' })).toEqual({ deployment: 'fast', rule: 'hinted' });
  });

  it("follow a deployment's fallback chain when it has no replica in service", async () => {
    const { routeOf, events } = setup(CONFIG, ['fast', 'bulk']);
    // bulk -> fast -> default; the event names the deployment that serves and the rule that chose bulk.
    expect(await routeOf({ batchable: true })).toEqual({ deployment: 'default', rule: 'batchable' });
    expect(events.at(-1)).toMatchObject({ type: 'routed', deployment: 'default', rule: 'batchable' });
    expect(await routeOf({ tenantId: 'acme' })).toEqual({ deployment: 'default', rule: 'tenants' });
  });

  it('fail with a 503 when neither the deployment nor its fallbacks has a replica', async () => {
    const { clock, fleet } = setup(CONFIG, ['long']);
    const run = clock.run(drain(fleet.stream({ id: 'x', model: 'm', promptTokens: 9000 }, { route: {} })));
    await expect(run).rejects.toBeInstanceOf(OverloadedError);
    await expect(run).rejects.toThrow('deployment "long" and its fallbacks have no replica in service');
  });
});
