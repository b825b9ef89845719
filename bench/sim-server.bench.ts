/**
 * The mock server's own capacity, so that it is never the bottleneck of a live run:
 *  - streamed tokens per second across 1,000 concurrent SSE streams, with the server's event-loop lag p99;
 *  - fast-path 429 responses per second (a per-key RPM limit of 1: every request after the first is refused).
 * The server runs in this process (a MockModel with near-zero step time, so the GPU model costs nothing and the
 * transport is what is measured); the load comes from bench/sim-load-driver.ts in a separate process on
 * 127.0.0.1 (undici for streams, autocannon for 429s). Loops are bounded by request counts.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { MockModel } from '../sim/mock-model.js';
import { resolveProfile } from '../sim/profiles.js';
import { buildServer } from '../sim/server.js';
import { median, type Measurement } from './lib.js';
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

function measurement(name: string, unit: string, samples: number[], goal: string): Measurement {
  return { name, unit, median: Number(median(samples).toFixed(1)), samples: samples.map((s) => Number(s.toFixed(1))), goal };
}

export async function run(): Promise<{ results: Measurement[] }> {
  const clock = new RealClock();
  const root = new Random(1);
  const streaming = new MockModel({ name: 'bench', profile: BENCH_PROFILE, clock, random: root.derive('bench') });
  const limited = new MockModel({ name: 'limited', profile: BENCH_PROFILE, clock, random: root.derive('limited'), rateLimits: { rpm: 1 } });
  const app = buildServer({ models: [streaming, limited], clock });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const a = app.server.address();
  const origin = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
  try {
    const tps: number[] = [];
    const lag: number[] = [];
    const usPerToken: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      await stats(origin, true);
      const cpu0 = process.cpuUsage();
      const r = await drive<StreamsResult>({ kind: 'streams', origin, model: 'bench', streams: STREAMS, tokensPerStream: TOKENS_PER_STREAM });
      const cpu = process.cpuUsage(cpu0);
      const s = await stats(origin, false);
      if (r.failed > 0 || r.tokens !== STREAMS * TOKENS_PER_STREAM || r.usageTokens !== r.tokens) {
        throw new Error(`stream run broken: ${JSON.stringify({ ...r, expected: STREAMS * TOKENS_PER_STREAM })}`);
      }
      if (i === 0) continue; // warm-up
      tps.push(r.tokens / (r.elapsedMs / 1000));
      lag.push(s.eventLoopDelay.p99Ms);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      usPerToken.push((cpuMs * 1000) / r.tokens);
      process.stderr.write(
        `  streams run ${i}: ${Math.round(tps.at(-1) ?? 0)} tokens/s, lag p99 ${s.eventLoopDelay.p99Ms} ms, ` +
          `server cpu ${Math.round((cpuMs / r.elapsedMs) * 100)}% (${(usPerToken.at(-1) ?? 0).toFixed(1)} µs/token), driver cpu ${Math.round((r.driverCpuMs / r.elapsedMs) * 100)}%\n`,
      );
    }
    const rps: number[] = [];
    const usPer429: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      const cpu0 = process.cpuUsage();
      const r = await drive<AutocannonResult>({
        kind: 'autocannon',
        url: `${origin}/v1/chat/completions`,
        body: JSON.stringify({ model: 'limited', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 }),
        headers: { 'content-type': 'application/json', authorization: `Bearer bench-key-${i}`, 'x-mock-output-tokens': '1' },
        connections: 64,
        amount: 60_000,
      });
      const refused = r.statusCounts['429'] ?? 0;
      if (refused < r.responses - 1 || r.errors > 0) throw new Error(`429 run broken: ${JSON.stringify(r)}`);
      const cpu = process.cpuUsage(cpu0);
      if (i === 0) continue;
      rps.push(refused / r.durationSec);
      // Includes the driver's start-up time, when the server is idle: an upper bound of the cost per response.
      usPer429.push((cpu.user + cpu.system) / r.responses);
      process.stderr.write(`  429 run ${i}: ${Math.round(rps.at(-1) ?? 0)} responses/s (p99 ${r.latencyP99Ms} ms, server ${(usPer429.at(-1) ?? 0).toFixed(1)} µs cpu/response)\n`);
    }
    return {
      results: [
        measurement(`streamed tokens, ${STREAMS} concurrent SSE streams × ${TOKENS_PER_STREAM} tokens`, 'tokens/s', tps, '>= 100,000 tokens/s'),
        measurement('server event-loop lag p99 during those streams', 'ms', lag, '< 50 ms'),
        measurement('server CPU per streamed token (contention-independent cost)', 'µs', usPerToken, '<= 10 µs (100,000 tokens/s on one core)'),
        measurement('fast-path 429 responses (per-key RPM limit of 1), autocannon, 64 connections', 'responses/s', rps, '>= 20,000/s'),
        measurement('server CPU per 429 response', 'µs', usPer429, '<= 50 µs (20,000/s on one core)'),
      ],
    };
  } finally {
    await app.close();
    streaming.close();
    limited.close();
  }
}
