/**
 * The reference resilient engine (`ai-chaos-harness/engine`): the Engine, its Policy and presets, clocks and seeded
 * randomness, the ModelClient contract with its typed errors and the OpenAI-compatible HTTP client, and the engine
 * service's fastify factory.
 */
export { Engine } from './engine/engine.js';
export * from './engine/engine-types.js';
export { PRESET_NAMES, parsePolicy, policySchema, preset, resolvePolicy, setPolicyField, withOverrides, type Policy, type PolicyInput, type PolicyOverrides, type PresetName } from './policy.js';
export * from './time/index.js';
export { buildFleet, validateFleetConfig, type BuildFleetOptions } from './fleet/build.js';
export { FleetConfigError } from './fleet/errors.js';
export { fleetPolicySchema, type FleetPolicy, type FleetPolicyInput } from './fleet/policy-schema.js';
export { BALANCER_KINDS, type BalancerKind, type Deployment, type DeploymentConfig, type Fleet, type FleetConfig, type FleetEvent, type Replica, type ReplicaState, type RouteRule } from './fleet/types.js';
export { Random } from './random.js';
export { AbortError, HarnessError, ValidationError } from './errors.js';
export * from './upstream/errors.js';
export type * from './upstream/model-client.js';
export { HttpModelClient, type HttpModelClientOptions } from './upstream/http-openai.js';
export { buildServer as buildEngineServer, buildService as buildEngineService, type ApiService, type BuildServerOptions as EngineServerOptions } from './api/server.js';
