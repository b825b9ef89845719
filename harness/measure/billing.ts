/**
 * Billing: what each upstream attempt cost, and what of it was wasted. The model side reports one bill per call
 * that ran (see sim/billing.ts): input tokens (prompt, plus the prefix a continuation sends again), cached input
 * tokens, and every output token computed. Prices turn them into dollars; this file only does the arithmetic.
 *
 * Waste, per request: what its bills paid beyond what one clean attempt would have paid for the answer the client
 * kept (see `splitRequestBills`); under a GPU-hour price, also the GPU time spent recomputing after preemptions.
 */
import type { BilledAttempt } from '../../sim/billing.js';
import { round } from './series.js';

/** One billed upstream call, as the harness sees it: the model's bill (sim/billing.ts), and which model served it. */
export type AttemptBill = Omit<BilledAttempt, 'model' | 'kind' | 'recomputedTokens'> & {
  /** Context recomputed after preemptions (GPU work, not billed by a token price); absent = 0. */
  readonly recomputedTokens?: number;
  /** Served by the fallback model. */
  readonly fallback: boolean;
  /** The deployment and the replica (`<deployment>/<index>`) that served it, in a fleet (scenario `model.deployments`). */
  readonly deployment?: string;
  readonly replica?: string;
};

/** Per-token prices of one model, in USD per 1M tokens. */
export interface TokenPrice {
  readonly kind: 'tokens';
  readonly inputPer1M: number;
  readonly cachedInputPer1M: number;
  readonly outputPer1M: number;
}

/** Self-hosted: USD per GPU-hour, charged on the GPU's busy time; idle provisioned time is reported apart. */
export interface GpuHourPrice {
  readonly kind: 'gpu-hour';
  readonly gpuHourUsd: number;
}

export type Price = TokenPrice | GpuHourPrice;

/** What the money went to. */
export const SPEND_KINDS = ['first', 'retry', 'resume', 'fallback'] as const;
export type SpendKind = (typeof SPEND_KINDS)[number];

/** Billed tokens of one policy; `null` = the model side reported no usage. */
export interface BilledTokens {
  /** Input tokens billed at the input price (uncached). */
  readonly billedInput: number | null;
  readonly billedCachedInput: number | null;
  /** Output tokens billed: every one computed, delivered or not. */
  readonly billedOutput: number | null;
  /** Output tokens the clients received. */
  readonly delivered: number;
}

/** What a policy cost; `null` = unknown (no usage, or no price). */
export interface PolicyCost {
  readonly totalUsd: number | null;
  /** totalUsd per 1,000 requests that met every SLO; null with none. */
  readonly per1kGoodUsd: number | null;
  /** Paid for and never delivered, or computed again. */
  readonly wastedUsd: number | null;
  /** GPU busy hours of the models (simulated); null when unknown. */
  readonly gpuHours: number | null;
  /** GPU hours provisioned and idle over the run (not in totalUsd); null when unknown. */
  readonly idleGpuHours: number | null;
  /** What idle provisioned GPUs cost at the GPU-hour price; null without one. */
  readonly idleUsd: number | null;
  /** totalUsd by kind of attempt (first attempts, retries, resumes, fallbacks); wastedUsd cuts across them. */
  readonly byKind: { readonly [K in SpendKind]: number | null };
}

export const UNKNOWN_TOKENS = (delivered = 0): BilledTokens => ({ billedInput: null, billedCachedInput: null, billedOutput: null, delivered });
export const UNKNOWN_COST: PolicyCost = {
  totalUsd: null,
  per1kGoodUsd: null,
  wastedUsd: null,
  gpuHours: null,
  idleGpuHours: null,
  idleUsd: null,
  byKind: { first: null, retry: null, resume: null, fallback: null },
};

/** The split of one request's bills into kinds and waste, in tokens. */
export interface BillSplit {
  readonly bill: AttemptBill;
  readonly kind: SpendKind;
  /** Input tokens (uncached, cached) wasted: paid again by a later attempt, or for nothing. */
  readonly wastedInput: number;
  readonly wastedCachedInput: number;
  /** Output tokens that gave the client nothing new. */
  readonly wastedOutput: number;
}

/**
 * Splits one request's bills (any order; sorted by start here) given how the request ended.
 * `served`: the request ended ok or degraded (an embeddings answer delivers no tokens but is useful).
 *
 * The waste is what the bills paid beyond what one clean attempt would have paid for the answer the client kept:
 * - a request not served (failed, timed out at its deadline, cancelled, shed) kept nothing: every bill is waste,
 *   the output that reached the client included (it gave up on, or got an error instead of, that answer);
 * - of a served request, the prompt of the attempt that last gave the client new tokens (or completed) bought the
 *   answer; every other attempt's input is waste (a retry, a resume, a fallback sent it again), and so is the prefix
 *   a resume re-sends as input (those tokens were paid once already, as the output of an earlier attempt);
 * - output that gave the client nothing new (computed but never sent, or sent again after a restart without resume
 *   and discarded).
 */
export function splitRequestBills(bills: readonly AttemptBill[], served: boolean): BillSplit[] {
  const sorted = [...bills].sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
  let have = 0;
  const fresh = sorted.map((b) => {
    const reached = b.resumeFrom + b.deliveredTokens;
    const f = Math.max(0, reached - Math.max(have, b.resumeFrom));
    have = Math.max(have, reached);
    return f;
  });
  let useful = -1;
  if (served) sorted.forEach((b, i) => (fresh[i]! > 0 || b.completed ? (useful = i) : undefined));
  return sorted.map((b, i) => {
    const kind: SpendKind = b.fallback ? 'fallback' : b.resumeFrom > 0 ? 'resume' : i === 0 ? 'first' : 'retry';
    if (!served) return { bill: b, kind, ...allWasted(b) };
    const wastedOutput = Math.max(0, b.outputTokens - fresh[i]!);
    if (i !== useful) return { bill: b, kind, wastedInput: b.inputTokens - b.cachedInputTokens, wastedCachedInput: b.cachedInputTokens, wastedOutput };
    // The useful attempt's prompt is not waste; a resumed prefix after it is. The cache covers the leading tokens.
    const prompt = b.inputTokens - b.resumeFrom;
    const cachedPrefix = Math.max(0, b.cachedInputTokens - prompt);
    return { bill: b, kind, wastedInput: b.resumeFrom - cachedPrefix, wastedCachedInput: cachedPrefix, wastedOutput };
  });
}

/** Every token of the bill is waste. */
function allWasted(b: AttemptBill): Pick<BillSplit, 'wastedInput' | 'wastedCachedInput' | 'wastedOutput'> {
  return { wastedInput: b.inputTokens - b.cachedInputTokens, wastedCachedInput: b.cachedInputTokens, wastedOutput: b.outputTokens };
}

/** A bill not matched to any client request (a batch call serving several): judged alone. */
export function splitLoneBill(b: AttemptBill): BillSplit {
  const fresh = Math.min(b.outputTokens, b.deliveredTokens);
  return {
    bill: b,
    kind: b.fallback ? 'fallback' : b.resumeFrom > 0 ? 'resume' : 'first',
    wastedInput: b.completed ? 0 : b.inputTokens - b.cachedInputTokens,
    wastedCachedInput: b.completed ? 0 : b.cachedInputTokens,
    wastedOutput: Math.max(0, b.outputTokens - fresh),
  };
}

/** A bill of a call that ended after its request did (abandoned: the client already had its outcome): all waste. */
export function splitAbandonedBill(b: AttemptBill): BillSplit {
  return { bill: b, kind: b.fallback ? 'fallback' : b.resumeFrom > 0 ? 'resume' : 'retry', ...allWasted(b) };
}

/** USD of `tokens` at `per1M`. */
const usd = (tokens: number, per1M: number): number => (tokens * per1M) / 1e6;

/** GPU busy and provisioned (elapsed) ms of one model, or of a deployment's replicas summed. */
export type GpuTime = { busyMs: number; elapsedMs: number };

/** What the Recorder is told about pricing and the GPUs at finish. */
export interface CostInput {
  /** Price of the primary and the fallback; undefined = unpriced (cost unknown). */
  readonly primary?: Price | undefined;
  readonly fallback?: Price | undefined;
  /** GPU busy and provisioned (elapsed) ms per model; null when unknown. */
  readonly gpu?: { readonly primary: GpuTime | null; readonly fallback: GpuTime | null } | null;
  /**
   * A fleet (scenario `model.deployments`): each deployment's price and its replicas' GPU time, summed. When given,
   * a bill is priced by its `deployment`, and `primary`, `fallback` and `gpu` are not used.
   */
  readonly deployments?: Readonly<Record<string, { readonly price: Price | undefined; readonly gpu: GpuTime }>>;
}

/** The priced models of a CostInput, in a fixed order, and which of them a bill belongs to. */
function pricedModels(input: CostInput): { models: Array<{ key: string; price: Price | undefined; gpu: GpuTime | null }>; gpuKnown: boolean; keyOf: (b: AttemptBill) => string } {
  if (input.deployments !== undefined) {
    const models = Object.entries(input.deployments).map(([key, d]) => ({ key, price: d.price, gpu: d.gpu }));
    return { models, gpuKnown: true, keyOf: (b) => b.deployment ?? '' };
  }
  const g = input.gpu;
  const known = g !== null && g !== undefined && g.primary !== null;
  return {
    models: [
      { key: 'primary', price: input.primary, gpu: known ? g.primary : null },
      { key: 'fallback', price: input.fallback, gpu: known ? g.fallback : null },
    ],
    gpuKnown: known,
    keyOf: (b) => (b.fallback ? 'fallback' : 'primary'),
  };
}

/** Accumulates bills for one policy: tokens, per-token dollars by kind, waste, spend per time bucket. */
export class BillingAcc {
  #known = false;
  #input = 0;
  #cached = 0;
  #output = 0;
  readonly #splits: BillSplit[] = [];

  /** Adds one request's bills. */
  request(bills: readonly AttemptBill[], served: boolean): void {
    this.#known = true;
    for (const s of splitRequestBills(bills, served)) this.#add(s);
  }

  /** Adds bills that matched no request (batch calls), or (`abandoned`) that ended after their request did. */
  lone(bills: readonly AttemptBill[], abandoned = false): void {
    this.#known = true;
    for (const b of bills) this.#add(abandoned ? splitAbandonedBill(b) : splitLoneBill(b));
  }

  #add(s: BillSplit): void {
    this.#input += s.bill.inputTokens - s.bill.cachedInputTokens;
    this.#cached += s.bill.cachedInputTokens;
    this.#output += s.bill.outputTokens;
    this.#splits.push(s);
  }

  tokens(delivered: number): BilledTokens {
    if (!this.#known) return UNKNOWN_TOKENS(delivered);
    return { billedInput: this.#input, billedCachedInput: this.#cached, billedOutput: this.#output, delivered };
  }

  /**
   * Dollars. Token prices apply per bill; a GPU-hour price charges the model's busy time and attributes it to the
   * bills by their share of tokens computed (uncached input + output), since the GPU's time is not kept per call.
   */
  cost(input: CostInput, sloMet: number, bucketMs: number, buckets: number): { cost: PolicyCost; spendUsd: number[] | null } {
    const { models, gpuKnown, keyOf } = pricedModels(input);
    const sum = (f: (g: GpuTime) => number): number => models.reduce((s, m) => s + (m.gpu === null ? 0 : f(m.gpu)), 0) / 3_600_000;
    const gpuHours = gpuKnown ? sum((g) => g.busyMs) : null;
    const idleHours = gpuKnown ? sum((g) => Math.max(0, g.elapsedMs - g.busyMs)) : null;
    const byKey = new Map(models.map((m) => [m.key, m]));
    const priceOf = (b: AttemptBill): Price | undefined => byKey.get(keyOf(b))?.price;
    if (!this.#known || this.#splits.some((s) => priceOf(s.bill) === undefined)) {
      return { cost: { ...UNKNOWN_COST, gpuHours: round4(gpuHours), idleGpuHours: round4(idleHours) }, spendUsd: null };
    }
    // GPU-hour models: dollars per weight token, from that model's busy time.
    const weight = new Map<string, number>();
    for (const s of this.#splits) weight.set(keyOf(s.bill), (weight.get(keyOf(s.bill)) ?? 0) + computedTokens(s.bill));
    const gpuRate = (b: AttemptBill, p: GpuHourPrice): number => {
      const g = byKey.get(keyOf(b))?.gpu;
      const w = weight.get(keyOf(b)) ?? 0;
      return g === undefined || g === null || w === 0 ? 0 : ((g.busyMs / 3_600_000) * p.gpuHourUsd) / w;
    };
    let total = 0;
    let wasted = 0;
    const byKind = { first: 0, retry: 0, resume: 0, fallback: 0 };
    const spend: number[] = Array.from({ length: buckets }, () => 0);
    for (const s of this.#splits) {
      const p = priceOf(s.bill)!;
      const b = s.bill;
      let paid: number;
      let lost: number;
      if (p.kind === 'tokens') {
        paid = usd(b.inputTokens - b.cachedInputTokens, p.inputPer1M) + usd(b.cachedInputTokens, p.cachedInputPer1M) + usd(b.outputTokens, p.outputPer1M);
        lost = usd(s.wastedInput, p.inputPer1M) + usd(s.wastedCachedInput, p.cachedInputPer1M) + usd(s.wastedOutput, p.outputPer1M);
      } else {
        const rate = gpuRate(b, p);
        // The GPU's time also went to recompute after preemptions, which bought nothing.
        paid = computedTokens(b) * rate;
        lost = (s.wastedInput + s.wastedOutput + (b.recomputedTokens ?? 0)) * rate;
      }
      total += paid;
      wasted += lost;
      byKind[s.kind] += paid;
      const i = Math.min(buckets - 1, Math.max(0, Math.floor(b.endMs / bucketMs)));
      if (buckets > 0) spend[i] = spend[i]! + paid;
    }
    const idleUsd = gpuKnown ? idleCost(models) : null;
    return {
      cost: {
        totalUsd: round6(total),
        per1kGoodUsd: sloMet === 0 ? null : round6((total / sloMet) * 1000),
        wastedUsd: round6(wasted),
        gpuHours: round4(gpuHours),
        idleGpuHours: round4(idleHours),
        idleUsd,
        byKind: { first: round6(byKind.first), retry: round6(byKind.retry), resume: round6(byKind.resume), fallback: round6(byKind.fallback) },
      },
      spendUsd: spend.map(round6),
    };
  }
}

/** Tokens the GPU computed for a bill: uncached input, output, and recompute after preemptions. */
function computedTokens(b: AttemptBill): number {
  return b.inputTokens - b.cachedInputTokens + b.outputTokens + (b.recomputedTokens ?? 0);
}

function idleCost(models: ReadonlyArray<{ price: Price | undefined; gpu: GpuTime | null }>): number | null {
  let sum = 0;
  let any = false;
  for (const { price, gpu } of models) {
    if (price?.kind !== 'gpu-hour' || gpu === null) continue;
    any = true;
    sum += (Math.max(0, gpu.elapsedMs - gpu.busyMs) / 3_600_000) * price.gpuHourUsd;
  }
  return any ? round6(sum) : null;
}

const round6 = (v: number): number => round(v, 6);
const round4 = (v: number | null): number | null => (v === null ? null : round(v, 6));
