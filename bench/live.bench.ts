/**
 * Live, on loopback, with real processes (`npm run bench -- live`):
 *  1. The engine service's overhead at 1,000 concurrent streams: the mock (`sim/main.ts`, h100 step times with
 *     room for 1,024 running sequences, bench/live-profile.json) and the engine (`src/api/main.ts --policy
 *     resilient`, concurrency limit 1,024 so it queues nothing the GPU could run) each in their own process; a
 *     driver process (bench/live-driver.ts, the harness's HttpDriver) sends 1,000 streaming chats of 64 tokens,
 *     all due at once, straight to the mock and through the engine in interleaved rounds. The simulated GPU's own
 *     batching is identical in both arms, so the engine/direct ratio at p99 is what the engine adds. The same again
 *     at 256 streams, the engine's upstream connection pool (see POOL_STREAMS): beyond it, streams wait for a socket.
 *     The engine keeps idle upstream connections for 60 s (`--upstream-keep-alive-ms`; the mock is a fastify server,
 *     whose own idle timeout is 72 s), as a gateway in steady service would: otherwise every engine round would
 *     open its 1,000 upstream connections again after the direct round's lull.
 *     The engine's CPU (from /proc, Linux) is split into a per-request part and a per-token part by also running
 *     1,000 streams of 4 tokens through it: CPU(64-token round) − CPU(4-token round) = 60 tokens × streams.
 *  2. Our closed-loop undici driver vs autocannon (harness/run/drivers/autocannon.ts), same endpoint (non-streaming
 *     chat to the mock, a near-zero step time, 4 output tokens), same connections, 5 s each.
 * Every process started here is stopped by PID (its process group) in a finally block.
 *
 * `LIVE_BENCH_CPU_PROF=DIR` writes a V8 CPU profile of the engine and of the mock into DIR when they stop
 * (`engine-PID.cpuprofile`, `mock-PID.cpuprofile`; open them in Chrome DevTools or speedscope). Node 20 refuses
 * `--cpu-prof` in NODE_OPTIONS, so the children preload a data: module that runs the inspector's profiler.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
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
/** The short streams that isolate the engine's per-request CPU (see the top). */
const SHORT_OUTPUT_TOKENS = 4;
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

/** NODE_OPTIONS that make a child write a CPU profile into `dir` when it exits (see the top), if asked for. */
function profileEnv(name: string): Record<string, string> {
  const dir = process.env['LIVE_BENCH_CPU_PROF'];
  if (dir === undefined || dir === '') return {};
  const file = JSON.stringify(`${resolve(dir)}/${name}-`);
  const code =
    "import{Session}from'node:inspector';import{writeFileSync}from'node:fs';const s=new Session();s.connect();" +
    "s.post('Profiler.enable');s.post('Profiler.start');process.on('exit',()=>{s.post('Profiler.stop',(e,r)=>{" +
    `if(!e)writeFileSync(${file}+process.pid+'.cpuprofile',JSON.stringify(r.profile))})});`;
  return { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=data:text/javascript,${encodeURIComponent(code)}`.trim() };
}

/** CPU time (user + system) a process has used, in ms, from /proc; undefined where there is no /proc. */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, fields 14 and 15 of proc(5), in clock ticks (USER_HZ, 100 on Linux).
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

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

function checkStreamsOf(arm: string, n: number, tokens: number, r: StreamsResult): void {
  if (r.notOk > 0) throw new Error(`${arm}: ${r.notOk} of ${n} streams did not finish ok with ${tokens} tokens: ${JSON.stringify(r.causes)}`);
}

function checkStreams(arm: string, n: number, r: StreamsResult): void {
  checkStreamsOf(arm, n, OUTPUT_TOKENS, r);
}

function checkLoop(r: ClosedLoopResult): void {
  if (r.ok !== r.responses || r.errors > 0 || r.responses === 0) throw new Error(`${r.kind} run broken: ${JSON.stringify(r)}`);
}

interface StreamRounds {
  readonly direct: StreamsResult[];
  readonly through: StreamsResult[];
  /** The engine process's CPU in each engine round, ms (empty without /proc). */
  readonly engineCpuMs: number[];
}

interface Servers {
  readonly mockUrl: string;
  readonly engineUrl: string;
  readonly enginePid: number | undefined;
}

/** The engine's CPU over one driver job (undefined without /proc). */
async function withCpu<R>(pid: number | undefined, job: () => Promise<R>): Promise<{ r: R; cpuMs: number | undefined }> {
  const before = cpuMs(pid);
  const r = await job();
  const after = cpuMs(pid);
  return { r, cpuMs: before === undefined || after === undefined ? undefined : after - before };
}

function streamsJob(baseUrl: string, n: number, outputTokens: number, tag: string): Promise<StreamsResult> {
  return drive<StreamsResult>({ kind: 'streams', baseUrl, model: 'primary', streams: n, outputTokens, tag: `${n}-${tag}` });
}

/** A warm-up of each arm, then ROUNDS interleaved rounds (direct, engine) of `n` concurrent streams. */
async function streamRounds(s: Servers, n: number): Promise<StreamRounds> {
  const streams = (baseUrl: string, tag: string): Promise<StreamsResult> => streamsJob(baseUrl, n, OUTPUT_TOKENS, tag);
  checkStreams('warm-up direct', n, await streams(s.mockUrl, 'warm-direct'));
  checkStreams('warm-up engine', n, await streams(s.engineUrl, 'warm-engine'));
  const direct: StreamsResult[] = [];
  const through: StreamsResult[] = [];
  const engineCpuMs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const d = await streams(s.mockUrl, `direct-${i}`);
    checkStreams('direct', n, d);
    const { r: e, cpuMs: cpu } = await withCpu(s.enginePid, () => streams(s.engineUrl, `engine-${i}`));
    checkStreams('engine', n, e);
    direct.push(d);
    through.push(e);
    if (cpu !== undefined) engineCpuMs.push(cpu);
    process.stderr.write(
      `  ${n} streams, round ${i + 1}: direct TTFT p50/p99 ${d.ttftMs.p50}/${d.ttftMs.p99} ms, E2E ${d.e2eMs.p50}/${d.e2eMs.p99} ms (driver cpu ${Math.round((100 * d.driverCpuMs) / d.elapsedMs)}%) | ` +
        `engine TTFT ${e.ttftMs.p50}/${e.ttftMs.p99} ms, E2E ${e.e2eMs.p50}/${e.e2eMs.p99} ms (driver cpu ${Math.round((100 * e.driverCpuMs) / e.elapsedMs)}%` +
        `${cpu !== undefined ? `, engine cpu ${Math.round(cpu)} ms` : ''})\n`,
    );
  }
  return { direct, through, engineCpuMs };
}

/**
 * The engine's CPU per request and per token: ROUNDS rounds of STREAMS short streams through the engine, each
 * against the matching 64-token round's CPU (both are STREAMS requests; they differ by 60 tokens a stream).
 */
async function engineCpuSplit(s: Servers, long: StreamRounds): Promise<Measurement[]> {
  if (long.engineCpuMs.length !== ROUNDS) return [];
  const perRequestUs: number[] = [];
  const perTokenUs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const { r, cpuMs: short } = await withCpu(s.enginePid, () => streamsJob(s.engineUrl, STREAMS, SHORT_OUTPUT_TOKENS, `short-${i}`));
    checkStreamsOf('engine, short streams', STREAMS, SHORT_OUTPUT_TOKENS, r);
    if (short === undefined) return [];
    const tokenUs = ((long.engineCpuMs[i] as number) - short) * 1000 / (STREAMS * (OUTPUT_TOKENS - SHORT_OUTPUT_TOKENS));
    perTokenUs.push(tokenUs);
    perRequestUs.push((short * 1000) / STREAMS - SHORT_OUTPUT_TOKENS * tokenUs);
    process.stderr.write(`  engine CPU, round ${i + 1}: ${STREAMS} × ${SHORT_OUTPUT_TOKENS} tokens ${Math.round(short)} ms, × ${OUTPUT_TOKENS} tokens ${Math.round(long.engineCpuMs[i] as number)} ms\n`);
  }
  return [
    m(`engine CPU per request (setup and teardown: both sockets, route, engine, upstream call), ${STREAMS} concurrent streams`, 'µs', perRequestUs, 'reference'),
    m(`engine CPU per streamed token (read upstream SSE, engine stream, write to the client), ${STREAMS} concurrent streams`, 'µs', perTokenUs, 'reference'),
  ];
}

function streamResults({ direct, through, engineCpuMs }: StreamRounds, n: number): Measurement[] {
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
    ...(engineCpuMs.length > 0 ? [m(`${label}: engine process CPU per stream (all of it: request, ${OUTPUT_TOKENS} tokens, sockets)`, 'µs', engineCpuMs.map((c) => (c * 1000) / n), 'reference')] : []),
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
      env: profileEnv('mock'),
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
        '--upstream-keep-alive-ms', '60000',
        '--open',
        '--exporter', 'none',
        '--seed', '1',
      ],
      port: enginePort,
      readyPath: '/healthz',
      cwd: REPO_ROOT,
      env: profileEnv('engine'),
    });
    const servers: Servers = { mockUrl: mock.url, engineUrl: engine.url, enginePid: engine.pid };

    // 1. Engine overhead at 1,000 concurrent streams, and at 256 (the engine's upstream connection pool, see the top).
    const big = await streamRounds(servers, STREAMS);
    const cpuSplit = await engineCpuSplit(servers, big);
    const small = await streamRounds(servers, POOL_STREAMS);

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
        ...cpuSplit,
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
