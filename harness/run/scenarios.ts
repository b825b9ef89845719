/**
 * Finding and loading scenarios: a built-in name (one typed file per scenario in `scenarios/`), or a scenario file
 * anywhere (`.ts`, `.mts`, `.js`, `.mjs`, `.json`). TypeScript files load through tsx (a dependency), so a user's
 * repository needs nothing else installed. A bad file gets one line naming the file and the field.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { glob, isDynamicPattern } from 'tinyglobby';
import { HarnessError, ValidationError } from '../../src/errors.js';
import { UsageError } from '../cli/flags.js';
import { validateScenario, type Scenario } from '../scenario.js';

/** The shipped `scenarios/` folder (in the package: `dist/scenarios`). */
export const SCENARIOS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scenarios');

/** Extensions of scenario files. */
export const SCENARIO_FILE_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '.json'] as const;

/** A scenario file that is not one (tests, declarations) although its extension says so. */
function isHelperFile(f: string): boolean {
  return /\.(test|spec)\.[cm]?[tj]s$/.test(f) || /\.d\.[cm]?ts$/.test(f);
}

/** Names of the shipped scenarios, sorted. */
export function listScenarioNames(dir = SCENARIOS_DIR): string[] {
  const names = readdirSync(dir)
    .filter((f) => (f.endsWith('.ts') || f.endsWith('.js')) && !isHelperFile(f))
    .map((f) => f.slice(0, -3));
  return [...new Set(names)].sort();
}

/** True when `ref` names a file rather than a built-in scenario: it has a path separator or a scenario extension. */
export function isScenarioPath(ref: string): boolean {
  return ref.includes('/') || ref.includes('\\') || (SCENARIO_FILE_EXTENSIONS as readonly string[]).includes(extname(ref));
}

/**
 * Loads and validates a scenario: a built-in name, or a path to a scenario file (resolved against the working
 * directory).
 * @throws UsageError for an unknown name, a missing or unreadable file, or a bad field (naming the file and field).
 */
export async function loadScenario(ref: string, dir = SCENARIOS_DIR): Promise<Scenario> {
  if (isScenarioPath(ref)) return loadScenarioFile(ref);
  const names = listScenarioNames(dir);
  if (!names.includes(ref)) {
    throw new UsageError(`unknown scenario ${JSON.stringify(ref)}; expected one of ${names.join(', ')}, or a path to a scenario file (${SCENARIO_FILE_EXTENSIONS.join(', ')})`);
  }
  const file = ['.ts', '.js'].map((ext) => join(dir, `${ref}${ext}`)).find((f) => existsSync(f)) as string;
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  if (mod.default === undefined) throw new UsageError(`scenarios/${ref}: expected a default export made with defineScenario, got none`);
  return validateScenario(mod.default);
}

/**
 * Loads and validates one scenario file. A `.json` file holds the scenario object; a module's default export is it
 * (made with `defineScenario`). A `model.profile` or `model.fallbackProfile` ending in `.json` is read relative to
 * the scenario file.
 */
export async function loadScenarioFile(path: string): Promise<Scenario> {
  const file = resolve(path);
  const label = displayPath(file);
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${label}: no such scenario file`);
  const ext = extname(file);
  if (!(SCENARIO_FILE_EXTENSIONS as readonly string[]).includes(ext)) {
    throw new UsageError(`${label}: expected a scenario file ending in ${SCENARIO_FILE_EXTENSIONS.join(', ')}, got ${JSON.stringify(ext || 'no extension')}`);
  }
  const raw = ext === '.json' ? await readJsonFile(file, label) : await importDefault(file, label);
  return validateScenarioFrom(raw, label, dirname(file));
}

/**
 * Validates a scenario object, reading profile `.json` paths relative to `baseDir`; a bad field is reported as
 * `LABEL: scenario.FIELD: expected ..., got ...`.
 */
export async function validateScenarioFrom(raw: unknown, label: string | undefined, baseDir: string): Promise<Scenario> {
  try {
    return validateScenario(await withProfileFiles(raw, baseDir));
  } catch (e) {
    if (label !== undefined && e instanceof HarnessError && !(e instanceof UsageError)) throw new UsageError(`${label}: ${e.message}`);
    throw e;
  }
}

/** The scenario with `model.profile` / `model.fallbackProfile` `.json` paths replaced by the files' contents. */
async function withProfileFiles(raw: unknown, baseDir: string): Promise<unknown> {
  if (raw === null || typeof raw !== 'object') return raw;
  const model = (raw as { model?: unknown }).model;
  if (model === null || typeof model !== 'object') return raw;
  const out: Record<string, unknown> = { ...(model as Record<string, unknown>) };
  for (const key of ['profile', 'fallbackProfile'] as const) {
    const v = out[key];
    if (typeof v !== 'string' || !v.endsWith('.json')) continue;
    const file = isAbsolute(v) ? v : resolve(baseDir, v);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new ValidationError(`scenario.model.${key}`, 'a built-in profile name, a profile object or a readable profile .json file', `${v} (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
    try {
      out[key] = JSON.parse(text) as unknown;
    } catch (e) {
      throw new ValidationError(`scenario.model.${key}`, 'a profile .json file holding JSON', `${v} (${(e as Error).message})`);
    }
  }
  return { ...(raw as Record<string, unknown>), model: out };
}

async function readJsonFile(file: string, label: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${label}: cannot read it (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError(`${label}: expected JSON, got a parse error: ${(e as Error).message}`);
  }
}

let tsxRegistered: Promise<void> | undefined;

/**
 * Makes `import()` of TypeScript work: the compiled package registers tsx's loader once, for the whole process (not
 * `tsImport`'s private namespace, so a scenario file and the runner share one copy of every module). Both of tsx's
 * hooks: in a CommonJS package (no `"type": "module"`, as `npm init -y` writes it) a `.ts` file is CommonJS, and
 * without tsx's require hook Node sees its `import` lines, re-loads it as ESM and fails with ERR_REQUIRE_CYCLE_MODULE.
 * Running from source, this code already runs under a TypeScript loader (tsx or vitest) and registers nothing.
 */
function typeScriptLoader(): Promise<void> {
  if (import.meta.url.endsWith('.ts')) return Promise.resolve();
  tsxRegistered ??= Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]).then(([esm, cjs]) => {
    esm.register();
    cjs.register();
  });
  return tsxRegistered;
}

/** The default export of a module file; TypeScript goes through tsx, so the user installs nothing for it. */
async function importDefault(file: string, label: string): Promise<unknown> {
  let mod: { default?: unknown };
  try {
    if (/\.[cm]?ts$/.test(file)) await typeScriptLoader();
    mod = (await import(pathToFileURL(file).href)) as typeof mod;
  } catch (e) {
    if (process.env['DEBUG']) console.error(e);
    throw new UsageError(`${label}: cannot load it: ${firstLines(e instanceof Error ? e.message : String(e))}`);
  }
  let value = mod.default;
  // A CommonJS module (a .ts file in a package without "type": "module", compiled by tsx) arrives as its
  // module.exports: `{ __esModule, default }`, or without `default` when the file has no default export.
  if (value !== null && typeof value === 'object' && (value as { __esModule?: unknown }).__esModule === true) {
    value = (value as { default?: unknown }).default;
  } else if (value !== null && typeof value === 'object' && 'default' in value && !('name' in value)) {
    // A hand-written CommonJS module's `module.exports = { default }` arrives as default.default.
    value = (value as { default: unknown }).default;
  }
  if (value === undefined) throw new UsageError(`${label}: expected a default export made with defineScenario, got none`);
  return value;
}

/**
 * One line of a load error: its first line, and the next one when the first only introduces it (esbuild's
 * "Transform failed with 1 error:" is followed by the file, line, column and what it expected).
 */
function firstLines(message: string): string {
  const lines = message.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const first = lines[0] ?? '';
  return first.endsWith(':') && lines[1] !== undefined ? `${first} ${lines[1]}` : first;
}

/** The path as the user would write it: relative to the working directory when under it. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/**
 * The scenario files that `refs` name: a file, a folder (its scenario files, not recursive; tests and declarations
 * left out) or a glob (`perf/**\/*.scenario.ts`). Sorted, without repeats.
 * @throws UsageError when a ref matches nothing.
 */
export async function findScenarioFiles(refs: readonly string[]): Promise<string[]> {
  const files = new Set<string>();
  for (const ref of refs) {
    const path = resolve(ref);
    const isScenarioFile = (f: string): boolean => (SCENARIO_FILE_EXTENSIONS as readonly string[]).includes(extname(f)) && !isHelperFile(f);
    let found: string[];
    if (existsSync(path) && statSync(path).isDirectory()) {
      found = readdirSync(path).filter(isScenarioFile).map((f) => join(path, f));
    } else if (existsSync(path)) {
      found = [path];
    } else if (isDynamicPattern(ref)) {
      found = (await glob(ref, { absolute: true, onlyFiles: true })).filter(isScenarioFile);
    } else {
      throw new UsageError(`${ref}: no such scenario file or folder`);
    }
    if (found.length === 0) throw new UsageError(`${ref}: expected scenario files (${SCENARIO_FILE_EXTENSIONS.join(', ')}), found none`);
    found.forEach((f) => files.add(f));
  }
  return [...files].sort();
}
