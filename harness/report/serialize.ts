/**
 * Canonical RunResult JSON: keys in schema order (configs sorted), two-space indentation, arrays of plain
 * values on one line (a 600-bucket series is one line, so baseline diffs stay readable), and a final newline.
 * Identical inputs give identical bytes.
 */
import { parseRunResult, type RunResult, type RunResultInput } from './schema.js';

/** Serializes a RunResult canonically. Validates first, so a bad result never reaches disk. */
export function serializeRunResult(result: RunResult | RunResultInput): string {
  return `${writeJson(parseRunResult(result), '')}\n`;
}

function isPlain(v: unknown): boolean {
  return v === null || typeof v !== 'object';
}

function writeJson(v: unknown, indent: string): string {
  if (isPlain(v)) return JSON.stringify(v) ?? 'null';
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (v.every(isPlain)) return `[${v.map((x) => JSON.stringify(x) ?? 'null').join(', ')}]`;
    return `[\n${v.map((x) => inner + writeJson(x, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${writeJson(x, inner)}`).join(',\n')}\n${indent}}`;
}
