/**
 * The goodput ceiling of a scenario run (harness/measure/ceiling.ts): plays the workload against an ideal model (every
 * request answered ok after the least time it could take alone on the GPU, with no output text, so follow-up prompts
 * are as short and as early as they can be), lists every logical request with the earliest it can start and the
 * least it must compute, and bounds goodput by what the primary GPU can do around its outages and brownouts.
 */
import { Random } from '../../src/random.js';
import { VirtualClock } from '../../src/time/virtual-clock.js';
import { FaultPlan } from '../../sim/faults.js';
import { DEFAULT_PROFILE, resolveProfile, type GpuProfile } from '../../sim/profiles.js';
import { computeCeiling, type CeilingModel, type CeilingRequest, type GoodputCeiling } from '../measure/ceiling.js';
import type { Scenario } from '../scenario.js';
import { buildWorkload, type BuiltWorkload, type PlannedRequest, type PrefixSegment, type SessionContext } from '../workload/index.js';

/** Options of {@link scenarioCeiling}. */
export interface ScenarioCeilingOptions {
  readonly seed: number;
  /** The arrival window. */
  readonly durationMs: number;
  /** Where relative trace paths resolve. @default process.cwd() */
  readonly baseDir?: string;
  /** How long after the arrival window open requests are cancelled (the runners' drain limit). @default 600_000 */
  readonly drainMs?: number;
  /** Give up (null) past this many requests: a closed loop with nothing to slow it. @default 2_000_000 */
  readonly maxRequests?: number;
  /**
   * The scenario's workload already built for this seed and duration (as the virtual runner's `workload` option):
   * only read here. @default built here
   */
  readonly workload?: BuiltWorkload;
}

/** The ceiling of `scenario` at this seed and duration, or null when it cannot be bounded (see the options). */
export async function scenarioCeiling(scenario: Scenario, o: ScenarioCeilingOptions): Promise<GoodputCeiling | null> {
  // The bound models one primary GPU; a fleet's deployments and replicas are not bounded here (yet).
  if (scenario.model.deployments !== undefined) return null;
  const profile = resolveProfile(scenario.model.profile ?? DEFAULT_PROFILE) as GpuProfile;
  const drainMs = o.drainMs ?? 600_000;
  const horizonMs = o.durationMs + drainMs;
  const { sessions, replay } =
    o.workload ??
    buildWorkload(scenario.workload, new Random(o.seed).derive('workload'), {
      durationMs: o.durationMs,
      baseDir: o.baseDir ?? process.cwd(),
    });
  // Nothing in this play waits on real I/O: settle promise work with a tick, not an event-loop turn per instant.
  const clock = new VirtualClock({ drain: 'tick' });
  const planned: Array<{ req: PlannedRequest; atMs: number; fixed: boolean }> = [];
  const maxRequests = o.maxRequests ?? 2_000_000;
  let overflow = false;
  const alone = aloneMs(profile);
  const sessionRuns = sessions.map((s) => {
    let first = true;
    const ctx: SessionContext = {
      now: () => clock.now(),
      sleep: (ms) => clock.sleep(ms),
      send: async (req, intendedStartMs) => {
        // A client that resends may be served by a later copy, judged from its own later start: not a fixed start.
        const fixed = first && intendedStartMs === s.startAtMs && req.clientTimeoutMs === undefined;
        first = false;
        if (planned.length >= maxRequests || intendedStartMs > horizonMs) {
          overflow ||= planned.length >= maxRequests;
          return { ok: false, outcome: 'cancelled', tokens: 0, text: '' };
        }
        planned.push({ req, atMs: intendedStartMs, fixed });
        await clock.sleep(Math.max(0, intendedStartMs - clock.now()) + alone(req));
        return { ok: true, outcome: 'ok', tokens: 0, text: '' };
      },
    };
    return s.run(ctx);
  });
  await clock.run(Promise.all(sessionRuns), `${scenario.name}/ceiling`);
  if (overflow) return null;

  const unique = uniquePromptTokens(planned.map((p) => p.req), profile.prefixCaching !== false);
  const duplicate = duplicates(planned.map((p) => p.req));
  const requests: CeilingRequest[] = planned.map(({ req, atMs, fixed }, i) => ({
    id: req.id,
    class: req.class,
    kind: req.kind,
    earliestStartMs: atMs,
    fixedStart: fixed,
    promptTokens: req.promptTokens,
    uniquePromptTokens: unique[i] ?? req.promptTokens,
    outputTokens: req.outputTokens,
    apiKey: req.tenant,
    ...(duplicate[i] === true ? { duplicate: true } : {}),
    ...(req.kind === 'embedding' ? { embedItems: req.inputs?.length ?? req.inputTokens?.length ?? 0, embedTokens: req.promptTokens } : {}),
  }));
  return computeCeiling(requests, ceilingModel(scenario, profile), { slo: scenario.slo, durationMs: replay?.replayedMs ?? o.durationMs, horizonMs });
}

/**
 * For each request, whether an earlier one has the same content (kind, lengths, messages and inputs) or the same
 * idempotency key. The content is serialized only for requests whose shape (kind, lengths, message and input counts)
 * an earlier request shares: most have a shape of their own, and a conversation's messages are long to serialize.
 */
export function duplicates(requests: readonly PlannedRequest[]): boolean[] {
  const content = (req: PlannedRequest): string => `${JSON.stringify(req.messages)}|${JSON.stringify(req.inputs ?? null)}`;
  // By shape: the first request's, and once a second one shares it, the content of every request of that shape.
  const shapes = new Map<string, { readonly first: PlannedRequest; contents?: Set<string> }>();
  const keys = new Set<string>();
  return requests.map((req) => {
    const shape = `${req.kind}|${req.promptTokens}|${req.outputTokens}|${req.messages.length}|${req.inputs?.length ?? -1}`;
    const group = shapes.get(shape);
    let dup = false;
    if (group === undefined) shapes.set(shape, { first: req });
    else {
      group.contents ??= new Set([content(group.first)]);
      const c = content(req);
      dup = group.contents.has(c);
      group.contents.add(c);
    }
    if (req.idempotencyKey !== undefined) {
      dup ||= keys.has(req.idempotencyKey);
      keys.add(req.idempotencyKey);
    }
    return dup;
  });
}

/** The primary GPU's capacity over time: speed 0 while crashed or cold, 1/m in an m× brownout. */
export function ceilingModel(scenario: Scenario, profile: GpuProfile): CeilingModel {
  const plan = new FaultPlan(scenario.model.faults ?? {}, new Random(0), 0);
  const down = plan.crashPhases().map((c) => ({ from: c.atMs, to: c.atMs + c.downtimeMs + c.coldStartMs }));
  const edges = new Set<number>([0]);
  for (let t: number | undefined = plan.brownoutChangeAfter(0); t !== undefined; t = plan.brownoutChangeAfter(t)) edges.add(t);
  for (const d of down) {
    edges.add(d.from);
    edges.add(d.to);
  }
  const speed = [...edges]
    .sort((a, b) => a - b)
    .map((atMs) => {
      const isDown = down.some((d) => atMs >= d.from && atMs < d.to);
      return { atMs, speed: isDown ? 0 : 1 / Math.max(1, plan.brownout(atMs)) };
    });
  const limits = scenario.model.rateLimits;
  return {
    step: profile.step,
    maxBatchedTokens: profile.maxBatchedTokens,
    contextWindow: profile.contextWindow,
    embedding: profile.embedding,
    speed,
    ...(limits !== undefined ? { rateLimits: limits } : {}),
  };
}

/** The least time a request takes alone on an idle GPU (its prefill, then one decode step per further token). */
function aloneMs(profile: GpuProfile): (req: PlannedRequest) => number {
  const s = profile.step;
  const fixed = s.overheadMs + s.baseMs;
  return (req) => {
    if (req.kind === 'embedding') return profile.embedding.perCallMs;
    const k = Math.max(1, req.outputTokens);
    return k * fixed + s.attentionMsPerContextToken * (k * req.promptTokens + (k * (k - 1)) / 2);
  };
}

/**
 * For each request, the prompt tokens it shares with no other request's prompt (or output, which a later prompt
 * resends): prompt − the longest identified prefix it has in common with another, never below 1. Counting shared
 * tokens at token rather than block granularity, and a segment that differs only in length as shared up to the
 * shorter, only lowers the result.
 */
export function uniquePromptTokens(requests: readonly PlannedRequest[], caching: boolean): number[] {
  if (!caching) return requests.map((r) => r.promptTokens);
  interface Node {
    count: number;
    readonly children: Map<string, Map<number, Node>>;
  }
  const root: Node = { count: 0, children: new Map() };
  const segmentsOf = (r: PlannedRequest): PrefixSegment[] => {
    const out: PrefixSegment[] = [];
    let covered = 0;
    for (const s of r.prefix ?? []) {
      const t = Math.min(s.tokens, r.promptTokens - covered);
      if (t <= 0) break;
      out.push({ id: s.id, tokens: t });
      covered += t;
    }
    return out;
  };
  const prompts = requests.map(segmentsOf);
  requests.forEach((r, i) => {
    const segs = [...prompts[i]!];
    const covered = segs.reduce((n, s) => n + s.tokens, 0);
    if (covered === r.promptTokens && r.outputTokens > 0) segs.push({ id: `out:${r.id}`, tokens: r.outputTokens });
    let node = root;
    for (const s of segs) {
      let byLength = node.children.get(s.id);
      if (byLength === undefined) node.children.set(s.id, (byLength = new Map()));
      let next = byLength.get(s.tokens);
      if (next === undefined) byLength.set(s.tokens, (next = { count: 0, children: new Map() }));
      next.count++;
      node = next;
    }
  });
  return requests.map((r, i) => {
    let node = root;
    let shared = 0;
    for (const s of prompts[i]!) {
      const byLength = node.children.get(s.id);
      if (byLength === undefined) break;
      const exact = byLength.get(s.tokens);
      // Another request goes this way (the request itself accounts for one pass through its own prompt's nodes).
      if (exact !== undefined && exact.count >= 2) {
        shared += s.tokens;
        node = exact;
        continue;
      }
      const others = [...byLength.entries()].filter(([len, n]) => len !== s.tokens && n.count >= 1).map(([len]) => len);
      if (others.length > 0) shared += Math.min(s.tokens, Math.max(...others));
      break;
    }
    return Math.max(1, r.promptTokens - shared);
  });
}
