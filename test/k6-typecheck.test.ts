/**
 * Every shipped scenario exports a k6 script that typechecks against `@types/k6` under `strict`. One compiler
 * program holds all the scripts plus a deliberately broken copy, which must fail: the check is not vacuous.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateK6Script, type K6Export } from '../harness/k6/index.js';
import { listScenarioNames, loadScenario } from '../harness/run/scenarios.js';

const ROOT = resolve(import.meta.dirname, '..');
let dir: string;
const exports = new Map<string, K6Export>();
const diagnostics = new Map<string, string[]>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'k6-typecheck-'));
  for (const name of listScenarioNames()) {
    const out = generateK6Script(await loadScenario(name), { baseDir: ROOT });
    exports.set(name, out);
    writeFileSync(join(dir, `${name}.ts`), out.script);
  }
  const first = exports.values().next().value as K6Export;
  const broken = first.script
    .replace(/executor: '([a-z-]+)'/, "executor: '$1-typo'")
    .replace("http.post(TARGET + '/v1/chat/completions', body,", "http.post(TARGET + '/v1/chat/completions', 42 as unknown as Date,");
  writeFileSync(join(dir, 'broken.ts'), broken);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        types: ['k6'],
        lib: ['ES2020'],
        module: 'ESNext',
        moduleResolution: 'Bundler',
        typeRoots: [join(ROOT, 'node_modules', '@types')],
        skipLibCheck: false,
      },
      include: ['*.ts'],
    }),
  );
  const parsed = ts.getParsedCommandLineOfConfigFile(join(dir, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (parsed === undefined) throw new Error('tsconfig did not parse');
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const file = d.file === undefined ? '(global)' : d.file.fileName.startsWith(dir) ? d.file.fileName.slice(dir.length + 1) : d.file.fileName;
    const where = d.file !== undefined && d.start !== undefined ? `:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
    const list = diagnostics.get(file) ?? [];
    list.push(`${file}${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
    diagnostics.set(file, list);
  }
}, 60_000);

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('k6 scripts of the shipped scenarios', () => {
  it('exports at least the headline scenario', () => {
    expect([...exports.keys()]).toContain('burst-1000');
  });

  it('typecheck against @types/k6 with strict: no errors outside the broken copy', () => {
    const errors = [...diagnostics.entries()].filter(([f]) => f !== 'broken.ts').flatMap(([, l]) => l);
    expect(errors).toEqual([]);
  });

  it('a broken copy fails the same check (bad executor name, bad request body)', () => {
    const errors = (diagnostics.get('broken.ts') ?? []).join('\n');
    expect(errors).toMatch(/-typo/);
    expect(errors).toMatch(/Date/);
  });

  it('each script has k6 options, a default function and the scenario\'s sessions', () => {
    for (const [name, out] of exports) {
      expect(out.script, name).toMatch(/^export const options: Options = \{/m);
      expect(out.script, name).toMatch(/^export default function \(\): void \{/m);
      expect(out.script, name).toContain(`scenario "${name}"`);
      expect(out.script.match(/^ {2}\{ id: 's\d+', atMs: /gm)?.length, name).toBe(out.sessions);
      expect(out.sessions, name).toBeGreaterThan(0);
    }
  });

  it('writes the mapped thresholds into options and lists the others in the header', () => {
    for (const [name, out] of exports) {
      for (const m of out.thresholds.mapped) expect(out.script, name).toContain(`'${m.expression}'`);
      for (const u of out.thresholds.unmapped) expect(out.script, name).toContain(u.reason);
    }
  });
});
