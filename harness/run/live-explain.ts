/**
 * Why the engine did what it did in a live run, read from its Prometheus `/metrics` at the end of the load: which
 * failed attempts its breaker counted as failures and which it set aside as load, what the breaker had counted
 * each time it opened (by error code), and why the attempt loop gave up on requests (reason and last error code).
 * A virtual run sees the engine's events directly; a live run sees only what the service exports, so this is the
 * live run's account of the engine's judgment. Metrics the engine does not export leave the explanation undefined.
 */
import type { PromSample } from './live-metrics.js';

/** One counted series: its labels that matter here, and the count. */
export interface Counted<K extends string> {
  readonly labels: Readonly<Record<K, string>>;
  readonly count: number;
}

/** The engine's account of its judgment over a live run (see the file comment). */
export interface EngineExplanation {
  /** Times the primary's breaker opened (trips and failed probes). */
  readonly breakerOpened: number;
  /** Failed attempts by error code, model and what the breaker made of them (failure, load, ignored, success, none). */
  readonly attemptFailures: ReadonlyArray<Counted<'code' | 'model' | 'breaker'>>;
  /** The failures the breaker had counted when it opened, by code and why it opened (tripped, probe-failed). */
  readonly openedOn: ReadonlyArray<Counted<'code' | 'reason'>>;
  /** Requests the attempt loop stopped retrying, by reason (budget, max-attempts, ...) and last error code. */
  readonly giveUps: ReadonlyArray<Counted<'reason' | 'code'>>;
}

function series<K extends string>(samples: readonly PromSample[], names: readonly string[], keys: readonly K[]): Array<Counted<K>> {
  const name = names.find((n) => samples.some((s) => s.name === n));
  if (name === undefined) return [];
  const out = new Map<string, { labels: Record<K, string>; count: number }>();
  for (const s of samples) {
    if (s.name !== name || !(s.value > 0)) continue;
    const labels = Object.fromEntries(keys.map((k) => [k, s.labels[k] ?? 'none'])) as Record<K, string>;
    const key = keys.map((k) => labels[k]).join('\u0000');
    const e = out.get(key);
    if (e === undefined) out.set(key, { labels, count: s.value });
    else e.count += s.value;
  }
  return [...out.values()].sort((a, b) => b.count - a.count);
}

/** The explanation in a scrape of the engine's `/metrics`; undefined when it exports no attempt failures at all. */
export function engineExplanation(samples: readonly PromSample[]): EngineExplanation | undefined {
  if (!samples.some((s) => s.name === 'engine_attempts_total' || s.name === 'engine_attempt_failures_total')) return undefined;
  const opened = samples.filter((s) => s.name === 'engine_breaker_transitions_total' && s.labels['to'] === 'open').reduce((a, s) => a + s.value, 0);
  return {
    breakerOpened: opened,
    // Breaker refusals are counted as failed attempts with code BREAKER_OPEN: not upstream failures, left out.
    attemptFailures: series(samples, ['engine_attempt_failures_total'], ['code', 'model', 'breaker'] as const).filter((c) => c.labels.code !== 'BREAKER_OPEN'),
    openedOn: series(samples, ['engine_breaker_open_failures_total'], ['code', 'reason'] as const),
    giveUps: series(samples, ['engine_give_ups_total'], ['reason', 'code'] as const),
  };
}

const list = (items: ReadonlyArray<{ text: string; count: number }>, max = 6): string =>
  items.length === 0 ? 'none' : items.slice(0, max).map((i) => `${i.text} ×${i.count}`).join(', ') + (items.length > max ? ', ...' : '');

/** The explanation as lines for the terminal (one policy). */
export function renderExplanation(e: EngineExplanation): string[] {
  const primary = e.attemptFailures.filter((c) => c.labels.model === 'primary');
  const by = (verdict: string): Array<{ text: string; count: number }> =>
    primary.filter((c) => c.labels.breaker === verdict).map((c) => ({ text: c.labels.code, count: c.count }));
  const gaveUp = `gave up: ${list(e.giveUps.map((c) => ({ text: `${c.labels.reason} after ${c.labels.code}`, count: c.count })))}`;
  // No breaker judged any failure (a policy without one): say so, rather than call every failure "not about health".
  if (e.breakerOpened === 0 && primary.every((c) => c.labels.breaker === 'none')) {
    return [`no breaker; primary failures: ${list(by('none'))}`, gaveUp];
  }
  return [
    `breaker opened ${e.breakerOpened}×; on: ${list(e.openedOn.map((c) => ({ text: `${c.labels.code} (${c.labels.reason})`, count: c.count })))}`,
    `primary failures the breaker counted: ${list(by('failure'))}`,
    `set aside as load: ${list(by('load'))}; not about health: ${list([...by('ignored'), ...by('none')])}`,
    gaveUp,
  ];
}
