/**
 * The fault plan of a mock model: what goes wrong, how often, and when. Set at start-up (a JSON object or file),
 * at run time (`MockModel.setFaults`), per request (the `x-mock-fault` header, sim/fault-header.ts) and on a
 * timeline of phases (`{ atMs, durationMs, fault }`, times relative to when the plan was set). Every random draw
 * comes from a stream derived by name, so adding a fault never shifts another one's numbers.
 *
 * Latency fields take a number of ms or a DistributionSpec. Example:
 *
 *     { "ttftDelayMs": { "kind": "lognormal", "median": 50, "sigma": 1 },
 *       "rateLimited": { "probability": 0.05, "retryAfterMs": 1000 },
 *       "disconnect": { "probability": 0.02, "afterTokens": { "kind": "uniform", "min": 5, "max": 200 }, "forms": ["reset", "error-event"] },
 *       "timeline": [ { "atMs": 10000, "durationMs": 5000, "fault": { "brownoutMultiplier": 3 } },
 *                     { "atMs": 20000, "durationMs": 0, "fault": { "crash": { "downtimeMs": 2000, "coldStartMs": 1000 } } } ] }
 */
import { z } from 'zod';
import type { Random } from '../src/random.js';
import { distributionSpecSchema, parseOrThrow, sampler, type DistributionSpec } from './distributions.js';
import type { HeaderFaults } from './fault-header.js';
import { DISCONNECT_FORMS, type DisconnectForm } from './types.js';

const probability = z.number().min(0).max(1);
const ms = z.number().min(0).max(86_400_000);
/** A number of ms (a constant) or a distribution of them. */
const msDist = z.union([ms, distributionSpecSchema]);
const count = z.union([z.number().int().min(0), distributionSpecSchema]);

const layerShape = {
  /** Network delay before a request reaches the server (and before a refusal is seen). */
  networkDelayMs: msDist.optional(),
  /** Extra delay before the first token reaches the client. */
  ttftDelayMs: msDist.optional(),
  /** Extra delay on every delivered chunk (order is kept: a chunk never overtakes the previous one). */
  tokenJitterMs: msDist.optional(),
  /** Step-time multiplier of the GPU (a brownout). @default 1 */
  brownoutMultiplier: z.number().positive().max(1000).optional(),
  /** Random 429s, as a provider's shared limit would send. */
  rateLimited: z.object({ probability, retryAfterMs: ms.optional() }).strict().optional(),
  /**
   * What a request gets when the waiting queue is full: more than `maxWaiting` (default: the profile's) sequences
   * would wait beyond the free slots. `retryAfterMs` defaults to 1000. @default { status: 503 }
   */
  queueFull: z.object({ status: z.union([z.literal(429), z.literal(503)]), retryAfterMs: ms.optional(), maxWaiting: z.number().int().min(0).optional() }).strict().optional(),
  /** 500 by probability. */
  serverError: z.object({ probability }).strict().optional(),
  /** 503 by probability. */
  unavailable: z.object({ probability, retryAfterMs: ms.optional() }).strict().optional(),
  /** Mid-stream disconnect after `afterTokens` tokens or `afterMs` ms (whichever comes first), in one of `forms`. */
  disconnect: z
    .object({ probability, afterTokens: count.optional(), afterMs: msDist.optional(), forms: z.array(z.enum(DISCONNECT_FORMS)).min(1).optional() })
    .strict()
    .optional(),
  /** Tokens stop after `afterTokens` while the connection stays open; they resume after `forMs` if given. */
  stall: z.object({ probability, afterTokens: count.optional(), forMs: msDist.optional() }).strict().optional(),
  /** Accepted and never answered. */
  hang: z.object({ probability }).strict().optional(),
  /**
   * Crash: everything in flight dies, new connections are refused for `downtimeMs`, then the model answers 503
   * for `coldStartMs`. With `probability`, each admitted request crashes the model with that chance; without it
   * (in a timeline phase), the model crashes when the phase starts.
   */
  crash: z.object({ probability: probability.optional(), downtimeMs: ms, coldStartMs: ms.optional() }).strict().optional(),
};

const layerSchema = z.object(layerShape).strict();
const phaseSchema = z.object({ atMs: ms, durationMs: ms, name: z.string().optional(), fault: layerSchema }).strict();

/** The fault plan schema (zod). */
export const faultPlanSchema = z.object({ ...layerShape, timeline: z.array(phaseSchema).optional() }).strict();

/** A fault plan as JSON. Every field is optional; `{}` means no faults. */
export type FaultPlanInput = z.input<typeof faultPlanSchema>;
/** One layer of faults (the plan itself, or a phase's `fault`). */
export type FaultLayer = z.infer<typeof layerSchema>;
/** A timeline phase. */
export type FaultPhase = z.infer<typeof phaseSchema>;

/** Validates a plan; an error names the field, e.g. `faults.timeline[0].fault.disconnect.probability`. */
export function parseFaultPlan(input: unknown, path = 'faults'): FaultPlanInput {
  return parseOrThrow(faultPlanSchema, input ?? {}, path);
}

/**
 * The plan to set `elapsedMs` into the original's timeline (after a crash restarted the process, which lost its
 * plan): base faults kept; timeline phases shifted by `elapsedMs`; a phase already over dropped; a phase under way
 * kept for what remains of it, except a crash phase, which has already happened (it is what restarted the process).
 * Used by `sim --supervise` (the restarted child's `--timeline-offset-ms`) and by the harness's live runner.
 */
export function planAfter(plan: FaultPlanInput, elapsedMs: number): FaultPlanInput {
  const { timeline, ...base } = plan;
  if (timeline === undefined) return plan;
  const rest = timeline.flatMap((p) => {
    const endMs = p.atMs + p.durationMs;
    if (p.atMs >= elapsedMs) return [{ ...p, atMs: p.atMs - elapsedMs }];
    if (p.fault.crash !== undefined && p.fault.crash.probability === undefined) return [];
    if (endMs <= elapsedMs) return [];
    return [{ ...p, atMs: 0, durationMs: endMs - elapsedMs }];
  });
  return { ...base, timeline: rest };
}

/** Default cold start after a crash when the plan does not say. @default 1000 */
export const DEFAULT_COLD_START_MS = 1000;

/** What one request gets, decided at admission. */
export interface RequestFaults {
  readonly networkDelayMs: number;
  readonly ttftDelayMs: number;
  /** Per-chunk extra delay, when any. */
  readonly jitterMs: (() => number) | undefined;
  readonly reject: { readonly kind: 'rate-limited' | 'server-error' | 'unavailable' | 'status'; readonly status: number; readonly retryAfterMs?: number } | undefined;
  readonly hang: boolean;
  readonly disconnect: { readonly afterTokens?: number; readonly afterMs?: number; readonly form: DisconnectForm } | undefined;
  readonly stall: { readonly afterTokens: number; readonly forMs?: number } | undefined;
  readonly crash: { readonly downtimeMs: number; readonly coldStartMs: number } | undefined;
  readonly queueFull: { readonly status: 429 | 503; readonly retryAfterMs?: number; readonly maxWaiting?: number };
}

type Draw = () => number;
const constant = (v: number): Draw => () => v;

/** A compiled layer: distributions turned into samplers on named streams. */
interface Compiled {
  readonly layer: FaultLayer;
  readonly draws: Readonly<Record<string, Draw>>;
}

function compile(layer: FaultLayer, random: Random): Compiled {
  const draws: Record<string, Draw> = {};
  const add = (name: string, v: number | DistributionSpec | undefined): void => {
    if (v === undefined) return;
    draws[name] = typeof v === 'number' ? constant(v) : sampler(v, random.derive(name));
  };
  add('networkDelayMs', layer.networkDelayMs);
  add('ttftDelayMs', layer.ttftDelayMs);
  add('tokenJitterMs', layer.tokenJitterMs);
  add('disconnect.afterTokens', layer.disconnect?.afterTokens);
  add('disconnect.afterMs', layer.disconnect?.afterMs);
  add('stall.afterTokens', layer.stall?.afterTokens);
  add('stall.forMs', layer.stall?.forMs);
  return { layer, draws };
}

/** A validated, compiled plan anchored at the time it was set. */
export class FaultPlan {
  readonly input: FaultPlanInput;
  private readonly base: Compiled;
  private readonly phases: readonly { readonly phase: FaultPhase; readonly compiled: Compiled }[];
  private readonly chance: Readonly<Record<string, Random>>;
  private cacheKey = '';
  private cacheLayer: Compiled;
  private readonly quiet = new WeakMap<Compiled, RequestFaults | null>();

  /** @param setAtMs the clock time the plan took effect: timeline `atMs` counts from it. */
  constructor(input: unknown, random: Random, readonly setAtMs: number) {
    this.input = parseFaultPlan(input);
    const { timeline, ...base } = faultPlanSchema.parse(this.input);
    this.base = compile(base, random.derive('base'));
    this.phases = (timeline ?? []).map((phase, i) => ({ phase, compiled: compile(phase.fault, random.derive(`phase${i}`)) }));
    const names = ['rate-limited', 'server-error', 'unavailable', 'disconnect', 'disconnect-form', 'stall', 'hang', 'crash'];
    this.chance = Object.fromEntries(names.map((n) => [n, random.derive(`chance/${n}`)]));
    this.cacheLayer = this.base;
  }

  /** Phases that crash the model at their start: (absolute time, crash). */
  crashPhases(): Array<{ atMs: number; downtimeMs: number; coldStartMs: number }> {
    return this.phases
      .filter((p) => p.phase.fault.crash !== undefined && p.phase.fault.crash.probability === undefined)
      .map((p) => ({
        atMs: this.setAtMs + p.phase.atMs,
        downtimeMs: p.phase.fault.crash?.downtimeMs ?? 0,
        coldStartMs: p.phase.fault.crash?.coldStartMs ?? DEFAULT_COLD_START_MS,
      }));
  }

  /** Names of the phases active at `nowMs` (for reports and events). */
  activePhases(nowMs: number): string[] {
    const out: string[] = [];
    this.phases.forEach((p, i) => {
      if (this.isActive(p.phase, nowMs)) out.push(p.phase.name ?? `phase${i}`);
    });
    return out;
  }

  /** The step-time multiplier in force at `nowMs`. */
  brownout(nowMs: number): number {
    return this.layerAt(nowMs).layer.brownoutMultiplier ?? 1;
  }

  /**
   * The first brownout phase edge (start or end, absolute time) strictly after `nowMs`, or undefined: where the
   * step-time multiplier may change, so a GPU step can be cut there.
   */
  brownoutChangeAfter(nowMs: number): number | undefined {
    let next: number | undefined;
    for (const { phase } of this.phases) {
      if (phase.fault.brownoutMultiplier === undefined) continue;
      for (const edge of [this.setAtMs + phase.atMs, this.setAtMs + phase.atMs + phase.durationMs]) {
        if (edge > nowMs && (next === undefined || edge < next)) next = edge;
      }
    }
    return next;
  }

  /** Draws this request's faults. Header faults apply for sure and override the plan's of the same kind. */
  decide(nowMs: number, header: HeaderFaults | undefined): RequestFaults {
    const compiled = this.layerAt(nowMs);
    if (header === undefined) {
      const quiet = this.quietFaults(compiled);
      if (quiet !== undefined) return quiet;
    }
    const { layer: l, draws: d } = compiled;
    const random = header?.none !== true;
    const roll = (name: string, p: number | undefined): boolean => random && p !== undefined && p > 0 && (this.chance[name] as Random).chance(p);
    const drawMs = (name: string): number => (d[name] === undefined ? 0 : Math.max(0, (d[name] as Draw)()));

    let reject: RequestFaults['reject'];
    if (header?.status !== undefined) reject = { kind: 'status', ...header.status };
    else if (roll('rate-limited', l.rateLimited?.probability)) reject = { kind: 'rate-limited', status: 429, ...opt(l.rateLimited?.retryAfterMs) };
    else if (roll('unavailable', l.unavailable?.probability)) reject = { kind: 'unavailable', status: 503, ...opt(l.unavailable?.retryAfterMs) };
    else if (roll('server-error', l.serverError?.probability)) reject = { kind: 'server-error', status: 500 };

    const midStream = this.drawMidStream({ layer: l, draws: d }, random);
    const disconnect: RequestFaults['disconnect'] = header?.disconnect ?? midStream.disconnect;
    const stall: RequestFaults['stall'] = header?.stall ?? midStream.stall;
    let crash: RequestFaults['crash'];
    if (header?.crash !== undefined) {
      crash = { downtimeMs: header.crash.downtimeMs ?? l.crash?.downtimeMs ?? 1000, coldStartMs: header.crash.coldStartMs ?? l.crash?.coldStartMs ?? DEFAULT_COLD_START_MS };
    } else if (l.crash !== undefined && roll('crash', l.crash.probability)) {
      crash = { downtimeMs: l.crash.downtimeMs, coldStartMs: l.crash.coldStartMs ?? DEFAULT_COLD_START_MS };
    }
    const jitter = header?.jitterMs !== undefined ? constant(header.jitterMs) : random ? d['tokenJitterMs'] : undefined;
    return {
      networkDelayMs: header?.delayMs ?? (random ? drawMs('networkDelayMs') : 0),
      ttftDelayMs: header?.ttftMs ?? (random ? drawMs('ttftDelayMs') : 0),
      jitterMs: jitter === undefined ? undefined : () => Math.max(0, jitter()),
      reject,
      hang: header?.hang === true || roll('hang', l.hang?.probability),
      disconnect,
      stall,
      crash,
      queueFull: l.queueFull ?? { status: 503 },
    };
  }

  /**
   * The faults of every request under a layer that can draw none (no probability, no delay or jitter): one shared
   * object, built once per layer, instead of the closures and objects of a full decide (a refusal's fast path).
   * Undefined when the layer draws anything, so the random streams advance exactly as before.
   */
  private quietFaults(c: Compiled): RequestFaults | undefined {
    let q = this.quiet.get(c);
    if (q === undefined) {
      const l = c.layer;
      const d = c.draws;
      const positive = (p: number | undefined): boolean => p !== undefined && p > 0;
      const draws =
        positive(l.rateLimited?.probability) ||
        positive(l.unavailable?.probability) ||
        positive(l.serverError?.probability) ||
        positive(l.hang?.probability) ||
        positive(l.crash?.probability) ||
        positive(l.disconnect?.probability) ||
        positive(l.stall?.probability) ||
        d['networkDelayMs'] !== undefined ||
        d['ttftDelayMs'] !== undefined ||
        d['tokenJitterMs'] !== undefined;
      const none: RequestFaults = {
        networkDelayMs: 0,
        ttftDelayMs: 0,
        jitterMs: undefined,
        reject: undefined,
        hang: false,
        disconnect: undefined,
        stall: undefined,
        crash: undefined,
        queueFull: l.queueFull ?? { status: 503 },
      };
      q = draws ? null : Object.freeze(none);
      this.quiet.set(c, q);
    }
    return q ?? undefined;
  }

  /**
   * Start times (absolute) of phases with a disconnect or stall fault. At each, streams already open roll for the
   * phase's mid-stream faults too: a flaky network hits the streams in flight, not only the ones that start later.
   */
  midStreamPhases(): number[] {
    return this.phases.filter((p) => p.phase.fault.disconnect !== undefined || p.phase.fault.stall !== undefined).map((p) => this.setAtMs + p.phase.atMs);
  }

  /** Rolls only the mid-stream faults (disconnect, stall) in force at `nowMs`, for a stream already open. */
  decideMidStream(nowMs: number): Pick<RequestFaults, 'disconnect' | 'stall'> {
    return this.drawMidStream(this.layerAt(nowMs), true);
  }

  private drawMidStream({ layer: l, draws: d }: Compiled, random: boolean): Pick<RequestFaults, 'disconnect' | 'stall'> {
    const roll = (name: string, p: number | undefined): boolean => random && p !== undefined && p > 0 && (this.chance[name] as Random).chance(p);
    const drawInt = (name: string): number | undefined => (d[name] === undefined ? undefined : Math.max(0, Math.round((d[name] as Draw)())));
    const drawMs = (name: string): number => (d[name] === undefined ? 0 : Math.max(0, (d[name] as Draw)()));
    let disconnect: RequestFaults['disconnect'];
    if (l.disconnect !== undefined && roll('disconnect', l.disconnect.probability)) {
      const forms = l.disconnect.forms ?? ['reset'];
      const form = forms[Math.floor((this.chance['disconnect-form'] as Random).next() * forms.length)] as DisconnectForm;
      const afterTokens = drawInt('disconnect.afterTokens');
      const afterMs = d['disconnect.afterMs'] === undefined ? undefined : drawMs('disconnect.afterMs');
      disconnect = { form, ...(afterMs !== undefined ? { afterMs } : {}), ...(afterTokens !== undefined || afterMs === undefined ? { afterTokens: afterTokens ?? 0 } : {}) };
    }
    let stall: RequestFaults['stall'];
    if (l.stall !== undefined && roll('stall', l.stall.probability)) {
      const forMs = d['stall.forMs'] === undefined ? undefined : drawMs('stall.forMs');
      stall = { afterTokens: drawInt('stall.afterTokens') ?? 0, ...(forMs !== undefined ? { forMs } : {}) };
    }
    return { disconnect, stall };
  }

  private isActive(p: FaultPhase, nowMs: number): boolean {
    const t = nowMs - this.setAtMs;
    return t >= p.atMs && t < p.atMs + p.durationMs;
  }

  /** The base layer overlaid with every active phase, in timeline order (later phases win), cached per phase set. */
  private layerAt(nowMs: number): Compiled {
    if (this.phases.length === 0) return this.base;
    let key = '';
    for (let i = 0; i < this.phases.length; i++) if (this.isActive((this.phases[i] as { phase: FaultPhase }).phase, nowMs)) key += `${i},`;
    if (key === this.cacheKey) return this.cacheLayer;
    let layer: FaultLayer = { ...this.base.layer };
    let draws: Record<string, Draw> = { ...this.base.draws };
    for (let i = 0; i < this.phases.length; i++) {
      const p = this.phases[i] as { phase: FaultPhase; compiled: Compiled };
      if (!this.isActive(p.phase, nowMs)) continue;
      layer = { ...layer, ...definedOnly(p.compiled.layer) };
      for (const field of Object.keys(definedOnly(p.compiled.layer))) {
        for (const k of Object.keys(draws)) if (k === field || k.startsWith(`${field}.`)) delete draws[k];
      }
      draws = { ...draws, ...p.compiled.draws };
    }
    this.cacheKey = key;
    this.cacheLayer = { layer, draws };
    return this.cacheLayer;
  }
}

function opt(retryAfterMs: number | undefined): { retryAfterMs?: number } {
  return retryAfterMs === undefined ? {} : { retryAfterMs };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
