/** Public surface of the reporting layer: schema, builders and pure renderers. Only the CLI prints. */
export { runResultSchema, parseRunResult, RunResultError, SCHEMA_VERSION, RUN_MODES, formatPath, type RunResult, type RunResultInput, type RunMeta, type RunMode, type ScenarioInfo } from './schema.js';
export { serializeRunResult } from './serialize.js';
export { buildRunResult, allThresholdResults, thresholdsPassed, type RunResultParts } from './run-result.js';
export { evaluateThresholds, metricValue, thresholdLabel } from './thresholds.js';
export { renderMarkdown, thresholdVerdict } from './markdown.js';
export { renderTable } from './table.js';
export { renderHtml } from './html.js';
export { compareToBaseline, renderRegressMarkdown, DEFAULT_TOLERANCE, type RegressTolerance, type BaselineComparison, type PolicyComparison, type RegressCheck, type RegressMetric } from './regress.js';
export { renderJUnit, xmlEscape } from './junit.js';
export { syntheticRunResult } from './synthetic-run.js';
