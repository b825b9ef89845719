/** The scenario command's `--target NAME=URL` and `--mock-port` flags: parsing, mode checks, the note printed. */
import { ValidationError } from '../../src/errors.js';
import type { Scenario } from '../scenario.js';
import { parseTargetFlag } from '../targets/url-target.js';
import type { TargetAdapter } from '../targets/target.js';
import { UsageError } from './flags.js';

/** Parses every `--target` value. @throws UsageError naming the bad one. */
export function parseTargets(values: readonly string[]): TargetAdapter[] {
  const out: TargetAdapter[] = [];
  for (const v of values) {
    try {
      const t = parseTargetFlag(v);
      if (out.some((o) => o.name === t.name)) throw new UsageError(`--target: expected each NAME once, got ${JSON.stringify(t.name)} twice`);
      out.push(t);
    } catch (e) {
      if (e instanceof ValidationError) throw new UsageError(e.message);
      throw e;
    }
  }
  return out;
}

/**
 * External targets have no virtual run: `--target` needs live mode, and `--mode both` (which compares the two modes
 * row by row) refuses them. A scenario's own targets are skipped in a virtual run, with a note.
 * @throws UsageError
 */
export function liveOnlyTargets(mode: 'virtual' | 'live' | 'both', scenario: Scenario, flagTargets: readonly TargetAdapter[]): void {
  const own = scenario.targets ?? [];
  if (mode === 'both' && (own.length > 0 || flagTargets.length > 0)) {
    throw new UsageError(`--mode both: external targets have no virtual run to compare with; use --mode live (targets: ${[...own, ...flagTargets].map((t) => t.name).join(', ')})`);
  }
  if (mode === 'virtual' && flagTargets.length > 0) throw new UsageError('--target: external targets run in live mode only; add --mode live');
  if (mode === 'virtual' && own.length > 0) console.error(`note: ${own.map((t) => t.name).join(', ')} run in live mode only; this virtual run has the policies alone`);
}

/** The note printed before a run with `--target`: where the user's system must send its upstream calls. */
export function targetNotice(targets: readonly TargetAdapter[], mockPort: number, scenario: Scenario, proxyUrl?: string): string {
  if (proxyUrl !== undefined) {
    return (
      `external targets: ${targets.map((t) => `${t.name} at ${t.url ?? '?'}`).join(', ')}\n` +
      `  point their upstream at the chaos proxy: ${proxyUrl.replace(/\/+$/, '')}/v1 (the scenario's faults are set on it; it relays to your model)`
    );
  }
  const fallback = scenario.model.fallbackProfile !== undefined ? `; fallback model "fallback" at http://127.0.0.1:${mockPort + 1}/v1` : '';
  return (
    `external targets: ${targets.map((t) => `${t.name} at ${t.url ?? '?'}`).join(', ')}\n` +
    `  point their upstream at the mock GPU: model "primary" at http://127.0.0.1:${mockPort}/v1${fallback}\n` +
    '  (the mock restarts for every row on the same ports; forward x-request-id, x-mock-prompt-tokens and x-mock-output-tokens if you can)'
  );
}

/** Parses `--proxy URL`: the base URL of a running chaos proxy. @throws UsageError */
export function parseProxyFlag(value: string): string {
  let u: URL | undefined;
  try {
    u = new URL(value);
  } catch {
    u = undefined;
  }
  if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.search !== '' || u.hash !== '') {
    throw new UsageError(`--proxy: expected the http(s) URL of a chaos proxy (npm run sim -- --proxy REAL_URL), e.g. http://127.0.0.1:18000, got ${JSON.stringify(value)}`);
  }
  return `${u.origin}${u.pathname.replace(/\/+$/, '').replace(/\/v1$/, '')}`;
}
