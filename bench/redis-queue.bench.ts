/**
 * Jobs per second through the API, the queue and the engine to a near-zero-latency mock (the sim with a
 * zero-time step, in its own process), closed loop: each of CLIENTS clients POSTs a job and follows its SSE
 * stream to the `end` event, then submits the next. Compared:
 * - the in-memory queue (the embedded default: the API process runs the engine);
 * - the Redis queue (BullMQ, AOF appendfsync everysec) with 1, 2 and 4 worker processes.
 * Also the per-job latency of one job at a time (no queueing) on both, whose difference is what Redis adds
 * per job: the enqueue, the worker's dequeue and lease, the store writes and the pub/sub hops.
 * Everything runs on this machine (on a 2-core box the API, the workers, Redis and the mock share the cores:
 * the scaling figures say how far more workers help here, not on a cluster).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createParser } from 'eventsource-parser';
import { Agent, request } from 'undici';
import { buildService, type ApiService } from '../src/api/server.js';
import { resolvePolicy } from '../src/policy.js';
import { openRedisApi, type RedisApiSide } from '../src/queue/redis-service.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { HttpModelClient } from '../src/upstream/http-openai.js';
import { measure, type Measurement } from './lib.js';

const ROOT = new URL('..', import.meta.url).pathname;
const REDIS_SERVER = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';
const CLIENTS = 64;
const JOBS_PER_RUN = 600;
const SERIAL_JOBS = 150;
const TOKENS = 4;
const RUNS = 5;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** Starts a process and waits for `ready` on its stdout. */
async function start(cmd: string, args: string[], ready: RegExp): Promise<ChildProcess> {
  const p = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${args.join(' ')}: not ready after 30 s: ${out}`)), 30_000);
    const onData = (b: Buffer): void => {
      out += b.toString();
      if (ready.test(out)) {
        clearTimeout(t);
        resolve();
      }
    };
    p.stdout?.on('data', onData);
    p.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    p.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${out}`)));
  });
  p.stdout?.resume();
  p.stderr?.resume();
  return p;
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  process.kill(p.pid, 'SIGKILL');
  await exited;
}

const agent = new Agent({ connections: CLIENTS * 2, pipelining: 1 });

/** POSTs one job and follows its SSE stream to `end`. */
async function oneJob(base: string, i: number): Promise<void> {
  const r = await request(`${base}/v1/jobs`, {
    method: 'POST',
    dispatcher: agent,
    headers: { authorization: 'Bearer bench', 'content-type': 'application/json', 'x-mock-output-tokens': String(TOKENS) },
    body: JSON.stringify({ prompt: `bench ${i}` }),
  });
  const body = (await r.body.json()) as { id?: string };
  if (r.statusCode !== 202 || body.id === undefined) throw new Error(`POST /v1/jobs: expected 202, got ${r.statusCode} ${JSON.stringify(body)}`);
  const ev = await request(`${base}/v1/jobs/${body.id}/events`, { dispatcher: agent, headers: { authorization: 'Bearer bench' } });
  let end: string | undefined;
  const parser = createParser({ onEvent: (e) => { if (e.event === 'end') end = e.data; } });
  for await (const chunk of ev.body) {
    parser.feed((chunk as Buffer).toString());
    if (end !== undefined) break;
  }
  if (end === undefined || !end.includes('"succeeded"')) throw new Error(`job ${body.id}: expected a succeeded end event, got ${end ?? 'none'}`);
}

/** Jobs/s of `jobs` jobs with `clients` closed-loop clients. */
async function throughput(base: string, jobs: number, clients: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < jobs; i = next++) await oneJob(base, i);
    }),
  );
  return jobs / ((performance.now() - t0) / 1000);
}

/** Median ms per job, one job at a time. */
async function serialLatency(base: string, jobs: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < jobs; i++) {
    const t0 = performance.now();
    await oneJob(base, i);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return ms[ms.length >> 1] as number;
}

interface Api {
  readonly url: string;
  close(): Promise<void>;
}

async function startApi(upstream: string, redisUrl?: string): Promise<Api> {
  const clock = new RealClock();
  const policy = resolvePolicy('resilient');
  const side: RedisApiSide | undefined = redisUrl === undefined ? undefined : await openRedisApi({ url: redisUrl, clock, attempts: policy.retry.maxAttempts });
  const primary = new HttpModelClient({ baseUrl: upstream, clock, connections: 512, dialect: 'mock' });
  const svc: ApiService = buildService({
    clock,
    random: new Random(`bench-${Date.now()}`),
    tenants: 'open',
    policy,
    upstream: { primary },
    sseKeepAliveMs: 0,
    ...(side !== undefined ? { store: side.store, queue: side.queue } : {}),
  });
  await svc.app.listen({ port: 0, host: '127.0.0.1' });
  const a = svc.app.server.address();
  return {
    url: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`,
    close: async () => {
      await svc.app.close();
      await side?.close();
      await primary.close();
    },
  };
}

export async function run(): Promise<{ results: Measurement[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const procs: ChildProcess[] = [];
  const apis: Api[] = [];
  const results: Measurement[] = [];
  try {
    const profile = join(dir, 'zero.json');
    writeFileSync(profile, JSON.stringify({ base: 'h100-llama3-8b', name: 'zero-latency', maxNumSeqs: 1024, step: { baseMs: 0, overheadMs: 0, perTokenMs: 0, attentionMsPerContextToken: 0 } }));
    const mockPort = await freePort();
    procs.push(await start(process.execPath, ['--import', 'tsx', 'sim/main.ts', '--port', String(mockPort), '--model', `primary=${profile}`], /sim: listening/));
    const mock = `http://127.0.0.1:${mockPort}`;
    const redisPort = await freePort();
    procs.push(await start(REDIS_SERVER, ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--loglevel', 'notice'], /Ready to accept connections/));
    const redisUrl = `redis://127.0.0.1:${redisPort}`;

    const memApi = await startApi(mock);
    apis.push(memApi);
    const memTput = await measure(`jobs/s, in-memory queue (API process runs the engine), ${CLIENTS} clients`, 'jobs/s', () => throughput(memApi.url, JOBS_PER_RUN, CLIENTS), { runs: RUNS });
    const memLat = await measure('per-job latency, one at a time, in-memory queue (POST to SSE end, median)', 'ms', () => serialLatency(memApi.url, SERIAL_JOBS), { runs: RUNS });
    await apis.pop()?.close();

    const redisApi = await startApi(mock, redisUrl);
    apis.push(redisApi);
    const workers: ChildProcess[] = [];
    const tput: Record<number, Measurement> = {};
    let redisLat: Measurement | undefined;
    for (const n of [1, 2, 4]) {
      while (workers.length < n) {
        const w = await start(process.execPath, ['--import', 'tsx', 'src/worker/main.ts', '--queue', redisUrl, '--upstream', mock, '--policy', 'resilient', '--upstream-dialect', 'mock', '--concurrency', '64'], /worker: ready/);
        workers.push(w);
        procs.push(w);
      }
      tput[n] = await measure(`jobs/s, Redis queue, ${n} worker process${n > 1 ? 'es' : ''}, ${CLIENTS} clients`, 'jobs/s', () => throughput(redisApi.url, JOBS_PER_RUN, CLIENTS), { runs: RUNS });
      if (n === 1) redisLat = await measure('per-job latency, one at a time, Redis queue, 1 worker (POST to SSE end, median)', 'ms', () => serialLatency(redisApi.url, SERIAL_JOBS), { runs: RUNS });
    }
    await apis.pop()?.close();

    const one = tput[1] as Measurement;
    results.push(memTput, one, tput[2] as Measurement, tput[4] as Measurement);
    results.push(
      { name: 'scaling: Redis jobs/s with 2 workers / with 1', unit: 'x', median: Number(((tput[2] as Measurement).median / one.median).toFixed(2)), samples: [] },
      { name: 'scaling: Redis jobs/s with 4 workers / with 1', unit: 'x', median: Number(((tput[4] as Measurement).median / one.median).toFixed(2)), samples: [] },
      { name: 'Redis queue (1 worker) jobs/s / in-memory jobs/s', unit: 'x', median: Number((one.median / memTput.median).toFixed(2)), samples: [] },
      memLat,
      redisLat as Measurement,
      { name: 'per-job latency Redis adds (serial medians, Redis 1 worker - in-memory)', unit: 'ms', median: Number(((redisLat as Measurement).median - memLat.median).toFixed(2)), samples: [] },
      {
        name: 'per-job time Redis adds at saturation (1000/(jobs/s), Redis 1 worker - in-memory)',
        unit: 'ms',
        median: Number((1000 / one.median - 1000 / memTput.median).toFixed(3)),
        samples: [],
      },
    );
    return { results };
  } finally {
    // Streams still open after a failure end with their server; the agent is destroyed, not drained.
    for (const a of apis) await a.close().catch(() => undefined);
    for (const p of procs.reverse()) await stop(p);
    await agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
