/**
 * The live runner: real processes on loopback. For one policy it starts the mock server (the primary model, and
 * the fallback model in a process of its own when the scenario has one, each under `--supervise` so a crash fault
 * really kills the server and a supervisor restarts it) and the engine service for that policy; sets the
 * scenario's fault plan when the load starts; plays the same sessions as the virtual runner (same seed) over
 * HTTP/SSE; samples gauges once per second; and stops every process it started.
 *
 * Latencies count from each request's intended start on a RealClock. What the runner cannot see stays null.
 */
import { ValidationError } from '../../src/errors.js';
import { setMaxListeners } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Random } from '../../src/random.js';
import { RealClock } from '../../src/time/real-clock.js';
import { scenarioPrices } from '../cost/price.js';
import { Recorder } from '../measure/recorder.js';
import type { JsonValue } from '../measure/types.js';
import { policyName, resolveScenarioPolicy, type Scenario, type ScenarioPolicy, type ScenarioProfile } from '../scenario.js';
import { isTargetAdapter, type TargetAdapter } from '../targets/target.js';
import { startTarget, type RunningTarget } from '../targets/start.js';
import { finishTargetResult } from '../targets/target-result.js';
import { planAfter } from '../../sim/faults.js';
import { buildWorkload, playWorkload, type PlannedRequest, type RequestReply, type SessionContext } from '../workload/index.js';
import { HttpDriver } from './drivers/http-driver.js';
import { putFaultPlan } from './live-faults.js';
import { fleetFaultPlans, fleetPrices, startFleetMocks, withFleet, type LiveFleetMocks } from './live-fleet.js';
import { LiveFleetSampler } from './live-fleet-sampler.js';
import { defaultDeploymentOf, isFleetModel } from '../scenario-fleet.js';
import type { EngineExplanation } from './live-explain.js';
import { LiveSampler } from './live-sampler.js';
import { LoadMonitor, type LoadGeneratorReport, type LoadLimits } from './live-monitor.js';
import { ProcessGroup, ProcessStartError, describeExit, freePort, type ManagedProcess } from './processes.js';
import { faultPhases, type PolicyRun } from './virtual.js';
import { FALLBACK_MODEL, PRIMARY_MODEL } from './world.js';

/** The repository root, or the package's dist/ when installed (entry points are resolved against it). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** `.ts` when running from source (under tsx), `.js` when running the compiled package. */
const ENTRY_EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
export const MOCK_ENTRY = join(REPO_ROOT, 'sim', `main${ENTRY_EXT}`);
export const ENGINE_ENTRY = join(REPO_ROOT, 'src', 'api', `main${ENTRY_EXT}`);

/** Options of one policy's live run. */
export interface LiveRunOptions {
  readonly scenario: Scenario;
  /** A policy of the engine service, or an external system under test that takes the engine's place (harness/targets). */
  readonly policy: ScenarioPolicy | TargetAdapter;
  /** The primary mock listens on this port and the fallback on the next one, so a system the user runs can point at them. @default free ports */
  readonly mockPort?: number;
  readonly seed: number;
  /** Arrival window. */
  readonly durationMs: number;
  /**
   * A chaos proxy (`npm run sim -- --proxy URL`, sim/proxy-server.ts) in front of a real model, used in place of the
   * built-in mock: no mock process is started; the scenario's primary fault plan is set on the proxy, and the engine
   * or target calls it as its upstream. A scenario's fallback model has no mock then. @default the built-in mock
   */
  readonly proxyUrl?: string;
  /** @default process.cwd() */
  readonly baseDir?: string;
  /** Requests still open this long after the arrival window are cancelled. @default 600_000 */
  readonly drainMs?: number;
  /** About once per second with the ms since the load started. */
  readonly onProgress?: (elapsedMs: number) => void;
  /** When the load generator counts as the bottleneck. */
  readonly limits?: LoadLimits;
  /** Aborts the run: open requests end `cancelled`, processes are stopped. */
  readonly signal?: AbortSignal;
  /** How long each process may take to become ready. @default 30_000 */
  readonly readyTimeoutMs?: number;
  /** Called with every process once it is ready (tests use it to watch PIDs). */
  readonly onProcess?: (p: ManagedProcess) => void;
  /**
   * Drive the mock directly instead of through the engine service (a diagnostic: the HTTP and mock cost without
   * the engine). @default 'engine'
   */
  readonly target?: 'engine' | 'mock';
  /**
   * After the load, this many sequential probe requests (one at a time, nothing else running) through the engine and
   * straight to the mock: the fixed cost of the HTTP path at zero load, for the agreement report. @default 0
   */
  readonly probes?: number;
}

/** Zero-load TTFT medians of the probe requests (see `LiveRunOptions.probes`). */
export interface ProbeTtft {
  readonly requests: number;
  /** Through the engine service (null when there is none, e.g. an external target). */
  readonly throughEngineMs: number | null;
  /** Straight to the mock, no engine. */
  readonly directToMockMs: number | null;
}

/** What one policy's live run produced. */
export interface LivePolicyRun extends PolicyRun {
  readonly loadGenerator: LoadGeneratorReport;
  /** Wall time of the whole policy run, process start-up included. */
  readonly wallMs: number;
  /** Restarts of the primary mock process seen during the run. */
  readonly mockRestarts: number;
  /** The primary mock's worst per-second event-loop delay p99 during the load. */
  readonly mockLagP99Ms: number;
  readonly probes?: ProbeTtft;
  /** Why requests did not end `ok` (HTTP status and error code, stream errors, socket errors), most frequent first. */
  readonly causes: ReadonlyArray<{ readonly cause: string; readonly count: number }>;
  /** What the engine's breaker counted and why it opened, and why it gave up on requests (./live-explain.ts). */
  readonly engineExplanation: EngineExplanation | null;
}

/** The probe request: a fixed, short chat (see `LiveRunOptions.probes`). */
export function probeRequest(i: number, tag: string): PlannedRequest {
  return {
    id: `probe-${tag}-${i}`,
    class: 'probe',
    kind: 'chat',
    tenant: 'probe',
    priority: 'interactive',
    promptTokens: PROBE_PROMPT_TOKENS,
    outputTokens: PROBE_OUTPUT_TOKENS,
    messages: [{ role: 'user', content: `probe ${i}` }],
    batchable: false,
  };
}
export const PROBE_PROMPT_TOKENS = 256;
export const PROBE_OUTPUT_TOKENS = 4;

/** Median TTFT of `n` sequential probes against `baseUrl` (the first few, cold, are dropped). */
async function probeTtft(clock: RealClock, baseUrl: string, n: number, tag: string): Promise<number | null> {
  const driver = new HttpDriver({ baseUrl, now: () => clock.now(), model: PRIMARY_MODEL });
  const ttft: number[] = [];
  try {
    for (let i = 0; i < n + PROBE_WARMUP; i++) {
      const t = clock.now();
      const r = await driver.send(probeRequest(i, tag), t);
      if (i >= PROBE_WARMUP && r.observation.firstTokenAtMs !== undefined) ttft.push(r.observation.firstTokenAtMs - t);
    }
  } finally {
    await driver.close();
  }
  ttft.sort((a, b) => a - b);
  return ttft.length === 0 ? null : Math.round((ttft[Math.floor(ttft.length / 2)] as number) * 1000) / 1000;
}
const PROBE_WARMUP = 3;

/** Runs one policy of a scenario live. Every process it starts is stopped before it returns or throws. */
export async function runPolicyLive(o: LiveRunOptions): Promise<LivePolicyRun> {
  if ('client' in o.scenario.workload && o.scenario.workload.client !== undefined) {
    throw new ValidationError('scenario.workload.client', 'no client timeout in live mode (client timeouts and resends run in virtual mode only)', o.scenario.workload.client);
  }
  const clock = new RealClock();
  const tStart = clock.now();
  const group = new ProcessGroup(clock);
  const uninstallExitHandlers = group.installExitHandlers();
  const external = isTargetAdapter(o.policy) ? o.policy : undefined;
  const name = isTargetAdapter(o.policy) ? o.policy.name : policyName(o.policy);
  const policy = isTargetAdapter(o.policy) ? undefined : resolveScenarioPolicy(o.policy);
  const m = o.scenario.model;
  const readyTimeoutMs = o.readyTimeoutMs ?? 30_000;
  let running: RunningTarget | undefined;
  if (isFleetModel(m) && (o.proxyUrl !== undefined || external !== undefined)) {
    throw new ValidationError('scenario.model.deployments', 'the built-in mock and the engine service (a fleet runs live against them, not a chaos proxy or an external target)', Object.keys(m.deployments).join(', '));
  }
  try {
    // A fleet: a mock process per deployment, its replicas on consecutive ports (harness/run/live-fleet.ts).
    const fleet: LiveFleetMocks | undefined = isFleetModel(m)
      ? await startFleetMocks(group, m, { entry: MOCK_ENTRY, model: PRIMARY_MODEL, seed: o.seed, readyTimeoutMs, ...(o.onProcess !== undefined ? { onProcess: o.onProcess } : {}) })
      : undefined;
    const mocks: { primary: { url: string }; fallback?: { url: string } } =
      fleet !== undefined
        ? { primary: { url: fleet.primaryUrl } }
        : o.proxyUrl !== undefined
          ? { primary: { url: o.proxyUrl.replace(/\/+$/, '') } }
          : await startMocks(group, o, readyTimeoutMs);
    const target = o.target ?? 'engine';
    let engineUrl: string | undefined;
    if (external !== undefined) {
      running = await startTarget(external, {
        clock,
        group,
        mocks: { primary: mocks.primary.url, ...(mocks.fallback !== undefined ? { fallback: mocks.fallback.url } : {}) },
        primaryModel: PRIMARY_MODEL,
        fallbackModel: FALLBACK_MODEL,
        readyTimeoutMs,
        ...(o.onProcess !== undefined ? { onProcess: o.onProcess } : {}),
        ...(o.signal !== undefined ? { signal: o.signal } : {}),
      });
    } else if (target === 'engine' && !isTargetAdapter(o.policy)) {
      const port = await freePort();
      const engine = await group.start(
        {
          name: `engine[${name}]`,
          entry: ENGINE_ENTRY,
          args: fleet !== undefined ? withFleet(engineArgs(o.policy, port, mocks.primary.url, undefined, o.seed), fleet.fleetJson) : engineArgs(o.policy, port, mocks.primary.url, mocks.fallback?.url, o.seed),
          port,
          readyPath: '/healthz',
        },
        { readyTimeoutMs },
      );
      o.onProcess?.(engine);
      engineUrl = engine.url;
    }

    // The load starts now: fault plans are set, and their timelines count from here, as in virtual time.
    const sm = o.scenario.model;
    const plans: Array<{ url: string; model: string; plan: NonNullable<Scenario['model']['faults']> }> = [];
    if (fleet !== undefined && isFleetModel(sm)) {
      // Each replica's plan: its deployment's faults and the timeline phases aimed at it.
      for (const f of fleetFaultPlans(sm, fleet.replicas)) plans.push({ url: f.url, model: PRIMARY_MODEL, plan: f.plan as NonNullable<Scenario['model']['faults']> });
    } else if (sm.faults !== undefined) plans.push({ url: mocks.primary.url, model: PRIMARY_MODEL, plan: sm.faults });
    const fallbackFaults = o.scenario.model.fallbackFaults;
    if (fallbackFaults !== undefined && mocks.fallback !== undefined) plans.push({ url: mocks.fallback.url, model: FALLBACK_MODEL, plan: fallbackFaults });
    await Promise.all(plans.map((p) => putFaultPlan(p.url, p.model, p.plan)));
    const t0 = clock.now();
    const now = (): number => clock.now() - t0;

    const stop = new AbortController();
    setMaxListeners(0, stop.signal);
    const onOuterAbort = (): void => stop.abort(o.signal?.reason);
    o.signal?.addEventListener('abort', onOuterAbort, { once: true });

    const driver = new HttpDriver({
      baseUrl: engineUrl ?? running?.url ?? mocks.primary.url,
      now,
      model: PRIMARY_MODEL,
      signal: stop.signal,
      ...(running !== undefined ? targetDriverOptions(running) : {}),
    });
    const recorder = new Recorder({ policy: name, config: running?.config ?? (policy as unknown as JsonValue), slo: o.scenario.slo });
    const monitor = new LoadMonitor(clock);
    const sampler = new LiveSampler({
      clock,
      now,
      recorder,
      ...(engineUrl !== undefined ? { engineUrl } : {}),
      mocks:
        fleet !== undefined
          ? fleet.replicas.map((r) => ({ url: r.url, model: PRIMARY_MODEL, primary: r.url === fleet.primaryUrl }))
          : [
              { url: mocks.primary.url, model: PRIMARY_MODEL, primary: true },
              ...(mocks.fallback !== undefined ? [{ url: mocks.fallback.url, model: FALLBACK_MODEL, primary: false }] : []),
            ],
      // A restarted mock has no plan: set what is left of the timeline again.
      onRestart: (url, model) => {
        const p = plans.find((x) => x.url === url && x.model === model);
        if (p !== undefined) void putFaultPlan(url, model, planAfter(p.plan, now())).catch(() => undefined);
      },
      ...(o.onProgress !== undefined ? { onProgress: o.onProgress } : {}),
    });

    const built = buildWorkload(o.scenario.workload, new Random(o.seed).derive('workload'), {
      durationMs: o.durationMs,
      baseDir: o.baseDir ?? process.cwd(),
    });
    let lastEndMs = 0;
    const causes = new Map<string, number>();
    // A fleet's batched and embedding calls name no deployment: the engine's fleet sends them to the default one.
    const defaultDeployment = fleet !== undefined && isFleetModel(sm) ? defaultDeploymentOf(sm) : undefined;
    // A process that dies during the load (not the mock's server under its supervisor: that is a crash fault) ends
    // the run with an error naming it, instead of a run where every request failed for no visible reason.
    let died: ManagedProcess | undefined;
    for (const p of group.processes) {
      void p.exited.then(() => {
        if (died === undefined && !stop.signal.aborted) {
          died = p;
          stop.abort(new Error(`${p.name} exited`));
        }
      });
    }
    let abortedAtMs = Number.POSITIVE_INFINITY;
    stop.signal.addEventListener('abort', () => (abortedAtMs = now()), { once: true });
    const send = async (req: PlannedRequest, intendedStartMs: number): Promise<RequestReply> => {
      // An interrupted run does not count what was not yet due when it stopped.
      if (intendedStartMs > abortedAtMs) return { ok: false, outcome: 'cancelled', tokens: 0, text: '' };
      recorder.arrival(intendedStartMs);
      const r = await driver.send(req, intendedStartMs);
      if (r.cause !== undefined) causes.set(r.cause, (causes.get(r.cause) ?? 0) + 1);
      const obs = billedByDeployment(partialInputs(req, r.observation), defaultDeployment);
      recorder.complete(obs);
      if (obs.endAtMs > lastEndMs) lastEndMs = obs.endAtMs;
      return { ok: obs.outcome === 'ok' || obs.outcome === 'degraded', outcome: obs.outcome, tokens: obs.tokens, text: r.text };
    };
    // Once the run is aborted, sessions stop waiting: what they still send ends `cancelled` at once.
    const ctx: SessionContext = {
      now,
      sleep: (ms) => clock.sleep(ms, stop.signal).catch(() => undefined),
      send,
      sessionStarted: () => recorder.sessionStarted(now()),
      sessionEnded: () => recorder.sessionEnded(now()),
      signal: stop.signal,
    };

    // A fleet's per-replica section, from each replica's /mock/stats and the engine's fleet metrics.
    const fleetSampler =
      fleet !== undefined && engineUrl !== undefined && isFleetModel(sm)
        ? new LiveFleetSampler({ clock, now, engineUrl, replicas: fleet.replicas, model: PRIMARY_MODEL, prices: fleetPrices(sm) })
        : undefined;
    monitor.start();
    sampler.start();
    fleetSampler?.start();
    const drain = clock.setTimer(o.durationMs + (o.drainMs ?? 600_000), () => stop.abort(new Error('run drain limit reached')));
    try {
      await playWorkload(built, ctx);
    } finally {
      drain.cancel();
      o.signal?.removeEventListener('abort', onOuterAbort);
    }
    const loadGenerator = monitor.stop(o.limits);
    if (died !== undefined) {
      await sampler.stop();
      await fleetSampler?.stop();
      await driver.close();
      throw new ProcessStartError(died.name, `exited during the run (${describeExit(died.exit ?? { code: null, signal: null })})`, died.stderrTail());
    }
    const seen = await sampler.stop();
    await fleetSampler?.stop();
    await driver.close();
    const n = stop.signal.aborted ? 0 : (o.probes ?? 0);
    const probes: ProbeTtft | undefined =
      n > 0
        ? {
            requests: n,
            throughEngineMs: engineUrl === undefined ? null : await probeTtft(clock, engineUrl, n, 'engine'),
            directToMockMs: await probeTtft(clock, mocks.primary.url, n, 'mock'),
          }
        : undefined;

    // A fleet's GPU figures are over every replica, and its dollars priced per deployment, as in virtual mode.
    const fleetGpu = fleetSampler?.gpu(lastEndMs);
    const recorded = recorder.finish({
      // A trace replay's rates are over the span it replayed, not a longer arrival window it left empty.
      durationMs: built.replay?.replayedMs ?? o.durationMs,
      wastedTokens: o.proxyUrl !== undefined ? null : seen.wastedTokens,
      tokensComputed: o.proxyUrl !== undefined ? null : seen.tokensComputed,
      // A chaos proxy has no GPU to be busy: utilization is unknown, not 0.
      gpuUtilization: fleetGpu !== undefined ? fleetGpu.gpuUtilization : o.proxyUrl !== undefined || seen.primaryBusyMs === null || lastEndMs === 0 ? null : Math.min(1, seen.primaryBusyMs / lastEndMs),
      meanBatchSize: fleetGpu !== undefined ? fleetGpu.meanBatchSize : o.proxyUrl !== undefined ? null : seen.meanBatchSize,
      faultPhases: faultPhases(o.scenario),
      upstreamCalls: seen.upstreamCalls,
      prefixCache: seen.prefixCache,
      // Dollars from the bills the answers reported (the engine's x_engine.bills, else a target's usage).
      cost:
        fleetSampler !== undefined
          ? fleetSampler.costInput(lastEndMs)
          : {
              ...scenarioPrices(o.scenario.model),
              gpu: o.proxyUrl !== undefined || seen.primaryBusyMs === null ? null : { primary: { busyMs: seen.primaryBusyMs, elapsedMs: lastEndMs }, fallback: null },
            },
    });
    // The client sees one answer per request, not the attempts behind it: take the engine's own count.
    const withFleetSection = fleetSampler === undefined ? recorded : { ...recorded, fleet: fleetSampler.finish(recorded.series.arrivals.length, lastEndMs) };
    const result =
      running !== undefined
        ? finishTargetResult(recorded, running.baseline)
        : seen.attempts === null
          ? withFleetSection
          : { ...withFleetSection, counters: { ...recorded.counters, attempts: seen.attempts } };
    return {
      result,
      simulatedMs: lastEndMs,
      loadGenerator,
      wallMs: clock.now() - tStart,
      mockRestarts: seen.primaryRestarts,
      mockLagP99Ms: seen.mockLagP99Ms,
      causes: [...causes.entries()].sort((a, b) => b[1] - a[1]).map(([cause, count]) => ({ cause, count })),
      engineExplanation: seen.engineExplanation,
      ...(probes !== undefined ? { probes } : {}),
    };
  } finally {
    await running?.stop();
    await group.stopAll();
    uninstallExitHandlers();
  }
}

/** The driver's view of a target: its headers, and how its answers map to outcomes. */
function targetDriverOptions(t: RunningTarget): Pick<ConstructorParameters<typeof HttpDriver>[0], 'headers' | 'outcomeOfStatus' | 'degradedFrom'> {
  const a = t.adapter;
  return {
    headers: t.headers,
    // Nothing tells an external target's own shedding from a failure on the wire: non-2xx is failed, 408 timeout.
    outcomeOfStatus: a.outcomeOfStatus?.bind(a) ?? ((status) => (status === 408 ? 'timeout' : 'failed')),
    ...(a.degradedFrom !== undefined ? { degradedFrom: a.degradedFrom.bind(a) } : {}),
  };
}

async function startMocks(group: ProcessGroup, o: LiveRunOptions, readyTimeoutMs: number): Promise<{ primary: ManagedProcess; fallback?: ManagedProcess }> {
  const m = o.scenario.model;
  const start = async (model: string, profile: ScenarioProfile, rateLimits: unknown): Promise<ManagedProcess> => {
    const port = o.mockPort === undefined ? await freePort() : o.mockPort + (model === PRIMARY_MODEL ? 0 : 1);
    // A profile object goes to the mock as inline JSON (sim/cli-options.ts reads `NAME={...}`).
    const spec = typeof profile === 'string' ? profile : JSON.stringify(profile);
    const args = ['--port', String(port), '--model', `${model}=${spec}`, '--seed', String(o.seed), '--supervise'];
    if (rateLimits !== undefined) args.push('--rate-limits', JSON.stringify(rateLimits));
    const p = await group.start({ name: `mock[${model}]`, entry: MOCK_ENTRY, args, port, readyPath: '/health' }, { readyTimeoutMs });
    o.onProcess?.(p);
    return p;
  };
  const [primary, fallback] = await Promise.all([
    start(PRIMARY_MODEL, m.profile ?? 'h100-llama3-8b', m.rateLimits),
    m.fallbackProfile === undefined ? Promise.resolve(undefined) : start(FALLBACK_MODEL, m.fallbackProfile, undefined),
  ]);
  return fallback === undefined ? { primary } : { primary, fallback };
}

/**
 * The engine service's command line for `policy` (src/api/main.ts). The engine's random streams are seeded with
 * the run's seed, as in the virtual world; the client's model name (`primary`) goes to the primary upstream and
 * `fallback` to the fallback one, the names the mock processes serve.
 */
export function engineArgs(policy: ScenarioPolicy, port: number, upstream: string, fallback: string | undefined, seed = 1): string[] {
  // The default exporter (Prometheus) serves /metrics, which the run samples. `--open`: the Bearer key is the tenant.
  // The mock continues a prefix and reproduces its text per request id: dialect `mock`, as the in-process client.
  // `--tokenizer chars`: the engine counts prompts as the virtual world does (and starts without loading an encoding).
  const args = ['--port', String(port), '--upstream', upstream, '--upstream-dialect', 'mock', '--tokenizer', 'chars', '--open', '--seed', String(seed)];
  if (typeof policy === 'string') args.push('--policy', policy);
  else {
    args.push('--policy', policy.preset);
    if (policy.overrides !== undefined) args.push('--policy-overrides', JSON.stringify(policy.overrides));
  }
  if (fallback !== undefined) args.push('--fallback', fallback, '--fallback-model', FALLBACK_MODEL);
  return args;
}

/** In a fleet, a bill that names no deployment (a batched or embedding call) is the default deployment's. */
function billedByDeployment(obs: import('../measure/types.js').RequestObservation, defaultDeployment: string | undefined): import('../measure/types.js').RequestObservation {
  if (defaultDeployment === undefined || obs.bills === undefined || obs.bills.every((b) => b.deployment !== undefined)) return obs;
  return { ...obs, bills: obs.bills.map((b) => (b.deployment !== undefined ? b : { ...b, deployment: defaultDeployment })) };
}

/** An agent's summarizer built from partial inputs is a degraded answer even when its own call succeeded. */
function partialInputs(req: PlannedRequest, obs: import('../measure/types.js').RequestObservation): import('../measure/types.js').RequestObservation {
  if (obs.outcome !== 'ok' || req.partialInputs === undefined || req.partialInputs.failed === 0) return obs;
  return { ...obs, outcome: 'degraded', degraded: 'partial-inputs' };
}
