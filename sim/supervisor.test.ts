/**
 * The Supervisor with a stand-in child (a tiny plain-Node script, no server) and a scripted clock: what it passes a
 * restarted child. The child logs its arguments, "crashes" twice (IPC message, exit 86) and then exits 0; the clock's
 * readings are given, and its sleeps (the downtimes) return at once, so nothing here waits on wall-clock time.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Clock } from '../src/time/clock.js';
import { Supervisor, type SupervisorEvent } from './supervisor.js';

const dir = mkdtempSync(join(tmpdir(), 'sim-supervisor-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CHILD = `
import { appendFileSync, readFileSync } from 'node:fs';
const [log, ...args] = process.argv.slice(2);
appendFileSync(log, JSON.stringify(args) + '\\n');
const starts = readFileSync(log, 'utf8').trim().split('\\n').length;
if (starts <= 2) process.send({ type: 'crash', model: 'primary', downtimeMs: 40, coldStartMs: 7 }, () => process.exit(86));
else process.exit(0);
`;

/** A clock that reads the given times in turn and whose sleeps end at once (recording how long they were for). */
function scriptedClock(readings: number[]): Clock & { slept: number[] } {
  const slept: number[] = [];
  return {
    slept,
    now: () => {
      const t = readings.shift();
      if (t === undefined) throw new Error('clock read more often than scripted');
      return t;
    },
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
    setTimer: () => {
      throw new Error('not used by the supervisor');
    },
  };
}

describe('Supervisor', { timeout: 15_000 }, () => {
  it('passes a restarted child the time since the first start as --timeline-offset-ms, with the crash cold start', async () => {
    const entry = join(dir, 'child.mjs');
    const log = join(dir, 'args.log');
    writeFileSync(entry, CHILD);
    writeFileSync(log, '');
    const clock = scriptedClock([1000, 1000 + 20_350, 1000 + 45_000.4]);
    const lines: string[] = [];
    const sup = new Supervisor({ entry, args: [log, '--port', '1234'], clock, execArgv: [], log: (l) => lines.push(l) });
    const events: SupervisorEvent[] = [];
    sup.onEvent((e) => events.push(e));

    expect(await sup.run()).toBe(0);

    const argsOf = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);
    expect(argsOf).toEqual([
      ['--port', '1234'],
      ['--port', '1234', '--cold-start-ms', '7', '--timeline-offset-ms', '20350'],
      ['--port', '1234', '--cold-start-ms', '7', '--timeline-offset-ms', '45000'],
    ]);
    const spawns = events.filter((e) => e.type === 'spawn');
    expect(spawns.map((e) => [e.restarts, e.coldStartMs, e.timelineOffsetMs])).toEqual([
      [0, 0, 0],
      [1, 7, 20_350],
      [2, 7, 45_000],
    ]);
    expect(clock.slept).toEqual([40, 40]);
    expect(events.at(-1)).toEqual({ type: 'exit', code: 0 });
    expect(lines).toHaveLength(2);
  });
});
