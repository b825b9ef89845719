/**
 * Shared helpers of the Redis queue tests (not product code): a real redis-server on a free loopback port with
 * AOF persistence in a temporary directory, the mock model server in this process, and worker/API child
 * processes. Every process started here is ended by its PID. Without /usr/bin/redis-server the tests FAIL
 * (they never skip): CI must install Debian's `redis-server`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createParser } from 'eventsource-parser';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { buildService, type ApiService } from '../src/api/server.js';
import { resolvePolicy } from '../src/policy.js';
import { openRedisApi, type RedisApiSide } from '../src/queue/redis-service.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { HttpModelClient } from '../src/upstream/http-openai.js';
import { MockModel } from '../sim/mock-model.js';
import { buildServer as buildMockServer } from '../sim/server.js';
import type { ProfileOverrides } from '../sim/profiles.js';
import { FAST_PROFILE } from '../sim/server-testkit.js';

export const REDIS_SERVER = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';
const ROOT = new URL('..', import.meta.url).pathname;

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it holds or `timeoutMs` passes (then throws naming `what`). */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

function waitExit(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((r) => p.once('exit', () => r()));
}

/** A redis-server with AOF (`appendfsync always`: an acknowledged write survives a kill -9 of Redis). */
export class RedisServer {
  proc: ChildProcess | undefined;
  private constructor(readonly port: number, readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    if (!existsSync(REDIS_SERVER)) {
      throw new Error(`${REDIS_SERVER} is missing: these tests need a real Redis. Install Debian's package (apt-get install redis-server) or set REDIS_SERVER to its path.`);
    }
    const s = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'redis-test-')));
    await s.launch();
    return s;
  }

  async launch(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--loglevel', 'warning'];
    const p = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    const probe = new Redis({ port: this.port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    probe.on('error', () => undefined);
    try {
      await until(`redis-server on port ${this.port}`, async () => {
        if (p.exitCode !== null) throw new Error(`redis-server exited with ${p.exitCode}`);
        try {
          if (probe.status === 'wait') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          return false;
        }
      }, 10_000);
    } finally {
      probe.disconnect();
    }
  }

  /** kill -9, as a crash. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
      process.kill(p.pid, 'SIGKILL');
      await waitExit(p);
    }
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The mock model server in this process, fast profile, on a free loopback port. */
export async function startMock(o: { seed?: number; profile?: ProfileOverrides } = {}): Promise<{ url: string; model: MockModel; close(): Promise<void> }> {
  const clock = new RealClock();
  const model = new MockModel({ name: 'primary', profile: o.profile ?? FAST_PROFILE, clock, random: new Random(o.seed ?? 11).derive('mock/primary') });
  const app = buildMockServer({ models: [model], clock });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const a = app.server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    model,
    close: async () => {
      model.close();
      await app.close();
    },
  };
}

/** A child process (tsx) that prints `readyPattern` once serving. */
export class Child {
  private out = '';
  private err = '';
  private constructor(readonly name: string, readonly proc: ChildProcess) {
    proc.stdout?.on('data', (b: Buffer) => (this.out += b.toString()));
    proc.stderr?.on('data', (b: Buffer) => (this.err += b.toString()));
  }

  static async spawn(name: string, script: string, args: readonly string[], readyPattern: RegExp, timeoutMs = 30_000): Promise<Child> {
    // `node --import tsx`, not the tsx CLI: the CLI runs the script in a child, and a SIGKILL of its PID would
    // leave that child running.
    const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } });
    const c = new Child(name, proc);
    await until(`${name} to be ready`, () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}: ${c.err || c.out}`);
      return readyPattern.test(c.out);
    }, timeoutMs);
    return c;
  }

  get output(): string {
    return `${this.out}${this.err}`;
  }

  /** The port printed as `port N` or `:N`. */
  get pid(): number {
    return this.proc.pid as number;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      process.kill(this.pid, signal);
      await waitExit(this.proc);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    process.kill(this.pid, 'SIGTERM');
    const t = setTimeout(() => {
      if (this.proc.exitCode === null) process.kill(this.pid, 'SIGKILL');
    }, graceMs);
    await waitExit(this.proc);
    clearTimeout(t);
  }
}

/** A worker process on the queue. */
export function spawnWorker(redisUrl: string, upstream: string, extra: readonly string[] = []): Promise<Child> {
  return Child.spawn('worker', 'src/worker/main.ts', ['--queue', redisUrl, '--upstream', upstream, '--policy', 'resilient', '--upstream-dialect', 'mock', ...extra], /worker: ready/);
}

/** An API process on the queue (`npm run serve -- --queue ...`); resolves with its base URL. */
export async function spawnApi(redisUrl: string, upstream: string, extra: readonly string[] = []): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const child = await Child.spawn('api', 'src/api/main.ts', ['--upstream', upstream, '--policy', 'resilient', '--upstream-dialect', 'mock', '--tokenizer', 'chars', '--open', '--queue', redisUrl, '--port', String(port), ...extra], /serve: listening/);
  return { child, url: `http://127.0.0.1:${port}` };
}

/** Parsed JSON of an answer (tests read what they assert). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** JSON over HTTP (status, headers, body). */
export async function http(method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: Json }> {
  const r = await request(url, {
    method,
    headers: { authorization: 'Bearer test-key', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.body.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.statusCode, headers: r.headers, json };
}

/** The engine service in this process on the Redis queue, listening on a free loopback port. */
export async function startApi(redisUrl: string, upstream: string, o: { seed?: string; cancelWaitMs?: number; callbackAllowlist?: string[] } = {}): Promise<{ url: string; svc: ApiService; side: RedisApiSide; close(): Promise<void> }> {
  const clock = new RealClock();
  const policy = resolvePolicy('resilient', { retry: { baseMs: 20, maxMs: 200 } });
  const side = await openRedisApi({ url: redisUrl, clock, attempts: policy.retry.maxAttempts, ...(o.cancelWaitMs !== undefined ? { cancelWaitMs: o.cancelWaitMs } : {}) });
  const primary = new HttpModelClient({ baseUrl: upstream, clock, dialect: 'mock' });
  const svc = buildService({ clock, random: new Random(o.seed ?? `api-${process.pid}-${Date.now()}`), tenants: 'open', policy, upstream: { primary }, store: side.store, queue: side.queue, ...(o.callbackAllowlist !== undefined ? { callbackAllowlist: o.callbackAllowlist } : {}) });
  await svc.app.listen({ port: 0, host: '127.0.0.1' });
  const a = svc.app.server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    svc,
    side,
    close: async () => {
      await svc.app.close();
      await side.close();
      await primary.close();
    },
  };
}

/** The text an uninterrupted stream of this request gives (the mock's text is a function of seed, id, index). */
export async function uninterruptedText(upstream: string, id: string, prompt: string, outputTokens: number): Promise<string> {
  const c = new HttpModelClient({ baseUrl: upstream, dialect: 'mock' });
  let text = '';
  try {
    for await (const ev of c.stream({ id, model: 'primary', prompt, outputTokens })) if (ev.type === 'tokens') text += ev.text;
  } finally {
    await c.close();
  }
  return text;
}

/**
 * Counts, per job, the store's published updates into a terminal state (psubscribe on every job's channel).
 * A job that reached two terminal states (or one twice, with two finish times) would show 2.
 */
export async function terminalCounter(redisUrl: string, prefix = 'engine:'): Promise<{ counts: Map<string, number>; close(): Promise<void> }> {
  const sub = new Redis(redisUrl);
  sub.on('error', () => undefined);
  const counts = new Map<string, number>();
  const last = new Map<string, string>();
  sub.on('pmessage', (_p: string, channel: string, message: string) => {
    const m = JSON.parse(message) as { t: string; h?: string[] };
    if (m.t !== 'u' || !Array.isArray(m.h)) return;
    const field = (name: string): unknown => {
      const i = (m.h as string[]).indexOf(name);
      return i >= 0 ? JSON.parse((m.h as string[])[i + 1] as string) : undefined;
    };
    const status = field('status');
    if (status === 'succeeded' || status === 'failed' || status === 'cancelled') {
      // Every update publishes the whole record: a later write to a terminal job (its callback's outcome) repeats
      // the same terminal state with the same finish time. A new terminal state is a new (status, finish time).
      const id = channel.slice(prefix.length + 3);
      const state = `${String(status)}@${String(field('finishedAtMs'))}`;
      if (last.get(id) === state) return;
      last.set(id, state);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  });
  await sub.psubscribe(`${prefix}ev:*`);
  return { counts, close: async () => void (await sub.quit().catch(() => sub.disconnect())) };
}

/** One SSE message. */
export interface SseMessage {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: string;
}

/** Reads a job's SSE stream until its `end` event (or the connection closes, or `timeoutMs`). */
export async function readEvents(baseUrl: string, id: string, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(new Error(`SSE of ${id}: no end event within ${timeoutMs}ms`)), timeoutMs);
  try {
    const r = await request(`${baseUrl}/v1/jobs/${id}/events`, { headers: { authorization: 'Bearer test-key', ...headers }, signal: ctl.signal });
    let ended = false;
    const p = createParser({ onEvent: (e) => {
      out.push({ id: e.id, event: e.event, data: e.data });
      if (e.event === 'end') ended = true;
    } });
    for await (const chunk of r.body) {
      p.feed((chunk as Buffer).toString());
      if (ended) break;
    }
  } finally {
    clearTimeout(t);
  }
  return out;
}
