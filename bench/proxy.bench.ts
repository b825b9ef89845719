/**
 * The chaos proxy's relay overhead: 1,000 concurrent SSE streams × 300 tokens from the mock server (in this process,
 * near-zero step time, so the upstream is cheap), once straight to it and once through the proxy (unfaulted: the
 * byte-for-byte relay path), in the same run, alternating. Reported: tokens/s both ways and their ratio, the proxy's
 * CPU per relayed token, and its memory (peak resident set, and heap after the streams). The proxy runs in its own
 * process (bench/proxy-child.ts); the load comes from bench/sim-load-driver.ts in another.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { MockModel } from '../sim/mock-model.js';
import { resolveProfile } from '../sim/profiles.js';
import { buildServer } from '../sim/server.js';
import { measurementOf, type Measurement } from './lib.js';
import type { DriverJob, StreamsResult } from './sim-load-driver.js';

const DRIVER = fileURLToPath(new URL('./sim-load-driver.ts', import.meta.url));
const CHILD = fileURLToPath(new URL('./proxy-child.ts', import.meta.url));
const STREAMS = 1000;
const TOKENS_PER_STREAM = 300;
const RUNS = 2;

const BENCH_PROFILE = resolveProfile({
  base: 'h100-llama3-8b',
  name: 'bench-near-zero',
  maxNumSeqs: 2048,
  maxBatchedTokens: 1 << 20,
  maxWaiting: 1 << 20,
  kvBlocks: 1 << 17,
  step: { baseMs: 0.01, overheadMs: 0, perTokenMs: 0, attentionMsPerContextToken: 0 },
});

interface ChildStats {
  readonly cpuUs: number;
  readonly rssBytes: number;
  readonly maxRssBytes: number;
  readonly heapUsedBytes: number;
}

function drive(job: DriverJob): Promise<StreamsResult> {
  return new Promise((resolve, reject) => {
    const child = fork(DRIVER, [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let got = false;
    child.once('message', (m) => {
      got = true;
      resolve(m as StreamsResult);
    });
    child.once('exit', (code, signal) => {
      if (!got) reject(new Error(`sim-load-driver exited (${signal ?? code}) without a result`));
    });
    child.send(job);
  });
}

function ask<T>(child: ChildProcess, msg: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null): void => reject(new Error(`the proxy process exited (${signal ?? code})`));
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      resolve(m as T);
    });
    child.send(msg);
  });
}

/**
 * One streams run. A few streams may fail on a machine under heavy load (a connection reset); they are counted and
 * reported, their tokens left out of tokens/s. More than 5% failed is a broken run.
 */
async function streams(origin: string, what: string): Promise<{ tps: number; r: StreamsResult }> {
  const r = await drive({ kind: 'streams', origin, model: 'bench', streams: STREAMS, tokensPerStream: TOKENS_PER_STREAM });
  if (r.failed > STREAMS * 0.05 || r.tokens < r.completed * TOKENS_PER_STREAM) throw new Error(`streams ${what} (${origin}) broken: ${JSON.stringify(r)}`);
  if (r.failed > 0) process.stderr.write(`  note: ${r.failed} of ${STREAMS} streams ${what} failed (${r.firstErrors.slice(0, 2).join(', ')})\n`);
  return { tps: r.tokens / (r.elapsedMs / 1000), r };
}

export async function run(): Promise<{ results: Measurement[] }> {
  const clock = new RealClock();
  const model = new MockModel({ name: 'bench', profile: BENCH_PROFILE, clock, random: new Random(1).derive('bench') });
  const app = buildServer({ models: [model], clock });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const a = app.server.address();
  const upstream = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
  const child = fork(CHILD, [upstream], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { url } = await new Promise<{ url: string }>((resolve) => child.once('message', (m) => resolve(m as { url: string })));
  try {
    const direct: number[] = [];
    const relayed: number[] = [];
    const usPerToken: number[] = [];
    const peakRssMb: number[] = [];
    const heapMb: number[] = [];
    const failed: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      const d = await streams(upstream, 'direct');
      const before = await ask<ChildStats>(child, 'stats');
      const p = await streams(url, 'through the proxy');
      const after = await ask<ChildStats>(child, 'stats');
      const us = (after.cpuUs - before.cpuUs) / p.r.tokens;
      process.stderr.write(
        `  run ${i}${i === 0 ? ' (warm-up)' : ''}: direct ${Math.round(d.tps)} tokens/s | through the proxy ${Math.round(p.tps)} tokens/s (ratio ${(p.tps / d.tps).toFixed(3)}); ` +
          `proxy ${us.toFixed(2)} µs cpu/token, peak rss ${(after.maxRssBytes / 1048576).toFixed(0)} MiB, heap ${(after.heapUsedBytes / 1048576).toFixed(0)} MiB\n`,
      );
      if (i === 0) continue;
      direct.push(d.tps);
      relayed.push(p.tps);
      usPerToken.push(us);
      peakRssMb.push(after.maxRssBytes / 1048576);
      heapMb.push(after.heapUsedBytes / 1048576);
      failed.push(d.r.failed + p.r.failed);
    }
    return {
      results: [
        measurementOf(`direct to the mock: ${STREAMS} concurrent SSE streams × ${TOKENS_PER_STREAM} tokens`, 'tokens/s', direct, 'reference'),
        measurementOf('through the chaos proxy (unfaulted relay), same load, same run', 'tokens/s', relayed, 'reference'),
        measurementOf('tokens/s through the proxy ÷ direct (same run)', 'ratio', relayed.map((x, i) => x / (direct[i] as number)), '>= 0.5'),
        measurementOf('proxy CPU per relayed token', 'µs', usPerToken, '<= 10 µs'),
        measurementOf(`proxy peak resident memory with ${STREAMS} relayed streams`, 'MiB', peakRssMb, 'reference'),
        measurementOf('proxy heap after the streams', 'MiB', heapMb, 'reference'),
        measurementOf('streams that failed (direct + through the proxy), per run', 'streams', failed, '0'),
      ],
    };
  } finally {
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.send('close');
    });
    await app.close();
    model.close();
  }
}
