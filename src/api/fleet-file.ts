/**
 * The fleet file of `serve --fleet FILE`: named deployments with their replicas' base URLs, ordered routing rules
 * and the default deployment (src/fleet/types.ts FleetConfig), validated with zod. A mistake is one
 * ValidationError naming the field's path (`deployments.fast.replicas[1]: expected an http(s) base URL ...`).
 *
 * ```json
 * { "deployments": {
 *     "default": { "replicas": ["http://127.0.0.1:9001", "http://127.0.0.1:9002"], "fallback": "fast" },
 *     "fast": { "replicas": ["http://127.0.0.1:9101"], "model": "fast", "price": "gpt-4o-mini" } },
 *   "routes": [{ "name": "interactive", "deployment": "fast", "when": { "priority": "interactive" } }],
 *   "defaultDeployment": "default" }
 * ```
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import type { DeploymentConfig, FleetConfig, RouteRule } from '../fleet/types.js';
import type { ServicePrices } from '../engine/billed-usage.js';
import { resolveTokenPrice, type TokenPrice } from '../lib/token-price.js';
import { UPSTREAM_DIALECTS, type UpstreamDialect } from '../upstream/model-client.js';

/** Most replicas of one deployment in a fleet file. */
export const MAX_FLEET_REPLICAS = 1024;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

const baseUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.search === '' && u.hash === '';
  } catch {
    return false;
  }
}, 'an http(s) base URL like http://127.0.0.1:9001');

const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const deploymentSchema = z.strictObject({
  replicas: z.array(baseUrl).min(1).max(MAX_FLEET_REPLICAS),
  fallback: z.string().optional(),
  /** The model name sent to these replicas. @default the request's model (serve --model) */
  model: z.string().min(1).optional(),
  /** @default serve --upstream-dialect */
  dialect: z.enum(UPSTREAM_DIALECTS).optional(),
  /** A price sheet name or { inputPer1M, cachedInputPer1M?, outputPer1M } (checked by resolveTokenPrice). */
  price: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
});

const ruleSchema = z.strictObject({
  name: z.string().min(1).optional(),
  deployment: z.string(),
  when: z.strictObject({
    priority: z.union([z.enum(['interactive', 'batch']), z.strictObject({ min: z.number().int().min(1).max(10).optional(), max: z.number().int().min(1).max(10).optional() })]).optional(),
    tenantId: oneOrMany.optional(),
    modelHint: z.string().min(1).optional(),
    minPromptTokens: z.number().int().min(0).optional(),
    batchable: z.boolean().optional(),
    requestClass: oneOrMany.optional(),
  }),
});

const fleetSchema = z.strictObject({
  deployments: z.record(z.string(), deploymentSchema),
  routes: z.array(ruleSchema).optional(),
  defaultDeployment: z.string().optional(),
});

/** One deployment of a fleet file, with what `serve` needs to build its replicas' clients. */
export interface FleetFileDeployment extends DeploymentConfig {
  readonly replicas: readonly string[];
  readonly model?: string;
  readonly dialect?: UpstreamDialect;
  readonly price?: TokenPrice;
}

/** A validated fleet file: the FleetConfig for buildFleet, and each deployment's replicas. */
export interface FleetFile {
  readonly config: FleetConfig;
  readonly deployments: Readonly<Record<string, FleetFileDeployment>>;
}

function pathOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

function expectedOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return 'no other fields';
    case 'too_small':
      return issue.origin === 'array' ? `at least ${String(issue.minimum)} item(s)` : issue.origin === 'string' ? 'a non-empty string' : `a number >= ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'array' ? `at most ${String(issue.maximum)} items` : `a number <= ${String(issue.maximum)}`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'custom':
      return issue.message;
    case 'invalid_type':
      return issue.expected === 'record' || issue.expected === 'object' ? 'an object' : issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`;
    default:
      return issue.message;
  }
}

/**
 * Validates a parsed fleet file. Deployment names are 1–64 of letters, digits and `._:-`; a fallback, a rule's
 * deployment and the default name a declared deployment; fallback chains end (no cycle). Without
 * `defaultDeployment`, the one deployment, or the one named `default`, is the default.
 * @throws ValidationError naming the field's path
 */
export function parseFleetFile(input: unknown): FleetFile {
  const r = fleetSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    if (issue === undefined) throw new ValidationError('(fleet)', 'a fleet file', input);
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? '';
      return fail([...issue.path, key], 'no such field (deployments, routes, defaultDeployment; a deployment: replicas, fallback, model, dialect, price)', valueAt(input, [...issue.path, key]));
    }
    return fail(issue.path, expectedOf(issue), valueAt(input, issue.path));
  }
  const f = r.data;
  const names = Object.keys(f.deployments);
  if (names.length === 0) fail(['deployments'], 'at least one deployment', f.deployments);
  const deployments: Record<string, FleetFileDeployment> = {};
  for (const name of names) {
    const d = f.deployments[name];
    if (d === undefined) continue;
    if (!NAME.test(name)) fail(['deployments'], 'deployment names of 1 to 64 letters, digits and ._:- (starting with a letter or digit)', name);
    if (d.fallback !== undefined && !names.includes(d.fallback)) fail(['deployments', name, 'fallback'], `a declared deployment (${names.join(', ')})`, d.fallback);
    if (d.fallback === name) fail(['deployments', name, 'fallback'], 'another deployment than itself', d.fallback);
    let price: TokenPrice | undefined;
    if (d.price !== undefined) price = resolveTokenPrice(d.price, `deployments.${name}.price`);
    deployments[name] = {
      replicas: d.replicas,
      ...(d.fallback !== undefined ? { fallback: d.fallback } : {}),
      ...(d.model !== undefined ? { model: d.model } : {}),
      ...(d.dialect !== undefined ? { dialect: d.dialect } : {}),
      ...(price !== undefined ? { price } : {}),
    };
  }
  for (const name of names) {
    const seen = new Set<string>([name]);
    for (let next = deployments[name]?.fallback; next !== undefined; next = deployments[next]?.fallback) {
      if (seen.has(next)) fail(['deployments', name, 'fallback'], 'a fallback chain that ends (no cycle)', [...seen, next].join(' -> '));
      seen.add(next);
    }
  }
  for (const [i, rule] of (f.routes ?? []).entries()) {
    if (!names.includes(rule.deployment)) fail(['routes', i, 'deployment'], `a declared deployment (${names.join(', ')})`, rule.deployment);
    const p = rule.when.priority;
    if (typeof p === 'object' && p.min !== undefined && p.max !== undefined && p.min > p.max) fail(['routes', i, 'when', 'priority', 'min'], `at most priority.max (${p.max})`, p.min);
  }
  const defaultDeployment = f.defaultDeployment ?? (names.length === 1 ? names[0] : names.includes('default') ? 'default' : undefined);
  if (defaultDeployment === undefined) fail(['defaultDeployment'], `one of ${names.join(', ')} (there are several deployments and none is named "default")`, undefined);
  if (!names.includes(defaultDeployment)) fail(['defaultDeployment'], `a declared deployment (${names.join(', ')})`, defaultDeployment);
  const config: FleetConfig = {
    deployments: Object.fromEntries(names.map((n) => [n, deployments[n]?.fallback !== undefined ? { fallback: deployments[n].fallback } : {}])),
    ...(f.routes !== undefined ? { routes: f.routes as readonly RouteRule[] } : {}),
    defaultDeployment,
  };
  return { config, deployments };
}

function fail(path: readonly PropertyKey[], expected: string, got: unknown): never {
  throw new ValidationError(pathOf(path) || '(fleet)', expected, got);
}

/**
 * The service's prices with a fleet and no --price: each call's bill names the deployment that served it and pays
 * that deployment's price; a call of a deployment without one is unpriced (cost unknown, as in virtual mode), and a
 * call without a deployment (an embedding or batch, sent to the default deployment) pays the default deployment's.
 * Undefined when no deployment has a price.
 */
export function fleetPrices(fleet: FleetFile): ServicePrices | undefined {
  const deployments = Object.fromEntries(Object.entries(fleet.deployments).flatMap(([name, d]) => (d.price !== undefined ? [[name, d.price] as const] : [])));
  const price = fleet.deployments[fleet.config.defaultDeployment]?.price;
  if (price === undefined && Object.keys(deployments).length === 0) return undefined;
  return { ...(price !== undefined ? { primary: price } : {}), deployments };
}

/** The deployments of `fleet` without a price, in file order. */
export function unpricedDeployments(fleet: FleetFile): string[] {
  return Object.entries(fleet.deployments).flatMap(([name, d]) => (d.price === undefined ? [name] : []));
}

/** One line for serve's start-up: which deployments' calls cost nothing known. */
export function unpricedNotice(names: readonly string[]): string {
  const list = names.map((n) => JSON.stringify(n)).join(', ');
  return `${names.length === 1 ? 'deployment' : 'deployments'} ${list} ${names.length === 1 ? 'has' : 'have'} no price in the fleet file: ${names.length === 1 ? 'its' : 'their'} calls are unpriced (costUsd null, no engine_cost_usd_total), not billed at another deployment's price`;
}
