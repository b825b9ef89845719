/**
 * The package as a user gets it: `npm pack` (which builds dist/ in prepack), the tarball installed into an empty
 * folder outside the repository, and scenario files there that import from the package by name, run through the bin
 * and through `runScenario` from a plain .mjs file. Runs are tiny (2 s of arrivals at 5/s, virtual time); the
 * timeouts are generous because packing, installing and the runs are processes on a shared machine, and nothing here
 * measures time.
 */
import { execFile, type ExecFileException } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRunResult, type RunResult } from '../harness/report/schema.js';

const REPO = process.cwd();
const PROCESS_TIMEOUT_MS = 600_000;

interface Ran {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (no shell); a non-zero exit is a result, not an error. */
function run(cmd: string, args: readonly string[], cwd: string): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      [...args],
      { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: PROCESS_TIMEOUT_MS, env: { ...process.env, DEBUG: '', FORCE_COLOR: '0' } },
      (err: ExecFileException | null, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ status: code, stdout, stderr });
      },
    );
  });
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** A user's scenario in TypeScript: imports from the package by name, a profile object, a fault phase, a threshold. */
const TS_SCENARIO = `import { defineScenario, SHORT_CHAT, weighted, type Scenario } from 'ai-chaos-harness';

const scenario: Scenario = defineScenario({
  name: 'my-chat',
  description: 'Short chat at 5/s through a burst of 429s',
  seed: 7,
  durationMs: 2_000,
  workload: { arrivals: { kind: 'poisson', ratePerSec: 5 }, mix: [weighted(SHORT_CHAT, 1)] },
  model: {
    profile: { base: 'h100-llama3-8b', maxNumSeqs: 64 },
    faults: { timeline: [{ name: '429s', atMs: 500, durationMs: 500, fault: { rateLimited: { probability: 0.5, retryAfterMs: 200 } } }] },
  },
  policies: ['naive', { name: 'mine', preset: 'resilient', overrides: { retry: { maxAttempts: 5 } } }],
  slo: { ttftMs: 2_000, e2eMs: 30_000 },
  thresholds: [{ metric: 'errorFraction', op: '<=', value: 1 }],
});
export default scenario;
`;

/** The same kind of scenario as JSON, with its GPU profile in a JSON file of its own (relative to the scenario). */
const JSON_SCENARIO = {
  name: 'my-json',
  description: 'Short chat at 5/s on a custom GPU profile',
  seed: 3,
  durationMs: 2_000,
  workload: {
    arrivals: { kind: 'poisson', ratePerSec: 5 },
    mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: 200, outputTokens: 40 }],
  },
  model: { profile: './profiles/my-gpu.json' },
  policies: ['bounded', 'resilient'],
  slo: { ttftMs: 2_000 },
};
const PROFILE = { base: 'a100-llama3-8b', name: 'my-gpu', maxNumSeqs: 32 };

/** A plain .mjs file, as a user's own test would call it: prints what it got back. */
const RUN_MJS = `import { runScenario, renderMarkdown, compareToBaseline } from 'ai-chaos-harness';

const file = process.argv[2];
const policies = process.argv.slice(3);
const result = await runScenario(file, policies.length > 0 ? { policies } : {});
const comparison = compareToBaseline(result, result);
process.stdout.write(JSON.stringify({ result, markdown: renderMarkdown(result).slice(0, 200), regression: comparison.regression }));
`;

/** Every entry point by name, and what docs/package.md says each one gives. */
const ENTRIES_MJS = `const entries = {
  'ai-chaos-harness': ['defineScenario', 'runScenario', 'loadScenario', 'describeScenario', 'renderTable', 'renderMarkdown', 'renderHtml', 'renderJUnit', 'compareToBaseline', 'defineTarget', 'SHORT_CHAT', 'weighted', 'PRESET_NAMES'],
  'ai-chaos-harness/engine': ['Engine', 'resolvePolicy', 'VirtualClock', 'RealClock', 'Random', 'HttpModelClient', 'RateLimitedError', 'buildEngineServer'],
  'ai-chaos-harness/mock': ['buildServer', 'InProcessModelClient', 'MockModel', 'resolveProfile', 'parseFaultPlan'],
  'ai-chaos-harness/runner': ['runScenario', 'runScenarioVirtual', 'runScenarioLive', 'runPolicyVirtual', 'buildWorld'],
};
const missing = [];
for (const [entry, names] of Object.entries(entries)) {
  const mod = await import(entry);
  for (const n of names) if (mod[n] === undefined) missing.push(entry + ' ' + n);
}
process.stdout.write(JSON.stringify(missing));
`;

let work: string;
let app: string;
let bin: string;
let packed: { size: number; entryCount: number; files: Array<{ path: string }> };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ai-chaos-harness-package-'));
  // npm pack runs prepack, which builds dist/; --json prints the tarball's manifest on stdout.
  const pack = await run(npm, ['pack', '--json', '--pack-destination', work], REPO);
  expect(pack.status, pack.stderr).toBe(0);
  packed = (JSON.parse(pack.stdout) as Array<typeof packed & { filename: string }>)[0] as typeof packed & { filename: string };
  const tarball = join(work, (packed as unknown as { filename: string }).filename);

  app = join(work, 'app');
  mkdirSync(join(app, 'perf', 'profiles'), { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'user-app', private: true, type: 'module' }));
  const install = await run(npm, ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], app);
  expect(install.status, install.stderr).toBe(0);
  bin = join(app, 'node_modules', '.bin', 'ai-chaos-harness');

  writeFileSync(join(app, 'perf', 'my-chat.ts'), TS_SCENARIO);
  writeFileSync(join(app, 'perf', 'my-json.json'), JSON.stringify(JSON_SCENARIO, null, 2));
  writeFileSync(join(app, 'perf', 'profiles', 'my-gpu.json'), JSON.stringify(PROFILE));
  writeFileSync(join(app, 'run.mjs'), RUN_MJS);
  writeFileSync(join(app, 'entries.mjs'), ENTRIES_MJS);
}, 2 * PROCESS_TIMEOUT_MS);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
}, PROCESS_TIMEOUT_MS);

describe('the packed tarball', () => {
  it('holds the compiled package only: no sources, tests, benches or reports', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toContain('package.json');
    expect(paths).toContain('dist/harness/public.js');
    expect(paths).toContain('dist/harness/public.d.ts');
    expect(paths).toContain('dist/harness/bin.js');
    expect(paths).toContain('dist/harness/targets/portkey-runtime.mjs');
    expect(paths).toContain('dist/scenarios/burst-1000.js');
    const stray = paths.filter((p) => !(p.startsWith('dist/') || p === 'package.json' || p === 'README.md' || p === 'LICENSE'));
    expect(stray).toEqual([]);
    expect(paths.filter((p) => /\.test\.|(^|\/)(test|bench|reports)\//.test(p) || (p.endsWith('.ts') && !p.endsWith('.d.ts')))).toEqual([]);
    // Deliberately small: compiled JS and declarations (about 0.5 MB packed when this was written).
    expect(packed.size).toBeLessThan(2_000_000);
  });
});

describe('the installed package', () => {
  it('exports what the docs list from each entry point', async () => {
    const r = await run(process.execPath, ['entries.mjs'], app);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });
});

describe('the bin', () => {
  it('names itself in every command\'s usage, help and errors, not the repository\'s npm scripts', async () => {
    for (const command of ['sim', 'serve', 'worker']) {
      const help = await run(bin, [command, '--help'], app);
      expect(help.status, command).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: ai-chaos-harness ${command} \\[options\\]`));
      const bad = await run(bin, [command, '--bogus'], app);
      expect(bad.status, command).toBe(2);
      expect(bad.stderr).toBe(`${command}: unknown option '--bogus'\nRun "ai-chaos-harness ${command} --help" for usage.\n`);
    }
    for (const command of ['scenario', 'regress', 'tune', 'k6']) {
      const help = await run(bin, [command, '--help'], app);
      expect(help.status, command).toBe(0);
      expect(help.stdout, command).toContain(`ai-chaos-harness ${command} `);
      expect(help.stdout, command).not.toMatch(/npm run (scenario|regress|tune|k6|sim)/);
    }
    const version = await run(bin, ['--version'], app);
    expect(version.status).toBe(0);
    expect(version.stdout).toBe(`${(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version}\n`);
    const tune = await run(bin, ['tune'], app);
    expect(tune.status).toBe(2);
    expect(tune.stderr).toBe('error: expected a scenario name, e.g. ai-chaos-harness tune burst-1000 --vary concurrency.limit=32,64 (or --resume DIR)\n');
  });
});

describe('a TypeScript scenario file in the user\'s repository', () => {
  it('runs through the bin and prints a RunResult', async () => {
    const r = await run(bin, ['scenario', 'perf/my-chat.ts', '--json', '--out', 'out/ts'], app);
    expect(r.status, r.stderr).toBe(0);
    const result = parseRunResult(r.stdout, 'stdout');
    expect(result.scenario.name).toBe('my-chat');
    expect(result.seed).toBe(7);
    expect(result.policies.map((p) => p.name)).toEqual(['naive', 'mine']);
    for (const p of result.policies) expect(p.summary.requests).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(app, 'out', 'ts', 'result.json'), 'utf8'))).toMatchObject({ scenario: { name: 'my-chat' } });
  });

  it('runs through runScenario from a plain .mjs file, with the same figures as the bin', async () => {
    const r = await run(process.execPath, ['run.mjs', 'perf/my-chat.ts', 'mine'], app);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { result: RunResult; markdown: string; regression: boolean };
    const result = parseRunResult(JSON.stringify(out.result), 'runScenario');
    expect(result.policies.map((p) => p.name)).toEqual(['mine']);
    expect(out.markdown).toContain('my-chat');
    expect(out.regression).toBe(false);
    const fromBin = parseRunResult(readFileSync(join(app, 'out', 'ts', 'result.json'), 'utf8'), 'bin');
    expect(result.policies[0]?.summary).toEqual(fromBin.policies[1]?.summary);
  });

  it('type-checks against the package\'s declarations', async () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: [] }, include: ['perf/*.ts'] }),
    );
    const r = await run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], app);
    expect(r.status, r.stdout).toBe(0);
  });

  it('--help describes the scenario; a bad field gets one line naming the file and the field, exit 2', async () => {
    const help = await run(bin, ['scenario', 'perf/my-chat.ts', '--help'], app);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('my-chat: Short chat at 5/s');
    expect(help.stdout).toContain('429s');
    expect(help.stdout).toContain('mine: preset resilient');
    writeFileSync(join(app, 'perf', 'bad.ts'), TS_SCENARIO.replace("arrivals: { kind: 'poisson', ratePerSec: 5 }", "arrivals: { kind: 'poisson', ratePerSec: -5 }"));
    const bad = await run(bin, ['scenario', 'perf/bad.ts'], app);
    rmSync(join(app, 'perf', 'bad.ts'));
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^error: perf\/bad\.ts: scenario\.workload\.arrivals\.ratePerSec: expected/);
  });
});

describe('a TypeScript scenario file in a CommonJS package (no "type": "module", as `npm init -y` writes it)', () => {
  // Node resolves the package from the parent folder's node_modules; this folder's package.json makes .ts CommonJS.
  const setUp = (): string => {
    const dir = join(app, 'cjs');
    mkdirSync(join(dir, 'perf'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'user-cjs-app', private: true, type: 'commonjs' }));
    writeFileSync(join(dir, 'perf', 'my-chat.ts'), TS_SCENARIO);
    writeFileSync(join(dir, 'run.cjs'), "require('ai-chaos-harness').runScenario('./perf/my-chat.ts', { policies: ['mine'] }).then((r) => process.stdout.write(JSON.stringify(r)));\n");
    return dir;
  };

  it('runs through the bin and through runScenario from require()', async () => {
    const dir = setUp();
    const r = await run(bin, ['scenario', 'perf/my-chat.ts', '--json', '--out', 'out/cjs'], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(parseRunResult(r.stdout, 'stdout').policies.map((p) => p.name)).toEqual(['naive', 'mine']);
    const viaRequire = await run(process.execPath, ['run.cjs'], dir);
    expect(viaRequire.status, viaRequire.stderr).toBe(0);
    expect(parseRunResult(viaRequire.stdout, 'runScenario').policies.map((p) => p.name)).toEqual(['mine']);
  });

  it('a file without a default export, or with a syntax error, gets one line saying so, exit 2', async () => {
    const dir = setUp();
    writeFileSync(join(dir, 'perf', 'no-default.ts'), TS_SCENARIO.replace('export default scenario;', 'export { scenario };'));
    writeFileSync(join(dir, 'perf', 'broken.ts'), 'export default {\n');
    const noDefault = await run(bin, ['scenario', 'perf/no-default.ts'], dir);
    expect(noDefault.status).toBe(2);
    expect(noDefault.stderr.trim()).toBe('error: perf/no-default.ts: expected a default export made with defineScenario, got none');
    const broken = await run(bin, ['scenario', 'perf/broken.ts'], dir);
    expect(broken.status).toBe(2);
    expect(broken.stderr.trim().split('\n')).toHaveLength(1);
    expect(broken.stderr).toMatch(/^error: perf\/broken\.ts: cannot load it: Transform failed with 1 error: .*broken\.ts:2:0: ERROR: /);
  });
});

describe('a JSON scenario file with a profile JSON file', () => {
  it('runs through the bin and prints a RunResult on the custom profile', async () => {
    const r = await run(bin, ['scenario', 'perf/my-json.json', '--json', '--out', 'out/json'], app);
    expect(r.status, r.stderr).toBe(0);
    const result = parseRunResult(r.stdout, 'stdout');
    expect(result.scenario.name).toBe('my-json');
    expect(result.policies.map((p) => p.name)).toEqual(['bounded', 'resilient']);
    expect(result.scenario.config).toMatchObject({ model: { profile: PROFILE } });
  });

  it('runs through runScenario from a plain .mjs file', async () => {
    const r = await run(process.execPath, ['run.mjs', 'perf/my-json.json'], app);
    expect(r.status, r.stderr).toBe(0);
    const result = parseRunResult(JSON.stringify((JSON.parse(r.stdout) as { result: unknown }).result), 'runScenario');
    expect(result.policies.map((p) => p.name)).toEqual(['bounded', 'resilient']);
    for (const p of result.policies) expect(p.summary.requests).toBeGreaterThan(0);
  });

  it('regress keeps the baselines beside the user\'s files and compares against them', async () => {
    const update = await run(bin, ['regress', 'perf/', '--baselines', 'perf/baselines', '--update'], app);
    expect(update.status, update.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(app, 'perf', 'baselines', 'my-json.json'), 'utf8'))).toMatchObject({ scenario: { name: 'my-json' } });
    const check = await run(bin, ['regress', 'perf/*.json', '--baselines', 'perf/baselines', '--junit', 'out/junit.xml'], app);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('**Result: no regression**');
  });
});
