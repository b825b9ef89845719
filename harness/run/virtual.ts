/**
 * The virtual runner: one process, VirtualClock, the mock GPU in-process, no sockets. Exactly repeatable: the same
 * seed and code give the same PolicyResult. Each policy runs in a fresh world (harness/run/world.ts).
 */
import type { EngineEvent, EngineRequest, EngineResult } from '../../src/engine/engine.js';
import { reasonOf } from '../../src/engine/reasons.js';
import { scenarioPrices } from '../cost/price.js';
import type { AttemptBill, CostInput } from '../measure/billing.js';
import { ChunkTimes } from '../measure/chunk-times.js';
import { Recorder } from '../measure/recorder.js';
import type { PolicyResult } from '../measure/result.js';
import type { FaultPhase, JsonValue, RequestObservation, TokenChunk } from '../measure/types.js';
import { policyName, resolveScenarioPolicy, type Scenario, type ScenarioPolicy } from '../scenario.js';
import { fleetPhases, isFleetModel } from '../scenario-fleet.js';
import { buildWorkload, playWorkload, type BuiltWorkload, type PlannedRequest, type RequestReply, type SessionContext } from '../workload/index.js';
import type { MockModel, MockModelMetrics } from '../../sim/mock-model.js';
import type { Transport } from './transport.js';
import { PRIMARY_MODEL, buildWorld, type World } from './world.js';

/** Options of one policy's virtual run. */
export interface VirtualRunOptions {
  readonly scenario: Scenario;
  readonly policy: ScenarioPolicy;
  /** Root seed; the scenario's unless overridden. */
  readonly seed: number;
  /** Arrival window; the scenario's unless overridden. */
  readonly durationMs: number;
  /** Where relative trace paths are resolved. @default process.cwd() */
  readonly baseDir?: string;
  /**
   * Requests still open this long after the arrival window closes are cancelled, so a run whose policy hangs
   * forever still ends (and the hang shows as `cancelled`). @default 600_000
   */
  readonly drainMs?: number;
  /** Called about once per simulated second with the simulated time. */
  readonly onProgress?: (simulatedMs: number) => void;
  /** The HTTP hops of live mode as delays (see `WorldOptions.transport`). @default none */
  readonly transport?: Transport;
  /** Called with every request's observation (its bills included) as it is recorded: for diagnostics. */
  readonly onRequest?: (obs: RequestObservation) => void;
  /** Called with every engine event (breaker transitions, cache lookups, ...) in simulated time: for diagnostics. */
  readonly onEngineEvent?: (e: EngineEvent) => void;
  /**
   * The scenario's workload already built for this seed, duration and base directory (`buildWorkload(
   * scenario.workload, new Random(seed).derive('workload'), ...)`, what the run would build itself). A run only
   * reads it (its sessions are plans; each play keeps its state to itself), so a scenario run builds it once for
   * all its policies and its ceiling. @default built here
   */
  readonly workload?: BuiltWorkload;
}

/** What one policy's run produced. */
export interface PolicyRun {
  readonly result: PolicyResult;
  /** Simulated time from the first arrival to the last completion. */
  readonly simulatedMs: number;
  /** Each mock model's counters at the end of a virtual run (what its `/metrics` would show), primary first. */
  readonly models?: readonly MockModelMetrics[];
}

const SAMPLE_MS = 1000;
/** A placeholder, replaced by each observation's own (lazy) chunks. */
const NO_CHUNKS: readonly TokenChunk[] = Object.freeze([]);

/** The fault phases of a scenario's timeline, for reports and recovery times. */
export function faultPhases(scenario: Scenario): FaultPhase[] {
  if (isFleetModel(scenario.model)) {
    // A fleet's phases each hit a deployment or one replica: the description says which.
    return fleetPhases(scenario.model).map(({ phase: p, target }, i) => ({
      name: p.name ?? `phase ${i + 1}`,
      atMs: p.atMs,
      durationMs: p.durationMs,
      description: `${describeFault(p.fault)} on ${target}`,
    }));
  }
  return (scenario.model.faults?.timeline ?? []).map((p, i) => ({
    name: p.name ?? `phase ${i + 1}`,
    atMs: p.atMs,
    durationMs: p.durationMs,
    description: describeFault(p.fault),
  }));
}

function describeFault(fault: object): string {
  return Object.keys(fault).sort().join(', ');
}

/** Runs one policy of a scenario in virtual time. */
export async function runPolicyVirtual(o: VirtualRunOptions): Promise<PolicyRun> {
  const policy = resolveScenarioPolicy(o.policy);
  const world = buildWorld(o.scenario, policy, o.seed, o.transport !== undefined ? { transport: o.transport } : {});
  try {
    return await runInWorld(world, o, policyName(o.policy), policy as unknown as JsonValue);
  } finally {
    world.close();
  }
}

async function runInWorld(world: World, o: VirtualRunOptions, name: string, config: JsonValue): Promise<PolicyRun> {
  const { clock, engine, submit } = world;
  const recorder = new Recorder({ policy: name, config, slo: o.scenario.slo, ...(o.scenario.recovery !== undefined ? { recovery: o.scenario.recovery } : {}) });
  const built =
    o.workload ??
    buildWorkload(o.scenario.workload, world.random.derive('workload'), {
      durationMs: o.durationMs,
      baseDir: o.baseDir ?? process.cwd(),
    });
  // The run's stop (the drain limit): sessions read it; each open request has a signal of its own, aborted with it
  // in the order the requests were sent. (One signal shared by every request would do the same, but an EventTarget
  // walks its whole listener list on every add and remove: quadratic with thousands of requests open.)
  const stop = new AbortController();
  const open = new Set<AbortController>();
  let lastEndMs = 0;

  engine.onEvent((e) => {
    if (e.type === 'attempt-failed' && e.code === 'RATE_LIMITED') recorder.rateLimited(e.atMs);
  });
  if (o.onEngineEvent !== undefined) engine.onEvent(o.onEngineEvent);
  // Every call the models bill, by request id until its request completes (the engine keeps the client's id).
  const bills = new Map<string, AttemptBill[]>();
  // Ids of requests already recorded: a bill for one of them is a call that outlived its request (abandoned).
  const done = new Set<string>();
  const abandoned: AttemptBill[] = [];
  const listenBills = (m: MockModel): void => {
    const fallback = world.fleet === undefined && m !== world.primary;
    m.onBill((b) => {
      const deployment = world.fleet?.deploymentOf(b);
      const bill: AttemptBill = deployment === undefined ? { ...b, fallback } : { ...b, fallback, deployment, replica: b.model };
      if (done.has(b.id)) return void abandoned.push(bill);
      const list = bills.get(b.id);
      if (list === undefined) bills.set(b.id, [bill]);
      else list.push(bill);
    });
  };
  world.models.forEach(listenBills);
  world.fleet?.onReplica((r) => listenBills(r.model));

  const send = async (req: PlannedRequest, intendedStartMs: number): Promise<RequestReply> => {
    recorder.arrival(intendedStartMs);
    // Room for one chunk per token asked for (a GPU step delivers one token to each running sequence).
    const chunks = new ChunkTimes(req.outputTokens);
    const own = new AbortController();
    if (stop.signal.aborted) own.abort(stop.signal.reason);
    else open.add(own);
    const patience = clientTimeout(req, chunks, own);
    // Across the client→engine hop when the world has one: chunks and the end count when they reach the driver.
    const result = await submit(toEngineRequest(req, intendedStartMs, clock.now(), chunks, o.transport === undefined), own.signal).finally(() => {
      patience?.done();
      open.delete(own);
    });
    const seen = observe(req, intendedStartMs, result, NO_CHUNKS);
    const timedOut = patience?.timedOut() === true;
    const obs: RequestObservation = { ...(timedOut ? { ...seen, outcome: 'timeout' as const, reason: 'client_timeout' } : seen), bills: bills.get(req.id) ?? [] };
    // The chunks as objects only if something reads them (a diagnostics listener): the recorder reads the arrays.
    let chunkObjects: TokenChunk[] | undefined;
    Object.defineProperty(obs, 'chunks', { get: () => (chunkObjects ??= chunks.toChunks()), enumerable: true, configurable: true });
    bills.delete(req.id);
    done.add(req.id);
    recorder.complete(obs, chunks);
    o.onRequest?.(obs);
    if (obs.endAtMs > lastEndMs) lastEndMs = obs.endAtMs;
    return { ok: obs.outcome === 'ok' || obs.outcome === 'degraded', outcome: obs.outcome, tokens: result.tokens, text: result.text, ...(timedOut ? { clientTimedOut: true } : {}) };
  };
  // The client's own timeout (workload `client`): no token within clientTimeoutMs of sending, and it hangs up.
  const clientTimeout = (req: PlannedRequest, chunks: ChunkTimes, own: AbortController) => {
    const limitMs = req.clientTimeoutMs;
    if (limitMs === undefined) return undefined;
    let fired = false;
    const timer = clock.setTimer(
      limitMs,
      () => {
        if (chunks.length > 0) return;
        fired = true;
        own.abort(new Error(`client timeout: no token within ${limitMs} ms`));
      },
      'client-timeout',
    );
    return { timedOut: () => fired, done: () => timer.cancel() };
  };
  const ctx: SessionContext = {
    now: () => clock.now(),
    sleep: (ms) => clock.sleep(ms),
    send,
    sessionStarted: () => recorder.sessionStarted(clock.now()),
    sessionEnded: () => recorder.sessionEnded(clock.now()),
    signal: stop.signal,
  };

  // Gauges once per simulated second while any session is still running.
  let running = true;
  let lastBusyMs = 0;
  const sample = (): void => {
    const snap = engine.snapshot();
    const fleetUtilization = world.fleet?.sample();
    const busyMs = world.fleet === undefined ? world.primary.metrics().busyMs : 0;
    recorder.gauge(clock.now(), {
      queueDepth: snap.queueDepth,
      inFlight: snap.inFlight,
      concurrencyLimit: Number.isFinite(snap.concurrencyLimit) ? snap.concurrencyLimit : null,
      breakerState: snap.breaker,
      ...(snap.budgetLevel !== undefined ? { budgetLevel: snap.budgetLevel } : {}),
      ...(fleetUtilization === undefined
        ? { gpuUtilization: Math.min(1, (busyMs - lastBusyMs) / SAMPLE_MS) }
        : fleetUtilization === null
          ? {}
          : { gpuUtilization: fleetUtilization }),
    });
    lastBusyMs = busyMs;
    o.onProgress?.(clock.now());
    if (running) clock.setTimer(SAMPLE_MS, sample, 'gauge-sampler');
  };
  clock.setTimer(SAMPLE_MS, sample, 'gauge-sampler');
  const drain = clock.setTimer(o.durationMs + (o.drainMs ?? 600_000), () => {
    const reason = new Error('run drain limit reached');
    stop.abort(reason);
    for (const own of [...open]) own.abort(reason);
  }, 'drain-limit');

  const all = playWorkload(built, ctx).finally(() => {
    running = false;
    drain.cancel();
  });
  await clock.run(all, `${o.scenario.name}/${name}`);
  await clock.runUntilIdle();

  // A fleet's replicas removed by the autoscaler report their counters as of their removal.
  const models = world.fleet?.metrics() ?? world.models.map((m) => m.metrics());
  const counters = engine.snapshot().counters;
  const primary = models[0];
  recorder.unmatchedBills([...bills.values()].flat());
  recorder.unmatchedBills(abandoned, true);
  const result = recorder.finish({
    // A trace replay's rates are over the span it replayed, not a longer arrival window it left empty.
    durationMs: built.replay?.replayedMs ?? o.durationMs,
    wastedTokens: models.reduce((s, m) => s + m.wastedTokens, 0) + counters.tokensDiscarded,
    tokensComputed: models.reduce((s, m) => s + m.outputTokens, 0),
    ...(world.fleet === undefined
      ? {
          gpuUtilization: primary === undefined || lastEndMs === 0 ? null : Math.min(1, primary.busyMs / lastEndMs),
          meanBatchSize: primary?.meanBatchSize ?? null,
        }
      : fleetGpu(models)),
    faultPhases: faultPhases(o.scenario),
    upstreamCalls: counters.upstreamCalls,
    prefixCache: {
      queries: models.reduce((s, m) => s + m.prefixCacheQueries, 0),
      hits: models.reduce((s, m) => s + m.prefixCacheHits, 0),
    },
    cost: world.fleet?.costInput() ?? costInput(o.scenario, models),
  });
  const fleet = world.fleet?.finish(result.series.arrivals.length);
  return { result: fleet === undefined ? result : { ...result, fleet }, simulatedMs: lastEndMs, models };
}

/** A fleet's GPU utilization (busy over provisioned time, every replica) and mean batch size (per step). */
function fleetGpu(models: readonly MockModelMetrics[]): { gpuUtilization: number | null; meanBatchSize: number | null } {
  const busy = models.reduce((s, m) => s + m.busyMs, 0);
  const elapsed = models.reduce((s, m) => s + m.elapsedMs, 0);
  const steps = models.reduce((s, m) => s + m.steps, 0);
  return {
    gpuUtilization: elapsed > 0 ? Math.min(1, busy / elapsed) : null,
    meanBatchSize: steps > 0 ? models.reduce((s, m) => s + m.meanBatchSize * m.steps, 0) / steps : null,
  };
}

/** Prices of the scenario's models and their GPU time (busy and provisioned). */
function costInput(scenario: Scenario, models: ReadonlyArray<{ busyMs: number; elapsedMs: number }>): CostInput {
  const gpu = (x: { busyMs: number; elapsedMs: number } | undefined): { busyMs: number; elapsedMs: number } | null =>
    x === undefined ? null : { busyMs: x.busyMs, elapsedMs: x.elapsedMs };
  return { ...scenarioPrices(scenario.model), gpu: { primary: gpu(models[0]), fallback: gpu(models[1]) } };
}

/**
 * `direct`: the engine's chunk times are the client's (no transport hop re-timing `onTokens`), so they are taken as
 * times only (`onTokenTimes`), which lets the in-process upstream hand a request's tokens over late, in batches.
 */
function toEngineRequest(req: PlannedRequest, intendedStartMs: number, nowMs: number, chunks: ChunkTimes, direct: boolean): EngineRequest {
  const common = {
    id: req.id,
    tenant: req.tenant,
    priority: req.priority,
    ...(req.idempotencyKey !== undefined ? { idempotencyKey: req.idempotencyKey } : {}),
    // The deadline counts from the intended start; a request sent late has that much less time.
    ...(req.deadlineMs !== undefined ? { deadlineMs: Math.max(0, req.deadlineMs - (nowMs - intendedStartMs)) } : {}),
    batchable: req.batchable,
    // For a fleet's routing rules and affinity (StreamOptions.route); other upstreams ignore them.
    requestClass: req.class,
    sessionId: req.id.includes('/') ? req.id.slice(0, req.id.lastIndexOf('/')) : req.id,
  };
  if (req.kind === 'embedding') {
    return {
      ...common,
      kind: 'embedding',
      embedding: {
        id: req.id,
        model: PRIMARY_MODEL,
        inputs: req.inputs ?? [],
        ...(req.inputTokens !== undefined ? { inputTokens: req.inputTokens } : {}),
        apiKey: req.tenant,
      },
    };
  }
  return {
    ...common,
    kind: 'chat',
    request: {
      id: req.id,
      model: PRIMARY_MODEL,
      messages: req.messages,
      promptTokens: req.promptTokens,
      ...(req.prefix !== undefined ? { prefix: req.prefix } : {}),
      maxTokens: req.outputTokens,
      outputTokens: req.outputTokens,
      apiKey: req.tenant,
      ...(req.temperature !== undefined ? { params: { temperature: req.temperature } } : {}),
    },
    ...(direct ? { onTokenTimes: (atMs: number, count: number) => chunks.push(atMs, count) } : { onTokens: (c: TokenChunk) => chunks.push(c.atMs, c.count) }),
  };
}

function observe(req: PlannedRequest, intendedStartMs: number, r: EngineResult, chunks: readonly TokenChunk[]): RequestObservation {
  // An agent's summarizer built from partial inputs is a degraded answer even when its own call succeeded.
  const partial = r.outcome === 'ok' && req.partialInputs !== undefined && req.partialInputs.failed > 0;
  const degraded = partial ? 'partial-inputs' : r.degraded;
  return {
    id: req.id,
    class: req.class,
    intendedStartMs,
    ...(r.firstTokenAtMs !== undefined ? { firstTokenAtMs: r.firstTokenAtMs } : {}),
    endAtMs: r.endAtMs,
    chunks,
    tokens: req.kind === 'embedding' ? 0 : r.tokens,
    outcome: partial ? 'degraded' : r.outcome,
    ...(degraded !== undefined ? { degraded } : {}),
    ...(partial ? { reason: 'partial_inputs' } : r.outcome !== 'ok' ? { reason: reasonOf(r) } : {}),
    queuedMs: r.queuedMs,
    backoffMs: r.backoffMs,
    attempts: r.attempts,
    upstreamCalls: r.upstreamCalls,
    ...(r.cache !== undefined ? { cache: r.cache } : {}),
  };
}
