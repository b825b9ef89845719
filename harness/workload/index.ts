/** The workload layer: specs, arrival processes, sessions and trace replay. */
export { arrivalSchema, arrivalTimes, expectedRatePerSec, MAX_ARRIVALS, MAX_USERS, userStartMs, type ArrivalSpec } from './arrivals.js';
export { buildSessions, buildWorkload, DEFAULT_REPEAT_WINDOW, mooncakePrefix, sessionId, type BuildOptions, type BuiltWorkload, type TraceReplay } from './build.js';
export { parseTraceAs, sniffTraceFormat, TRACE_FORMATS, MOONCAKE_BLOCK_TOKENS, type ParsedTrace, type TraceConversation, type TraceFormat } from './trace-formats.js';
export { MAX_SESSIONS_PER_USER, UserLoopError, userSessions, type UsersArrivals } from './closed-loop.js';
export { playWorkload, SessionGate } from './play.js';
export { bounded, distSchema, meanOf, sample, sampleInt, type BoundedSpec, type DistSpec } from './dist.js';
export * from './presets.js';
export {
  isTraceWorkload,
  mixEntrySchema,
  parseWorkload,
  syntheticSchema,
  traceSpecSchema,
  traceWorkloadSchema,
  type MixEntry,
  type SyntheticWorkload,
  type TraceSpec,
  type TraceWorkload,
  type WorkloadSpec,
} from './spec.js';
export {
  loadTrace,
  parseTrace,
  TRACE_COLUMNS,
  TraceFormatError,
  TraceReadError,
  traceStats,
  windowTrace,
  type Moments,
  type TraceRow,
  type TraceStats,
  type TraceWindow,
} from './trace.js';
export * from './types.js';
export { parseWith, toValidationError } from './validate.js';
