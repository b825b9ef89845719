/**
 * The package's main entry point (`import { ... } from 'ai-chaos-harness'`): the scenario API (what scenario files
 * import), `runScenario`, scenario loading and description, the report renderers and the regression comparison.
 * It only re-exports; the engine, the mock and the runners have entry points of their own (`/engine`, `/mock`,
 * `/runner`).
 */
export * from './index.js';
export { runScenario, type RunScenarioOptions } from './run/run-scenario-ref.js';
export { findScenarioFiles, isScenarioPath, listScenarioNames, loadScenario, loadScenarioFile, SCENARIO_FILE_EXTENSIONS } from './run/scenarios.js';
export { policyName, resolveScenarioPolicy, validateScenario, type ScenarioProfile } from './scenario.js';
export { describeScenario, type DescribeHints } from './scenario-describe.js';
export {
  allThresholdResults,
  compareToBaseline,
  DEFAULT_TOLERANCE,
  evaluateThresholds,
  parseRunResult,
  renderHtml,
  renderJUnit,
  renderMarkdown,
  renderRegressMarkdown,
  renderTable,
  SCHEMA_VERSION,
  serializeRunResult,
  thresholdLabel,
  thresholdsPassed,
  type BaselineComparison,
  type PolicyComparison,
  type RegressCheck,
  type RegressMetric,
  type RegressTolerance,
  type RunMeta,
  type RunMode,
  type RunResult,
  type ScenarioInfo,
} from './report/index.js';
export { defaultRunDir, writeRunArtifacts } from './cli/output.js';
export type { PolicyCounters, PolicySummary } from './measure/result.js';
export { PRESET_NAMES, preset, resolvePolicy, type Policy, type PolicyInput, type PresetName } from '../src/policy.js';
export { DEFAULT_PROFILE, PROFILE_NAMES, PROFILES, type GpuProfile, type ProfileOverrides } from '../sim/profiles.js';
export type { FaultPlanInput } from '../sim/faults.js';
export { HarnessError, ValidationError } from '../src/errors.js';
export { UsageError } from './cli/flags.js';
