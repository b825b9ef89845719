/**
 * Running a target for one row of a live run: start it (or find the one the user runs), wait until it is ready,
 * check its protocol through to the mock, and note the mock's counters after that check so the run subtracts it.
 * The live runner calls {@link startTarget} where it would start the engine service.
 */
import type { Clock } from '../../src/time/clock.js';
import type { JsonValue } from '../measure/types.js';
import { fetchMockStats } from '../run/live-metrics.js';
import { ProcessStartError, freePort, type ManagedProcess, type ProcessGroup, type ProcessSpec } from '../run/processes.js';
import { checkProtocol, waitUntilReady } from './probe.js';
import { TargetError, type MockEndpoints, type TargetAdapter } from './target.js';

/** The mock counters that the protocol check moved, subtracted from the run's totals. */
export interface ProbeBaseline {
  readonly upstreamCalls: number;
  readonly tokensComputed: number;
  readonly wastedTokens: number;
}

/** A target ready for the load. */
export interface RunningTarget {
  readonly name: string;
  readonly url: string;
  /** Headers for every request. */
  readonly headers: Readonly<Record<string, string>>;
  /** Stored as the row's `config` in result.json. */
  readonly config: JsonValue;
  readonly baseline: ProbeBaseline;
  readonly adapter: TargetAdapter;
  /** The adapter's own cleanup (processes in the group are stopped by the runner). */
  stop(): Promise<void>;
}

/** Options of {@link startTarget}. */
export interface StartTargetOptions {
  readonly clock: Clock;
  readonly group: ProcessGroup;
  /** The mock processes' base URLs (no `/v1`), primary and fallback. */
  readonly mocks: { readonly primary: string; readonly fallback?: string };
  readonly primaryModel: string;
  readonly fallbackModel: string;
  /** @default 30_000 */
  readonly readyTimeoutMs?: number;
  /** How long a target the user runs may take to answer. @default 5_000 */
  readonly userReadyTimeoutMs?: number;
  readonly onProcess?: (p: ManagedProcess) => void;
  readonly signal?: AbortSignal;
}

/** What the harness cannot see inside an external target: reported as unknown, never as zero. */
export const TARGET_UNKNOWNS = ['queueMs', 'backoffMs', 'peakQueue', 'queueDepth', 'inFlight', 'concurrencyLimit', 'breakerState', 'budgetLevel', 'attempts per request'] as const;

/**
 * Starts (or finds) `t`, waits until it is ready and checks its protocol.
 * @throws TargetError TARGET_INVALID, TARGET_UNREACHABLE, TARGET_NOT_READY or TARGET_PROTOCOL.
 */
export async function startTarget(t: TargetAdapter, o: StartTargetOptions): Promise<RunningTarget> {
  const endpoints: MockEndpoints = {
    upstreamUrl: `${o.mocks.primary}/v1`,
    ...(o.mocks.fallback !== undefined ? { fallbackUrl: `${o.mocks.fallback}/v1` } : {}),
    primaryModel: o.primaryModel,
    fallbackModel: o.fallbackModel,
  };
  const readyTimeoutMs = o.readyTimeoutMs ?? 30_000;
  let url: string;
  let stop: () => Promise<void> = () => Promise.resolve();
  if (t.start !== undefined) {
    const spawn = async (spec: ProcessSpec): Promise<ManagedProcess> => {
      try {
        const p = await o.group.start(spec, { readyTimeoutMs, ...(o.signal !== undefined ? { signal: o.signal } : {}) });
        o.onProcess?.(p);
        return p;
      } catch (err) {
        if (err instanceof ProcessStartError) throw new TargetError('TARGET_NOT_READY', t.name, err.message, { cause: err });
        throw err;
      }
    };
    const started = await t.start({ ...endpoints, port: await freePort(), readyTimeoutMs, spawn, ...(o.signal !== undefined ? { signal: o.signal } : {}) });
    url = started.url.replace(/\/$/, '');
    if (started.stop !== undefined) stop = started.stop;
    await waitUntilReady(t, url, { clock: o.clock, timeoutMs: readyTimeoutMs, ...(o.signal !== undefined ? { signal: o.signal } : {}) });
  } else {
    if (t.url === undefined) throw new TargetError('TARGET_INVALID', t.name, 'expected a url or a start function, got neither');
    url = t.url.replace(/\/$/, '');
    await waitUntilReady(t, url, {
      clock: o.clock,
      timeoutMs: o.userReadyTimeoutMs ?? 5_000,
      upstreamUrl: endpoints.upstreamUrl,
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
    });
  }
  try {
    const headers = t.headers?.(endpoints) ?? {};
    await checkProtocol(t, url, { model: o.primaryModel, headers, timeoutMs: Math.min(readyTimeoutMs, 15_000) });
    const baseline = await mockBaseline([o.mocks.primary, ...(o.mocks.fallback !== undefined ? [o.mocks.fallback] : [])]);
    if (baseline.upstreamCalls === 0) {
      throw new TargetError(
        'TARGET_PROTOCOL',
        t.name,
        `expected its answers to come from the mock GPU at ${endpoints.upstreamUrl}, but the mock received no request: point its upstream there`,
      );
    }
    const adapterConfig = t.describeConfig?.(endpoints) ?? null;
    return {
      name: t.name,
      url,
      headers,
      adapter: t,
      baseline,
      config: {
        kind: 'external-target',
        name: t.name,
        description: t.description ?? null,
        url,
        unknown: [...TARGET_UNKNOWNS],
        adapter: adapterConfig,
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The mocks' request and token counts right now (summed over models and processes). */
async function mockBaseline(urls: readonly string[]): Promise<ProbeBaseline> {
  let upstreamCalls = 0;
  let tokensComputed = 0;
  let wastedTokens = 0;
  for (const u of urls) {
    const s = await fetchMockStats(u);
    for (const m of Object.values(s?.models ?? {})) {
      upstreamCalls += m.requests;
      tokensComputed += m.outputTokens;
      wastedTokens += m.wastedTokens;
    }
  }
  return { upstreamCalls, tokensComputed, wastedTokens };
}
