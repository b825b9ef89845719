/**
 * Which attempts cost what: one scenario's policies run in virtual time, every request's bills split as the
 * RunResult splits them (harness/measure/billing.ts `splitRequestBills`), and grouped by how the request ended
 * (outcome and reason), the kind of each call (first, retry, resume, fallback) and whether it completed. A
 * diagnostic for reading `cost.wastedUsd`; bills of batch calls (no single request) are left out.
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

async function main(args: readonly string[]): Promise<void> {
  const [name, only] = args;
  if (name === undefined) throw new Error('usage: npx tsx harness/cost/waste-breakdown.ts SCENARIO [POLICY,POLICY...]');
  const scenario = await loadScenario(name);
  const prices = scenarioPrices(scenario.model);
  const wanted = only?.split(',');
  for (const policy of scenario.policies.filter((p) => wanted === undefined || wanted.includes(policyName(p)))) {
    const groups = new Map<string, Group>();
    const run = await runPolicyVirtual({ scenario, policy, seed: scenario.seed, durationMs: scenario.durationMs, onRequest: (obs) => addRequest(groups, obs, prices) });
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
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  });
}
