/**
 * Shared helpers of the service's tests (not product code): the engine service over the in-process mock GPU
 * (real clock, a fast profile), tenants, and a client wrapper that fails on demand.
 */
import { createParser } from 'eventsource-parser';
import { afterEach } from 'vitest';
import { resolvePolicy } from '../src/policy.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { ServerError } from '../src/upstream/errors.js';
import type { CallOptions, EmbeddingRequest, EmbeddingResult, ModelClient, ModelRequest, StreamEvent, StreamOptions, UpstreamCapabilities } from '../src/upstream/model-client.js';
import type { JobRecord, JobStore } from '../src/jobs/job-store.js';
import { buildService, type ApiService, type BuildServerOptions } from '../src/api/server.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { MockModel } from '../sim/mock-model.js';
import { FAST_PROFILE } from '../sim/server-testkit.js';

export const TENANTS = [
  { apiKey: 'key-alpha-0001', tenant: 'alpha' },
  { apiKey: 'key-bravo-0002', tenant: 'bravo' },
] as const;
export const ALPHA = { authorization: `Bearer ${TENANTS[0].apiKey}` };
export const BRAVO = { authorization: `Bearer ${TENANTS[1].apiKey}` };

/** A ModelClient that throws a 500 before any token while `failing` is set, and counts calls. */
export class FlakyClient implements ModelClient {
  failing = false;
  calls = 0;
  /**
   * Holds every stream once it has passed `afterTokens` tokens, until `release` resolves: a job is then
   * certainly still running while a test looks at it (a condition, not a wall-clock window).
   */
  gate: { afterTokens: number; release: Promise<void> } | undefined;
  constructor(private readonly inner: ModelClient) {}

  get capabilities(): UpstreamCapabilities | undefined {
    return this.inner.capabilities;
  }

  listModels(options?: CallOptions): Promise<ReadonlyArray<Readonly<Record<string, unknown>> & { readonly id: string }>> {
    return this.inner.listModels?.(options) ?? Promise.resolve([]);
  }

  stream(request: ModelRequest, options?: StreamOptions): AsyncIterable<StreamEvent> {
    this.calls++;
    if (this.failing) {
      return {
        [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new ServerError(500, 'injected by FlakyClient')) }),
      };
    }
    const gate = this.gate;
    if (gate === undefined) return this.inner.stream(request, options);
    const inner = this.inner.stream(request, options);
    return (async function* gated() {
      for await (const e of inner) {
        yield e;
        if (e.type === 'tokens' && e.index + e.count >= gate.afterTokens) await gate.release;
      }
    })();
  }

  embed(request: EmbeddingRequest, options?: CallOptions): Promise<EmbeddingResult> {
    return this.inner.embed(request, options);
  }
}

export interface TestService extends ApiService {
  readonly model: MockModel;
  readonly primary: FlakyClient;
  readonly fallbackModel: MockModel | undefined;
  close(): Promise<void>;
}

/**
 * The service on a fast in-process mock (`primary`, and `fallback` when asked), real time. The primary is
 * wrapped in a FlakyClient. Policy: a preset with overrides (default `resilient` with short backoffs).
 */
export function testService(o: {
  preset?: string;
  policy?: unknown;
  fallback?: boolean;
  service?: Partial<BuildServerOptions>;
} = {}): TestService {
  const clock = new RealClock();
  const random = new Random(7);
  const model = new MockModel({ name: 'primary', profile: FAST_PROFILE, clock, random: random.derive('mock/primary') });
  const fallbackModel = o.fallback === true ? new MockModel({ name: 'primary', profile: FAST_PROFILE, clock, random: random.derive('mock/fallback') }) : undefined;
  const primary = new FlakyClient(new InProcessModelClient(model));
  const policy = resolvePolicy(o.preset ?? 'resilient', o.policy ?? { retry: { baseMs: 1, maxMs: 5 } });
  const svc = buildService({
    clock,
    random,
    tenants: [...TENANTS],
    policy,
    upstream: { primary, ...(fallbackModel !== undefined ? { fallback: new InProcessModelClient(fallbackModel) } : {}) },
    ...o.service,
  });
  return {
    ...svc,
    model,
    primary,
    fallbackModel,
    close: async () => {
      await svc.app.close();
      model.close();
      fallbackModel?.close();
    },
  };
}

/** A parsed SSE body. */
export interface SseMessage {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: string;
}

export function parseSseBody(body: string): SseMessage[] {
  const out: SseMessage[] = [];
  const p = createParser({ onEvent: (e) => out.push({ id: e.id, event: e.event, data: e.data }) });
  p.feed(body);
  return out;
}

/** Resolves with the job once `check` holds for it (re-checked on each store event of the job, no polling). */
export function waitForJob(store: JobStore, id: string, check: (j: JobRecord) => boolean): Promise<JobRecord> {
  return new Promise((resolve, reject) => {
    let done = false;
    const test = (): void => {
      store.get(id).then((j) => {
        if (done) return;
        if (j === undefined) {
          done = true;
          off();
          reject(new Error(`no job ${id}`));
        } else if (check(j)) {
          done = true;
          off();
          resolve(j);
        }
      }, reject);
    };
    const off = store.watch(id, test);
    test();
  });
}

/**
 * Registers an afterEach that closes every service made through the returned factory during the test; call it at
 * a test file's top level.
 */
export function servicesClosedAfterEach(): (o?: Parameters<typeof testService>[0]) => TestService {
  const open: TestService[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  return (o = {}) => {
    const s = testService(o);
    open.push(s);
    return s;
  };
}
