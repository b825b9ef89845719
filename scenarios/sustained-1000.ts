import { BURST_1000_WORKLOAD, defineScenario } from '../harness/index.js';
import burst1000 from './burst-1000.js';

/**
 * burst-1000 held: instead of 1,000 sessions arriving once and draining, 1,000 closed-loop users (k6 constant
 * VUs) each play sessions from burst-1000's mix back to back, with no pause between them, so 1,000 sessions are
 * in flight for the whole minute (series.sessionsInFlight shows it). The users start over 2 s, as burst-1000's
 * sessions arrive, and meet the same chaos timeline (429 storm, mid-stream disconnects, crash with restart and
 * cold start), model, prices and SLOs, taken from burst-1000 itself so the two cannot drift apart.
 *
 * Unlike a burst, a closed loop has a steady state: recovery is judged on goodput (the default), and a policy that
 * answers faster also gets more work, since each user starts its next session as soon as the last one ends.
 */
export default defineScenario({
  name: 'sustained-1000',
  description: '1,000 closed-loop users hold 1,000 sessions in flight for a minute through burst-1000\'s 429 storm, disconnects and crash',
  seed: burst1000.seed,
  durationMs: 60_000,
  workload: {
    arrivals: { kind: 'users', users: 1000, rampUpMs: 2_000 },
    mix: BURST_1000_WORKLOAD.mix,
  },
  model: burst1000.model,
  policies: burst1000.policies,
  slo: burst1000.slo,
});
