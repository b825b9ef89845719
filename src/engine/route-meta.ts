import type { RouteMeta } from '../upstream/model-client.js';
import type { EngineRequest } from './engine-types.js';
import type { RetryBudget } from './retry-budget.js';

/**
 * What a fleet upstream's routing rules and balancer read of a request (StreamOptions.route): priority class and
 * 1–10 level, tenant, model hint, batchable, request class, and the affinity key (the session, else the id of the
 * prompt's first prefix segment).
 */
export function routeMetaOf(req: EngineRequest): RouteMeta {
  const affinityKey = req.sessionId ?? req.request?.prefix?.[0]?.id;
  return {
    priority: req.priority ?? 'interactive',
    ...(req.priorityLevel !== undefined ? { priorityLevel: req.priorityLevel } : {}),
    ...(req.tenant !== undefined ? { tenantId: req.tenant } : {}),
    ...(req.modelHint !== undefined ? { modelHint: req.modelHint } : {}),
    ...(req.batchable !== undefined ? { batchable: req.batchable } : {}),
    ...(req.requestClass !== undefined ? { requestClass: req.requestClass } : {}),
    ...(affinityKey !== undefined ? { affinityKey } : {}),
  };
}

/** Grants every hedge: the hedge budget of a policy without a retry budget. */
export const ALWAYS_GRANT: { tryAcquire(): boolean } = Object.freeze({ tryAcquire: () => true });

/**
 * The hedge budget a fleet upstream draws from (StreamOptions.hedgeBudget): the engine's retry budget, each hedge
 * one retry of `inputTokens` (a token budget spends them), or always-grant when the policy has no retry budget.
 */
export function hedgeBudgetOf(budget: RetryBudget | undefined, inputTokens: () => number): { tryAcquire(): boolean } {
  return budget === undefined ? ALWAYS_GRANT : { tryAcquire: () => budget.tryWithdraw(inputTokens()) };
}
