/**
 * The runners (`ai-chaos-harness/runner`): one policy or a whole scenario in virtual time or live on loopback, the
 * virtual world, the virtual/live agreement check, and loading scenarios.
 */
export { runScenario, type RunScenarioOptions } from './run-scenario-ref.js';
export { runScenarioLive, runScenarioVirtual, type LiveScenarioRunOptions, type ScenarioRunOptions, type VirtualScenarioRunOptions } from './run-scenario.js';
export { faultPhases, runPolicyVirtual, type PolicyRun, type VirtualRunOptions } from './virtual.js';
export { engineArgs, runPolicyLive, type LivePolicyRun, type LiveRunOptions } from './live.js';
export { buildWorld, FALLBACK_MODEL, PRIMARY_MODEL, type World, type WorldOptions } from './world.js';
export { compareModes, calibrateTransport, AGREEMENT_GOALS, type AgreementReport } from './agreement.js';
export { parseTransport, transportFromHopCosts, type Transport } from './transport.js';
export type { LoadGeneratorReport, LoadLimits } from './live-monitor.js';
export { findScenarioFiles, listScenarioNames, loadScenario, loadScenarioFile, SCENARIOS_DIR } from './scenarios.js';
