/** Exporting scenarios as k6 scripts (load generation past one machine: k6 and k6-operator). */
export { k6Executor, parseK6Duration, scheduledIterations, type ExecutorOptions, type ExecutorPlan, type K6ExecutorConfig, type K6Stage } from './executors.js';
export { DEFAULT_TARGET_URL, generateK6Script, type K6Export, type K6ScriptOptions } from './script.js';
export { K6_SUMMARY_FORMAT } from './script-lifecycle.js';
export { ENGINE_HEADERS, SCRIPT_KNOBS } from './script-runtime.js';
export { compileSession, sessionCalls, type Call, type ChatCall, type CompiledSession, type EmbeddingCall, type Step } from './sessions.js';
export { K6_METRICS, mapThreshold, mapThresholds, scriptThresholds, thresholdLabel, type MappedThreshold, type ThresholdMapping, type UnmappedThreshold } from './thresholds.js';
export { integerRates, k6Duration, type IntegerRates } from './units.js';
