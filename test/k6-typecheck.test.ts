/**
 * Every shipped scenario exports a k6 script, streamed (k6/x/sse, typed by harness/k6/types/k6-x-sse.d.ts) and
 * plain (--no-stream), that typechecks against `@types/k6` under `strict`. One compiler program holds all the
 * scripts plus deliberately broken copies, which must fail: the check is not vacuous.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    const scenario = await loadScenario(name);
    for (const stream of [true, false]) {
      const out = generateK6Script(scenario, { baseDir: ROOT, stream });
      const file = stream ? name : `${name}.plain`;
      exports.set(file, out);
      writeFileSync(join(dir, `${file}.ts`), out.script);
    }
  }
  const streamed = exports.get('burst-1000') as K6Export;
  writeFileSync(
    join(dir, 'broken.ts'),
    streamed.script
      .replace(/executor: '([a-z-]+)'/, "executor: '$1-typo'")
      .replace("sse.open(\n    TARGET + '/v1/chat/completions',", "sse.open(\n    42 as unknown as Date,"),
  );
  const plain = exports.get('burst-1000.plain') as K6Export;
  writeFileSync(
    join(dir, 'broken-plain.ts'),
    plain.script.replace("http.post(TARGET + '/v1/chat/completions', chatBody(id, promptTokens, outputTokens),", "http.post(TARGET + '/v1/chat/completions', 42 as unknown as Date,"),
  );
  writeFileSync(join(dir, 'k6-x-sse.d.ts'), readFileSync(join(ROOT, 'harness', 'k6', 'types', 'k6-x-sse.d.ts'), 'utf8'));
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
    const errors = [...diagnostics.entries()].filter(([f]) => !f.startsWith('broken')).flatMap(([, l]) => l);
    expect(errors).toEqual([]);
  });

  it('broken copies fail the same check (bad executor name, bad sse.open URL, bad request body)', () => {
    const errors = (diagnostics.get('broken.ts') ?? []).join('\n');
    expect(errors).toMatch(/-typo/);
    expect(errors).toMatch(/Date.*string/);
    expect((diagnostics.get('broken-plain.ts') ?? []).join('\n')).toMatch(/Date/);
  });

  it('streams with k6/x/sse by default and records TTFT only then; --no-stream names its metric response time', () => {
    for (const [name, out] of exports) {
      if (out.stream) {
        expect(out.script, name).toContain("import sse from 'k6/x/sse';");
        expect(out.script, name).toContain("new Trend('ttftMs', true)");
      } else {
        expect(out.script, name).not.toContain('k6/x/sse');
        expect(out.script, name).not.toMatch(/new Trend\('ttft/);
        expect(out.script, name).toContain('response time (not TTFT)');
        expect(out.script, name).toContain("new Trend('responseMs', true)");
      }
    }
  });

  it('each script has k6 options, a default function and the scenario\'s sessions', () => {
    for (const [name, out] of exports) {
      expect(out.script, name).toMatch(/^export const options: Options = \{/m);
      expect(out.script, name).toMatch(/^export default function \(\): void \{/m);
      expect(out.script, name).toContain(`scenario "${name.replace(/\.plain$/, '')}"`);
      expect(out.script.match(/^ {2}\{ id: '[^']+', atMs: /gm)?.length, name).toBe(out.sessions);
      expect(out.sessions, name).toBeGreaterThan(0);
    }
  });

  it('writes every threshold into the table options are built from, lists it in the header, and lists the others too', () => {
    for (const [name, out] of exports) {
      expect(out.thresholds.mapped.length, name).toBeGreaterThan(1);
      const table = out.script.slice(out.script.indexOf('const THRESHOLDS'), out.script.indexOf('function buildThresholds'));
      const head = out.script.slice(0, out.script.indexOf('import http'));
      for (const m of out.thresholds.mapped) {
        expect(table, name).toContain(`['${m.metric}', `);
        expect(head, name).toContain(`${m.label} -> ${m.metric}`);
      }
      for (const u of out.thresholds.unmapped) expect(head, name).toContain(u.reason);
    }
  });
});
