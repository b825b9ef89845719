/**
 * The Supervisor with stand-in children (a tiny plain-Node script speaking the supervisor's IPC, no server) and a
 * fake clock whose sleeps (the downtimes) return at once, so nothing here waits on wall-clock time. The real server
 * under `--supervise` is tested in main.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Clock } from '../src/time/clock.js';
import { RealClock } from '../src/time/real-clock.js';
import { STANDBY_ENV, Supervisor, type SupervisorEvent } from './supervisor.js';

const dir = mkdtempSync(join(tmpdir(), 'sim-supervisor-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Logs its start (pid, standby flag, args), says ready, and on the order to listen logs it. The
 * first two children told to listen then "crash" (IPC message, exit 86): with WAIT set, only once another child (the
 * next standby) has logged its start; the third exits 0.
 */
const CHILD = `
import { appendFileSync, readFileSync } from 'node:fs';
const [log, ...args] = process.argv.slice(2);
const lines = () => readFileSync(log, 'utf8').trim().split('\\n').filter(Boolean).map((l) => JSON.parse(l));
appendFileSync(log, JSON.stringify({ start: process.pid, standby: process.env.${STANDBY_ENV}, args }) + '\\n');
process.on('disconnect', () => process.exit(0));
process.on('message', (m) => {
  if (m.type !== 'listen') return;
  appendFileSync(log, JSON.stringify({ listen: process.pid, order: m }) + '\\n');
  const n = lines().filter((l) => l.listen !== undefined).length;
  if (n > 2) return process.exit(0);
  const crash = () => process.send({ type: 'crash', model: 'primary', downtimeMs: 40, coldStartMs: 7 }, () => process.exit(86));
  if (!process.env.WAIT) return crash();
  const poll = setInterval(() => {
    if (lines().some((l) => l.start !== undefined && l.start !== process.pid && !lines().some((k) => k.listen === l.start))) {
      clearInterval(poll);
      crash();
    }
  }, 20);
});
process.send({ type: 'ready' });
`;

/** A clock at `t`, moved on by `stepMs` at each reading; a sleep moves it on by its length and ends at once. */
function fakeClock(stepMs: number): Clock & { slept: number[] } {
  let t = 1000;
  const slept: number[] = [];
  return {
    slept,
    now: () => (t += stepMs),
    sleep: (ms) => {
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
    setTimer: () => {
      throw new Error('not used by the supervisor');
    },
  };
}

function setup(name: string): { entry: string; log: string; entries: () => Array<Record<string, unknown>> } {
  const entry = join(dir, `${name}.mjs`);
  const log = join(dir, `${name}.log`);
  writeFileSync(entry, CHILD);
  writeFileSync(log, '');
  const entries = (): Array<Record<string, unknown>> =>
    readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { entry, log, entries };
}

describe('Supervisor', { timeout: 30_000 }, () => {
  it('restarts on a warm standby at crash + downtime, with the crash cold start and the time since the first start', async () => {
    const { entry, log, entries } = setup('warm');
    process.env['WAIT'] = '1';
    const clock = fakeClock(0);
    const lines: string[] = [];
    const sup = new Supervisor({ entry, args: [log, '--port', '1234'], clock, execArgv: [], log: (l) => lines.push(l) });
    const events: SupervisorEvent[] = [];
    sup.onEvent((e) => events.push(e));

    expect(await sup.run()).toBe(0);
    delete process.env['WAIT'];

    const got = entries();
    // Every child is forked as a standby, with the supervisor's arguments unchanged.
    for (const e of got.filter((x) => x['start'] !== undefined)) expect(e).toMatchObject({ standby: '1', args: ['--port', '1234'] });
    expect(got.filter((x) => x['listen'] !== undefined).map((x) => x['order'])).toEqual([
      { type: 'listen', timelineOffsetMs: 0 },
      { type: 'listen', coldStartMs: 7, timelineOffsetMs: 40 },
      { type: 'listen', coldStartMs: 7, timelineOffsetMs: 80 },
    ]);
    const activations = events.filter((e) => e.type === 'activate');
    expect(activations.map((e) => [e.restarts, e.coldStartMs, e.timelineOffsetMs, e.lateMs, e.warm])).toEqual([
      [0, 0, 0, 0, false],
      [1, 7, 40, 0, true],
      [2, 7, 80, 0, true],
    ]);
    // Each restarted child was forked before the crash it replaced.
    const order = events.map((e) => (e.type === 'spawn' || e.type === 'activate' ? `${e.type}:${String(e.pid)}` : e.type));
    for (const a of activations.slice(1)) {
      const crashBefore = order.lastIndexOf('crash', order.indexOf(`activate:${String(a.pid)}`));
      expect(order.indexOf(`spawn:${String(a.pid)}`)).toBeLessThan(crashBefore);
    }
    expect(clock.slept).toEqual([40, 40]);
    expect(events.at(-1)).toEqual({ type: 'exit', code: 0 });
    expect(lines.filter((l) => l.includes('restarting in 40ms with a 7ms cold start (warm standby)'))).toHaveLength(2);
    expect(lines.filter((l) => l.includes('late'))).toEqual([]);
  });

  it('a restart with no standby ready by the end of the downtime listens when one is, and says how late it came', async () => {
    const { entry, log } = setup('late');
    // Each clock reading moves on by 100 ms, so every restart is past its 40 ms downtime when it can listen.
    const clock = fakeClock(100);
    const lines: string[] = [];
    const sup = new Supervisor({ entry, args: [log], clock, execArgv: [], log: (l) => lines.push(l) });
    const events: SupervisorEvent[] = [];
    sup.onEvent((e) => events.push(e));

    expect(await sup.run()).toBe(0);

    const restarts = events.flatMap((e) => (e.type === 'activate' && e.restarts > 0 ? [e] : []));
    expect(restarts).toHaveLength(2);
    for (const e of restarts) {
      expect(e.lateMs).toBeGreaterThan(0);
      expect(lines.some((l) => l.includes(`restart came ${e.lateMs}ms late`) && l.includes(`${e.lateMs}ms longer than declared`))).toBe(true);
    }
  });

  it('a crash as soon as the first child listens (a phase at atMs 0) restarts on time: the standby booted first', async () => {
    const { entry, log } = setup('at-zero');
    // Booting takes 1 s on this clock (each child's ready moves it on by 1,000 ms); a sleep ends at once. The stand-in
    // crashes as soon as it is told to listen. A standby forked only then would be ready ~960 ms past the 40 ms downtime.
    let t = 1000;
    const clock: Clock = {
      now: () => t,
      sleep: (ms) => {
        t += ms;
        return Promise.resolve();
      },
      setTimer: () => {
        throw new Error('not used by the supervisor');
      },
    };
    const lines: string[] = [];
    const sup = new Supervisor({ entry, args: [log], clock, execArgv: [], log: (l) => lines.push(l) });
    const events: SupervisorEvent[] = [];
    sup.onEvent((e) => {
      events.push(e);
      if (e.type === 'ready') t += 1000;
    });

    expect(await sup.run()).toBe(0);

    // Two children forked and booted before the first was told to listen.
    const firstListen = events.findIndex((e) => e.type === 'activate');
    expect(events.slice(0, firstListen).map((e) => e.type)).toEqual(['spawn', 'spawn', 'ready', 'ready']);
    const restart = events.find((e) => e.type === 'activate' && e.restarts === 1);
    expect(restart).toMatchObject({ warm: true, lateMs: 0, timelineOffsetMs: 40 });
    expect(lines.filter((l) => l.includes('restarting in 40ms with a 7ms cold start (warm standby)'))).toHaveLength(2);
  });

  it('stop() ends the active child and the standby', async () => {
    const { entry, log, entries } = setup('stop');
    const clock = fakeClock(0);
    const sup = new Supervisor({ entry, args: [log], clock, execArgv: [], defaultDowntimeMs: 10, log: () => undefined });
    const spawned: number[] = [];
    sup.onEvent((e) => {
      if (e.type === 'spawn' && e.pid !== undefined) spawned.push(e.pid);
      if (e.type === 'activate' && e.restarts === 0) setImmediate(() => sup.stop());
    });
    // The stand-in crashes at once; stop once the first child listens, its standby up beside it.
    expect(await sup.run()).toBe(0);
    expect(entries().length).toBeGreaterThan(0);
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const real = new RealClock();
    for (let i = 0; i < 200 && spawned.some(alive); i++) await real.sleep(50);
    expect(spawned.filter(alive)).toEqual([]);
  });
});
