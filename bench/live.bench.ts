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
 *     The floor of any proxy hop on this machine is measured in the same rounds: a third arm sends the same streams
 *     through a bare pass-through proxy process (bench/bare-proxy.ts: node:http to the client, undici to the mock,
 *     bytes piped, no parsing; pooled like the engine). Its ratio to direct is what a proxy costs here at all; the
 *     engine's ratio to it is what the engine adds beyond that. The three arms take turns in each round, and the
 *     order rotates from round to round (direct, engine, bare; engine, bare, direct; ...), so machine noise and
 *     any cost of going first or last fall on every arm alike.
 *     The engine's CPU (from /proc, Linux) is split into a per-request part and a per-token part by also running
 *     1,000 streams of 4 tokens through it: CPU(64-token round) − CPU(4-token round) = 60 tokens × streams.
 *  2. Our closed-loop undici driver vs autocannon (harness/run/drivers/autocannon.ts), same endpoint (non-streaming
 *     chat to the mock, a near-zero step time, 4 output tokens), same connections, 5 s each.
 * Every process started here is stopped by PID (its process group) in a finally block.
 *
 * `LIVE_BENCH_CPU_PROF=DIR` writes a V8 CPU profile of the engine, the bare proxy and the mock into DIR when they stop
 * (`engine-PID.cpuprofile`, `bare-PID.cpuprofile`, `mock-PID.cpuprofile`; open them in Chrome DevTools or speedscope). Node 20 refuses
 * `--cpu-prof` in NODE_OPTIONS, so the children preload a data: module that runs the inspector's profiler.
 */
import { fileURLToPath } from 'node:url';
import { ENGINE_ENTRY, MOCK_ENTRY, REPO_ROOT } from '../harness/run/live.js';
import { ProcessGroup, freePort } from '../harness/run/processes.js';
import { RealClock } from '../src/time/real-clock.js';
import { measurementOf, type Measurement } from './lib.js';
import { cpuMs, drive, killDrivers, profileEnv } from './live-lib.js';
import type { ClosedLoopJob, ClosedLoopResult, StreamsResult } from './live-driver.js';

const BARE_PROXY = fileURLToPath(new URL('./bare-proxy.ts', import.meta.url));
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
/** The engine's upstream pool (`--upstream-connections`) and idle keep-alive (`--upstream-keep-alive-ms`); the bare proxy's too. */
const UPSTREAM_CONNECTIONS = 1024;
const UPSTREAM_KEEP_ALIVE_MS = 60_000;
/** The arms of a streams round, in the first round's order (later rounds rotate it). */
const ARMS = ['direct', 'engine', 'bare'] as const;
type Arm = (typeof ARMS)[number];
const ARM_NAMES: Record<Arm, string> = { direct: 'direct', engine: 'engine', bare: 'bare proxy' };
const BARE_GOAL = 'reference: the cost of any proxy hop on this machine (bare pass-through proxy, same rounds)';


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
  /** Through the bare pass-through proxy (bench/bare-proxy.ts). */
  readonly bare: StreamsResult[];
  /** The engine process's CPU in each engine round, ms (empty without /proc). */
  readonly engineCpuMs: number[];
  /** The bare proxy process's CPU in each bare round, ms (empty without /proc). */
  readonly bareCpuMs: number[];
}

interface Servers {
  readonly mockUrl: string;
  readonly engineUrl: string;
  readonly enginePid: number | undefined;
  readonly bareUrl: string;
  readonly barePid: number | undefined;
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

function roundLine(r: StreamsResult, cpuMs: number | undefined, proc: string): string {
  const driver = `driver cpu ${Math.round((100 * r.driverCpuMs) / r.elapsedMs)}%`;
  return `TTFT p50/p99 ${r.ttftMs.p50}/${r.ttftMs.p99} ms, E2E ${r.e2eMs.p50}/${r.e2eMs.p99} ms (${driver}${cpuMs !== undefined ? `, ${proc} cpu ${Math.round(cpuMs)} ms` : ''})`;
}

/**
 * A warm-up of each arm, then ROUNDS rounds of `n` concurrent streams, each round one job per arm (direct, through
 * the engine, through the bare proxy), the order rotated from round to round.
 */
async function streamRounds(s: Servers, n: number): Promise<StreamRounds> {
  const url: Record<Arm, string> = { direct: s.mockUrl, engine: s.engineUrl, bare: s.bareUrl };
  const pid: Record<Arm, number | undefined> = { direct: undefined, engine: s.enginePid, bare: s.barePid };
  for (const arm of ARMS) checkStreams(`warm-up ${ARM_NAMES[arm]}`, n, await streamsJob(url[arm], n, OUTPUT_TOKENS, `warm-${arm}`));
  const results: Record<Arm, StreamsResult[]> = { direct: [], engine: [], bare: [] };
  const cpu: Record<Arm, number[]> = { direct: [], engine: [], bare: [] };
  for (let i = 0; i < ROUNDS; i++) {
    const order = ARMS.map((_, k) => ARMS[(k + i) % ARMS.length] as Arm);
    const line: Partial<Record<Arm, string>> = {};
    for (const arm of order) {
      const { r, cpuMs: used } = await withCpu(pid[arm], () => streamsJob(url[arm], n, OUTPUT_TOKENS, `${arm}-${i}`));
      checkStreams(ARM_NAMES[arm], n, r);
      results[arm].push(r);
      if (used !== undefined) cpu[arm].push(used);
      line[arm] = `${ARM_NAMES[arm]} ${roundLine(r, used, ARM_NAMES[arm])}`;
    }
    process.stderr.write(`  ${n} streams, round ${i + 1} (${order.join(', ')}): ${ARMS.map((a) => line[a]).join(' | ')}\n`);
  }
  return { direct: results.direct, through: results.engine, bare: results.bare, engineCpuMs: cpu.engine, bareCpuMs: cpu.bare };
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
    measurementOf(`engine CPU per request (setup and teardown: both sockets, route, engine, upstream call), ${STREAMS} concurrent streams`, 'µs', perRequestUs, 'reference'),
    measurementOf(`engine CPU per streamed token (read upstream SSE, engine stream, write to the client), ${STREAMS} concurrent streams`, 'µs', perTokenUs, 'reference'),
  ];
}

function streamResults({ direct, through, bare, engineCpuMs, bareCpuMs }: StreamRounds, n: number): Measurement[] {
  const ratio = (a: number[], b: number[]): number[] => a.map((x, i) => x / (b[i] as number));
  const at = (rs: StreamsResult[], f: (r: StreamsResult) => number): number[] => rs.map(f);
  const label = `${n} concurrent streams × ${OUTPUT_TOKENS} tokens`;
  return [
    measurementOf(`direct to mock, ${label}: TTFT p50`, 'ms', at(direct, (r) => r.ttftMs.p50), 'reference'),
    measurementOf(`direct to mock, ${label}: TTFT p99`, 'ms', at(direct, (r) => r.ttftMs.p99), 'reference'),
    measurementOf(`direct to mock, ${label}: E2E p50`, 'ms', at(direct, (r) => r.e2eMs.p50), 'reference'),
    measurementOf(`direct to mock, ${label}: E2E p99`, 'ms', at(direct, (r) => r.e2eMs.p99), 'reference'),
    measurementOf(`through engine (resilient), ${label}: TTFT p50`, 'ms', at(through, (r) => r.ttftMs.p50), 'reference'),
    measurementOf(`through engine (resilient), ${label}: TTFT p99`, 'ms', at(through, (r) => r.ttftMs.p99), 'reference'),
    measurementOf(`through engine (resilient), ${label}: E2E p50`, 'ms', at(through, (r) => r.e2eMs.p50), 'reference'),
    measurementOf(`through engine (resilient), ${label}: E2E p99`, 'ms', at(through, (r) => r.e2eMs.p99), 'reference'),
    measurementOf(`${label}: TTFT p99, engine ÷ direct (same round)`, 'ratio', ratio(at(through, (r) => r.ttftMs.p99), at(direct, (r) => r.ttftMs.p99)), '<= 1.10'),
    measurementOf(`${label}: E2E p99, engine ÷ direct (same round)`, 'ratio', ratio(at(through, (r) => r.e2eMs.p99), at(direct, (r) => r.e2eMs.p99)), '<= 1.10'),
    ...(engineCpuMs.length > 0 ? [measurementOf(`${label}: engine process CPU per stream (all of it: request, ${OUTPUT_TOKENS} tokens, sockets)`, 'µs', engineCpuMs.map((c) => (c * 1000) / n), 'reference')] : []),
    measurementOf(`bare pass-through proxy (node:http + undici, no parsing), ${label}: TTFT p50`, 'ms', at(bare, (r) => r.ttftMs.p50), BARE_GOAL),
    measurementOf(`bare pass-through proxy (node:http + undici, no parsing), ${label}: TTFT p99`, 'ms', at(bare, (r) => r.ttftMs.p99), BARE_GOAL),
    measurementOf(`bare pass-through proxy (node:http + undici, no parsing), ${label}: E2E p50`, 'ms', at(bare, (r) => r.e2eMs.p50), BARE_GOAL),
    measurementOf(`bare pass-through proxy (node:http + undici, no parsing), ${label}: E2E p99`, 'ms', at(bare, (r) => r.e2eMs.p99), BARE_GOAL),
    measurementOf(`${label}: TTFT p99, bare proxy ÷ direct (same round)`, 'ratio', ratio(at(bare, (r) => r.ttftMs.p99), at(direct, (r) => r.ttftMs.p99)), `${BARE_GOAL}: the floor under engine ÷ direct`),
    measurementOf(`${label}: E2E p99, bare proxy ÷ direct (same round)`, 'ratio', ratio(at(bare, (r) => r.e2eMs.p99), at(direct, (r) => r.e2eMs.p99)), `${BARE_GOAL}: the floor under engine ÷ direct`),
    measurementOf(`${label}: TTFT p99, engine ÷ bare proxy (same round)`, 'ratio', ratio(at(through, (r) => r.ttftMs.p99), at(bare, (r) => r.ttftMs.p99)), 'reference: what the engine adds beyond any proxy hop (the goal, <= 1.10, is engine ÷ direct)'),
    measurementOf(`${label}: E2E p99, engine ÷ bare proxy (same round)`, 'ratio', ratio(at(through, (r) => r.e2eMs.p99), at(bare, (r) => r.e2eMs.p99)), 'reference: what the engine adds beyond any proxy hop (the goal, <= 1.10, is engine ÷ direct)'),
    ...(bareCpuMs.length > 0 ? [measurementOf(`${label}: bare proxy process CPU per stream (request, ${OUTPUT_TOKENS} tokens, sockets)`, 'µs', bareCpuMs.map((c) => (c * 1000) / n), 'reference: against the engine process CPU per stream')] : []),
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
        '--policy', 'resilient', '--upstream-dialect', 'mock', '--tokenizer', 'chars',
        '--policy-overrides', JSON.stringify({ concurrency: { limit: 1024 }, queue: { capacity: 4096 } }),
        '--upstream-connections', String(UPSTREAM_CONNECTIONS),
        '--upstream-keep-alive-ms', String(UPSTREAM_KEEP_ALIVE_MS),
        '--open',
        '--exporter', 'none',
        '--seed', '1',
      ],
      port: enginePort,
      readyPath: '/healthz',
      cwd: REPO_ROOT,
      env: profileEnv('engine'),
    });
    const barePort = await freePort();
    const bare = await group.start({
      name: 'bare-proxy',
      entry: BARE_PROXY,
      args: ['--port', String(barePort), '--upstream', mock.url, '--connections', String(UPSTREAM_CONNECTIONS), '--keep-alive-ms', String(UPSTREAM_KEEP_ALIVE_MS)],
      port: barePort,
      readyPath: '/healthz',
      cwd: REPO_ROOT,
      env: profileEnv('bare'),
    });
    const servers: Servers = { mockUrl: mock.url, engineUrl: engine.url, enginePid: engine.pid, bareUrl: bare.url, barePid: bare.pid };

    // 1. Engine overhead at 1,000 concurrent streams, and at 256 (see the top), beside a bare proxy's in the same rounds.
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
        measurementOf(`our undici closed loop, ${CONNECTIONS} connections, ${DURATION_MS / 1000} s of non-streaming chats (${FAST_OUTPUT_TOKENS} tokens) to the mock`, 'requests/s', ours.map((r) => r.requestsPerSec), 'reference'),
        measurementOf(`autocannon, same endpoint, connections and duration`, 'requests/s', cannon.map((r) => r.requestsPerSec), 'reference'),
        measurementOf(
          'requests/s, ours ÷ autocannon (same round; in live runs our HttpDriver counts latency from the intended start, corrected for coordinated omission, autocannon from the send)',
          'ratio',
          ratio(ours.map((r) => r.requestsPerSec), cannon.map((r) => r.requestsPerSec)),
          '>= 0.8',
        ),
      ],
    };
  } finally {
    killDrivers();
    await group.stopAll();
    uninstall();
  }
}
