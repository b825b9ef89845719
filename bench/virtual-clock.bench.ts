import { RealClock } from '../src/time/real-clock.js';
import { VirtualClock } from '../src/time/virtual-clock.js';
import { measure, type Measurement } from './lib.js';

/** Timer events per second of wall time: `chains` self-rescheduling timers with delays of 1–50 ms. */
async function eventsPerSec(chains: number, events: number): Promise<number> {
  const clock = new VirtualClock();
  let left = events;
  let x = 12345;
  const delay = (): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff; // deterministic LCG: the bench must not depend on ambient randomness
    return 1 + (x % 50);
  };
  const tick = (): void => {
    if (--left > 0) clock.setTimer(delay(), tick);
  };
  for (let i = 0; i < chains; i++) clock.setTimer(delay(), tick);
  const t0 = performance.now();
  const fired = await clock.runUntilIdle();
  return fired / ((performance.now() - t0) / 1000);
}

/** Sleep/resume round trips per second: `workers` async loops awaiting clock.sleep. */
async function sleepsPerSec(workers: number, sleepsEach: number): Promise<number> {
  const clock = new VirtualClock();
  const loop = async (seed: number): Promise<void> => {
    for (let i = 0; i < sleepsEach; i++) await clock.sleep(1 + ((seed + i) % 17));
  };
  const t0 = performance.now();
  const done = Promise.all(Array.from({ length: workers }, (_, i) => loop(i)));
  await clock.runUntilIdle();
  await done;
  return (workers * sleepsEach) / ((performance.now() - t0) / 1000);
}

/** RealClock timer round trips per second: set and cancel `ops` timers (delays 0–3 ms: immediates and timeouts). */
function realTimersPerSec(ops: number): number {
  const clock = new RealClock();
  const noop = (): void => undefined;
  const t0 = performance.now();
  for (let i = 0; i < ops; i++) clock.setTimer(i & 3, noop).cancel();
  return ops / ((performance.now() - t0) / 1000);
}

export async function run(): Promise<{ results: Measurement[] }> {
  return {
    results: [
      await measure('VirtualClock timer events, 1,000 timer chains', 'events/s', () => eventsPerSec(1000, 500_000), {
        goal: '>= 2,000,000 events/s',
      }),
      await measure('VirtualClock sleeps, 1,000 async loops', 'sleeps/s', () => sleepsPerSec(1000, 300)),
      await measure('RealClock setTimer + cancel (live mode timers)', 'timers/s', () => realTimersPerSec(500_000)),
    ],
  };
}
