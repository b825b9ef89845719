/**
 * The load driver of bench/live.bench.ts, run as its own process (`node --import tsx bench/live-driver.ts JOB`,
 * JOB a JSON string) so the load generator does not share an event loop with the servers it measures. It runs one
 * bounded job and prints one line of JSON (a {@link LiveDriverResult}) on stdout:
 *  - `streams`: N concurrent streaming chats through the harness's HttpDriver, all due at once (intended start
 *    t = 0): TTFT and E2E percentiles counted from that intended start, tokens, outcomes;
 *  - `undici`: a closed loop of non-streaming chats over `connections` keep-alive sockets (undici Pool) for
 *    `durationMs`: requests/s and latency percentiles;
 *  - `autocannon`: the same requests for the same duration through harness/run/drivers/autocannon.ts. (A duration,
 *    not a request count: autocannon notices that `amount` is reached only on its 1-second sampling tick, so a
 *    short counted run would be timed as a whole second.)
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { HttpDriver } from '../harness/run/drivers/http-driver.js';
import { runAutocannon } from '../harness/run/drivers/autocannon.js';
import type { PlannedRequest } from '../harness/workload/types.js';

export interface StreamsJob {
  readonly kind: 'streams';
  readonly baseUrl: string;
  readonly model: string;
  readonly streams: number;
  readonly outputTokens: number;
  /** Prefix of the distinct `x-request-id`s. */
  readonly tag: string;
}
export interface ClosedLoopJob {
  readonly kind: 'undici' | 'autocannon';
  readonly baseUrl: string;
  readonly model: string;
  readonly connections: number;
  readonly durationMs: number;
  readonly outputTokens: number;
}
export type LiveDriverJob = StreamsJob | ClosedLoopJob;

export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
}
export interface StreamsResult {
  readonly kind: 'streams';
  readonly ok: number;
  readonly notOk: number;
  readonly tokens: number;
  readonly ttftMs: Percentiles;
  readonly e2eMs: Percentiles;
  readonly elapsedMs: number;
  /** CPU time of this driver process during the run: near elapsedMs means the driver was the bottleneck. */
  readonly driverCpuMs: number;
  readonly causes: Record<string, number>;
}
export interface ClosedLoopResult {
  readonly kind: 'undici' | 'autocannon';
  readonly responses: number;
  readonly ok: number;
  readonly errors: number;
  readonly requestsPerSec: number;
  readonly latencyMs: Percentiles;
  readonly elapsedMs: number;
}
export type LiveDriverResult = StreamsResult | ClosedLoopResult;

/** Nearest-rank percentile of an ascending array. */
function pct(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Number((sorted[i] as number).toFixed(3));
}
function percentiles(xs: number[]): Percentiles {
  xs.sort((a, b) => a - b);
  return { p50: pct(xs, 0.5), p99: pct(xs, 0.99) };
}

async function runStreams(job: StreamsJob): Promise<StreamsResult> {
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  const driver = new HttpDriver({ baseUrl: job.baseUrl, now, model: job.model, connections: job.streams + 16 });
  const ttft: number[] = [];
  const e2e: number[] = [];
  const causes: Record<string, number> = {};
  let ok = 0;
  let tokens = 0;
  const cpu0 = process.cpuUsage();
  try {
    await Promise.all(
      Array.from({ length: job.streams }, async (_, i) => {
        const req: PlannedRequest = {
          id: `${job.tag}-${i}`,
          class: 'bench',
          kind: 'chat',
          tenant: 'bench',
          priority: 'interactive',
          promptTokens: 16,
          outputTokens: job.outputTokens,
          messages: [{ role: 'user', content: `bench ${i}` }],
          batchable: false,
        };
        // Every stream is due at t = 0: latencies count from there, however late the socket actually sent it.
        const r = await driver.send(req, 0);
        const o = r.observation;
        tokens += o.tokens;
        if (o.outcome === 'ok' && o.tokens === job.outputTokens && o.firstTokenAtMs !== undefined) {
          ok++;
          ttft.push(o.firstTokenAtMs - o.intendedStartMs);
          e2e.push(o.endAtMs - o.intendedStartMs);
        } else {
          const c = r.cause ?? `${o.outcome} with ${o.tokens} tokens`;
          causes[c] = (causes[c] ?? 0) + 1;
        }
      }),
    );
  } finally {
    await driver.close();
  }
  const elapsedMs = now();
  const cpu = process.cpuUsage(cpu0);
  return {
    kind: 'streams',
    ok,
    notOk: job.streams - ok,
    tokens,
    ttftMs: percentiles(ttft),
    e2eMs: percentiles(e2e),
    elapsedMs: Number(elapsedMs.toFixed(1)),
    driverCpuMs: Math.round((cpu.user + cpu.system) / 1000),
    causes,
  };
}

function chatRequest(job: ClosedLoopJob): { headers: Record<string, string>; body: string } {
  return {
    headers: {
      'content-type': 'application/json',
      'x-request-id': 'bench-closed-loop',
      'x-mock-prompt-tokens': '16',
      'x-mock-output-tokens': String(job.outputTokens),
    },
    body: JSON.stringify({ model: job.model, messages: [{ role: 'user', content: 'bench' }], max_tokens: job.outputTokens, stream: false }),
  };
}

/** A closed loop on undici: `connections` workers, each sending the next request when its previous answer is read. */
async function runUndici(job: ClosedLoopJob): Promise<ClosedLoopResult> {
  const { headers, body } = chatRequest(job);
  const pool = new Pool(job.baseUrl, { connections: job.connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() - t0 < job.durationMs) {
      // In a closed loop the intended start is the moment the worker is free: now.
      const start = performance.now();
      try {
        const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers, body });
        await res.body.dump();
        latencies.push(performance.now() - start);
        if (res.statusCode === 200) ok++;
      } catch {
        errors++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: job.connections }, () => worker()));
  } finally {
    await pool.close();
  }
  const elapsedMs = performance.now() - t0;
  return {
    kind: 'undici',
    responses: latencies.length,
    ok,
    errors,
    requestsPerSec: Math.round((latencies.length * 1000) / elapsedMs),
    latencyMs: percentiles(latencies),
    elapsedMs: Number(elapsedMs.toFixed(1)),
  };
}

async function runCannon(job: ClosedLoopJob): Promise<ClosedLoopResult> {
  const { headers, body } = chatRequest(job);
  const t0 = performance.now();
  const r = await runAutocannon({
    url: job.baseUrl,
    requests: [{ method: 'POST', path: '/v1/chat/completions', headers, body, class: 'bench' }],
    connections: job.connections,
    durationMs: job.durationMs,
  });
  const elapsedMs = performance.now() - t0;
  return {
    kind: 'autocannon',
    responses: r.responses,
    ok: r.statusCounts['200'] ?? 0,
    errors: r.errors + r.timeouts,
    // Responses over autocannon's own measured duration (our wall time here includes its start-up).
    requestsPerSec: Math.round(r.requestsPerSec),
    latencyMs: { p50: r.latencyMs.p50, p99: r.latencyMs.p99 },
    elapsedMs: Number(elapsedMs.toFixed(1)),
  };
}

const job = JSON.parse(process.argv[2] ?? '{}') as LiveDriverJob;
const result: Promise<LiveDriverResult> = job.kind === 'streams' ? runStreams(job) : job.kind === 'undici' ? runUndici(job) : runCannon(job);
result.then(
  (r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`, () => process.exit(0));
  },
  (err: unknown) => {
    process.stderr.write(`live-driver: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
