/**
 * The mock server's own capacity, so that it is never the bottleneck of a live run:
 *  - streamed tokens per second across 1,000 concurrent SSE streams, with the server's event-loop lag p99, and the
 *    token chunks (SSE events) per second that carried them: the server merges the tokens of a stream whose socket is
 *    backed up into one chunk (as vLLM merges a slow consumer's deltas), so tokens/s alone could flatter it;
 *  - fast-path 429 responses per second (a per-key RPM limit of 1: every request after the first is refused).
 * The server runs in this process (a MockModel with near-zero step time, so the GPU model costs nothing and the
 * transport is what is measured); the load comes from bench/sim-load-driver.ts in a separate process on
 * 127.0.0.1 (undici for streams, autocannon for 429s). Loops are bounded by request counts. Each figure is
 * paired with the same load against a bare node/fastify server in the same run (the floor on this machine).
 */
import { fork } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { MockModel } from '../sim/mock-model.js';
import { resolveProfile } from '../sim/profiles.js';
import { buildServer } from '../sim/server.js';
import { ChunkWriter } from '../sim/sse.js';
import { measurementOf, type Measurement } from './lib.js';
import type { AutocannonResult, DriverJob, DriverResult, StreamsResult } from './sim-load-driver.js';

const DRIVER = fileURLToPath(new URL('./sim-load-driver.ts', import.meta.url));
const STREAMS = 1000;
const TOKENS_PER_STREAM = 300;
const RUNS = 3;

/** The h100 profile with the step time set near zero and room for 1,000 sequences: the GPU is not the limit. */
const BENCH_PROFILE = resolveProfile({
  base: 'h100-llama3-8b',
  name: 'bench-near-zero',
  maxNumSeqs: 2048,
  maxBatchedTokens: 1 << 20,
  maxWaiting: 1 << 20,
  kvBlocks: 1 << 17,
  step: { baseMs: 0.01, overheadMs: 0, perTokenMs: 0, attentionMsPerContextToken: 0 },
});

function drive<R extends DriverResult>(job: DriverJob): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = fork(DRIVER, [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m) => resolve(m as R));
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`sim-load-driver exited with ${code}`));
    });
    child.send(job);
  });
}

async function stats(origin: string, reset: boolean): Promise<{ eventLoopDelay: { p99Ms: number; maxMs: number } }> {
  const r = await request(`${origin}/mock/stats${reset ? '?reset=1' : ''}`);
  return (await r.body.json()) as { eventLoopDelay: { p99Ms: number; maxMs: number } };
}

/**
 * The floor on this machine: a bare node:http SSE server (one timer writes one token chunk of our exact format to
 * every open stream each millisecond, then usage and [DONE]) and a bare fastify route that answers 429. Our
 * figures are read against these, measured in the same run, so the machine's speed and load cancel out.
 */
async function floorServers(): Promise<{ sseOrigin: string; app429: FastifyInstance; close(): Promise<void> }> {
  const streams = new Set<{ res: ServerResponse; left: number; sent: number; writer: ChunkWriter }>();
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      const n = Number(req.headers['x-mock-output-tokens'] ?? 1);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const writer = new ChunkWriter('chat', `chatcmpl-${String(req.headers['x-request-id'])}`, 'floor', 0);
      res.write(writer.role());
      streams.add({ res, left: n, sent: 0, writer });
    });
  });
  const tick = setInterval(() => {
    for (const s of streams) {
      s.res.write(s.writer.tokens(0, ' tok', s.sent++, 1));
      if (--s.left === 0) {
        streams.delete(s);
        s.res.end(s.writer.finish(0, 'length') + s.writer.usage(16, s.sent) + 'data: [DONE]\n\n');
      }
    }
  }, 1);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  const app429 = Fastify();
  app429.post('/v1/chat/completions', (_req, reply) =>
    reply
      .code(429)
      .headers({ 'retry-after': '60', 'retry-after-ms': '60000', 'x-ratelimit-limit-requests': '1', 'x-ratelimit-remaining-requests': '0' })
      .send({ error: { message: 'rate limited (429)', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } }),
  );
  await app429.listen({ port: 0, host: '127.0.0.1' });
  return {
    sseOrigin: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`,
    app429,
    close: async () => {
      clearInterval(tick);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app429.close();
    },
  };
}

function originOf(app: FastifyInstance): string {
  const a = app.server.address();
  return `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
}

/**
 * One streams run against `origin`: tokens/s, chunks/s (SSE token events: more tokens than chunks would mean the
 * server merged tokens, as it does for a reader whose socket is backed up), server CPU µs per token (this process is
 * the server) and the driver's CPU share.
 */
async function streamsRun(origin: string, model: string): Promise<{ tps: number; cps: number; usPerToken: number; driverCpu: number }> {
  const cpu0 = process.cpuUsage();
  const r = await drive<StreamsResult>({ kind: 'streams', origin, model, streams: STREAMS, tokensPerStream: TOKENS_PER_STREAM });
  const cpu = process.cpuUsage(cpu0);
  if (r.failed > 0 || r.tokens !== STREAMS * TOKENS_PER_STREAM || r.usageTokens !== r.tokens) {
    throw new Error(`stream run against ${model} broken: ${JSON.stringify({ ...r, expected: STREAMS * TOKENS_PER_STREAM })}`);
  }
  const sec = r.elapsedMs / 1000;
  return { tps: r.tokens / sec, cps: r.chunks / sec, usPerToken: (cpu.user + cpu.system) / r.tokens, driverCpu: r.driverCpuMs / r.elapsedMs };
}

async function run429(url: string, model: string, key: string): Promise<{ rps: number; usPerResponse: number; driverCpu: number }> {
  const cpu0 = process.cpuUsage();
  const r = await drive<AutocannonResult>({
    kind: 'autocannon',
    url,
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-mock-output-tokens': '1' },
    connections: 64,
    amount: 60_000,
  });
  const cpu = process.cpuUsage(cpu0);
  const refused = r.statusCounts['429'] ?? 0;
  if (refused < r.responses - 1 || r.errors > 0) throw new Error(`429 run against ${model} broken: ${JSON.stringify(r)}`);
  // CPU includes the idle driver start-up, so this is an upper bound of the cost per response.
  return { rps: refused / r.durationSec, usPerResponse: (cpu.user + cpu.system) / r.responses, driverCpu: r.driverCpuMs / (r.durationSec * 1000) };
}

export async function run(): Promise<{ results: Measurement[] }> {
  const clock = new RealClock();
  const root = new Random(1);
  const streaming = new MockModel({ name: 'bench', profile: BENCH_PROFILE, clock, random: root.derive('bench') });
  const limited = new MockModel({ name: 'limited', profile: BENCH_PROFILE, clock, random: root.derive('limited'), rateLimits: { rpm: 1 } });
  const app = buildServer({ models: [streaming, limited], clock });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const origin = originOf(app);
  const floor = await floorServers();
  try {
    const ours = { tps: [] as number[], cps: [] as number[], lag: [] as number[], us: [] as number[], driver: [] as number[] };
    const base = { tps: [] as number[], cps: [] as number[], us: [] as number[], driver: [] as number[] };
    for (let i = 0; i <= RUNS; i++) {
      await stats(origin, true);
      const o = await streamsRun(origin, 'bench');
      const s = await stats(origin, false);
      const f = await streamsRun(floor.sseOrigin, 'floor');
      if (i === 0) continue; // warm-up
      ours.tps.push(o.tps);
      ours.cps.push(o.cps);
      ours.lag.push(s.eventLoopDelay.p99Ms);
      ours.us.push(o.usPerToken);
      ours.driver.push(o.driverCpu * 100);
      base.tps.push(f.tps);
      base.cps.push(f.cps);
      base.us.push(f.usPerToken);
      base.driver.push(f.driverCpu * 100);
      process.stderr.write(
        `  streams run ${i}: ours ${Math.round(o.tps)} tokens/s in ${Math.round(o.cps)} chunks/s (${o.usPerToken.toFixed(1)} µs cpu/token, lag p99 ${s.eventLoopDelay.p99Ms} ms, driver cpu ${Math.round(o.driverCpu * 100)}%) | ` +
          `bare node SSE ${Math.round(f.tps)} tokens/s in ${Math.round(f.cps)} chunks/s (${f.usPerToken.toFixed(1)} µs cpu/token, driver cpu ${Math.round(f.driverCpu * 100)}%)\n`,
      );
    }
    const ours429 = { rps: [] as number[], us: [] as number[] };
    const base429 = { rps: [] as number[], us: [] as number[] };
    for (let i = 0; i <= RUNS; i++) {
      const o = await run429(`${origin}/v1/chat/completions`, 'limited', `bench-key-${i}`);
      const f = await run429(`${originOf(floor.app429)}/v1/chat/completions`, 'floor', 'x');
      if (i === 0) continue;
      ours429.rps.push(o.rps);
      ours429.us.push(o.usPerResponse);
      base429.rps.push(f.rps);
      base429.us.push(f.usPerResponse);
      process.stderr.write(
        `  429 run ${i}: ours ${Math.round(o.rps)}/s (${o.usPerResponse.toFixed(1)} µs cpu/response, autocannon cpu ${Math.round(o.driverCpu * 100)}%) | ` +
          `bare fastify 429 ${Math.round(f.rps)}/s (${f.usPerResponse.toFixed(1)} µs, autocannon cpu ${Math.round(f.driverCpu * 100)}%)\n`,
      );
    }
    const ratio = (a: number[], b: number[]): number[] => a.map((x, i) => x / (b[i] as number));
    return {
      results: [
        measurementOf(`streamed tokens, ${STREAMS} concurrent SSE streams × ${TOKENS_PER_STREAM} tokens`, 'tokens/s', ours.tps, '>= 100,000 tokens/s'),
        measurementOf('streamed token chunks (SSE events), same runs: tokens/s ÷ this = tokens per chunk', 'chunks/s', ours.cps, 'reference (1 token per chunk unless a reader falls behind)'),
        measurementOf('server event-loop lag p99 during those streams', 'ms', ours.lag, '< 50 ms'),
        measurementOf('server CPU per streamed token', 'µs', ours.us, '<= 10 µs (100,000 tokens/s on one core)'),
        measurementOf('floor: bare node:http SSE server, same load and chunk format', 'tokens/s', base.tps, 'reference'),
        measurementOf('floor: bare node:http SSE server, token chunks', 'chunks/s', base.cps, 'reference'),
        measurementOf('floor: bare node:http SSE server CPU per token', 'µs', base.us, 'reference'),
        measurementOf('load driver CPU during our streams (a ceiling near 100%)', '% of a core', ours.driver, 'reference'),
        measurementOf('load driver CPU during the floor streams', '% of a core', base.driver, 'reference'),
        measurementOf('streamed tokens/s, ours ÷ bare node SSE (same run)', 'ratio', ratio(ours.tps, base.tps), 'near 1'),
        measurementOf('fast-path 429 responses (per-key RPM limit of 1), autocannon, 64 connections', 'responses/s', ours429.rps, '>= 20,000/s'),
        measurementOf('server CPU per 429 response', 'µs', ours429.us, '<= 50 µs (20,000/s on one core)'),
        measurementOf('floor: bare fastify route answering 429', 'responses/s', base429.rps, 'reference'),
        measurementOf('floor: bare fastify 429 CPU per response', 'µs', base429.us, 'reference'),
        measurementOf('429 responses/s, ours ÷ bare fastify (same run)', 'ratio', ratio(ours429.rps, base429.rps), 'near 1'),
      ],
    };
  } finally {
    await floor.close();
    await app.close();
    streaming.close();
    limited.close();
  }
}
