import { describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { FakeModel } from '../engine/testing/fake-model.js';
import { buildFleet } from './build.js';
import { FleetConfigError } from './errors.js';
import { defaultFleetPolicy } from './policy-schema.js';
import type { FleetConfig, Replica } from './types.js';

const clock = new VirtualClock();
const replica = (id: string): Replica => ({ id, client: new FakeModel(clock) });

function build(config: FleetConfig, replicas: Record<string, Replica[]> = { a: [replica('a/0')] }) {
  return buildFleet({ clock, random: new Random(1), config, policy: defaultFleetPolicy(), replicas });
}

function fails(fn: () => unknown): FleetConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FleetConfigError);
    return e as FleetConfigError;
  }
  throw new Error('expected a FleetConfigError');
}

describe('buildFleet', () => {
  it('builds one deployment per configured name, with its replicas', () => {
    const fleet = build({ deployments: { a: {}, b: { fallback: 'a' } }, defaultDeployment: 'a' }, { a: [replica('a/0'), replica('a/1')] });
    expect(fleet.deployments().map((d) => d.name)).toEqual(['a', 'b']);
    expect(fleet.deployment('a')?.states().map((s) => s.id)).toEqual(['a/0', 'a/1']);
    expect(fleet.deployment('b')?.states()).toEqual([]);
    expect(fleet.deployment('zzz')).toBeUndefined();
  });

  it('rejects a default deployment that does not exist, naming the field', () => {
    const e = fails(() => build({ deployments: { a: {} }, defaultDeployment: 'nope' }));
    expect(e.code).toBe('FLEET_CONFIG');
    expect(e.message).toBe('defaultDeployment: expected one of the deployments ("a"), got "nope"');
  });

  it("rejects a route to a deployment that does not exist, naming the route's index", () => {
    const e = fails(() =>
      build({ deployments: { a: {} }, defaultDeployment: 'a', routes: [{ deployment: 'a', when: {} }, { deployment: 'fast', when: { priority: 'interactive' } }] }),
    );
    expect(e.path).toBe('routes[1].deployment');
    expect(e.message).toContain('"fast"');
  });

  it('rejects a fallback that does not exist, or that names its own deployment', () => {
    expect(fails(() => build({ deployments: { a: { fallback: 'b' } }, defaultDeployment: 'a' })).path).toBe('deployments.a.fallback');
    expect(fails(() => build({ deployments: { a: { fallback: 'a' } }, defaultDeployment: 'a' })).message).toBe(
      'deployments.a.fallback: a deployment cannot fall back to itself',
    );
  });

  it('rejects no deployments, replicas of an unknown deployment and a repeated replica id', () => {
    expect(fails(() => build({ deployments: {}, defaultDeployment: 'a' }, {})).path).toBe('deployments');
    expect(fails(() => build({ deployments: { a: {} }, defaultDeployment: 'a' }, { b: [replica('b/0')] })).path).toBe('replicas.b');
    expect(fails(() => build({ deployments: { a: {} }, defaultDeployment: 'a' }, { a: [replica('x'), replica('x')] })).message).toContain('"x" is used twice');
  });
});
