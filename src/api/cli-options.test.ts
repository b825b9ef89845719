import { describe, expect, it } from 'vitest';
import { parseServeArgs, ServeUsageError, type ServeOptions } from './cli-options.js';

const files: Record<string, string> = {
  'tenants.json': JSON.stringify([{ apiKey: 'key-alpha-0001', tenant: 'alpha' }]),
  'bad-tenants.json': JSON.stringify([{ apiKey: 'short', tenant: 'alpha' }]),
  'dup-tenants.json': JSON.stringify([{ apiKey: 'key-alpha-0001', tenant: 'a' }, { apiKey: 'key-alpha-0001', tenant: 'b' }]),
  'overrides.json': JSON.stringify({ concurrency: { limit: 12 } }),
  'fleet.json': JSON.stringify({ deployments: { default: { replicas: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'] } } }),
  'bad-fleet.json': JSON.stringify({ deployments: { default: { replicas: ['127.0.0.1:9001'] } } }),
};
const read = (p: string): string => {
  const f = files[p];
  if (f === undefined) throw new Error(`ENOENT: no such file, open '${p}'`);
  return f;
};
const base = ['--upstream', 'http://127.0.0.1:8000', '--policy', 'resilient'];

function parse(args: string[], env: Record<string, string> = {}): ServeOptions {
  const r = parseServeArgs(args, read, env);
  if ('help' in r) throw new Error('unexpected help');
  return r;
}

function usage(args: string[]): string {
  try {
    parseServeArgs(args, read);
  } catch (e) {
    expect(e).toBeInstanceOf(ServeUsageError);
    return (e as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('parseServeArgs', () => {
  it('parses a full command line with defaults', () => {
    const o = parse([...base, '--open']);
    expect(o).toMatchObject({ upstream: 'http://127.0.0.1:8000', port: 8080, host: '127.0.0.1', tenants: 'open', exporter: 'prometheus', callbackAllowlist: [], model: 'primary', log: false });
    expect(o.policy.name).toBe('resilient');
    expect(o.upstreamConnections).toBe(256);
    expect(o).toMatchObject({ requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, maxConnectionsPerAddress: 0 });
    expect(parse([...base, '--open', '--request-timeout-ms', '5000', '--headers-timeout-ms', '2000', '--max-connections-per-address', '64'])).toMatchObject({
      requestTimeoutMs: 5000,
      headersTimeoutMs: 2000,
      maxConnectionsPerAddress: 64,
    });
    expect(usage([...base, '--open', '--request-timeout-ms', '1000', '--headers-timeout-ms', '2000'])).toContain('--headers-timeout-ms: expected at most --request-timeout-ms (1000), got 2000');
    expect(usage([...base, '--open', '--max-connections-per-address', '-1'])).toContain('--max-connections-per-address');
    expect(parse([...base, '--open', '--upstream-connections', '1024']).upstreamConnections).toBe(1024);
    expect(usage([...base, '--open', '--upstream-connections', '0'])).toContain('--upstream-connections: expected an integer from 1 to 100000, got "0"');
    expect(o.upstreamKeepAliveMs).toBe(4000);
    expect(parse([...base, '--open', '--upstream-keep-alive-ms', '60000']).upstreamKeepAliveMs).toBe(60_000);
    expect(usage([...base, '--open', '--upstream-keep-alive-ms', '0'])).toContain('--upstream-keep-alive-ms: expected an integer from 1 to 3600000, got "0"');
    expect(usage([...base, '--open', '--payload-dir', '/tmp/p'])).toBe('--payload-dir: expected --queue with it (the embedded queue keeps payloads in memory), got no --queue');
    expect(parseServeArgs([...base, '--open', '--queue', 'redis://127.0.0.1:6379', '--payload-dir', '/tmp/p'], () => '')).toMatchObject({ payloadDir: '/tmp/p', payloadThresholdBytes: 262_144 });
    const f = parse(['--upstream', 'http://a:1', '--policy', 'bounded', '--policy-overrides', 'overrides.json', '--fallback', 'http://b:2', '--fallback-model', 'small', '--port', '0', '--tenants', 'tenants.json', '--exporter', 'otlp', '--otlp-endpoint', 'http://c:4318', '--callback-allowlist', 'Hooks.Example.com, 127.0.0.1:9000'], { UPSTREAM_API_KEY: 'sk-x' });
    expect(f).toMatchObject({ fallback: 'http://b:2', fallbackModel: 'small', port: 0, exporter: 'otlp', otlpEndpoint: 'http://c:4318', callbackAllowlist: ['hooks.example.com', '127.0.0.1:9000'], upstreamKey: 'sk-x' });
    expect(f.tenants).toEqual([{ apiKey: 'key-alpha-0001', tenant: 'alpha' }]);
    expect(f.policy.concurrency.limit).toBe(12);
    expect(f.policy.name).toBe('bounded');
  });

  it('--price and --fallback-price: a sheet or JSON numbers; the fallback defaults to --price', () => {
    expect(parse([...base, '--open']).prices).toBeUndefined();
    const o = parse([...base, '--open', '--price', 'openai/gpt-4o-mini']);
    expect(o.prices).toEqual({ primary: { inputPer1M: 0.15, cachedInputPer1M: 0.075, outputPer1M: 0.6 }, fallback: { inputPer1M: 0.15, cachedInputPer1M: 0.075, outputPer1M: 0.6 } });
    const f = parse([...base, '--open', '--price', '{"inputPer1M":1,"outputPer1M":4}', '--fallback-price', 'openai/gpt-4o']);
    expect(f.prices).toEqual({ primary: { inputPer1M: 1, cachedInputPer1M: 1, outputPer1M: 4 }, fallback: { inputPer1M: 2.5, cachedInputPer1M: 1.25, outputPer1M: 10 } });
    expect(usage([...base, '--open', '--price', 'gpu/h100-sxm'])).toBe('--price: expected a per-token price (a service bills its upstream per token, not per GPU-hour), got "gpu/h100-sxm"');
    expect(usage([...base, '--open', '--price', 'acme/cheap'])).toMatch(/^--price: expected a price sheet \(openai\/gpt-4o-mini, .*\) or JSON numbers, got "acme\/cheap"$/);
    expect(usage([...base, '--open', '--fallback-price', '{"inputPer1M":-1,"outputPer1M":4}'])).toBe('--fallback-price.inputPer1M: expected a non-negative number (USD per 1M tokens), got -1');
  });

  it('--help returns the help text naming every flag', () => {
    const r = parseServeArgs(['--help'], read);
    expect('help' in r).toBe(true);
    const help = (r as { help: string }).help;
    for (const flag of ['--upstream', '--policy', '--fallback', '--port', '--host', '--tenants', '--open', '--exporter', '--callback-allowlist']) expect(help).toContain(flag);
  });

  it('names the bad flag in every error', () => {
    expect(usage(['--policy', 'resilient', '--open'])).toBe('--upstream: expected a URL (or --fleet FILE), got none');
    expect(usage(['--upstream', 'ftp://x', '--policy', 'resilient', '--open'])).toBe('--upstream: expected an http(s) URL, got "ftp://x"');
    expect(usage(['--upstream', 'http://x:1', '--open'])).toBe('--policy: expected one of naive, bounded, resilient, adaptive, got none');
    expect(usage(['--upstream', 'http://x:1', '--policy', 'fast', '--open'])).toBe('--policy: expected one of "naive" | "bounded" | "resilient" | "adaptive", got "fast"');
    expect(usage([...base, '--open', '--policy-overrides', '{"retry":{"maxAttempts":0}}'])).toBe('--policy-overrides: retry.maxAttempts: expected a number >= 1, got 0');
    expect(usage([...base])).toBe('--tenants: expected a tenants file (or --open for no API keys), got none');
    expect(usage([...base, '--open', '--tenants', 'tenants.json'])).toBe('--open: expected either --tenants FILE or --open, got both');
    expect(usage([...base, '--tenants', 'missing.json'])).toMatch(/^--tenants: cannot read "missing.json": ENOENT/);
    expect(usage([...base, '--tenants', 'bad-tenants.json'])).toBe('--tenants: tenants[0].apiKey: expected a string of 8 to 512 visible ASCII characters, got "(5 characters)"');
    expect(usage([...base, '--tenants', 'dup-tenants.json'])).toMatch(/^--tenants: tenants\[1\]\.apiKey: expected a key not used by an earlier entry/);
    expect(usage([...base, '--open', '--port', '70000'])).toBe('--port: expected an integer from 0 to 65535, got "70000"');
    expect(usage([...base, '--open', '--exporter', 'jaeger'])).toBe('--exporter: expected one of prometheus, otlp, none, got "jaeger"');
    expect(usage([...base, '--open', '--otlp-endpoint', 'http://c:4318'])).toBe('--otlp-endpoint: expected --exporter otlp with it, got --exporter prometheus');
    expect(usage([...base, '--open', '--callback-allowlist', 'http://x.com/'])).toBe('--callback-allowlist: expected host names like hooks.example.com or 127.0.0.1:9000, got "http://x.com/"');
    expect(usage([...base, '--open', '--colour'])).toBe("unknown option '--colour'");
  });

  it('--fleet takes a fleet file instead of --upstream, and names the bad field or the clashing flag', () => {
    const o = parse(['--fleet', 'fleet.json', '--policy', 'resilient', '--open']);
    expect(o.upstream).toBeUndefined();
    expect(o.fleet?.config).toEqual({ deployments: { default: {} }, defaultDeployment: 'default' });
    expect(o.fleet?.deployments['default']?.replicas).toEqual(['http://127.0.0.1:9001', 'http://127.0.0.1:9002']);
    expect(parse(['--fleet', '{"deployments":{"d":{"replicas":["http://127.0.0.1:1"]}}}', '--policy', 'resilient', '--open']).fleet?.config.defaultDeployment).toBe('d');
    expect(usage(['--policy', 'resilient', '--open'])).toBe('--upstream: expected a URL (or --fleet FILE), got none');
    expect(usage(['--fleet', 'bad-fleet.json', '--policy', 'resilient', '--open'])).toBe(
      '--fleet: deployments.default.replicas[0]: expected an http(s) base URL like http://127.0.0.1:9001, got "127.0.0.1:9001"',
    );
    expect(usage(['--fleet', 'missing.json', '--policy', 'resilient', '--open'])).toMatch(/^--fleet: cannot read "missing.json"/);
    expect(usage(['--fleet', 'fleet.json', ...base, '--open'])).toBe('--upstream: not available with --fleet (the fleet file declares the replicas and each deployment\'s fallback), got "http://127.0.0.1:8000"');
    expect(usage(['--fleet', 'fleet.json', '--policy', 'resilient', '--open', '--fallback', 'http://127.0.0.1:9'])).toMatch(/^--fallback: not available with --fleet/);
  });
});
