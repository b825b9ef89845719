import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { HarnessError } from '../../src/errors.js';
import { parseTransport, transportFromHopCosts, type Transport } from '../run/transport.js';

/** A bad command-line flag. The CLI prints the message (no stack) and exits with code 2. */
export class UsageError extends HarnessError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `60s`, `1500ms`, `2m`, `1h` or a bare number of seconds into milliseconds. */
export function parseDuration(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new UsageError(`${flag}: expected a duration like 60s, 1500ms or 2m, got ${JSON.stringify(value)}`);
  const ms = Number(m[1]) * (UNIT_MS[m[2] ?? 's'] as number);
  if (!(ms > 0)) throw new UsageError(`${flag}: expected a duration greater than 0, got ${JSON.stringify(value)}`);
  return Math.round(ms);
}

/** Parses a non-negative integer flag such as `--seed`. */
export function parseInteger(flag: string, value: string, min = 0): number {
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${flag}: expected an integer, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}, got ${value}`);
  return n;
}

/**
 * Parses a port flag such as `--mock-port`: the primary mock listens on it and the fallback on the next port, so
 * 1 to 65534.
 */
export function parsePort(flag: string, value: string): number {
  const port = parseInteger(flag, value, 1);
  if (port > 65_534) throw new UsageError(`${flag}: expected a port from 1 to 65534 (the fallback takes the next one), got ${port}`);
  return port;
}

/**
 * Checks an output folder flag such as `--out` before a run, creating the folder: a path that cannot be written is
 * refused up front (exit 2), not after minutes of running.
 */
export function checkOutputDir(flag: string, dir: string): void {
  try {
    mkdirs(dir);
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new UsageError(`${flag}: expected a folder that can be written, got ${JSON.stringify(dir)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** `mkdir -p`, one level at a time: Node's own recursive mkdir never returns under /proc (e.g. `--out /proc/x`). */
function mkdirs(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // made meanwhile by someone else
    }
  }
}

/** Parses a comma-separated list, rejecting empty items and names outside `known` (when given). */
export function parseList(flag: string, value: string, known?: readonly string[]): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`${flag}: expected a comma-separated list like a,b, got ${JSON.stringify(value)}`);
  if (known) {
    const unknown = items.filter((s) => !known.includes(s));
    if (unknown.length > 0) {
      throw new UsageError(`${flag}: unknown ${unknown.map((u) => JSON.stringify(u)).join(', ')}; expected some of ${known.join(', ')}`);
    }
  }
  return items;
}

/** Parses a value that must be one of `choices`. */
export function parseChoice<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`${flag}: expected one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/**
 * Parses `--transport-ms`: `ENGINE_TO_MODEL[,CLIENT_TO_ENGINE]`, each hop's zero-load cost per request in ms (split
 * evenly between request and response), or a JSON transport object (harness/run/transport.ts), whose bad fields are
 * named from the flag, e.g. `--transport-ms.engineToModel.requestMs: expected a number of ms >= 0, got -1`.
 */
export function parseTransportFlag(flag: string, value: string): Transport {
  const v = value.trim();
  if (v.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(v);
    } catch (e) {
      throw new UsageError(`${flag}: expected a JSON object, got ${JSON.stringify(value)} (${(e as Error).message})`);
    }
    return parseTransport(json, flag);
  }
  const parts = v.split(',').map((s) => s.trim());
  const ms = parts.map(Number);
  if (parts.length > 2 || parts.some((s) => !/^\d+(\.\d+)?$/.test(s)) || ms.some((x) => !Number.isFinite(x))) {
    throw new UsageError(`${flag}: expected ENGINE_TO_MODEL[,CLIENT_TO_ENGINE] in ms >= 0 like 1.4,1.2, or a JSON object, got ${JSON.stringify(value)}`);
  }
  return transportFromHopCosts({ engineToModelMs: ms[0] as number, clientToEngineMs: ms[1] ?? 0 });
}
