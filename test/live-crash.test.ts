/**
 * A crash fault over real processes: the mock server (under `--supervise`) is killed in the middle of a dozen
 * streams, the engine service retries through the downtime and the cold start, and resumes each stream from the
 * last token it received once the supervisor has restarted the mock. Every request reaches exactly one outcome,
 * and the text of every resumed stream is byte-identical to an uninterrupted run of the same request id (the
 * mock's token text is a pure function of seed and request id).
 */
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import { HttpDriver, type DriverReply } from '../harness/run/drivers/http-driver.js';
import { engineArgs, ENGINE_ENTRY, MOCK_ENTRY } from '../harness/run/live.js';
import { fetchMockStats, fetchText, metricSum, parsePrometheus } from '../harness/run/live-metrics.js';
import { ProcessGroup, freePort, httpReady } from '../harness/run/processes.js';
import type { PlannedRequest } from '../harness/workload/types.js';

const clock = new RealClock();
const group = new ProcessGroup(clock);
afterAll(() => group.stopAll());

const STREAMS = 12;
const TOKENS = 300;
const SEED = 5;

const chat = (i: number): PlannedRequest => ({
  id: `crash-${i}`,
  class: 'chat',
  kind: 'chat',
  tenant: 'crash-test',
  priority: 'interactive',
  promptTokens: 200,
  outputTokens: TOKENS,
  messages: [{ role: 'user', content: `request ${i}` }],
  batchable: false,
});

describe('crash fault, live', () => {
  it('kills the mock mid-stream; the engine resumes after the supervised restart, byte for byte', async () => {
    const mockPort = await freePort();
    const mock = await group.start({
      name: 'mock',
      entry: MOCK_ENTRY,
      args: ['--port', String(mockPort), '--model', 'primary=h100-llama3-8b', '--seed', String(SEED), '--supervise'],
      port: mockPort,
      readyPath: '/health',
    });
    const enginePort = await freePort();
    // Enough patient retries to outlast the downtime, the restart and the cold start; no breaker or budget in the
    // way, so what is tested is retry + resume.
    const policy = {
      name: 'crash-test',
      preset: 'resilient' as const,
      overrides: { retry: { maxAttempts: 20, baseMs: 100, maxMs: 500 }, retryBudget: { mode: 'off' }, breaker: { enabled: false } },
    };
    const engine = await group.start({ name: 'engine', entry: ENGINE_ENTRY, args: engineArgs(policy, enginePort, mock.url, undefined), port: enginePort, readyPath: '/healthz' });

    const t0 = clock.now();
    const before = await fetchMockStats(mock.url);
    expect(before?.models['primary']?.elapsedMs).toBeGreaterThan(0);
    const driver = new HttpDriver({ baseUrl: engine.url, now: () => clock.now() - t0 });
    const replies = Promise.all(Array.from({ length: STREAMS }, (_, i) => driver.send(chat(i), 0)));

    // Crash once every stream is well under way (the mock has sent ~30 tokens a stream).
    for (;;) {
      const s = await fetchMockStats(mock.url);
      if ((s?.models['primary']?.outputTokens ?? 0) >= STREAMS * 30) break;
      await clock.sleep(20);
    }
    const crashAtMs = clock.now() - t0;
    const crash = { timeline: [{ name: 'crash', atMs: 10, durationMs: 100, fault: { crash: { downtimeMs: 500, coldStartMs: 300 } } }] };
    // The process may die before it answers: that is the point.
    await request(`${mock.url}/mock/faults?model=primary`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(crash) })
      .then((r) => r.body.dump())
      .catch(() => undefined);

    const got: DriverReply[] = await replies;
    await driver.close();

    // The mock process really died and the supervisor restarted it: the server answering now has lived for less
    // time than since the crash, and the supervisor (the process we started) is still up.
    const after = await fetchMockStats(mock.url);
    expect(after?.models['primary']?.elapsedMs).toBeLessThan(clock.now() - t0 - crashAtMs);
    expect(mock.exit).toBeUndefined();

    // Exactly one outcome per request, at the client and in the engine's own count.
    expect(got.map((r) => r.observation.id).sort()).toEqual(Array.from({ length: STREAMS }, (_, i) => `crash-${i}`).sort());
    const metrics = parsePrometheus((await fetchText(`${engine.url}/metrics`)) ?? '');
    expect(metricSum(metrics, ['engine_requests_total', 'engine_requests'])).toBe(STREAMS);
    expect(got.map((r) => r.observation.outcome)).toEqual(Array(STREAMS).fill('ok'));
    // More attempts than requests: the engine retried through the crash.
    expect(metricSum(metrics, ['engine_attempts_total', 'engine_attempts'])).toBeGreaterThan(STREAMS);

    // Streams that had tokens before the crash and finished after it were resumed, not restarted: each has every
    // token exactly once, and the same bytes as an uninterrupted run of the same id against the same seed.
    const resumed = got.filter((r) => {
      const c = r.observation.chunks;
      return c.some((x) => x.atMs < crashAtMs) && c.some((x) => x.atMs > crashAtMs + 500);
    });
    expect(resumed.length).toBeGreaterThanOrEqual(STREAMS / 2);
    const direct = new HttpDriver({ baseUrl: mock.url, now: () => clock.now() });
    const references = await Promise.all(got.map((r) => direct.send(chat(Number(r.observation.id.slice('crash-'.length))), clock.now())));
    await direct.close();
    got.forEach((r, i) => {
      const reference = references[i] as DriverReply;
      expect(r.observation.tokens).toBe(TOKENS);
      expect(reference.observation.outcome).toBe('ok');
      expect(reference.text.length).toBeGreaterThan(TOKENS);
      expect(r.text).toBe(reference.text);
    });

    // Stopping the group ends the supervisor and the server it forked: nothing answers on either port.
    await group.stopAll();
    expect(await httpReady(`${mock.url}/health`, 500)).toBe(false);
    expect(await httpReady(`${engine.url}/healthz`, 500)).toBe(false);
  }, 40_000);
});
