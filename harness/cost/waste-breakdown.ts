/**
 * Which attempts cost what: one scenario's policies run in virtual time, every request's bills split as the
 * RunResult splits them (harness/measure/billing.ts `splitRequestBills`), and grouped by how the request ended
 * (outcome and reason), the kind of each call (first, retry, resume, fallback) and whether it completed. A
 * diagnostic for reading `cost.wastedUsd`; bills of batch calls (no single request) are left out. Each policy ends
 * with a reconciliation from the run's counters: the calls refused or dropped before they ran (free) against those
 * that billed, what unserved and partial requests paid, and whether every output token computed and never delivered
 * was counted as waste.
 *
 *   npx tsx harness/cost/waste-breakdown.ts SCENARIO [POLICY,POLICY...]
 */
import { resolve } from 'node:path';
import { fmtUsd } from '../report/format.js';
import { mdTable } from '../report/markdown.js';
import { splitRequestBills, type Price } from '../measure/billing.js';
import type { RequestObservation } from '../measure/types.js';
import { runPolicyVirtual } from '../run/virtual.js';
import { loadScenario } from '../run/scenarios.js';
import { policyName } from '../scenario.js';
import { scenarioPrices } from './price.js';

interface Group {
  requests: Set<string>;
  paidUsd: number;
  wastedUsd: number;
}

const usd = (p: Price | undefined, input: number, cached: number, output: number): number =>
  p?.kind === 'tokens' ? (input * p.inputPer1M + cached * p.cachedInputPer1M + output * p.outputPer1M) / 1e6 : 0;

/** Groups one request's bills into `groups`. */
export function addRequest(groups: Map<string, Group>, obs: RequestObservation, prices: { primary: Price | undefined; fallback: Price | undefined }): void {
  const served = obs.outcome === 'ok' || obs.outcome === 'degraded';
  const splits = splitRequestBills(obs.bills ?? [], served);
  const ended = obs.outcome === 'ok' ? 'ok' : `${obs.outcome} ${obs.reason ?? ''}`.trim();
  splits.forEach((s, i) => {
    const b = s.bill;
    const p = b.fallback ? prices.fallback : prices.primary;
    const key = [ended, obs.class, `${s.kind}${i === splits.length - 1 ? ' (last)' : ''}`, b.completed ? 'completed' : 'broken'].join('\t');
    const g = groups.get(key) ?? { requests: new Set<string>(), paidUsd: 0, wastedUsd: 0 };
    g.requests.add(obs.id);
    g.paidUsd += usd(p, b.inputTokens - b.cachedInputTokens, b.cachedInputTokens, b.outputTokens);
    g.wastedUsd += usd(p, s.wastedInput, s.wastedCachedInput, s.wastedOutput);
    groups.set(key, g);
  });
}

/**
 * The checks behind a policy's waste figure, per run: which upstream calls ran (and billed) and which were refused or
 * dropped before they ran (free), and whether every output token computed but not delivered was counted as waste.
 */
export interface WasteReconciliation {
  requests: number;
  /** Requests that ended failed, timeout, cancelled or shed; of them, those with a bill, and what their bills paid. */
  unserved: number;
  unservedBilled: number;
  unservedPaidUsd: number;
  /** Requests that ended `degraded: partial` (a cut answer the client kept: its delivered tokens are not waste). */
  partial: number;
  partialPaidUsd: number;
  /** Bills of the requests; of them, broken (not completed). */
  bills: number;
  brokenBills: number;
  /** Output tokens the bills computed, of them delivered to the client, and the output the split counts as waste. */
  outputTokens: number;
  deliveredTokens: number;
  wastedOutputTokens: number;
}

export function emptyReconciliation(): WasteReconciliation {
  return { requests: 0, unserved: 0, unservedBilled: 0, unservedPaidUsd: 0, partial: 0, partialPaidUsd: 0, bills: 0, brokenBills: 0, outputTokens: 0, deliveredTokens: 0, wastedOutputTokens: 0 };
}

/** Adds one request to `r`. */
export function reconcileRequest(r: WasteReconciliation, obs: RequestObservation, prices: { primary: Price | undefined; fallback: Price | undefined }): void {
  const served = obs.outcome === 'ok' || obs.outcome === 'degraded';
  const bills = obs.bills ?? [];
  let paid = 0;
  r.requests++;
  for (const s of splitRequestBills(bills, served)) {
    const b = s.bill;
    paid += usd(b.fallback ? prices.fallback : prices.primary, b.inputTokens - b.cachedInputTokens, b.cachedInputTokens, b.outputTokens);
    r.bills++;
    if (!b.completed) r.brokenBills++;
    r.outputTokens += b.outputTokens;
    r.deliveredTokens += b.deliveredTokens;
    r.wastedOutputTokens += s.wastedOutput;
  }
  if (!served) {
    r.unserved++;
    if (bills.length > 0) r.unservedBilled++;
    r.unservedPaidUsd += paid;
  } else if (obs.degraded === 'partial') {
    r.partial++;
    r.partialPaidUsd += paid;
  }
}

/** The reconciliation as Markdown lines, with the run's engine and model counters beside it. */
function reconciliationText(r: WasteReconciliation, run: Awaited<ReturnType<typeof runPolicyVirtual>>): string {
  const models = run.models ?? [];
  const sum = (k: 'requests' | 'rejected' | 'billedCalls' | 'inFlight'): number => models.reduce((a, m) => a + m[k], 0);
  const faults: Record<string, number> = {};
  for (const m of models) for (const [k, v] of Object.entries(m.faultCounts)) faults[k] = (faults[k] ?? 0) + v;
  const dropped = sum('requests') - sum('rejected') - sum('billedCalls') - sum('inFlight');
  const undelivered = r.outputTokens - r.deliveredTokens;
  return [
    `- upstream calls: ${run.result.counters.upstreamCalls} sent by the engine (${(run.result.counters.upstreamCalls / Math.max(1, r.requests)).toFixed(2)} per request); the models received ${sum('requests')}: ${sum('rejected')} refused at admission (free), ${dropped} dropped before they ran (cancelled or crashed while queued: free), ${sum('billedCalls')} ran and billed (${r.bills} of them bills of single requests, ${r.brokenBills} of those broken; the rest batch calls)`,
    `- faults the models injected: ${Object.entries(faults).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}; the GPUs' own count of output tokens computed for no client: ${models.reduce((a, m) => a + m.wastedTokens, 0)} (a step cut short by a crash or an abort, and preemption recompute: GPU time, in no bill)`,
    `- unserved requests: ${r.unserved} of ${r.requests}; ${r.unservedBilled} of them had a call that ran, paying ${fmtUsd(r.unservedPaidUsd)} (all waste)`,
    `- partial answers (\`degraded: partial\`, the cut output kept by the client, not waste): ${r.partial}, paying ${fmtUsd(r.partialPaidUsd)}`,
    `- output tokens: ${r.outputTokens} computed, ${r.deliveredTokens} delivered, ${undelivered} computed and never delivered; counted as waste: ${r.wastedOutputTokens} (${r.wastedOutputTokens >= undelivered ? 'every undelivered token' : 'FEWER than the undelivered tokens'})`,
  ].join('\n');
}

const USAGE = `Usage: npx tsx harness/cost/waste-breakdown.ts SCENARIO [POLICY,POLICY...]

Runs the scenario's policies (or those named) in virtual mode and lists what every upstream attempt cost: per
request outcome, class, call and call outcome, the requests, dollars paid and dollars wasted, then how the
figures reconcile with the RunResult's cost (docs/cost.md). SCENARIO is a built-in name or a scenario file.
Example: npx tsx harness/cost/waste-breakdown.ts burst-1000 naive,resilient
`;

async function main(args: readonly string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const [name, only] = args;
  if (name === undefined || name.startsWith('-')) throw new Error(`expected a scenario name or file, got ${name === undefined ? 'none' : JSON.stringify(name)}; see --help`);
  const scenario = await loadScenario(name);
  const prices = scenarioPrices(scenario.model);
  const wanted = only?.split(',');
  for (const policy of scenario.policies.filter((p) => wanted === undefined || wanted.includes(policyName(p)))) {
    const groups = new Map<string, Group>();
    const rec = emptyReconciliation();
    const run = await runPolicyVirtual({
      scenario,
      policy,
      seed: scenario.seed,
      durationMs: scenario.durationMs,
      onRequest: (obs) => {
        addRequest(groups, obs, prices);
        reconcileRequest(rec, obs, prices);
      },
    });
    const c = run.result.summary.cost;
    process.stdout.write(`\n### ${policyName(policy)}: total ${fmtUsd(c.totalUsd)}, wasted ${fmtUsd(c.wastedUsd)}\n\n`);
    const rows = [...groups.entries()].sort((a, b) => b[1].wastedUsd - a[1].wastedUsd || b[1].paidUsd - a[1].paidUsd);
    process.stdout.write(
      mdTable(
        ['request ended', 'class', 'call', 'call ended', 'requests', 'paid', 'wasted'],
        rows.map(([k, g]) => [...k.split('\t'), String(g.requests.size), fmtUsd(g.paidUsd), fmtUsd(g.wastedUsd)]),
        ['left', 'left', 'left', 'left', 'right', 'right', 'right'],
      ) + '\n',
    );
    process.stdout.write(`\n${reconciliationText(rec, run)}\n`);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    if (process.env['DEBUG']) console.error(err);
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(2);
  });
}
