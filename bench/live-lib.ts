/**
 * Process plumbing of bench/live.bench.ts: CPU profiles of the children on request, a child's CPU time from /proc,
 * and driver jobs run in their own processes (each killed if it overruns, and by `killDrivers` on the way out).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../harness/run/live.js';
import type { LiveDriverJob, LiveDriverResult } from './live-driver.js';

const DRIVER = fileURLToPath(new URL('./live-driver.ts', import.meta.url));
/** A driver job that has not finished after this long is killed and the bench fails. */
const DRIVER_TIMEOUT_MS = 120_000;

const drivers = new Set<ChildProcess>();

/** NODE_OPTIONS that make a child write a CPU profile into `dir` when it exits, if LIVE_BENCH_CPU_PROF asks for it (see bench/live.bench.ts). */
export function profileEnv(name: string): Record<string, string> {
  const dir = process.env['LIVE_BENCH_CPU_PROF'];
  if (dir === undefined || dir === '') return {};
  const file = JSON.stringify(`${resolve(dir)}/${name}-`);
  const code =
    "import{Session}from'node:inspector';import{writeFileSync}from'node:fs';const s=new Session();s.connect();" +
    "s.post('Profiler.enable');s.post('Profiler.start');process.on('exit',()=>{s.post('Profiler.stop',(e,r)=>{" +
    `if(!e)writeFileSync(${file}+process.pid+'.cpuprofile',JSON.stringify(r.profile))})});`;
  return { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=data:text/javascript,${encodeURIComponent(code)}`.trim() };
}

/** CPU time (user + system) a process has used, in ms, from /proc; undefined where there is no /proc. */
export function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, fields 14 and 15 of proc(5), in clock ticks (USER_HZ, 100 on Linux).
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/** Runs one job in a fresh driver process and returns the JSON line it prints. */
export function drive<R extends LiveDriverResult>(job: LiveDriverJob): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', DRIVER, JSON.stringify(job)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    drivers.add(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, DRIVER_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      drivers.delete(child);
      if (code === 0) {
        try {
          resolve(JSON.parse(out.trim()) as R);
          return;
        } catch {
          // fall through
        }
      }
      reject(new Error(`live-driver ${job.kind} ended with ${signal ?? code}: ${err.slice(-1000)}${out.slice(-300)}`));
    });
  });
}


/** Kills every driver process still running (the bench's finally block). */
export function killDrivers(): void {
  for (const d of drivers) if (d.pid !== undefined && d.exitCode === null) process.kill(d.pid, 'SIGKILL');
}
