import { estimateTokens } from '../engine/router.js';
import type { ModelRequest } from '../upstream/model-client.js';
import type { RouteMeta, RouteRule } from './types.js';

/** The prompt tokens of `request`: as given, or estimated from its text (about 4 characters a token). */
export function promptTokensOf(request: ModelRequest): number {
  return request.promptTokens ?? estimateTokens(request.messages?.map((m) => m.content).join('') ?? request.prompt ?? '');
}

function oneOf(want: string | readonly string[], got: string | undefined): boolean {
  if (got === undefined) return false;
  return typeof want === 'string' ? want === got : want.includes(got);
}

/**
 * Whether every condition `rule.when` gives holds for this request (a rule with no conditions matches all).
 * `priority` as a word compares the class (`interactive` when the request gives none); as a range it compares the
 * 1–10 level, and a request without a level does not match it.
 */
export function ruleMatches(rule: RouteRule, route: RouteMeta | undefined, request: ModelRequest): boolean {
  const w = rule.when;
  if (w.priority !== undefined) {
    if (typeof w.priority === 'string') {
      if ((route?.priority ?? 'interactive') !== w.priority) return false;
    } else {
      const level = route?.priorityLevel;
      if (level === undefined) return false;
      if (w.priority.min !== undefined && level < w.priority.min) return false;
      if (w.priority.max !== undefined && level > w.priority.max) return false;
    }
  }
  if (w.tenantId !== undefined && !oneOf(w.tenantId, route?.tenantId)) return false;
  if (w.modelHint !== undefined && route?.modelHint !== w.modelHint) return false;
  if (w.batchable !== undefined && (route?.batchable ?? false) !== w.batchable) return false;
  if (w.requestClass !== undefined && !oneOf(w.requestClass, route?.requestClass)) return false;
  if (w.minPromptTokens !== undefined && promptTokensOf(request) < w.minPromptTokens) return false;
  return true;
}

/** Where a request goes by the rules: the deployment and the name of what decided it. */
export interface RuleChoice {
  readonly deployment: string;
  readonly rule: string;
}

/**
 * The deployment for a request: the one its `modelHint` names, if that is a deployment; else the first rule that
 * matches, in order; else the default.
 */
export function chooseDeployment(
  rules: readonly RouteRule[],
  deployments: ReadonlySet<string>,
  defaultDeployment: string,
  route: RouteMeta | undefined,
  request: ModelRequest,
): RuleChoice {
  const hint = route?.modelHint;
  if (hint !== undefined && deployments.has(hint)) return { deployment: hint, rule: 'modelHint' };
  for (const r of rules) if (ruleMatches(r, route, request)) return { deployment: r.deployment, rule: r.name ?? r.deployment };
  return { deployment: defaultDeployment, rule: 'default' };
}
