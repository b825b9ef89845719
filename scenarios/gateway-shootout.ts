import { defineScenario, portkeyTarget } from '../harness/index.js';
import burst1000 from './burst-1000.js';

/**
 * burst-1000's workload and chaos (1,000 sessions within 2 s; a 429 storm, mid-stream disconnects, a crash with
 * restart and cold start) against two engine policies and Portkey's open-source gateway in two documented setups:
 * retries on 429/5xx honouring Retry-After, and the same retries with a fallback to the fallback model. Live only:
 * the gateway is a real process in front of the mock GPU. The gateway version is pinned (harness/targets/portkey.ts)
 * and the exact Portkey config of each row is in result.json (`policies[].config.adapter.portkeyConfig`).
 */
export default defineScenario({
  name: 'gateway-shootout',
  description: "burst-1000's load and chaos: naive and resilient against Portkey's gateway (retries; retries + fallback)",
  seed: burst1000.seed,
  durationMs: burst1000.durationMs,
  workload: burst1000.workload,
  model: burst1000.model,
  policies: ['naive', 'resilient'],
  targets: [portkeyTarget({ name: 'portkey-retry', mode: 'retry' }), portkeyTarget({ name: 'portkey-fallback', mode: 'retry-fallback' })],
  slo: burst1000.slo,
});
