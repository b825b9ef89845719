import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseWorkerArgs, WorkerUsageError, type WorkerOptions } from './worker-options.js';

const base = ['--queue', 'redis://127.0.0.1:6379', '--upstream', 'http://127.0.0.1:8000'];

function usage(argv: string[]): string {
  try {
    parseWorkerArgs(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(WorkerUsageError);
    return (e as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('worker command line', () => {
  it('parses the defaults', () => {
    const o = parseWorkerArgs(base) as WorkerOptions;
    expect(o).toMatchObject({ queue: 'redis://127.0.0.1:6379', upstream: 'http://127.0.0.1:8000', concurrency: 32, leaseMs: 30_000, stalledIntervalMs: 5_000, maxStalled: 5, queueName: 'engine-jobs', prefix: 'engine:' });
    expect(o.policy.name).toBe('resilient');
    expect(o).toMatchObject({ callbackAttempts: 3, callbackBackoffMs: 500, callbackTimeoutMs: 5000, callbackLeaseMs: 60_000, callbackPollMs: 500 });
  });

  it('--price and --fallback-price, parsed as serve parses them (a sheet or JSON numbers; the fallback defaults to --price)', () => {
    expect((parseWorkerArgs(base) as WorkerOptions).prices).toBeUndefined();
    const o = parseWorkerArgs([...base, '--price', 'openai/gpt-4o-mini']) as WorkerOptions;
    expect(o.prices).toEqual({ primary: { inputPer1M: 0.15, cachedInputPer1M: 0.075, outputPer1M: 0.6 }, fallback: { inputPer1M: 0.15, cachedInputPer1M: 0.075, outputPer1M: 0.6 } });
    expect(o).not.toHaveProperty('price');
    const f = parseWorkerArgs([...base, '--price', '{"inputPer1M":1,"outputPer1M":4}', '--fallback-price', 'openai/gpt-4o']) as WorkerOptions;
    expect(f.prices).toEqual({ primary: { inputPer1M: 1, cachedInputPer1M: 1, outputPer1M: 4 }, fallback: { inputPer1M: 2.5, cachedInputPer1M: 1.25, outputPer1M: 10 } });
    expect(usage([...base, '--price', 'gpu/h100-sxm'])).toBe('--price: expected a per-token price (a service bills its upstream per token, not per GPU-hour), got "gpu/h100-sxm"');
    expect(usage([...base, '--fallback-price', '{"inputPer1M":-1,"outputPer1M":4}'])).toBe('--fallback-price.inputPer1M: expected a non-negative number (USD per 1M tokens), got -1');
  });

  it('applies a preset and overrides', () => {
    const o = parseWorkerArgs([...base, '--policy', 'bounded', '--policy-overrides', '{"retry":{"maxAttempts":7}}', '--concurrency', '4']) as WorkerOptions;
    expect(o.policy.retry.maxAttempts).toBe(7);
    expect(o.concurrency).toBe(4);
  });

  it('metrics port and shared policy: off by default, on by flag; a shared budget must be Finagle or off', () => {
    expect(parseWorkerArgs(base)).toMatchObject({ metricsPort: 0, metricsHost: '127.0.0.1', sharedPolicy: false });
    expect(parseWorkerArgs([...base, '--metrics-port', '9464', '--shared-policy'])).toMatchObject({ metricsPort: 9464, sharedPolicy: true });
    expect(parseWorkerArgs([...base, '--otlp-endpoint', 'http://127.0.0.1:4318'])).toMatchObject({ otlpEndpoint: 'http://127.0.0.1:4318', metricsPort: 0 });
    expect(usage([...base, '--otlp-endpoint', 'http://127.0.0.1:4318', '--metrics-port', '9464'])).toMatch(/^--otlp-endpoint: expected either it \(push\) or --metrics-port/);
    expect(usage([...base, '--metrics-port', '70000'])).toMatch(/--metrics-port: expected an integer from 0 to 65535/);
    expect(usage([...base, '--shared-policy', '--policy-overrides', '{"retryBudget":{"mode":"grpc"}}'])).toMatch(/^--shared-policy: expected the policy's retryBudget\.mode "finagle" or "off".*got "grpc"/);
  });

  it('names the flag in every mistake', () => {
    expect(usage(['--upstream', 'http://127.0.0.1:8000'])).toMatch(/--queue/);
    expect(usage(['--queue', 'redis://127.0.0.1:6379'])).toMatch(/--upstream/);
    expect(usage([...base.slice(0, 2), '--upstream', 'ftp://x'])).toMatch(/--upstream: expected an http\(s\) URL/);
    expect(usage(['--queue', 'http://127.0.0.1:6379', ...base.slice(2)])).toMatch(/--queue: expected a URL like redis:\/\/127\.0\.0\.1:6379.*got "http:\/\/127\.0\.0\.1:6379" \(scheme http/);
    expect(usage(['--queue', 'redis://h:1/abc', ...base.slice(2)])).toMatch(/--queue: .*database "abc"/);
    expect(usage([...base, '--concurrency', '0'])).toMatch(/--concurrency: expected an integer from 1 to 10000, got "0"/);
    expect(usage([...base, '--lease-ms', 'soon'])).toMatch(/--lease-ms: expected an integer/);
    expect(usage([...base, '--callback-lease-ms', '50'])).toMatch(/--callback-lease-ms: expected an integer from 100/);
    expect(usage([...base, '--policy', 'reckless'])).toMatch(/^--policy: preset: expected one of/);
    expect(usage([...base, '--policy-overrides', '{"retry":{"maxAttempts":0}}'])).toMatch(/^--policy-overrides: retry\.maxAttempts/);
    expect(usage([...base, '--policy-overrides', '{oops'])).toMatch(/^--policy-overrides: expected JSON/);
    expect(usage([...base, '--policy-overrides', '/nonexistent/overrides.json'])).toMatch(/^--policy-overrides: cannot read "\/nonexistent\/overrides\.json": ENOENT/);
  });

  it('takes --policy-overrides as a JSON file too, as the API does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'worker-options-'));
    try {
      writeFileSync(join(dir, 'overrides.json'), '{"retry":{"maxAttempts":7}}');
      expect((parseWorkerArgs([...base, '--policy-overrides', join(dir, 'overrides.json')]) as WorkerOptions).policy.retry.maxAttempts).toBe(7);
      writeFileSync(join(dir, 'bad.json'), '{"retry":{"maxAttempts":0}}');
      expect(usage([...base, '--policy-overrides', join(dir, 'bad.json')])).toMatch(/^--policy-overrides: retry\.maxAttempts: expected a number >= 1, got 0/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(usage([...base, 'extra'])).toMatch(/too many arguments|unknown/i);
    // An unknown flag is named, even when required flags are missing too.
    expect(usage(['--bogus'])).toMatch(/unknown option '--bogus'/);
    expect(usage([...base, '--bogus'])).toMatch(/unknown option '--bogus'/);
    expect(usage(['--upstream', 'http://127.0.0.1:8000'])).toContain('--queue: expected a Redis URL');
  });

  it('--help describes the flags', () => {
    const r = parseWorkerArgs(['--help']);
    expect('help' in r && r.help).toMatch(/--queue <url>[\s\S]*--upstream <url>[\s\S]*--lease-ms/);
  });

  it('the process exits 2 with one line naming the flag', () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', main, '--queue', 'redis://127.0.0.1:6379'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^worker: .*--upstream/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
  });
});
