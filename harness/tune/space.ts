/**
 * The search space of a tuning sweep: `--vary path=values` dimensions over Policy fields, and the configurations
 * (grid or seeded random sample) they span. Every path and value is validated against the Policy schema up front,
 * by applying it to the base policy with `setPolicyField`, so a typo fails before any run starts.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../../src/errors.js';
import { setPolicyField, type Policy } from '../../src/policy.js';
import { Random } from '../../src/random.js';
import { UsageError } from '../cli/flags.js';

/** A value a Policy field can take in a sweep. */
export type FieldValue = number | boolean | string;

/** How a dimension's values were given. */
export const SCALES = ['list', 'linear', 'log'] as const;
export type Scale = (typeof SCALES)[number];

/** One varied Policy field and its values, in the order given. */
export interface Dimension {
  /** Dotted Policy path, e.g. `concurrency.limit`. */
  readonly path: string;
  readonly values: readonly FieldValue[];
  readonly scale: Scale;
}

/** One configuration of a sweep: the base policy with one value per dimension. */
export interface TuneConfig {
  /** Stable content hash of the full policy (12 hex digits). */
  readonly id: string;
  /** Position in the sweep (grid order, or draw order for random search). */
  readonly index: number;
  /** Value per dimension path, in dimension order. */
  readonly assignments: Readonly<Record<string, FieldValue>>;
  /** The full, validated Policy. */
  readonly policy: Policy;
}

/** `grid` (every combination) or `random` (N distinct grid points, seeded). */
export type SearchSpec = { readonly kind: 'grid' } | { readonly kind: 'random'; readonly samples: number };

/** The longest sweep accepted: a guard against a typo like `1..1000:1000` twice. */
export const MAX_CONFIGS = 10_000;

const NUMBER_RE = /^-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;
const RANGE_RE = /^(.+?)\.\.(.+?):(\d+)(?::(lin|linear|log))?$/;

/** JSON with sorted keys: the canonical form hashed for ids and resume keys. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`).join(',')}}`;
}

/** Hex sha256 of the canonical JSON of `v`, cut to `chars`. */
export function contentHash(v: unknown, chars = 12): string {
  return createHash('sha256').update(stableStringify(v)).digest('hex').slice(0, chars);
}

/** The value at a dotted path of a policy (undefined when absent or when the path is not an object path). */
export function fieldAt(policy: Policy, path: string): unknown {
  let cur: unknown = policy;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** 12 significant digits, so 0.05 + 3 × 0.05 prints as 0.2. */
const tidy = (x: number): number => Number(x.toPrecision(12));

function parseScalar(flag: string, raw: string, current: unknown): FieldValue {
  const s = raw.trim();
  if (s === '') throw new UsageError(`${flag}: expected a value, got an empty item`);
  if (typeof current === 'string') return s;
  if (typeof current === 'boolean') {
    if (s === 'true' || s === 'false') return s === 'true';
    throw new UsageError(`${flag}: expected true or false, got ${JSON.stringify(s)}`);
  }
  if (typeof current === 'number') {
    if (!NUMBER_RE.test(s)) throw new UsageError(`${flag}: expected a number, got ${JSON.stringify(s)}`);
    return Number(s);
  }
  // An optional field without a value in the base: infer the type from the text.
  if (s === 'true' || s === 'false') return s === 'true';
  return NUMBER_RE.test(s) ? Number(s) : s;
}

function rangeValues(flag: string, a: number, b: number, n: number, log: boolean): number[] {
  if (n < 2) throw new UsageError(`${flag}: expected a range with at least 2 points (a..b:n, n >= 2), got n = ${n}`);
  if (n > 1000) throw new UsageError(`${flag}: expected at most 1000 points in a range, got ${n}`);
  if (log && (a <= 0 || b <= 0)) throw new UsageError(`${flag}: expected positive ends for a log range, got ${a}..${b}`);
  return Array.from({ length: n }, (_, i) => {
    const t = i / (n - 1);
    return tidy(log ? a * (b / a) ** t : a + (b - a) * t);
  });
}

const isIntegerError = (e: unknown): boolean => e instanceof ValidationError && / an integer/.test(e.message);

/** Validates one value on the base policy; rethrows as a UsageError naming the flag, the path and the value. */
function check(flag: string, base: Policy, path: string, value: FieldValue): void {
  try {
    setPolicyField(base, path, value);
  } catch (e) {
    if (e instanceof ValidationError) throw new UsageError(`${flag}: ${e.message}`);
    throw e;
  }
}

/**
 * Parses one `--vary` argument: `path=v1,v2,...` (numbers, true/false or names, typed after the base policy's
 * field), `path=a..b:n` (n evenly spaced points, ends included) or `path=a..b:n:log` (geometric). A range on an
 * integer field is rounded to integers and de-duplicated.
 * @throws UsageError naming the flag, the path and the bad value, e.g.
 *   `--vary retry.maxAttempts=0,2: retry.maxAttempts: expected a number >= 1, got 0`.
 */
export function parseVary(arg: string, base: Policy): Dimension {
  const flag = `--vary ${arg}`;
  const eq = arg.indexOf('=');
  if (eq <= 0 || eq === arg.length - 1) throw new UsageError(`--vary: expected path=values like concurrency.limit=32,64 or retryBudget.ratio=0.05..0.3:6, got ${JSON.stringify(arg)}`);
  const path = arg.slice(0, eq).trim();
  const spec = arg.slice(eq + 1).trim();
  if (path === 'name') throw new UsageError(`${flag}: "name" is a label, not a knob; expected a field such as concurrency.limit`);
  const current = fieldAt(base, path);
  if (current !== null && typeof current === 'object') {
    throw new UsageError(`${flag}: ${path} is a group; expected one of its fields: ${Object.keys(current).map((k) => `${path}.${k}`).join(', ')}`);
  }
  // The path itself: a probe with the base value (or a number for an absent optional field) finds unknown fields.
  try {
    setPolicyField(base, path, (current as FieldValue | undefined) ?? 1);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    if (!/no such field/.test(e.message)) throw new UsageError(`${flag}: ${e.message}`);
    const parentPath = path.split('.').slice(0, -1).join('.');
    const parent = parentPath === '' ? base : fieldAt(base, parentPath);
    const fields = parent !== null && typeof parent === 'object' ? Object.keys(parent).filter((k) => k !== 'name').map((k) => (parentPath === '' ? k : `${parentPath}.${k}`)) : [];
    throw new UsageError(`${flag}: unknown Policy field ${JSON.stringify(e.path)}${fields.length > 0 ? `; expected one of ${fields.join(', ')}` : ''}`);
  }

  const range = RANGE_RE.exec(spec);
  let values: FieldValue[];
  let scale: Scale;
  if (range !== null && NUMBER_RE.test(range[1]!.trim()) && NUMBER_RE.test(range[2]!.trim())) {
    if (current !== undefined && typeof current !== 'number') {
      throw new UsageError(`${flag}: ${path} takes ${typeof current} values; a numeric range does not apply`);
    }
    scale = range[4] === 'log' ? 'log' : 'linear';
    values = rangeValues(flag, Number(range[1]), Number(range[2]), Number(range[3]), scale === 'log');
    const fractional = values.find((v) => !Number.isInteger(v));
    if (fractional !== undefined) {
      try {
        setPolicyField(base, path, fractional);
      } catch (e) {
        if (isIntegerError(e)) values = [...new Set(values.map((v) => Math.round(v as number)))];
      }
    }
  } else if (spec.includes('..')) {
    throw new UsageError(`${flag}: expected a range like 0.05..0.3:6 or 16..256:5:log, got ${JSON.stringify(spec)}`);
  } else {
    scale = 'list';
    values = spec.split(',').map((s) => parseScalar(flag, s, current));
  }
  const seen = new Set<string>();
  for (const v of values) {
    const k = JSON.stringify(v);
    if (seen.has(k)) throw new UsageError(`${flag}: value ${k} is listed twice`);
    seen.add(k);
    check(flag, base, path, v);
  }
  return { path, values, scale };
}

/** Parses every `--vary` argument; a path varied twice is an error. */
export function parseSpace(args: readonly string[], base: Policy): Dimension[] {
  if (args.length === 0) throw new UsageError('--vary: expected at least one, e.g. --vary concurrency.limit=32,64,128');
  const dims = args.map((a) => parseVary(a, base));
  const paths = new Set<string>();
  for (const d of dims) {
    if (paths.has(d.path)) throw new UsageError(`--vary: ${d.path} is varied twice; give all its values in one --vary`);
    paths.add(d.path);
  }
  return dims;
}

/** Parses `--search grid` or `--search random:N`. */
export function parseSearch(value: string): SearchSpec {
  if (value === 'grid') return { kind: 'grid' };
  const m = /^random:(\d+)$/.exec(value);
  if (m === null || Number(m[1]) < 1) throw new UsageError(`--search: expected grid or random:N with N >= 1, got ${JSON.stringify(value)}`);
  return { kind: 'random', samples: Number(m[1]) };
}

/** Number of grid points of the dimensions. */
export function gridSize(dims: readonly Dimension[]): number {
  return dims.reduce((n, d) => n * d.values.length, 1);
}

/** The grid point at `i` (first dimension slowest). */
function gridPoint(dims: readonly Dimension[], i: number): FieldValue[] {
  const out: FieldValue[] = new Array<FieldValue>(dims.length);
  let rest = i;
  for (let k = dims.length - 1; k >= 0; k--) {
    const d = dims[k]!;
    out[k] = d.values[rest % d.values.length]!;
    rest = Math.floor(rest / d.values.length);
  }
  return out;
}

/** Applies the assignments to the base policy; an invalid combination is a UsageError naming it. */
export function applyAssignments(base: Policy, assignments: Readonly<Record<string, FieldValue>>): Policy {
  let p = base;
  for (const [path, v] of Object.entries(assignments)) p = setPolicyField(p, path, v);
  return p;
}

/** A config's assignments as text: `concurrency.limit=64 retryBudget.ratio=0.1`. */
export function configLabel(assignments: Readonly<Record<string, FieldValue>>): string {
  return Object.entries(assignments)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

/**
 * The configurations to run: the whole grid, or `samples` distinct grid points drawn with a Random seeded by
 * `seed` (all of the grid when it is no larger). Every combination is validated (cross-field rules such as
 * `concurrency.minLimit <= maxLimit` included) before any run starts.
 * @throws UsageError naming the combination and the field.
 */
export function buildConfigs(base: Policy, dims: readonly Dimension[], search: SearchSpec, seed: number): TuneConfig[] {
  const size = gridSize(dims);
  let points: number[];
  if (search.kind === 'random' && search.samples < size) {
    // Partial Fisher–Yates over the indices: distinct points, seeded.
    const random = new Random(seed).derive('tune/search');
    const idx = Array.from({ length: size }, (_, i) => i);
    for (let i = 0; i < search.samples; i++) {
      const j = random.int(i, size - 1);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    points = idx.slice(0, search.samples);
  } else {
    points = Array.from({ length: size }, (_, i) => i);
  }
  if (points.length > MAX_CONFIGS) throw new UsageError(`--vary: expected at most ${MAX_CONFIGS} configurations, got ${points.length}; narrow the ranges or use --search random:N`);
  const byId = new Set<string>();
  return points.map((pt, index) => {
    const values = gridPoint(dims, pt);
    const assignments = Object.fromEntries(dims.map((d, k) => [d.path, values[k]!]));
    let policy: Policy;
    try {
      policy = applyAssignments(base, assignments);
    } catch (e) {
      if (e instanceof ValidationError) throw new UsageError(`--vary: the combination ${configLabel(assignments)} is not a valid policy: ${e.message}`);
      throw e;
    }
    const id = contentHash(policy);
    if (byId.has(id)) throw new UsageError(`--vary: two combinations give the same policy (${configLabel(assignments)}); remove the duplicate value`);
    byId.add(id);
    return { id, index, assignments, policy };
  });
}
