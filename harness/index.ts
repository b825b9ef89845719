/** The harness's public scenario API: what files in `scenarios/` may import. */
export { defineScenario, type Scenario, type ScenarioModel, type ScenarioPolicy, type RegressSpec } from './scenario.js';
export {
  AGENT,
  BATCH_JOB,
  BURST_1000_WORKLOAD,
  LONG_GENERATION,
  MULTI_TURN_CHAT,
  SHORT_CHAT,
  bounded,
  weighted,
  type MixEntry,
  type SyntheticWorkload,
  type WorkloadSpec,
} from './workload/index.js';
export type { SloSpec, Threshold } from './measure/types.js';
export { defineTarget, portkeyTarget, urlTarget, type TargetAdapter, type TargetStartContext, type StartedTarget } from './targets/index.js';
