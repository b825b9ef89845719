export { createTelemetry, startNodeSdk, EXPORTER_KINDS } from './setup.js';
export type { ExporterKind, Telemetry, TelemetryOptions } from './setup.js';
export { EngineMetrics, LATENCY_BUCKETS_S } from './engine-metrics.js';
export type { SnapshotSource } from './engine-metrics.js';
export { RequestTracer } from './request-tracing.js';
export type { BeginOptions, ReplayKind, ReplayOptions } from './request-tracing.js';
export { EngineTelemetry } from './engine-telemetry.js';
export type { ObservedEngine } from './engine-telemetry.js';
