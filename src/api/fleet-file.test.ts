import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { fleetPrices, parseFleetFile, unpricedDeployments, unpricedNotice } from './fleet-file.js';

const urls = ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'];

function rejected(input: unknown): string {
  try {
    parseFleetFile(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('parseFleetFile', () => {
  it('reads deployments, their replicas, fallbacks, models, dialects and prices, routes and the default', () => {
    const f = parseFleetFile({
      deployments: {
        default: { replicas: urls, fallback: 'fast' },
        fast: { replicas: ['http://127.0.0.1:9101'], model: 'small', dialect: 'mock', price: { inputPer1M: 0.1, outputPer1M: 0.4 } },
      },
      routes: [{ name: 'tenant-b', deployment: 'fast', when: { tenantId: ['b'], priority: { min: 1, max: 5 } } }],
      defaultDeployment: 'default',
    });
    expect(f.config).toEqual({
      deployments: { default: { fallback: 'fast' }, fast: {} },
      routes: [{ name: 'tenant-b', deployment: 'fast', when: { tenantId: ['b'], priority: { min: 1, max: 5 } } }],
      defaultDeployment: 'default',
    });
    expect(f.deployments['default']).toEqual({ replicas: urls, fallback: 'fast' });
    expect(f.deployments['fast']).toEqual({ replicas: ['http://127.0.0.1:9101'], model: 'small', dialect: 'mock', price: { inputPer1M: 0.1, cachedInputPer1M: 0.1, outputPer1M: 0.4 } });
  });

  it('defaults the default deployment to the only one, or to the one named default', () => {
    expect(parseFleetFile({ deployments: { pool: { replicas: urls } } }).config.defaultDeployment).toBe('pool');
    expect(parseFleetFile({ deployments: { fast: { replicas: urls }, default: { replicas: urls } } }).config.defaultDeployment).toBe('default');
    expect(rejected({ deployments: { a: { replicas: urls }, b: { replicas: urls } } })).toBe(
      'defaultDeployment: expected one of a, b (there are several deployments and none is named "default"), got undefined',
    );
  });

  it('names the bad field in every error', () => {
    expect(rejected({ deployments: { default: { replicas: ['http://127.0.0.1:9001', 'ftp://x'] } } })).toBe(
      'deployments.default.replicas[1]: expected an http(s) base URL like http://127.0.0.1:9001, got "ftp://x"',
    );
    expect(rejected({ deployments: { default: { replicas: [] } } })).toBe('deployments.default.replicas: expected at least 1 item(s), got an array of 0');
    expect(rejected({ deployments: { default: { replicas: urls, weight: 2 } } })).toMatch(/^deployments\.default\.weight: expected no such field/);
    expect(rejected({ deployments: {} })).toBe('deployments: expected at least one deployment, got {}');
    expect(rejected({ deployments: { default: { replicas: urls, fallback: 'nope' } } })).toBe('deployments.default.fallback: expected a declared deployment (default), got "nope"');
    expect(rejected({ deployments: { default: { replicas: urls, fallback: 'default' } } })).toBe('deployments.default.fallback: expected another deployment than itself, got "default"');
    expect(rejected({ deployments: { a: { replicas: urls, fallback: 'b' }, b: { replicas: urls, fallback: 'a' } }, defaultDeployment: 'a' })).toBe(
      'deployments.a.fallback: expected a fallback chain that ends (no cycle), got "a -> b -> a"',
    );
    expect(rejected({ deployments: { default: { replicas: urls } }, routes: [{ deployment: 'gpu', when: {} }] })).toBe('routes[0].deployment: expected a declared deployment (default), got "gpu"');
    expect(rejected({ deployments: { default: { replicas: urls } }, routes: [{ deployment: 'default', when: { priority: 'urgent' } }] })).toMatch(/^routes\[0\]\.when\.priority: expected/);
    expect(rejected({ deployments: { default: { replicas: urls } }, defaultDeployment: 'x' })).toBe('defaultDeployment: expected a declared deployment (default), got "x"');
    expect(rejected({ deployments: { default: { replicas: urls, price: 'no-such-sheet' } } })).toMatch(/^deployments\.default\.price: expected a price sheet/);
    expect(rejected({ deployments: { default: { replicas: urls, dialect: 'grpc' } } })).toMatch(/^deployments\.default\.dialect: expected one of "openai", "vllm", "mock"/);
    expect(rejected({ deployments: { 'bad name': { replicas: urls } } })).toMatch(/^deployments: expected deployment names of 1 to 64/);
    expect(rejected([])).toMatch(/^\(fleet\): expected an object/);
  });
});

describe('fleetPrices and the unpriced notice', () => {
  const urls = ['http://127.0.0.1:9101'];
  it('prices each deployment at its own price; one without a price is left out, never given the default\'s', () => {
    const f = parseFleetFile({ deployments: { default: { replicas: urls, price: 'openai/gpt-4o-mini' }, fast: { replicas: urls } } });
    const p = fleetPrices(f);
    expect(p?.primary).toEqual(f.deployments['default']?.price);
    expect(Object.keys(p?.deployments ?? {})).toEqual(['default']);
    expect(unpricedDeployments(f)).toEqual(['fast']);
    expect(unpricedNotice(['fast'])).toBe(
      'deployment "fast" has no price in the fleet file: its calls are unpriced (costUsd null, no engine_cost_usd_total), not billed at another deployment\'s price',
    );
    expect(unpricedNotice(['a', 'b'])).toMatch(/^deployments "a", "b" have no price in the fleet file: their calls are unpriced/);
  });

  it('no price anywhere: no service prices at all', () => {
    expect(fleetPrices(parseFleetFile({ deployments: { default: { replicas: urls } } }))).toBeUndefined();
  });
});
