/**
 * The service process for real: `serve` against the mock server (sim/server.ts on loopback) through
 * HttpModelClient; the listening line, a job and a proxied completion end to end, /metrics, graceful SIGTERM
 * (exit 0); a bad flag exits 2 naming it, without a stack trace. Every process started is killed in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import type { MockModel } from '../sim/mock-model.js';
import { buildServer } from '../sim/server.js';
import { FAST_PROFILE, testModel } from '../sim/server-testkit.js';

const MAIN = new URL('../src/api/main.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'serve-main-test-'));
const tenantsFile = join(dir, 'tenants.json');
writeFileSync(tenantsFile, JSON.stringify([{ apiKey: 'key-alpha-0001', tenant: 'alpha' }]));
const children: ChildProcess[] = [];
let model: MockModel;
let mock: ReturnType<typeof buildServer>;
let upstream = '';

beforeAll(async () => {
  const clock = new RealClock();
  model = testModel(clock, { profile: FAST_PROFILE });
  mock = buildServer({ models: [model], clock });
  await mock.listen({ host: '127.0.0.1', port: 0 });
  const a = mock.server.address();
  upstream = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  model.close();
  await mock.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Proc {
  readonly child: ChildProcess;
  readonly out: string;
  readonly err: string;
  readonly listening: Promise<string>;
  readonly exit: Promise<number | null>;
}

function serve(args: string[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OTEL_SDK_DISABLED: '' } });
  children.push(child);
  const io = { out: '', err: '' };
  child.stdout?.on('data', (d: Buffer) => (io.out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (io.err += d.toString()));
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', () => {
      const m = /serve: listening on (http:\/\/\S+) \(/.exec(io.out);
      if (m) resolve(m[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening: ${io.err}`)));
  });
  listening.catch(() => undefined); // awaited only by the tests that expect it
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    get out() {
      return io.out;
    },
    get err() {
      return io.err;
    },
    listening,
    exit,
  };
}

const auth = { authorization: 'Bearer key-alpha-0001', 'content-type': 'application/json' };

describe.concurrent('serve process', { timeout: 30_000 }, () => {
  it('serves jobs and the proxy against the mock upstream, exposes /metrics, and exits 0 on SIGTERM', async () => {
    const p = serve(['--upstream', upstream, '--policy', 'resilient', '--tenants', tenantsFile, '--port', '0']);
    const url = await p.listening;
    expect(p.out).toMatch(/^serve: listening on http:\/\/127\.0\.0\.1:\d+ \(policy resilient; upstream http:\/\/127\.0\.0\.1:\d+ \[openai\]; tenants: 1 API key\(s\); exporter prometheus; pid \d+\)\n$/);

    const chat = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'x-mock-output-tokens': '7' },
      body: JSON.stringify({ model: 'primary', messages: [{ role: 'user', content: 'through the wire' }] }),
    });
    expect(chat.statusCode).toBe(200);
    const c = (await chat.body.json()) as { usage: { completion_tokens: number }; choices: Array<{ message: { content: string } }> };
    expect(c.usage.completion_tokens).toBe(7);

    const post = await request(`${url}/v1/jobs`, { method: 'POST', headers: { ...auth, 'x-mock-output-tokens': '5' }, body: JSON.stringify({ prompt: 'a job' }) });
    expect(post.statusCode).toBe(202);
    const { id } = (await post.body.json()) as { id: string };
    // The SSE stream ends with the terminal event: waiting on it is waiting for the job.
    const events = await request(`${url}/v1/jobs/${id}/events`, { headers: auth });
    const sse = await events.body.text();
    expect(sse).toMatch(/event: end\ndata: \{"id":"[^"]+","status":"succeeded"/);
    const job = (await (await request(`${url}/v1/jobs/${id}`, { headers: auth })).body.json()) as { status: string; tokens: number };
    expect(job).toMatchObject({ status: 'succeeded', tokens: 5 });

    const metrics = await (await request(`${url}/metrics`)).body.text();
    expect(metrics).toMatch(/^engine_requests_total\{outcome="ok"\} 2$/m);
    expect(metrics).toMatch(/^# TYPE engine_ttft_seconds histogram$/m);

    const unauth = await request(`${url}/v1/jobs/${id}`);
    expect(unauth.statusCode).toBe(401);
    await unauth.body.dump();

    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
    expect(p.err).toBe('');
  });

  it('--fleet with a deployment without a price says at start-up that its calls are unpriced', async () => {
    const fleet = { deployments: { default: { replicas: [upstream], price: 'openai/gpt-4o-mini' }, fast: { replicas: [upstream] } } };
    const p = serve(['--fleet', JSON.stringify(fleet), '--policy', 'resilient', '--tenants', tenantsFile, '--port', '0']);
    await p.listening;
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
    expect(p.err).toContain('serve: deployment "fast" has no price in the fleet file: its calls are unpriced (costUsd null, no engine_cost_usd_total), not billed at another deployment\'s price\n');
  });

  it('a bad flag exits 2 with one line naming it, no stack trace; --help exits 0', async () => {
    const bad = serve(['--upstream', upstream, '--policy', 'fastest', '--open']);
    const none = serve(['--policy', 'resilient', '--open']);
    const help = serve(['--help']);
    expect(await bad.exit).toBe(2);
    expect(bad.err.split('\n')[0]).toBe('serve: --policy: expected one of "naive" | "bounded" | "resilient" | "adaptive", got "fastest"');
    expect(bad.err).not.toMatch(/\n\s+at /);
    expect(await none.exit).toBe(2);
    expect(none.err.split('\n')[0]).toBe('serve: --upstream: expected a URL (or --fleet FILE), got none');
    expect(await help.exit).toBe(0);
    expect(help.out).toContain('--callback-allowlist');
  });
});
