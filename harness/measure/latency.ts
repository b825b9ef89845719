/**
 * Per-request latency definitions. Every latency is measured from the INTENDED start (the scheduled arrival),
 * so a load generator that fell behind, or a request that sat in a queue, still shows its full wait.
 */
import type { RequestObservation, SloBounds, SloSpec, TokenChunk } from './types.js';

/** Time to first token: first token − intended start; `null` when no token arrived. */
export function ttftMs(obs: Pick<RequestObservation, 'intendedStartMs' | 'firstTokenAtMs' | 'chunks'>): number | null {
  const first = obs.firstTokenAtMs ?? obs.chunks[0]?.atMs;
  return first === undefined ? null : first - obs.intendedStartMs;
}

/** End to end: last event − intended start. */
export function e2eMs(obs: Pick<RequestObservation, 'intendedStartMs' | 'endAtMs'>): number {
  return obs.endAtMs - obs.intendedStartMs;
}

/**
 * Time per output token after the first: (E2E − TTFT) / (tokens − 1). `null` with fewer than two tokens
 * or no first token.
 */
export function tpotMs(
  obs: Pick<RequestObservation, 'intendedStartMs' | 'firstTokenAtMs' | 'chunks' | 'endAtMs' | 'tokens'>,
): number | null {
  const ttft = ttftMs(obs);
  if (ttft === null || obs.tokens < 2) return null;
  return (e2eMs(obs) - ttft) / (obs.tokens - 1);
}

/** One group of equal inter-token-latency samples: `count` tokens each waited `valueMs`. */
export interface ItlSample {
  readonly valueMs: number;
  readonly count: number;
}

/**
 * Inter-token latency samples. A chunk of k tokens arriving Δ after the previous chunk counts as k samples of
 * Δ/k: the client waited Δ for k tokens. The first chunk opens the stream (its wait is TTFT) and yields no
 * sample, so a stream of chunks c1..cn gives Σ_{i≥2} count_i samples.
 */
export function itlSamples(chunks: readonly TokenChunk[]): ItlSample[] {
  const out: ItlSample[] = [];
  for (let i = 1; i < chunks.length; i++) {
    const prev = chunks[i - 1]!;
    const cur = chunks[i]!;
    if (cur.count <= 0) continue;
    out.push({ valueMs: (cur.atMs - prev.atMs) / cur.count, count: cur.count });
  }
  return out;
}

/** The SLO bounds that apply to a request class: class entries replace the defaults field by field. */
export function sloBoundsFor(slo: SloSpec, requestClass: string): SloBounds {
  const c = slo.classes?.[requestClass];
  return {
    ttftMs: c?.ttftMs ?? slo.ttftMs,
    e2eMs: c?.e2eMs ?? slo.e2eMs,
    tpotMs: c?.tpotMs ?? slo.tpotMs,
  };
}

/**
 * Whether an `ok` request met every SLO bound of its class. Requests of any other outcome never count toward
 * goodput. A TTFT bound fails a request that got no token; a TPOT bound is skipped for single-token answers.
 */
export function meetsSlo(obs: RequestObservation, slo: SloSpec): boolean {
  return obs.outcome === 'ok' && withinBounds(obs, slo);
}

/**
 * Whether a served answer (`ok` or `degraded`) arrived within every SLO bound of its class: served within SLO,
 * which counts a fallback answer in time as better than a failure.
 */
export function servedWithinSlo(obs: RequestObservation, slo: SloSpec): boolean {
  return (obs.outcome === 'ok' || obs.outcome === 'degraded') && withinBounds(obs, slo);
}

function withinBounds(obs: RequestObservation, slo: SloSpec): boolean {
  const b = sloBoundsFor(slo, obs.class);
  if (b.ttftMs !== undefined) {
    const t = ttftMs(obs);
    if (t === null || t > b.ttftMs) return false;
  }
  if (b.e2eMs !== undefined && e2eMs(obs) > b.e2eMs) return false;
  if (b.tpotMs !== undefined) {
    const t = tpotMs(obs);
    if (t !== null && t > b.tpotMs) return false;
  }
  return true;
}
