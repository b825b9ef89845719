/**
 * The token-free mock GPU model server (`ai-chaos-harness/mock`): the fastify factory, the in-process ModelClient
 * (virtual time, no sockets), the mock model, its profiles and its fault plan.
 */
export { buildServer, type BuildServerOptions } from './server.js';
export { InProcessModelClient } from './in-process.js';
export { MockModel, MockOverloadedError, MockRateLimitedError, type MockModelEvent, type MockModelMetrics, type MockModelOptions } from './mock-model.js';
export { DEFAULT_PROFILE, getProfile, PROFILE_NAMES, PROFILES, profileOverridesSchema, resolveProfile, type GpuProfile, type ProfileOverrides } from './profiles.js';
export { FaultPlan, faultPlanSchema, parseFaultPlan, type FaultLayer, type FaultPhase, type FaultPlanInput } from './faults.js';
export { providerLimitsSchema, type ProviderLimitsInput } from './rate-limit.js';
