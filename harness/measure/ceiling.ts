/**
 * The goodput ceiling: an upper bound on goodput (ok requests within SLO per second) that no policy can exceed on a
 * workload and a model, so a report can say "71% of what is achievable" instead of a bare rate. A pure function of
 * the requests the workload can send (harness/run/ceiling.ts plays the workload against an ideal model to list
 * them), the GPU's step-time model, the times it is down or browned out, and the SLO.
 *
 * Why it is a bound (every step errs towards a higher ceiling):
 * - Demand: each logical request is ok within SLO at most once (a client's resend replaces a request that timed
 *   out). A request can count only when it could meet its SLO alone on the GPU at full speed (and, when its start
 *   is fixed, despite the outages and brownouts in its SLO window) and its prompt leaves room in the context window.
 *   An embedding never meets a TTFT bound (it gets no token, and a TTFT bound fails a request that got none).
 * - Work: the mock GPU's step takes `fixed + perTokenMs·max(0, N − flatTokens) + attention·C (+ prefill pairs)` for N
 *   batched tokens (N ≤ maxBatchedTokens) attending to C context tokens. Its non-attention part is at least γ·N,
 *   γ = min over 1 ≤ N ≤ maxBatchedTokens of (fixed + perTokenMs·max(0, N − flatTokens)) / N, so each step is at
 *   least the sum over its sequences of γ·(their tokens) + attention·(their context). A chat request computes at
 *   least u prompt tokens (those it shares with no other request's prompt or output, and always one) and k − 1
 *   decode tokens, attending to at least p, p+1, … p+k−1 context tokens in the steps that emit its k tokens: at
 *   least γ·(u + k − 1) + attention·(k·p + k(k−1)/2) ms of GPU time at speed 1, of which γ·u + attention·p come
 *   before its first token. A request with the idempotency key or the content of an earlier one may be answered by
 *   dedup or a cache from that one's work: it costs nothing.
 * - Capacity: in a window of time the GPU does at most ∫ speed dt of that work (speed 0 while crashed or cold,
 *   1/m in an m× brownout). A request whose whole SLO window [earliest start, latest end] lies inside a window must
 *   do all its work there; one whose first-token window lies inside must do its prefill there. The cheapest of them
 *   fill the window first (maximum count under one budget), and requests that fit no window count as free. Windows
 *   of a partition of time are disjoint, so their counts add up; any partition gives a bound, and the ceiling is the
 *   smallest over partitions into windows of 1 s, 2 s, 4 s, … up to the whole horizon, at two offsets.
 * - Rate limits: in a window, each key's RPM (TPM) bucket admits at most its limit × (1 + window / 1 min) requests
 *   (tokens: prompt + max tokens each, the smallest first); each ok request needs one admitted call in its window.
 * Not modelled, so left out of the bound (it can only be lower): random faults, preemption,
 * recomputation, per-request network delays, KV-cache limits, the 256-sequence limit on decode batches.
 */
import type { EmbeddingCost, StepTimeModel } from '../../sim/profiles.js';
import { sloBoundsFor } from './latency.js';
import type { SloSpec } from './types.js';

/** One logical request the workload can send (its prompt a lower bound: the ideal model answered it with nothing). */
export interface CeilingRequest {
  readonly id: string;
  readonly class: string;
  readonly kind: 'chat' | 'embedding';
  /** The earliest its intended start can be. */
  readonly earliestStartMs: number;
  /** The intended start is exactly `earliestStartMs` whatever the policy (a session's first request). */
  readonly fixedStart: boolean;
  /** Prompt tokens, at least. */
  readonly promptTokens: number;
  /** Prompt tokens that must be computed for it (not shared with any other request's prompt or output), at least. */
  readonly uniquePromptTokens: number;
  /** Output tokens an ok answer has. */
  readonly outputTokens: number;
  /**
   * An earlier request has the same idempotency key or the same content: dedup (or a response cache) may answer it
   * from that one's computation, so it needs no GPU work of its own and has no latency floor.
   */
  readonly duplicate?: boolean;
  /** The API key its calls are rate-limited under (the tenant). @default 'anonymous' */
  readonly apiKey?: string;
  /** Embeddings: inputs and their tokens. */
  readonly embedItems?: number;
  readonly embedTokens?: number;
}

/** What the GPU can do, and when. */
export interface CeilingModel {
  readonly step: StepTimeModel;
  readonly maxBatchedTokens: number;
  readonly contextWindow: number;
  readonly embedding: EmbeddingCost;
  /** Speed over time: change points sorted by time, speed constant until the next (1 before the first). */
  readonly speed: ReadonlyArray<{ readonly atMs: number; readonly speed: number }>;
  /** Provider RPM/TPM limits per API key (sim/rate-limit.ts): buckets that start full and refill continuously. */
  readonly rateLimits?: { readonly rpm?: number; readonly tpm?: number; readonly keys?: Readonly<Record<string, { readonly rpm?: number; readonly tpm?: number }>> };
}

/** The ceiling of one scenario run, as stored in a RunResult. */
export interface GoodputCeiling {
  /** No policy's goodputPerSec can exceed this. */
  readonly goodputPerSec: number;
  /** Most ok-within-SLO requests possible (goodputPerSec × the goodput's seconds). */
  readonly requests: number;
  /** Logical requests the workload can send (each turn, agent call or trace row once; repeats and resends not again). */
  readonly planned: number;
  /** Of them, those that could meet their SLO at all, alone on the GPU. */
  readonly feasible: number;
  /** What binds: the requests that could meet their SLO (`arrivals`), or the GPU's work in some window (`capacity`). */
  readonly limit: 'arrivals' | 'capacity';
  /** With `capacity`: the window length of the partition that gave the bound. */
  readonly windowMs: number | null;
}

/** Options of {@link computeCeiling}. */
export interface CeilingOptions {
  readonly slo: SloSpec;
  /** The goodput's divisor (the arrival window, or the span a trace replay covered). */
  readonly durationMs: number;
  /** No request ends after this (the run cancels what is open at the drain limit). */
  readonly horizonMs: number;
}

/** γ: the least non-attention step time per batched token, over every batch size the GPU can run. */
export function minMsPerToken(step: StepTimeModel, maxBatchedTokens: number): number {
  const fixed = step.overheadMs + step.baseMs;
  const nonAttention = (n: number): number => fixed + step.perTokenMs * Math.max(0, n - step.flatTokens);
  const nmax = Math.max(1, Math.floor(maxBatchedTokens));
  const flatLo = Math.min(nmax, Math.max(1, Math.floor(step.flatTokens)));
  const flatHi = Math.min(nmax, Math.max(1, Math.ceil(step.flatTokens)));
  // fixed/N falls until flatTokens; past it the ratio is monotone, so the minimum is at one of these.
  return Math.min(...[1, flatLo, flatHi, nmax].map((n) => nonAttention(n) / n));
}

/** Prefix sums of the speed profile, to integrate it fast. */
class SpeedIntegral {
  private readonly at: number[] = [0];
  private readonly speed: number[] = [1];
  private readonly cum: number[] = [0];

  constructor(points: CeilingModel['speed']) {
    for (const p of points) {
      if (p.atMs <= 0) {
        this.speed[this.speed.length - 1] = p.speed;
        continue;
      }
      const last = this.at.length - 1;
      this.cum.push(this.cum[last]! + (p.atMs - this.at[last]!) * this.speed[last]!);
      this.at.push(p.atMs);
      this.speed.push(p.speed);
    }
  }

  /** ∫_0^t speed. */
  upTo(t: number): number {
    if (t <= 0) return 0;
    let lo = 0;
    let hi = this.at.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.at[mid]! <= t) lo = mid;
      else hi = mid - 1;
    }
    return this.cum[lo]! + (t - this.at[lo]!) * this.speed[lo]!;
  }

  between(a: number, b: number): number {
    return b <= a ? 0 : this.upTo(b) - this.upTo(a);
  }
}

interface Costed {
  readonly startMs: number;
  /** Rate-limit key and the tokens its admission takes (prompt + max tokens); no key: needs no admission (a duplicate). */
  readonly key: string | null;
  readonly admitTokens: number;
  /** Latest first token and latest end, if it is to meet its SLO. */
  readonly firstByMs: number;
  readonly endByMs: number;
  readonly prefillWork: number;
  readonly totalWork: number;
}

/** Per-request work and latency floors. */
function costOf(r: CeilingRequest, m: CeilingModel, gamma: number, o: CeilingOptions, speed: SpeedIntegral): Costed | null {
  const s = m.step;
  const att = s.attentionMsPerContextToken;
  const fixed = s.overheadMs + s.baseMs;
  const b = sloBoundsFor(o.slo, r.class);
  const a = r.earliestStartMs;
  if (a > o.horizonMs) return null;
  let prefillWork: number;
  let totalWork: number;
  let minTtft: number;
  let minE2e: number;
  let minTpot = 0;
  if (r.duplicate === true) {
    prefillWork = 0;
    totalWork = 0;
    minTtft = 0;
    minE2e = 0;
  } else if (r.kind === 'embedding') {
    // An embedding delivers no token, and a TTFT bound fails a request that got none (harness/measure/latency.ts).
    if (b.ttftMs !== undefined) return null;
    totalWork = m.embedding.perItemMs * (r.embedItems ?? 0) + m.embedding.perTokenMs * (r.embedTokens ?? 0);
    prefillWork = totalWork;
    minE2e = m.embedding.perCallMs + totalWork;
    minTtft = 0;
  } else {
    const p = r.promptTokens;
    const k = Math.max(1, r.outputTokens);
    const u = Math.max(1, Math.min(p, r.uniquePromptTokens));
    if (p >= m.contextWindow || p + r.outputTokens > m.contextWindow) return null; // refused, or trimmed (degraded)
    prefillWork = gamma * u + att * p;
    totalWork = gamma * (u + k - 1) + att * (k * p + (k * (k - 1)) / 2);
    const chunks = Math.max(1, Math.ceil(u / m.maxBatchedTokens));
    minTtft = chunks * fixed + s.perTokenMs * Math.max(0, u - chunks * s.flatTokens) + att * p;
    minE2e = minTtft + (k - 1) * fixed + att * ((k - 1) * p + (k * (k - 1)) / 2);
    minTpot = k > 1 ? fixed + att * (p + k / 2) : 0;
  }
  const eps = 1e-9;
  if (b.ttftMs !== undefined && minTtft > b.ttftMs + eps) return null;
  if (b.e2eMs !== undefined && minE2e > b.e2eMs + eps) return null;
  if (b.tpotMs !== undefined && minTpot > b.tpotMs + eps) return null;
  const ttftBound = r.kind === 'embedding' ? undefined : b.ttftMs;
  let endWithin = b.e2eMs;
  if (endWithin === undefined && ttftBound !== undefined && b.tpotMs !== undefined) endWithin = ttftBound + b.tpotMs * Math.max(0, r.outputTokens - 1);
  let firstByMs = o.horizonMs;
  let endByMs = o.horizonMs;
  if (r.fixedStart) {
    if (ttftBound !== undefined) {
      firstByMs = Math.min(o.horizonMs, a + ttftBound);
      if (speed.between(a, a + ttftBound) < minTtft - eps) return null; // down or slowed through its whole TTFT window
    }
    if (endWithin !== undefined) {
      endByMs = Math.min(o.horizonMs, a + endWithin);
      if (speed.between(a, a + endWithin) < minE2e - eps) return null;
    }
    firstByMs = Math.min(firstByMs, endByMs);
  }
  return { startMs: a, key: r.duplicate === true ? null : (r.apiKey ?? 'anonymous'), admitTokens: r.promptTokens + r.outputTokens, firstByMs, endByMs, prefillWork, totalWork };
}

/** The most of `costs` (ascending) that fit within `budget`. */
function mostThatFit(costs: number[], budget: number): number {
  costs.sort((x, y) => x - y);
  let used = 0;
  let n = 0;
  for (const c of costs) {
    if (used + c > budget + 1e-9) break;
    used += c;
    n++;
  }
  return n;
}

/** The bound of one partition of [0, horizon) into windows of `lengthMs` starting at `offsetMs` (and [0, offset)). */
function partitionBound(items: readonly Costed[], lengthMs: number, offsetMs: number, horizonMs: number, speed: SpeedIntegral, limits: CeilingModel['rateLimits']): number {
  const windowOf = (t: number): number => (t < offsetMs ? -1 : Math.floor((t - offsetMs) / lengthMs));
  const bounds = (w: number): [number, number] => (w < 0 ? [0, offsetMs] : [offsetMs + w * lengthMs, Math.min(horizonMs, offsetMs + (w + 1) * lengthMs)]);
  const byWindow = new Map<number, Array<{ cost: number; it: Costed }>>();
  let free = 0;
  for (const it of items) {
    const w = windowOf(it.startMs);
    const end = bounds(w)[1];
    const cost = it.endByMs <= end ? it.totalWork : it.firstByMs <= end ? it.prefillWork : null;
    if (cost === null) {
      free++;
      continue;
    }
    const list = byWindow.get(w);
    if (list === undefined) byWindow.set(w, [{ cost, it }]);
    else list.push({ cost, it });
  }
  let total = free;
  for (const [w, list] of byWindow) {
    const [from, to] = bounds(w);
    const gpu = mostThatFit(list.map((x) => x.cost), speed.between(from, to));
    total += Math.min(gpu, admissible(list.map((x) => x.it), to - from, limits));
  }
  return total;
}

/**
 * The most requests the provider's rate limits admit in a window of `lengthMs`: per key, a bucket holds at most its
 * per-minute limit and refills at limit / 60 s, so at most limit × (1 + lengthMs / 60 s) requests (or tokens, the
 * requests with the fewest first) get in. Each ok request had at least one call admitted inside its window.
 */
function admissible(items: readonly Costed[], lengthMs: number, limits: CeilingModel['rateLimits']): number {
  if (limits === undefined) return items.length;
  const byKey = new Map<string | null, Costed[]>();
  for (const it of items) {
    const list = byKey.get(it.key);
    if (list === undefined) byKey.set(it.key, [it]);
    else list.push(it);
  }
  let n = 0;
  for (const [key, list] of byKey) {
    if (key === null) {
      n += list.length;
      continue;
    }
    const rpm = limits.keys?.[key]?.rpm ?? limits.rpm;
    const tpm = limits.keys?.[key]?.tpm ?? limits.tpm;
    const refill = 1 + lengthMs / 60_000;
    let k = list.length;
    if (rpm !== undefined) k = Math.min(k, Math.floor(rpm * refill + 1e-9));
    if (tpm !== undefined) k = Math.min(k, mostThatFit(list.map((x) => x.admitTokens), tpm * refill));
    n += k;
  }
  return n;
}

/** The goodput ceiling of a run. See the module comment for why it is an upper bound. */
export function computeCeiling(requests: readonly CeilingRequest[], model: CeilingModel, o: CeilingOptions): GoodputCeiling {
  const speed = new SpeedIntegral(model.speed);
  const gamma = minMsPerToken(model.step, model.maxBatchedTokens);
  const items: Costed[] = [];
  for (const r of requests) {
    const c = costOf(r, model, gamma, o, speed);
    if (c !== null) items.push(c);
  }
  let best = items.length;
  let windowMs: number | null = null;
  for (let len = 1000; ; len *= 2) {
    const last = len >= o.horizonMs;
    const length = last ? o.horizonMs : len;
    for (const offset of last ? [0] : [0, length / 2]) {
      const n = partitionBound(items, length, offset, o.horizonMs, speed, model.rateLimits);
      if (n < best) {
        best = n;
        windowMs = length;
      }
    }
    if (last) break;
  }
  const seconds = o.durationMs / 1000;
  return {
    goodputPerSec: round6(best / seconds),
    requests: best,
    planned: requests.length,
    feasible: items.length,
    limit: windowMs === null ? 'arrivals' : 'capacity',
    windowMs,
  };
}

function round6(x: number): number {
  // Rounded up, so rounding never puts the ceiling under a goodput it bounds.
  return Math.ceil(x * 1e6 - 1e-6) / 1e6;
}
