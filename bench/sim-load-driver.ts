/**
 * The load driver of bench/sim-server.bench.ts, run as its own process so the server's event loop and the
 * load generator's do not share a thread. Started with fork(); receives one job over IPC, runs it (bounded),
 * sends the result back and exits.
 *  - `streams`: N concurrent SSE chat streams through an undici Pool (one connection each), counting tokens as
 *    they arrive from each chunk's `x_mock.count`, cross-checked against the final usage chunk.
 *  - `autocannon`: a fixed number of identical requests with autocannon's programmatic API; status counts.
 */
import autocannon from 'autocannon';
import { Pool } from 'undici';

export interface StreamsJob {
  readonly kind: 'streams';
  readonly origin: string;
  readonly model: string;
  readonly streams: number;
  readonly tokensPerStream: number;
}
export interface AutocannonJob {
  readonly kind: 'autocannon';
  readonly url: string;
  readonly body: string;
  readonly headers: Record<string, string>;
  readonly connections: number;
  readonly amount: number;
}
export type DriverJob = StreamsJob | AutocannonJob;

export interface StreamsResult {
  readonly kind: 'streams';
  readonly tokens: number;
  /** Token chunks (SSE events carrying tokens) received: tokens / chunks > 1 means the server merged tokens. */
  readonly chunks: number;
  readonly usageTokens: number;
  readonly completed: number;
  readonly failed: number;
  readonly elapsedMs: number;
  /** CPU time (user + system) this driver process used during the run: near elapsedMs means the driver was the bottleneck. */
  readonly driverCpuMs: number;
  readonly firstErrors: string[];
}
export interface AutocannonResult {
  readonly kind: 'autocannon';
  readonly responses: number;
  readonly durationSec: number;
  readonly statusCounts: Record<string, number>;
  readonly errors: number;
  readonly latencyP99Ms: number;
  /** CPU time (user + system) autocannon's process used during the run. */
  readonly driverCpuMs: number;
}
export type DriverResult = StreamsResult | AutocannonResult;

const COUNT = Buffer.from('"count":');
const USAGE = Buffer.from('"completion_tokens":');
const DONE = Buffer.from('data: [DONE]');
const EVENT_END = Buffer.from('\n\n');
const EMPTY = Buffer.alloc(0);

const NL = 0x0a;
const BRACE = 0x7d;
/** `"count":` as bytes, compared backwards from the digits of a token event's tail. */
const COUNT_KEY = [...COUNT];

/**
 * The token count of `buf` when it is exactly one complete token event, read from its fixed tail
 * `"count":N}}\n\n` without a native search per chunk (the common case: one event per read); else -1, and the
 * caller takes the general path.
 */
function singleTokenEventCount(buf: Buffer): number {
  const n = buf.length;
  if (n < 16 || buf[n - 1] !== NL || buf[n - 2] !== NL || buf[n - 3] !== BRACE || buf[n - 4] !== BRACE) return -1;
  let i = n - 5;
  let count = 0;
  let scale = 1;
  while (i >= 0) {
    const c = buf[i] as number;
    if (c < 48 || c > 57) break;
    count += (c - 48) * scale;
    scale *= 10;
    i--;
  }
  if (scale === 1) return -1;
  for (let k = COUNT_KEY.length - 1; k >= 0; k--, i--) if (buf[i] !== COUNT_KEY[k]) return -1;
  // Exactly one event: its blank line is the only one in the buffer.
  return buf.indexOf(EVENT_END) === n - 2 ? count : -1;
}

/** Reads the integer at `at` in `buf` (ASCII digits). */
function intAt(buf: Buffer, at: number): number {
  let n = 0;
  for (let i = at; i < buf.length; i++) {
    const c = buf[i] as number;
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  return n;
}

async function runStreams(job: StreamsJob): Promise<StreamsResult> {
  const pool = new Pool(job.origin, { connections: job.streams, pipelining: 1, keepAliveTimeout: 30_000 });
  const body = JSON.stringify({
    model: job.model,
    messages: [{ role: 'user', content: 'benchmark' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let tokens = 0;
  let chunks = 0;
  let usageTokens = 0;
  let completed = 0;
  let failed = 0;
  const firstErrors: string[] = [];
  // undici's dispatch API with a handler: the driver sees raw body chunks without a stream per response, so the
  // load generator stays cheaper than the server it measures.
  const one = (i: number): Promise<void> =>
    new Promise<void>((resolve) => {
      let status = 0;
      let carry: Buffer = EMPTY;
      let done = false;
      let streamUsage = 0;
      let errorText = '';
      const fail = (message: string): void => {
        failed++;
        if (firstErrors.length < 5) firstErrors.push(message);
        resolve();
      };
      pool.dispatch(
        {
          origin: job.origin,
          path: '/v1/chat/completions',
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-request-id': `bench-${i}`,
            'x-mock-output-tokens': String(job.tokensPerStream),
            'x-mock-prompt-tokens': '16',
          },
          body,
        },
        {
          onRequestStart() {},
          onResponseStart(_c, statusCode) {
            status = statusCode;
          },
          onResponseData(_c, chunk) {
            if (status !== 200) {
              errorText += chunk.toString();
              return;
            }
            if (carry.length === 0) {
              const one = singleTokenEventCount(chunk);
              if (one >= 0) {
                tokens += one;
                chunks++;
                return;
              }
            }
            // Events end with a blank line; only an incomplete tail is carried to the next chunk (rarely any).
            const buf: Buffer = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
            const end = buf.lastIndexOf(EVENT_END);
            if (end < 0) {
              carry = buf;
              return;
            }
            const complete = end + EVENT_END.length;
            let at = buf.indexOf(COUNT);
            while (at !== -1 && at < complete) {
              tokens += intAt(buf, at + COUNT.length);
              chunks++;
              at = buf.indexOf(COUNT, at + COUNT.length);
            }
            if (!done) {
              const u = buf.indexOf(USAGE);
              if (u !== -1 && u < complete) streamUsage = intAt(buf, u + USAGE.length);
              if (buf.indexOf(DONE) !== -1) done = true;
            }
            carry = complete === buf.length ? EMPTY : buf.subarray(complete);
          },
          onResponseEnd() {
            if (status !== 200) return fail(`status ${status}: ${errorText.slice(0, 200)}`);
            if (!done) return fail('stream ended without [DONE]');
            usageTokens += streamUsage;
            completed++;
            resolve();
          },
          onResponseError(_c, err) {
            fail(err.message);
          },
        },
      );
    });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: job.streams }, (_, i) => one(i)));
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await pool.close();
  const driverCpuMs = (cpu.user + cpu.system) / 1000;
  return { kind: 'streams', tokens, chunks, usageTokens, completed, failed, elapsedMs, driverCpuMs, firstErrors };
}

async function runAutocannon(job: AutocannonJob): Promise<AutocannonResult> {
  const options = {
    url: job.url,
    method: 'POST',
    headers: job.headers,
    body: job.body,
    connections: job.connections,
    pipelining: 1,
    amount: job.amount,
    timeout: 10,
    // autocannon stops at its next sample tick after the last response and reports the duration to that tick: with
    // the default 1 s ticks a 2.1 s run reads as 3 s. 10 ms ticks make the duration (and so the rate) honest.
    sampleInt: 10,
  };
  const cpu0 = process.cpuUsage();
  const r = await autocannon(options);
  const cpu = process.cpuUsage(cpu0);
  const statusCounts: Record<string, number> = {};
  let responses = 0;
  for (const [code, s] of Object.entries(r.statusCodeStats)) {
    statusCounts[code] = Number(s.count);
    responses += Number(s.count);
  }
  const driverCpuMs = (cpu.user + cpu.system) / 1000;
  return { kind: 'autocannon', responses, durationSec: r.duration, statusCounts, errors: r.errors, latencyP99Ms: r.latency.p99, driverCpuMs };
}

process.once('message', (job: DriverJob) => {
  const run = job.kind === 'streams' ? runStreams(job) : runAutocannon(job);
  run.then(
    (result) => process.send?.(result, () => process.exit(0)),
    (err: unknown) => {
      process.stderr.write(`sim-load-driver: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
});
