import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { describeScenario } from '../scenario-describe.js';
import { validateScenario } from '../scenario.js';
import { runScenario } from './run-scenario-ref.js';
import { findScenarioFiles, isScenarioPath, loadScenario, loadScenarioFile } from './scenarios.js';

const dir = mkdtempSync(join(tmpdir(), 'scenario-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HARNESS = pathToFileURL(join(process.cwd(), 'harness', 'index.ts')).href;
const base = {
  name: 'tiny',
  description: 'two seconds of short chat',
  seed: 5,
  durationMs: 2_000,
  workload: { arrivals: { kind: 'poisson', ratePerSec: 4 }, mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: 100, outputTokens: 20 }] },
  model: {},
  policies: ['naive', 'resilient'],
  slo: { ttftMs: 1_000 },
};
const write = (name: string, text: string): string => {
  const file = join(dir, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  return file;
};

describe('scenario files', () => {
  it('tells a path from a built-in name', () => {
    expect(isScenarioPath('burst-1000')).toBe(false);
    for (const p of ['./x', 'perf/x', 'x.ts', 'x.json', 'x.mjs', 'C:\\x']) expect(isScenarioPath(p), p).toBe(true);
  });

  it('loads .ts (importing the harness), .mjs and .json files, the same scenario each way', async () => {
    const ts = write('a/tiny.ts', `import { defineScenario } from '${HARNESS}';\nexport default defineScenario(${JSON.stringify(base)} as never);\n`);
    const mjs = write('a/tiny.mjs', `export default ${JSON.stringify(base)};\n`);
    const json = write('a/tiny.json', JSON.stringify(base));
    // What Node's import() gives for a .ts file of a CommonJS package, compiled by tsx: module.exports as the default.
    const cjs = write('a/tiny-cjs.mjs', `export default Object.defineProperty({ default: ${JSON.stringify(base)} }, '__esModule', { value: true });\n`);
    const loaded = await Promise.all([ts, mjs, json, cjs].map((f) => loadScenarioFile(f)));
    for (const s of loaded) expect(s).toEqual(base);
    expect(await loadScenario(json)).toEqual(base);
  });

  it('reads model.profile from a .json file relative to the scenario file, and accepts profile objects', async () => {
    write('b/gpus/small.json', JSON.stringify({ base: 'a100-llama3-8b', maxNumSeqs: 16 }));
    const file = write('b/custom.json', JSON.stringify({ ...base, model: { profile: './gpus/small.json', fallbackProfile: { base: 'fallback', maxNumSeqs: 8 } } }));
    const s = await loadScenarioFile(file);
    expect(s.model.profile).toEqual({ base: 'a100-llama3-8b', maxNumSeqs: 16 });
    const result = await runScenario(s, { policies: ['resilient'] });
    expect(result.policies).toHaveLength(1);
    expect(result.policies[0]?.summary.requests).toBeGreaterThan(0);
  });

  it('a bad file gets one line naming the file and the field', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['bad-rate.json', JSON.stringify({ ...base, workload: { ...base.workload, arrivals: { kind: 'poisson', ratePerSec: -1 } } }), /bad-rate\.json: scenario\.workload\.arrivals\.ratePerSec: expected a number > 0, got -1$/],
      ['bad-profile.json', JSON.stringify({ ...base, model: { profile: 'h200' } }), /bad-profile\.json: scenario\.model\.profile: expected one of h100-llama3-8b, .*got "h200"$/],
      ['bad-override.json', JSON.stringify({ ...base, model: { profile: { maxNumSeqs: -3 } } }), /bad-override\.json: scenario\.model\.profile\.maxNumSeqs: expected .*got -3$/],
      ['missing-profile.json', JSON.stringify({ ...base, model: { profile: 'nope.json' } }), /missing-profile\.json: scenario\.model\.profile: expected .*readable profile \.json file, got "nope\.json \(ENOENT\)"$/],
      ['broken.json', '{ "name": ', /broken\.json: expected JSON, got a parse error/],
      ['no-default.mjs', 'export const scenario = 1;\n', /no-default\.mjs: expected a default export made with defineScenario, got none$/],
      ['throws.mjs', 'throw new Error("boom\\nsecond line");\n', /throws\.mjs: cannot load it: boom$/],
      // esbuild's syntax errors introduce the place on a second line; the one line keeps both.
      ['syntax.mjs', 'throw new Error("Transform failed with 1 error:\\n/x/syntax.ts:2:0: ERROR: Expected identifier but found end of file\\n");\n', /syntax\.mjs: cannot load it: Transform failed with 1 error: \/x\/syntax\.ts:2:0: ERROR: Expected identifier but found end of file$/],
      // A .ts file of a CommonJS package without a default export: Node's import() gives its module.exports.
      ['cjs-no-default.mjs', 'export default Object.defineProperty({ scenario: 1 }, "__esModule", { value: true });\n', /cjs-no-default\.mjs: expected a default export made with defineScenario, got none$/],
      ['typo.json', JSON.stringify({ ...base, sloo: {} }), /typo\.json: scenario\.sloo: expected no such field/],
    ];
    for (const [name, text, message] of cases) {
      const file = write(`bad/${name}`, text);
      await expect(loadScenarioFile(file), name).rejects.toThrow(message);
      await expect(loadScenarioFile(file)).rejects.toMatchObject({ code: 'USAGE' });
    }
    await expect(loadScenarioFile(join(dir, 'none.ts'))).rejects.toThrow(/none\.ts: no such scenario file$/);
    await expect(loadScenario('no-such')).rejects.toThrow(/unknown scenario "no-such"; expected one of .*burst-1000.*or a path to a scenario file/);
  });

  it('finds the scenario files of folders and globs, leaving tests and declarations out', async () => {
    const one = write('set/one.json', JSON.stringify({ ...base, name: 'one' }));
    const two = write('set/two.mjs', `export default ${JSON.stringify({ ...base, name: 'two' })};\n`);
    write('set/two.test.ts', '');
    write('set/types.d.ts', '');
    write('set/notes.txt', '');
    expect(await findScenarioFiles([join(dir, 'set')])).toEqual([one, two]);
    expect(await findScenarioFiles([join(dir, 'set', '*.json'), one])).toEqual([one]);
    await expect(findScenarioFiles([join(dir, 'nothing-here')])).rejects.toThrow(/nothing-here: no such scenario file or folder/);
    await expect(findScenarioFiles([join(dir, 'set', '*.yaml')])).rejects.toThrow(/expected scenario files .* found none/);
  });
});

describe('runScenario', () => {
  it('takes a built-in name, runs only the policies asked for, and writes nothing unless asked', async () => {
    const result = await runScenario('steady-poisson', { durationMs: 1_000, policies: ['bounded'] });
    expect(result.scenario.name).toBe('steady-poisson');
    expect(result.scenario.durationMs).toBe(1_000);
    expect(result.policies.map((p) => p.name)).toEqual(['bounded']);
  });

  it('validates its options and the scenario object before running anything', async () => {
    await expect(runScenario(base as never, { policies: ['fancy'] })).rejects.toThrow(/options\.policies\[0\]: expected one of "naive" \| "resilient", got "fancy"/);
    await expect(runScenario(base as never, { durationMs: 0 })).rejects.toThrow(/options\.durationMs: expected a number > 0/);
    await expect(runScenario({ ...base, seed: -1 } as never)).rejects.toThrow(/scenario\.seed: expected/);
    await expect(runScenario(base as never, { mode: 'virtual', targets: [{}] as never })).rejects.toThrow(/options\.targets: expected mode: 'live'/);
  });
});

describe('describeScenario', () => {
  it('says what the scenario does: workload, faults, policies and how they are judged', async () => {
    const s = validateScenario({
      ...base,
      model: { profile: 'a100-llama3-8b', faults: { timeline: [{ name: 'storm', atMs: 500, durationMs: 1_000, fault: { rateLimited: { probability: 0.5 } } }] } },
      policies: ['naive', { name: 'patient', preset: 'bounded', overrides: { retry: { maxAttempts: 6 } } }],
      thresholds: [{ metric: 'ttftMs', stat: 'p99', op: '<=', value: 900 }],
    });
    const text = describeScenario(s, { run: 'npm run scenario tiny', flagsHelp: 'npm run scenario -- --help' });
    expect(text).toContain('tiny: two seconds of short chat');
    expect(text).toContain('arrivals: poisson(ratePerSec 4)');
    expect(text).toMatch(/chat +100% +single \{ promptTokens: 100, outputTokens: 20 \}/);
    expect(text).toContain('primary profile: a100-llama3-8b');
    expect(text).toContain('primary timeline 0.5 s to 1.5 s: storm { rateLimited: { probability: 0.5 } }');
    expect(text).toContain('patient: preset bounded with { retry: { maxAttempts: 6 } }');
    expect(text).toContain('SLO: TTFT <= 1000 ms');
    expect(text).toContain('threshold: ttftMs.p99 <= 900');
    expect(text).toContain('Run it: npm run scenario tiny');
  });
});
