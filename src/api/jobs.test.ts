/**
 * The job runner on virtual time (VirtualClock, FakeModel, fixed seeds): every accepted job reaches exactly one
 * terminal state per cycle, whatever mix of successes, failures, hangs, cancellations, idempotent resubmissions,
 * requeues and rate-limit refusals; nothing accepted is lost, nothing refused is stored.
 */
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { FakeModel, type StreamScript } from '../engine/testing/fake-model.js';
import { resolvePolicy } from '../policy.js';
import { Random } from '../random.js';
import { EngineTelemetry } from '../telemetry/engine-telemetry.js';
import { createTelemetry } from '../telemetry/setup.js';
import { VirtualClock } from '../time/virtual-clock.js';
import { ServerError } from '../upstream/errors.js';
import { isTerminal, type JobSpec, type JobStatus } from '../jobs/job-store.js';
import { JobService, payloadKey } from './jobs.js';
import { InMemoryJobStore } from '../jobs/memory-job-store.js';
import type { JobQueue } from '../queue/job-queue.js';

const SCRIPTS: Record<string, StreamScript> = {
  ok: { tokens: 5, ttftMs: 20, itlMs: 5 },
  fail: { error: new ServerError(500, 'boom'), ttftMs: 10 },
  hang: { hang: true },
  midway: { tokens: 10, failAfter: { afterTokens: 3, error: new ServerError(502, 'cut') } },
};
type ScriptName = keyof typeof SCRIPTS;

type Op =
  | { kind: 'submit'; tenant: 'a' | 'b'; script: ScriptName; key: string | undefined }
  | { kind: 'cancel'; which: number }
  | { kind: 'requeue'; which: number }
  | { kind: 'wait'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('submit' as const), tenant: fc.constantFrom('a' as const, 'b' as const), script: fc.constantFrom<ScriptName>('ok', 'fail', 'hang', 'midway'), key: fc.option(fc.constantFrom('k1', 'k2'), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), which: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('requeue' as const), which: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 300 }) }) },
);

function setup(perTenantRequestsPerMinute?: number) {
  const clock = new VirtualClock();
  const model = new FakeModel(clock, (r) => SCRIPTS[(r.prompt ?? 'ok') as ScriptName] ?? {});
  const policy = resolvePolicy('bounded', {
    retry: { maxAttempts: 2, baseMs: 5, maxMs: 10 },
    concurrency: { limit: 2 },
    ...(perTenantRequestsPerMinute !== undefined ? { rateLimit: { enabled: true, perTenantRequestsPerMinute } } : {}),
  });
  const engine = new Engine({ clock, random: new Random(1), policy, primary: model });
  const store = new InMemoryJobStore();
  const jobs = new JobService({ engine, store, clock, random: new Random(2) });
  return { clock, model, engine, store, jobs };
}

const spec = (script: ScriptName): JobSpec => ({ model: 'm', prompt: script, priority: 'interactive' });

describe('JobService', () => {
  it('every accepted job reaches exactly one terminal state per cycle (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), fc.boolean(), async (ops, limited) => {
        const { clock, model, store, jobs } = setup(limited ? 4 : undefined);
        const accepted: string[] = [];
        const refused: number[] = [];
        const byKey = new Map<string, string>();
        // Terminal transitions per (job, cycle), from the store's own change feed.
        const terminal = new Map<string, number>();
        const last = new Map<string, JobStatus>();
        const watchJob = (id: string): void => {
          store.watch(id, (e) => {
            if (e.type !== 'update') return;
            const k = `${id}#${e.job.cycle}`;
            if (isTerminal(e.job.status) && !isTerminal(last.get(k) ?? 'queued')) terminal.set(k, (terminal.get(k) ?? 0) + 1);
            last.set(k, e.job.status);
          });
        };
        let requeues = 0;
        await clock.run(
          (async () => {
            for (const [i, o] of ops.entries()) {
              if (o.kind === 'submit') {
                const r = await jobs.submit(o.tenant, spec(o.script), o.key);
                // Without a key, the key is the payload's hash: the same payload again is a replay.
                const key = o.key ?? payloadKey(spec(o.script));
                if (r.kind === 'shed') {
                  refused.push(i);
                  continue;
                }
                if (r.kind === 'created') {
                  accepted.push(r.job.id);
                  watchJob(r.job.id);
                  byKey.set(`${o.tenant}/${key}`, r.job.id);
                } else {
                  // An idempotent replay returns the job first created with that key (the conflict case too).
                  expect(r.job.id).toBe(byKey.get(`${o.tenant}/${key}`));
                }
              } else if (o.kind === 'cancel' || o.kind === 'requeue') {
                const id = accepted[o.which % Math.max(1, accepted.length)];
                if (id === undefined) continue;
                const tenant = (await store.get(id))?.tenant ?? 'a';
                if (o.kind === 'cancel') await jobs.cancel(tenant, id);
                else if ((await jobs.requeue(tenant, id))?.kind === 'requeued') requeues++;
              } else {
                await clock.sleep(o.ms);
              }
            }
            // Shutdown cancels whatever still runs (hangs included).
            await jobs.close();
          })(),
        );
        for (const id of accepted) {
          const j = await store.get(id);
          expect(j, id).toBeDefined();
          expect(isTerminal(j?.status ?? 'queued')).toBe(true);
          for (let c = 1; c <= (j?.cycle ?? 1); c++) expect(terminal.get(`${id}#${c}`), `${id} cycle ${c}`).toBe(1);
          // Failed jobs, and only they, are dead-lettered.
          expect(j?.deadLetter).toBe(j?.status === 'failed');
        }
        // Refused submissions left nothing behind; upstream calls only for accepted cycles.
        expect(store.size).toBe(accepted.length);
        expect(new Set(model.calls.map((c) => c.id)).size).toBeLessThanOrEqual(accepted.length);
        expect(terminal.size).toBe(accepted.length + requeues);
        expect(jobs.active).toBe(0);
        if (!limited) expect(refused).toEqual([]);
      }),
      { numRuns: 60, seed: 11 },
    );
  });

  it('a partial result is a failure that keeps its output, and goes to the dead-letter list', async () => {
    const { clock, store, jobs } = setup();
    const r = await clock.run(jobs.submit('a', spec('midway')));
    expect(r.kind).toBe('created');
    await clock.run(jobs.onIdle());
    const j = await store.get(r.kind === 'created' ? r.job.id : '');
    expect(j).toMatchObject({ status: 'failed', outcome: 'degraded', degraded: 'partial', tokens: 3, deadLetter: true });
    expect((await jobs.deadLetter('a')).map((x) => x.id)).toEqual([j?.id]);
  });
});

describe('JobService traces', () => {
  function traced() {
    const spans = new InMemorySpanExporter();
    const telemetry = createTelemetry({ exporter: 'none', spanProcessors: [new SimpleSpanProcessor(spans)] });
    const clock = new VirtualClock();
    const model = new FakeModel(clock, (r) => SCRIPTS[(r.prompt ?? 'ok') as ScriptName] ?? {});
    const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy('bounded', { retry: { maxAttempts: 1 } }), primary: model });
    const et = new EngineTelemetry(engine, telemetry, clock);
    const jobs = new JobService({ engine, store: new InMemoryJobStore(), clock, random: new Random(2), telemetry: et });
    const roots = () => spans.getFinishedSpans().filter((s) => s.name === 'request');
    return { clock, telemetry, et, jobs, spans, roots };
  }

  it('an idempotent replay (joined in flight, or answered from the stored result) ends its trace without error; a failure is still an error', async () => {
    const { clock, telemetry, et, jobs, spans, roots } = traced();
    try {
      const first = await clock.run(jobs.submit('a', spec('ok'), 'k1'));
      expect(first.kind).toBe('created');
      const originalId = first.kind === 'created' ? first.job.id : '';
      // Same key while the twin is still running: joined.
      const joined = await clock.run(jobs.submit('a', spec('ok'), 'k1'));
      expect(joined).toMatchObject({ kind: 'existing', job: { id: originalId } });
      await clock.run(jobs.onIdle());
      // Same key once it is done: the stored result.
      const stored = await clock.run(jobs.submit('a', spec('ok'), 'k1'));
      expect(stored).toMatchObject({ kind: 'existing', job: { id: originalId, status: 'succeeded' } });
      // Same key, another payload: refused (422), an error.
      const conflict = await clock.run(jobs.submit('a', spec('fail'), 'k1'));
      expect(conflict.kind).toBe('conflict');
      // A real failure.
      const failed = await clock.run(jobs.submit('a', spec('fail')));
      expect(failed.kind).toBe('created');
      await clock.run(jobs.onIdle());
      await telemetry.flush();

      const all = roots();
      expect(all).toHaveLength(5);
      expect(et.tracer.open).toBe(0);
      const summary = all.map((s) => ({
        code: s.status.code,
        replay: s.attributes['request.replay'],
        of: s.attributes['request.replay_of'],
        outcome: s.attributes['request.outcome'],
      }));
      const UNSET = SpanStatusCode.UNSET;
      const ERROR = SpanStatusCode.ERROR;
      // Spans end in this order: the joined replay (at once), the original, the stored replay, the conflict, the failure.
      expect(summary).toEqual([
        { code: UNSET, replay: 'joined', of: originalId, outcome: undefined },
        { code: UNSET, replay: undefined, of: undefined, outcome: 'ok' },
        { code: UNSET, replay: 'stored', of: originalId, outcome: undefined },
        { code: ERROR, replay: undefined, of: undefined, outcome: undefined },
        { code: ERROR, replay: undefined, of: undefined, outcome: 'failed' },
      ]);
      expect(all[3]?.status.message).toMatch(/idempotency key/);
      // A replay never reached the engine: its trace is the root and its admission, nothing more.
      for (const replay of [all[0], all[2]]) {
        const traceId = replay?.spanContext().traceId;
        const names = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId).map((s) => s.name);
        expect(names.sort()).toEqual(['admission', 'request']);
      }
    } finally {
      et.close();
      await telemetry.shutdown();
    }
  });

  it('a job whose enqueue fails ends its trace as an error instead of leaving it open', async () => {
    const { clock, telemetry, et, roots } = traced();
    try {
      const engine = new Engine({ clock, random: new Random(1), policy: resolvePolicy('bounded'), primary: new FakeModel(clock, () => ({})) });
      const queue: JobQueue = {
        kind: 'memory',
        name: 'failing',
        enqueue: () => Promise.reject(new Error('queue down')),
        cancel: () => Promise.resolve(false),
        counts: () => Promise.resolve({ waiting: 0, active: 0, delayed: 0, stalled: 0, deadLetter: 0 }),
        health: () => ({ ready: true }),
        close: () => Promise.resolve(),
      };
      const store = new InMemoryJobStore();
      const jobs = new JobService({ engine, store, clock, random: new Random(2), telemetry: et, queue });
      await expect(clock.run(jobs.submit('a', spec('ok')))).rejects.toThrow('queue down');
      await telemetry.flush();
      expect(et.tracer.open).toBe(0);
      expect(roots().map((s) => [s.status.code, s.status.message])).toEqual([[SpanStatusCode.ERROR, 'enqueue failed: queue down']]);
    } finally {
      et.close();
      await telemetry.shutdown();
    }
  });
});
