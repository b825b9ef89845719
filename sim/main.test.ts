/**
 * The server process for real: bad flags (exit 2, no stack; --help text is checked in cli-options.test.ts), a crash fault ending the process with
 * exit 86, and `--supervise` restarting it in cold start. Loopback only; every process started is killed in
 * afterAll; waits are for output lines and exits, bounded by the test timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import { FAST_PROFILE } from './server-testkit.js';
import { CRASH_EXIT_CODE } from './supervisor.js';

const MAIN = new URL('./main.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sim-main-test-'));
const profileFile = join(dir, 'fast.json');
writeFileSync(profileFile, JSON.stringify(FAST_PROFILE));
const started: ChildProcess[] = [];
const pids = new Set<number>();

afterAll(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

interface Proc {
  readonly child: ChildProcess;
  out: string;
  err: string;
  /** Resolves with the Nth `listening` line's URL (1-based). */
  listening(n: number): Promise<string>;
  readonly exit: Promise<number | null>;
}

function sim(args: string[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  if (child.pid !== undefined) pids.add(child.pid);
  const p: Proc = {
    child,
    out: '',
    err: '',
    listening: (n) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const lines = [...p.out.matchAll(/sim: listening on (http:\/\/\S+) .*pid (\d+)\)/g)];
          for (const l of lines) pids.add(Number(l[2]));
          const line = lines[n - 1];
          if (line) {
            child.stdout?.off('data', check);
            resolve(line[1] as string);
          }
        };
        child.stdout?.on('data', check);
        child.once('exit', (code) => reject(new Error(`sim exited (${code}) before listening line ${n}: ${p.err}`)));
        check();
      }),
    exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout?.on('data', (d: Buffer) => (p.out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (p.err += d.toString()));
  return p;
}

async function chat(url: string, headers: Record<string, string>): Promise<number | Error> {
  try {
    const r = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'primary', messages: [{ role: 'user', content: 'x' }] }),
    });
    await r.body.dump();
    return r.statusCode;
  } catch (err) {
    return err as Error;
  }
}

// 60 s: each --supervise test runs two server processes (the active one and its warm standby) on a loaded machine.
describe.concurrent('sim process', { timeout: 60_000 }, () => {
  it('a bad flag or an unknown profile exits 2 naming the flag, without a stack trace', async () => {
    const bad = sim(['--port', 'eighty']);
    const profile = sim(['--port', '0', '--model', 'primary=no-such-gpu']);
    expect(await bad.exit).toBe(2);
    expect(bad.err).toContain('sim: --port: expected an integer from 0 to 65535, got "eighty"');
    expect(await profile.exit).toBe(2);
    expect(profile.err).toContain('--model primary=no-such-gpu: profile: expected one of');
    for (const p of [bad, profile]) expect(p.err).not.toMatch(/\n\s+at /);
  });

  it('a crash fault really ends the process with the crash exit code', async () => {
    const p = sim(['--port', '0', '--model', `primary=${profileFile}`]);
    const url = await p.listening(1);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await chat(url, { 'x-mock-output-tokens': '2' })).toBe(200);
    const r = await chat(url, { 'x-mock-fault': 'crash:downtime-ms=100' });
    expect(r).toBeInstanceOf(Error);
    expect(await p.exit).toBe(CRASH_EXIT_CODE);
    expect(p.err).toContain(`exiting with code ${CRASH_EXIT_CODE}`);
  });

  it('a start-up timeline crash at atMs 0 ends the process at once, with the crash exit code', async () => {
    const plan = { timeline: [{ atMs: 0, durationMs: 0, fault: { crash: { downtimeMs: 100 } } }] };
    const p = sim(['--port', '0', '--model', `primary=${profileFile}`, '--faults', JSON.stringify(plan)]);
    expect(await p.exit).toBe(CRASH_EXIT_CODE);
    expect(p.err).toContain('crash fault on model primary');
  });

  it('--supervise restarts the crashed server on the same port, in cold start', async () => {
    const p = sim(['--supervise', '--port', '0', '--model', `primary=${profileFile}`, '--seed', '3']);
    const url = await p.listening(1);
    expect(await chat(url, { 'x-mock-output-tokens': '2' })).toBe(200);
    expect(await chat(url, { 'x-mock-fault': 'crash:downtime-ms=200,cold-start-ms=4000' })).toBeInstanceOf(Error);
    const again = await p.listening(2);
    expect(again).toBe(url);
    expect(p.err).toContain('restarting in 200ms with a 4000ms cold start');
    const h = await request(`${url}/health`);
    expect(h.statusCode).toBe(503);
    expect(await h.body.json()).toMatchObject({ models: { primary: 'cold-start' } });
    expect(await chat(url, {})).toBe(503);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
  });

  it('--supervise resumes the --faults timeline after a restart: the crash at atMs 0 does not fire again', async () => {
    const late = { name: 'late', atMs: 600_000, durationMs: 1000, fault: { serverError: { probability: 1 } } };
    const plan = { timeline: [{ name: 'boom', atMs: 0, durationMs: 0, fault: { crash: { downtimeMs: 200, coldStartMs: 0 } } }, late] };
    const p = sim(['--supervise', '--port', '0', '--model', `primary=${profileFile}`, '--faults', JSON.stringify(plan)]);
    // The first child crashes at once (it may or may not print its listening line first); take the restarted one's.
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!p.err.includes('restarting in 200ms with a 0ms cold start')) return;
        p.child.stderr?.off('data', check);
        resolve();
      };
      p.child.stderr?.on('data', check);
      p.child.once('exit', (code) => reject(new Error(`sim exited (${code}) before restarting: ${p.err}`)));
      check();
    });
    const url = await p.listening([...p.out.matchAll(/sim: listening on/g)].length + 1);
    const got = (await (await request(`${url}/mock/faults?model=primary`)).body.json()) as { models: { primary: { timeline: Array<typeof late> } } };
    // The restarted server is 200 ms + start-ups into the timeline: the crash is over, the later phase keeps its time.
    const { timeline } = got.models.primary;
    expect(timeline).toHaveLength(1);
    const resumed = timeline[0] as typeof late;
    expect(resumed).toMatchObject({ name: 'late', durationMs: 1000, fault: late.fault });
    expect(resumed.atMs).toBeLessThanOrEqual(late.atMs - 200);
    expect(resumed.atMs).toBeGreaterThan(late.atMs - 30_000);
    expect(await chat(url, { 'x-mock-output-tokens': '2' })).toBe(200);
    expect(p.err.match(/crash fault on model primary/g)).toHaveLength(1);
    // The standby booted before the first child listened, so the restart came on time, not one boot late.
    expect(p.err).toContain('restarting in 200ms with a 0ms cold start (warm standby)');
    expect(p.err).not.toMatch(/restart came \d+ms late/);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
  });
});

// Its own block, after the concurrent one: one more process at once would slow the others past their limit.
describe('sim process with --replicas', { timeout: 30_000 }, () => {
  it('--replicas 2 serves two ports in one process: a crash closes one, the process ends when both have crashed', async () => {
    const bad = sim(['--replicas', '0']);
    const p = sim(['--port', '0', '--replicas', '2', '--model', `primary=${profileFile}`]);
    expect(await bad.exit).toBe(2);
    expect(bad.err).toContain('sim: --replicas: expected an integer from 1 to 64, got "0"');
    const [a, b] = [await p.listening(1), await p.listening(2)];
    expect(a).not.toBe(b);
    expect(p.out).toMatch(/replica 0 of 2/);
    expect(await chat(a, { 'x-mock-fault': 'crash:downtime-ms=100' })).toBeInstanceOf(Error);
    expect(await chat(b, { 'x-mock-output-tokens': '2' })).toBe(200);
    expect(await chat(a, {})).toBeInstanceOf(Error);
    expect(await chat(b, { 'x-mock-fault': 'crash:downtime-ms=100' })).toBeInstanceOf(Error);
    expect(await p.exit).toBe(CRASH_EXIT_CODE);
    expect(p.err).toContain('crash fault on model primary of replica 0: its port is closed for good (no --supervise)');
    expect(p.err).toContain(`every replica has crashed: exiting with code ${CRASH_EXIT_CODE}`);
  });
});

/** Resolves once `p`'s stderr matches `re`, with the match; rejects if the process exits first. */
function stderrMatch(p: Proc, re: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const m = p.err.match(re);
      if (m === null) return;
      p.child.stderr?.off('data', check);
      resolve(m);
    };
    p.child.stderr?.on('data', check);
    p.child.once('exit', (code) => reject(new Error(`sim exited (${code}) before ${String(re)}: ${p.err}`)));
    check();
  });
}

// Its own block: two server processes (the active one and its standby) at once.
describe('sim process with --supervise and its warm standby', { timeout: 120_000 }, () => {
  it('a crash closes the port for its downtime, then the standby forked before the crash listens, in cold start, then serves', async () => {
    const p = sim(['--supervise', '--port', '0', '--model', `primary=${profileFile}`, '--seed', '5']);
    const url = await p.listening(1);
    const firstPid = Number(/pid (\d+)\)/.exec(p.out)?.[1]);
    // The standby has booted (the first child's own "ready" line comes first).
    const standby = await stderrMatch(p, new RegExp(`standby server ready \\(pid (?!${firstPid}\\))(\\d+)\\)`));
    const standbyPid = Number(standby[1]);
    pids.add(standbyPid);
    expect(await chat(url, { 'x-mock-output-tokens': '2' })).toBe(200);
    // A 5 s downtime: the probe right after the crash is well inside it.
    expect(await chat(url, { 'x-mock-fault': 'crash:downtime-ms=5000,cold-start-ms=1500' })).toBeInstanceOf(Error);
    // Once the supervisor has seen the process exit, nothing listens on the port.
    await stderrMatch(p, /server crashed \(exit 86\)/);
    const probe = await request(`${url}/health`).then(
      () => undefined,
      (err: unknown) => err as NodeJS.ErrnoException,
    );
    expect(probe?.code).toBe('ECONNREFUSED');
    const again = await p.listening(2);
    expect(again).toBe(url);
    // The restarted server is the standby forked before the crash, and it came on time.
    expect([...p.out.matchAll(/pid (\d+)\)/g)].map((m) => Number(m[1]))).toEqual([firstPid, standbyPid]);
    expect(p.err).toContain('restarting in 5000ms with a 1500ms cold start (warm standby)');
    expect(p.err).not.toContain('late');
    const h = await request(`${url}/health`);
    expect(h.statusCode).toBe(503);
    expect(await h.body.json()).toMatchObject({ models: { primary: 'cold-start' } });
    // The cold start ends: the server answers.
    const clock = new RealClock();
    let status = 503;
    for (let i = 0; i < 600 && status !== 200; i++) {
      const r = await request(`${url}/health`);
      await r.body.dump();
      status = r.statusCode;
      if (status !== 200) await clock.sleep(100);
    }
    expect(status).toBe(200);
    expect(await chat(url, { 'x-mock-output-tokens': '2' })).toBe(200);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
  });

  it('a supervisor killed outright (SIGKILL) takes its server and its standby with it: no orphan keeps the port', async () => {
    const p = sim(['--supervise', '--port', '0', '--model', `primary=${profileFile}`, '--seed', '6']);
    const url = await p.listening(1);
    const active = Number(/listening on \S+ .*pid (\d+)\)/.exec(p.out)?.[1]);
    const ready = [...p.err.matchAll(/standby server ready \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    const standby = ready.find((pid) => pid !== active);
    if (standby === undefined) throw new Error(`no standby ready line: ${p.err}`);
    pids.add(standby);
    p.child.kill('SIGKILL');
    await p.exit;
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    // Waits on the condition, with a generous limit.
    const clock = new RealClock();
    for (let i = 0; i < 600 && (alive(active) || alive(standby)); i++) await clock.sleep(100);
    expect([active, standby].filter(alive)).toEqual([]);
    expect(await request(`${url}/health`).then(() => 'answered', (err: NodeJS.ErrnoException) => err.code)).toBe('ECONNREFUSED');
  });
});
