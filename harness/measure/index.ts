/** Public surface of the measurement layer. */
export * from './types.js';
export { LatencyHistogram, DISTRIBUTION_PERCENTILES, HISTOGRAM_SIGNIFICANT_DIGITS, HISTOGRAM_UNITS_PER_MS, type LatencyStats, type DistributionPoint } from './histogram.js';
export { ttftMs, e2eMs, tpotMs, itlSamples, meetsSlo, sloBoundsFor, type ItlSample } from './latency.js';
export { SeriesBuilder, type TimeSeries } from './series.js';
export { computeRecovery, recoveryOptions, healthValues, RECOVERY_DEFAULTS, RECOVERY_METRICS, RECOVERY_STATUSES, type RecoveryOptions, type RecoveryMetric, type RecoveryStatus, type PhaseRecovery } from './recovery.js';
export { Recorder, RecorderFinishedError, type RecorderOptions } from './recorder.js';
export type { PolicyResult, PolicySummary, PolicyCounters, PolicyHistograms, ClassSummary } from './result.js';
