/**
 * Closed-loop users (`arrivals.kind === 'users'`) as a k6 executor: without a ramp, `constant-vus` (N VUs for the
 * window); with one, `ramping-vus` (0 to N linearly over the ramp, then N held). Each VU runs iterations back to
 * back, one session per iteration, and sleeps the between-session think time at the end of it, as the harness's
 * users do. What the mapping loses: k6 VUs are not the harness's users (iteration n plays the n-th embedded
 * session, whichever VU runs it), and k6 adds VUs in whole steps where the harness starts user i at ramp * i / N.
 */
import type { ArrivalSpec } from '../workload/index.js';
import type { ExecutorOptions, ExecutorPlan } from './executors.js';
import { k6Duration } from './units.js';

/** Maps closed-loop users to `constant-vus` or `ramping-vus`. */
export function usersExecutor(a: Extract<ArrivalSpec, { kind: 'users' }>, o: ExecutorOptions, drain: string): ExecutorPlan {
  const ramp = Math.min(a.rampUpMs ?? 0, o.durationMs);
  const think = a.thinkTimeMs === undefined ? 'no think time' : 'the seeded think time';
  const notes = [
    `Closed loop: ${a.users} users, each playing sessions back to back with ${think} between them, until the window`,
    `closes → ${ramp > 0 ? `ramping-vus (0 to ${a.users} VUs over ${k6Duration(ramp)}, then held)` : `constant-vus (${a.users} VUs)`}; one session per`,
    'iteration, cycling through the embedded sessions (iteration n plays session n: a VU is not one of the harness\'s',
    'users). A session\'s first call counts from when it is sent: a closed loop has no schedule to be late against.',
    `The harness's users pause at least ${a.failurePauseMs ?? 1000} ms after a session whose every request failed; a VU here`,
    'sleeps only the think time, so against a server refusing at once it retries at the speed of the round trip.',
  ];
  if (ramp <= 0) {
    return { sessionBy: 'user', notes, config: { executor: 'constant-vus', vus: a.users, duration: k6Duration(o.durationMs), gracefulStop: drain } };
  }
  const stages = [{ duration: k6Duration(ramp), target: a.users }, ...(o.durationMs > ramp ? [{ duration: k6Duration(o.durationMs - ramp), target: a.users }] : [])];
  return {
    sessionBy: 'user',
    notes,
    // gracefulRampDown: at the end of the last stage the VUs stop; a running session gets the drain to finish.
    config: { executor: 'ramping-vus', startVUs: 0, stages, gracefulRampDown: drain, gracefulStop: drain },
  };
}
