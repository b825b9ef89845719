/**
 * Turns zod issues into this project's {@link ValidationError}: `workload.mix[2].weight: expected a number >= 0,
 * got -1`. One error, for the first issue, with the path rooted at a name the user recognises.
 */
import type { z } from 'zod';
import { ValidationError } from '../../src/errors.js';

type Issue = z.core.$ZodIssue;
type Path = ReadonlyArray<PropertyKey>;

/** Parses `input` with `schema`, or throws a ValidationError naming the first bad field under `root`. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, root: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new ValidationError(root, 'a valid value', input);
  throw toValidationError(issue, input, root, []);
}

/** The ValidationError for one zod issue; `base` is the path of the value the issue is relative to. */
export function toValidationError(issue: Issue, input: unknown, root: string, base: Path): ValidationError {
  const path = [...base, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0 && !('discriminator' in issue && issue.discriminator)) {
    // Every branch failed. When each failed at its root on type alone, say what would have been accepted;
    // otherwise the value had the shape of some branch: report the branch that got furthest.
    const rootTypes = issue.errors.map((branch) => (branch.length === 1 && branch[0]?.path.length === 0 && branch[0].code === 'invalid_type' ? branch[0].expected : undefined));
    if (rootTypes.every((t) => t !== undefined)) {
      const expected = [...new Set(rootTypes.map((t) => typeName(t as string)))].join(' or ');
      return new ValidationError(render(root, path), expected, valueAt(input, path));
    }
    // A bad `kind`: every object branch rejected its discriminator. List every kind any branch would accept.
    const kinds = discriminatorOptions(issue.errors);
    if (kinds !== undefined) return new ValidationError(render(root, [...path, kinds.key]), `one of ${kinds.values.map((v) => JSON.stringify(v)).join(' | ')}`, valueAt(input, [...path, kinds.key]));
    const best = [...issue.errors].sort((a, b) => depth(b) - depth(a) || a.length - b.length)[0];
    const first = best?.[0];
    if (first !== undefined) return toValidationError(first, input, root, path);
  }
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '?';
    return new ValidationError(render(root, [...path, key]), 'no such field (check the spelling)', valueAt(input, [...path, key]));
  }
  return new ValidationError(render(root, path), expectedOf(issue), valueAt(input, path));
}

function discriminatorOptions(branches: ReadonlyArray<readonly Issue[]>): { key: PropertyKey; values: unknown[] } | undefined {
  let key: PropertyKey | undefined;
  const values: unknown[] = [];
  for (const branch of branches) {
    for (const i of branch) {
      if (i.path.length !== 1) continue;
      if (i.code === 'invalid_value') values.push(...i.values);
      else if (i.code === 'invalid_union' && 'options' in i && Array.isArray(i.options)) values.push(...(i.options as unknown[]));
      else continue;
      key = i.path[0];
    }
  }
  return key === undefined ? undefined : { key, values: [...new Set(values)] };
}

function depth(branch: readonly Issue[]): number {
  return Math.max(0, ...branch.map((i) => i.path.length));
}

function expectedOf(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      return typeName(issue.expected);
    case 'too_small': {
      const min = String(issue.minimum);
      if (issue.origin === 'array') return `at least ${min} item${min === '1' ? '' : 's'}`;
      if (issue.origin === 'string') return min === '1' ? 'a non-empty string' : `a string of at least ${min} characters`;
      return `a number ${issue.inclusive === false ? '>' : '>='} ${min}`;
    }
    case 'too_big': {
      const max = String(issue.maximum);
      if (issue.origin === 'array') return `at most ${max} items`;
      if (issue.origin === 'string') return `a string of at most ${max} characters`;
      return `a number ${issue.inclusive === false ? '<' : '<='} ${max}`;
    }
    case 'invalid_value':
      return issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}`;
    case 'invalid_union':
      if ('options' in issue && Array.isArray(issue.options)) return `one of ${issue.options.map((v) => JSON.stringify(v)).join(' | ')}`;
      return 'a valid value';
    case 'custom':
      // Refinements here say what they want ("max >= min"); some add a leading "expected", which the error adds too.
      return issue.message.replace(/^expected /, '');
    default:
      return issue.message;
  }
}

function typeName(t: string): string {
  switch (t) {
    case 'int':
      return 'an integer';
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    case 'boolean':
      return 'a boolean';
    default:
      return t;
  }
}

function render(root: string, path: Path): string {
  let out = root;
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : `.${String(seg)}`;
  return out;
}

function valueAt(input: unknown, path: Path): unknown {
  let v: unknown = input;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}
