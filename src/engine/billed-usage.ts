/**
 * What the engine was billed for one request, attempt by attempt: every call that ran bills its prompt (for a
 * continuation, the prompt plus the prefix it sends again) and the output it produced, whether or not the caller
 * kept it. The figures are the upstream's own usage where it reported one (a call that completed); a call that
 * broke mid-stream reports none, so the engine counts what it sent and what it received, and says so
 * (`estimated`). A call refused before it ran (429, 503, 5xx, refused connection, bad request) bills nothing.
 */
import { billUsd, type TokenPrice } from '../lib/token-price.js';
import type { Usage } from '../upstream/model-client.js';
import type { Classification } from './classify.js';

/** One upstream call's bill, as the engine knows it. */
export interface BilledCall {
  readonly model: 'primary' | 'fallback';
  /** Input tokens billed, cached ones included: prompt + resumed prefix. */
  readonly inputTokens: number;
  /** Of `inputTokens`, those the upstream said it served from its prefix cache. */
  readonly cachedInputTokens: number;
  /** Output tokens the call produced (as far as the engine can tell: received, for a broken call). */
  readonly outputTokens: number;
  /** Of `outputTokens`, those that reached the caller (not repeats of what it had). */
  readonly deliveredTokens: number;
  /** The output index the call continued from (> 0 for a resume). */
  readonly resumeFrom: number;
  /** The call completed (the upstream sent its usage). */
  readonly completed: boolean;
  /** Counted by the engine, not reported by the upstream (a broken call, or an upstream without usage). */
  readonly estimated: boolean;
  /** The deployment that served the call, when the upstream is a fleet (src/fleet): its price applies. */
  readonly deployment?: string;
}

/** The totals of a request's bills. */
export interface BilledTotals {
  readonly inputTokens: number;
  readonly cachedInputTokens: number;
  readonly outputTokens: number;
  /** Some call's figures are the engine's own counts, not the upstream's usage. */
  readonly estimated: boolean;
}

/** Error kinds of a call refused before the upstream ran it: nothing billed. */
const REFUSED = new Set<Classification['kind']>(['rate-limited', 'overloaded', 'server', 'connection-refused', 'bad-request', 'context-length']);

/** What one attempt of a chat request tells about its bill. */
export interface AttemptFacts {
  readonly model: 'primary' | 'fallback';
  /** Prompt tokens of the request (given, or estimated by the caller). */
  readonly promptTokens: number;
  readonly resumeFrom: number;
  /** Tokens the call sent that the caller already had (a restart without resume). */
  readonly repeated: number;
  /** Tokens it delivered to the caller. */
  readonly delivered: number;
  /** An event (token, done) arrived from the upstream. */
  readonly gotEvent: boolean;
}

/** The bill of an attempt that completed with `usage`. */
export function completedCall(f: AttemptFacts, usage: Usage | undefined): BilledCall {
  const received = f.repeated + f.delivered;
  if (usage === undefined || usage.estimated === true) {
    return { model: f.model, inputTokens: f.promptTokens + f.resumeFrom, cachedInputTokens: 0, outputTokens: received, deliveredTokens: f.delivered, resumeFrom: f.resumeFrom, completed: true, estimated: true };
  }
  return {
    model: f.model,
    inputTokens: usage.promptTokens,
    cachedInputTokens: Math.min(usage.promptTokens, usage.cachedPromptTokens ?? 0),
    outputTokens: usage.completionTokens,
    deliveredTokens: Math.min(f.delivered, usage.completionTokens),
    resumeFrom: f.resumeFrom,
    completed: true,
    estimated: false,
  };
}

/**
 * The bill of an attempt that failed with `c`, or undefined when nothing was billed. A call that streamed something
 * ran: it bills its input and what it produced (the engine's count of what it received). One refused at its status
 * bills nothing. One that failed before any event for another reason (an idle timeout or deadline while the upstream
 * queued or prefilled it) may or may not have been billed: counted as nothing, and flagged.
 */
export function failedCall(f: AttemptFacts, c: Classification): BilledCall | 'unknown' | undefined {
  if (f.gotEvent) {
    return { model: f.model, inputTokens: f.promptTokens + f.resumeFrom, cachedInputTokens: 0, outputTokens: f.repeated + f.delivered, deliveredTokens: f.delivered, resumeFrom: f.resumeFrom, completed: false, estimated: true };
  }
  return REFUSED.has(c.kind) ? undefined : 'unknown';
}

/** Sums bills. */
export function billedTotals(bills: readonly BilledCall[], unknown = false): BilledTotals {
  let input = 0;
  let cached = 0;
  let output = 0;
  let estimated = unknown;
  for (const b of bills) {
    input += b.inputTokens;
    cached += b.cachedInputTokens;
    output += b.outputTokens;
    estimated ||= b.estimated;
  }
  return { inputTokens: input, cachedInputTokens: cached, outputTokens: output, estimated };
}

/** A service's prices per upstream (`serve --price`, `--fallback-price`); a missing one leaves cost unknown. */
export interface ServicePrices {
  readonly primary?: TokenPrice;
  readonly fallback?: TokenPrice;
  /**
   * A fleet's per-deployment prices (the fleet file's): a call billed by a deployment pays its price, and a call of
   * a deployment without one is unpriced (cost unknown), as in virtual mode; never another deployment's price.
   */
  readonly deployments?: Readonly<Record<string, TokenPrice>>;
}

/** The price of one call: its deployment's when the prices are per deployment, else its upstream's; undefined = unpriced. */
export function priceOfCall(c: Pick<BilledCall, 'model' | 'deployment'>, prices: ServicePrices): TokenPrice | undefined {
  if (c.deployment !== undefined && prices.deployments !== undefined) return prices.deployments[c.deployment];
  return prices[c.model];
}

/** USD of `calls` at `prices`; null when a call's upstream has no price. */
export function billedUsd(calls: readonly BilledCall[], prices: ServicePrices): number | null {
  let sum = 0;
  for (const c of calls) {
    const p = priceOfCall(c, prices);
    if (p === undefined) return null;
    sum += billUsd(c, p);
  }
  return sum;
}
