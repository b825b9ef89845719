import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AbortError } from '../../src/errors.js';
import { preset } from '../../src/policy.js';
import { runPolicyVirtual } from '../run/virtual.js';
import { tinyScenario } from './fixture.js';
import { overridesOf } from './report-md.js';
import { defaultSlo } from './slo.js';
import { parseSpace } from './space.js';
import { RESULTS_FILE } from './store.js';
import { runSweep, type SweepOptions } from './sweep.js';

const scenario = tinyScenario();
const base = { name: 'resilient', policy: preset('resilient') };
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tune-sweep-'));
  dirs.push(d);
  return d;
};
const json = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

function options(vary: string[], over: Partial<SweepOptions> = {}): SweepOptions {
  return {
    scenario,
    durationMs: scenario.durationMs,
    base,
    dimensions: parseSpace(vary, base.policy),
    search: { kind: 'grid' },
    seeds: [7, 8],
    slo: defaultSlo(scenario),
    workers: 0,
    ...over,
  };
}

describe('tuning sweep', () => {
  it('across 2 worker threads gives exactly the figures of running each configuration alone with the same seed', async () => {
    const o = options(['concurrency.limit=4,32', 'retry.maxAttempts=1,4'], { workers: 2 });
    const out = await runSweep(o);
    expect(out.ran).toBe(8);
    expect(out.ranking.configs).toHaveLength(4);
    const distinct = new Set(out.ranking.configs.map((c) => c.figures.goodputPerSec.median));
    expect(distinct.size).toBeGreaterThan(1); // the knobs matter in this scenario, so the comparison is not vacuous
    for (const c of out.ranking.configs) {
      for (const run of c.runs) {
        // Alone: the knobs as overrides of the preset, the way a scenario file states a policy.
        const alone = await runPolicyVirtual({
          scenario,
          policy: { name: 'alone', preset: 'resilient', overrides: overridesOf(c.assignments) },
          seed: run.seed,
          durationMs: scenario.durationMs,
        });
        expect(json(run.summary), `${c.id} seed ${run.seed}`).toEqual(json(alone.result.summary));
        expect(run.simulatedMs).toBe(alone.simulatedMs);
      }
    }
  });

  it('ranks configurations that meet the SLO first, then by goodput', async () => {
    const out = await runSweep(options(['concurrency.limit=2,8,64'], { seeds: [7] }));
    const r = out.ranking.configs;
    const firstMiss = r.findIndex((c) => !c.meetsAll);
    if (firstMiss !== -1) expect(r.slice(firstMiss).every((c) => !c.meetsAll)).toBe(true);
    const meeting = r.filter((c) => c.meetsAll);
    for (let i = 1; i < meeting.length; i++) expect(meeting[i - 1]!.figures.goodputPerSec.median!).toBeGreaterThanOrEqual(meeting[i]!.figures.goodputPerSec.median!);
    // With a limit of 2, 60 sessions queue far past the 2 s TTFT bound.
    expect(r.find((c) => c.assignments['concurrency.limit'] === 2)!.meetsAll).toBe(false);
    expect(out.ranking.best?.assignments['concurrency.limit']).not.toBe(2);
    expect(r.map((c) => c.rank)).toEqual([1, 2, 3]);
  });

  it('resumes from the log: skips finished runs, drops a half-written line, and ends with the same ranking', async () => {
    const dir = tmp();
    const o = options(['concurrency.limit=8,64', 'retry.maxAttempts=1,3'], { outDir: dir });
    const first = await runSweep(o);
    expect(first.ran).toBe(8);
    const file = join(dir, RESULTS_FILE);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(8);
    // Lose the last three runs, and leave a torn line as a kill mid-write would.
    writeFileSync(file, `${lines.slice(0, 5).join('\n')}\n${lines[5]!.slice(0, 40)}`);
    const events: string[] = [];
    const second = await runSweep({ ...o, onEvent: (e) => events.push(e.type) });
    expect(second.resumed).toBe(5);
    expect(second.ran).toBe(3);
    expect(events.filter((t) => t === 'run-done')).toHaveLength(3);
    expect(events.filter((t) => t === 'config-done')).toHaveLength(4);
    expect(json(second.ranking)).toEqual(json(first.ranking));
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(8);
    // A third start has nothing left to run.
    expect((await runSweep(o)).ran).toBe(0);
  });

  it('an interrupted sweep keeps what finished and resumes the rest', async () => {
    const dir = tmp();
    const abort = new AbortController();
    const o = options(['concurrency.limit=8,64'], { outDir: dir, seeds: [7, 8, 9] });
    let done = 0;
    await expect(
      runSweep({
        ...o,
        signal: abort.signal,
        onEvent: (e) => {
          if (e.type === 'run-done' && ++done === 2) abort.abort(new Error('test stop'));
        },
      }),
    ).rejects.toBeInstanceOf(AbortError);
    expect(readFileSync(join(dir, RESULTS_FILE), 'utf8').trim().split('\n')).toHaveLength(2);
    const resumed = await runSweep(o);
    expect(resumed.resumed).toBe(2);
    expect(resumed.ran).toBe(4);
    expect(resumed.ranking.configs.map((c) => c.runs.map((r) => r.seed))).toEqual([
      [7, 8, 9],
      [7, 8, 9],
    ]);
  });
});
