/**
 * Live, on loopback, with real processes (`npm run bench -- live`):
 *  1. The engine service's overhead at 1,000 concurrent streams: the mock (`sim/main.ts`, h100 step times with
 *     room for 1,024 running sequences, bench/live-profile.json) and the engine (`src/api/main.ts --policy
 *     resilient`, concurrency limit 1,024 so it queues nothing the GPU could run) each in their own process; a
 *     driver process (bench/live-driver.ts, the harness's HttpDriver) sends 1,000 streaming chats of 64 tokens,
 *     all due at once, straight to the mock and through the engine in interleaved rounds. The simulated GPU's own
 *     batching is identical in both arms, so the engine/direct ratio at p99 is what the engine adds. The same again
 *     at 256 streams, the engine's upstream connection pool (see POOL_STREAMS): beyond it, streams wait for a socket.
 *  2. Our closed-loop undici driver vs autocannon (harness/run/drivers/autocannon.ts), same endpoint (non-streaming
 *     chat to the mock, a near-zero step time, 4 output tokens), same connections, 5 s each.
 * Every process started here is stopped by PID (its process group) in a finally block.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ENGINE_ENTRY, MOCK_ENTRY, REPO_ROOT } from '../harness/run/live.js';
import { ProcessGroup, freePort } from '../harness/run/processes.js';
import { RealClock } from '../src/time/real-clock.js';
import { median, type Measurement } from './lib.js';
import type { ClosedLoopJob, ClosedLoopResult, LiveDriverJob, LiveDriverResult, StreamsResult } from './live-driver.js';

const DRIVER = fileURLToPath(new URL('./live-driver.ts', import.meta.url));
const PROFILE = fileURLToPath(new URL('./live-profile.json', import.meta.url));
const FAST_PROFILE = fileURLToPath(new URL('./live-fast-profile.json', import.meta.url));
const STREAMS = 1000;
const OUTPUT_TOKENS = 64;
const ROUNDS = 3;
/**
 * A second, smaller arm: the engine's cost when its upstream pool is not the question (256 is the default pool size
 * of `serve --upstream-connections`; the 1,000-stream arm sets it to 1,024).
 */
const POOL_STREAMS = 256;
const CONNECTIONS = 64;
const DURATION_MS = 5000;
const FAST_OUTPUT_TOKENS = 4;
/** A driver job that has not finished after this long is killed and the bench fails. */
const DRIVER_TIMEOUT_MS = 120_000;

const drivers = new Set<ChildProcess>();

/** Runs one job in a fresh driver process and returns the JSON line it prints. */
function drive<R extends LiveDriverResult>(job: LiveDriverJob): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', DRIVER, JSON.stringify(job)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    drivers.add(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, DRIVER_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      drivers.delete(child);
      if (code === 0) {
        try {
          resolve(JSON.parse(out.trim()) as R);
          return;
        } catch {
          // fall through
        }
      }
      reject(new Error(`live-driver ${job.kind} ended with ${signal ?? code}: ${err.slice(-1000)}${out.slice(-300)}`));
    });
  });
}

function m(name: string, unit: string, samples: number[], goal: string): Measurement {
  const r = (x: number): number => Number(x.toFixed(x < 10 ? 3 : 1));
  return { name, unit, median: r(median(samples)), samples: samples.map(r), goal };
}

function checkStreams(arm: string, n: number, r: StreamsResult): void {
  if (r.notOk > 0) throw new Error(`${arm}: ${r.notOk} of ${n} streams did not finish ok with ${OUTPUT_TOKENS} tokens: ${JSON.stringify(r.causes)}`);
}

function checkLoop(r: ClosedLoopResult): void {
  if (r.ok !== r.responses || r.errors > 0 || r.responses === 0) throw new Error(`${r.kind} run broken: ${JSON.stringify(r)}`);
}

interface StreamRounds {
  readonly direct: StreamsResult[];
  readonly through: StreamsResult[];
}

/** A warm-up of each arm, then ROUNDS interleaved rounds (direct, engine) of `n` concurrent streams. */
async function streamRounds(mockUrl: string, engineUrl: string, n: number): Promise<StreamRounds> {
  const streams = (baseUrl: string, tag: string): Promise<StreamsResult> =>
    drive<StreamsResult>({ kind: 'streams', baseUrl, model: 'primary', streams: n, outputTokens: OUTPUT_TOKENS, tag: `${n}-${tag}` });
  checkStreams('warm-up direct', n, await streams(mockUrl, 'warm-direct'));
  checkStreams('warm-up engine', n, await streams(engineUrl, 'warm-engine'));
  const direct: StreamsResult[] = [];
  const through: StreamsResult[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const d = await streams(mockUrl, `direct-${i}`);
    checkStreams('direct', n, d);
    const e = await streams(engineUrl, `engine-${i}`);
    checkStreams('engine', n, e);
    direct.push(d);
    through.push(e);
    process.stderr.write(
      `  ${n} streams, round ${i + 1}: direct TTFT p50/p99 ${d.ttftMs.p50}/${d.ttftMs.p99} ms, E2E ${d.e2eMs.p50}/${d.e2eMs.p99} ms (driver cpu ${Math.round((100 * d.driverCpuMs) / d.elapsedMs)}%) | ` +
        `engine TTFT ${e.ttftMs.p50}/${e.ttftMs.p99} ms, E2E ${e.e2eMs.p50}/${e.e2eMs.p99} ms (driver cpu ${Math.round((100 * e.driverCpuMs) / e.elapsedMs)}%)\n`,
    );
  }
  return { direct, through };
}

function streamResults({ direct, through }: StreamRounds, n: number): Measurement[] {
  const ratio = (a: number[], b: number[]): number[] => a.map((x, i) => x / (b[i] as number));
  const at = (rs: StreamsResult[], f: (r: StreamsResult) => number): number[] => rs.map(f);
  const label = `${n} concurrent streams × ${OUTPUT_TOKENS} tokens`;
  return [
    m(`direct to mock, ${label}: TTFT p50`, 'ms', at(direct, (r) => r.ttftMs.p50), 'reference'),
    m(`direct to mock, ${label}: TTFT p99`, 'ms', at(direct, (r) => r.ttftMs.p99), 'reference'),
    m(`direct to mock, ${label}: E2E p50`, 'ms', at(direct, (r) => r.e2eMs.p50), 'reference'),
    m(`direct to mock, ${label}: E2E p99`, 'ms', at(direct, (r) => r.e2eMs.p99), 'reference'),
    m(`through engine (resilient), ${label}: TTFT p50`, 'ms', at(through, (r) => r.ttftMs.p50), 'reference'),
    m(`through engine (resilient), ${label}: TTFT p99`, 'ms', at(through, (r) => r.ttftMs.p99), 'reference'),
    m(`through engine (resilient), ${label}: E2E p50`, 'ms', at(through, (r) => r.e2eMs.p50), 'reference'),
    m(`through engine (resilient), ${label}: E2E p99`, 'ms', at(through, (r) => r.e2eMs.p99), 'reference'),
    m(`${label}: TTFT p99, engine ÷ direct (same round)`, 'ratio', ratio(at(through, (r) => r.ttftMs.p99), at(direct, (r) => r.ttftMs.p99)), '<= 1.10'),
    m(`${label}: E2E p99, engine ÷ direct (same round)`, 'ratio', ratio(at(through, (r) => r.e2eMs.p99), at(direct, (r) => r.e2eMs.p99)), '<= 1.10'),
  ];
}

export async function run(): Promise<{ results: Measurement[] }> {
  const clock = new RealClock();
  const group = new ProcessGroup(clock);
  const uninstall = group.installExitHandlers();
  try {
    const mockPort = await freePort();
    const mock = await group.start({
      name: 'mock',
      entry: MOCK_ENTRY,
      args: ['--port', String(mockPort), '--model', `primary=${PROFILE}`, '--model', `fast=${FAST_PROFILE}`, '--seed', '1'],
      port: mockPort,
      readyPath: '/health',
      cwd: REPO_ROOT,
    });
    const enginePort = await freePort();
    const engine = await group.start({
      name: 'engine[resilient]',
      entry: ENGINE_ENTRY,
      args: [
        '--port', String(enginePort),
        '--upstream', mock.url,
        '--policy', 'resilient',
        '--policy-overrides', JSON.stringify({ concurrency: { limit: 1024 }, queue: { capacity: 4096 } }),
        '--upstream-connections', '1024',
        '--open',
        '--exporter', 'none',
        '--seed', '1',
      ],
      port: enginePort,
      readyPath: '/healthz',
      cwd: REPO_ROOT,
    });

    // 1. Engine overhead at 1,000 concurrent streams, and at 256 (the engine's upstream connection pool, see the top).
    const big = await streamRounds(mock.url, engine.url, STREAMS);
    const small = await streamRounds(mock.url, engine.url, POOL_STREAMS);

    // 2. Our driver vs autocannon, same endpoint, connections and request count.
    const loop = (kind: ClosedLoopJob['kind']): Promise<ClosedLoopResult> =>
      drive<ClosedLoopResult>({ kind, baseUrl: mock.url, model: 'fast', connections: CONNECTIONS, durationMs: DURATION_MS, outputTokens: FAST_OUTPUT_TOKENS });
    checkLoop(await loop('undici'));
    checkLoop(await loop('autocannon'));
    const ours: ClosedLoopResult[] = [];
    const cannon: ClosedLoopResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const order: Array<ClosedLoopJob['kind']> = i % 2 === 0 ? ['undici', 'autocannon'] : ['autocannon', 'undici'];
      for (const kind of order) {
        const r = await loop(kind);
        checkLoop(r);
        (kind === 'undici' ? ours : cannon).push(r);
      }
      const o = ours[i] as ClosedLoopResult;
      const c = cannon[i] as ClosedLoopResult;
      process.stderr.write(
        `  driver round ${i + 1}: ours ${o.requestsPerSec} req/s (p50/p99 ${o.latencyMs.p50}/${o.latencyMs.p99} ms) | autocannon ${c.requestsPerSec} req/s (p50/p99 ${c.latencyMs.p50}/${c.latencyMs.p99} ms)\n`,
      );
    }

    const ratio = (a: number[], b: number[]): number[] => a.map((x, i) => x / (b[i] as number));
    return {
      results: [
        ...streamResults(big, STREAMS),
        ...streamResults(small, POOL_STREAMS),
        m(`our undici closed loop, ${CONNECTIONS} connections, ${DURATION_MS / 1000} s of non-streaming chats (${FAST_OUTPUT_TOKENS} tokens) to the mock`, 'requests/s', ours.map((r) => r.requestsPerSec), 'reference'),
        m(`autocannon, same endpoint, connections and duration`, 'requests/s', cannon.map((r) => r.requestsPerSec), 'reference'),
        m(
          'requests/s, ours ÷ autocannon (same round; in live runs our HttpDriver counts latency from the intended start, corrected for coordinated omission, autocannon from the send)',
          'ratio',
          ratio(ours.map((r) => r.requestsPerSec), cannon.map((r) => r.requestsPerSec)),
          '>= 0.8',
        ),
      ],
    };
  } finally {
    for (const d of drivers) if (d.pid !== undefined && d.exitCode === null) process.kill(d.pid, 'SIGKILL');
    await group.stopAll();
    uninstall();
  }
}
