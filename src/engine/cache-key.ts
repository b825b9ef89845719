/**
 * The response cache's key: a canonical hash of what decides a chat answer (tenant, model, messages or prompt,
 * output cap, every pass-through parameter), so that two requests that must get the same answer get the same key
 * whatever the order of their JSON fields, and nothing else does. Only repeatable requests have a key.
 */
import { createHash } from 'node:crypto';
import type { EngineRequest } from './engine-types.js';

/**
 * Parameters that change how an answer is delivered, not what it is: left out of the key, so a streamed and a
 * non-streamed twin share one entry.
 */
const DELIVERY_PARAMS: ReadonlySet<string> = new Set(['stream', 'stream_options', 'user', 'metadata', 'store', 'service_tier']);

/** Parameters that mean the answer has side effects or is more than one text: never cached. */
const SIDE_EFFECT_PARAMS: readonly string[] = ['tools', 'tool_choice', 'functions', 'function_call', 'parallel_tool_calls'];

/** Why a request has no cache key (for tests and docs; the engine only needs the key or its absence). */
export type NotCacheable = 'not-chat' | 'opted-out' | 'sampled' | 'side-effects' | 'several-choices';

/**
 * Whether `req` may be answered from the cache: a chat request that is repeatable (`temperature: 0`, or a fixed
 * integer `seed`) and has no tool side effects and one choice. `req.cacheable` overrides the rule either way
 * (`true`: the caller vouches the request may be replayed, tools or not; `false`: never cached).
 */
export function cacheability(req: EngineRequest): true | NotCacheable {
  if (req.kind !== 'chat' || req.request === undefined) return 'not-chat';
  if (req.cacheable === false) return 'opted-out';
  if (req.cacheable === true) return true;
  const p = req.request.params ?? {};
  if (SIDE_EFFECT_PARAMS.some((k) => p[k] !== undefined && p[k] !== null)) return 'side-effects';
  const n = p['n'];
  if (typeof n === 'number' && n > 1) return 'several-choices';
  const t = p['temperature'];
  const seed = p['seed'];
  if (t === 0 || (typeof seed === 'number' && Number.isInteger(seed))) return true;
  return 'sampled';
}

/** JSON with object keys sorted at every depth (arrays keep their order): the canonical form hashed. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * The cache key of `req` (`sha256` hex of the canonical request, prefixed by `resp:`), or undefined when the request
 * is not cacheable ({@link cacheability}). Tenant-scoped: two tenants never share an answer. The request id, the
 * mock's fault header and prefix hints are not part of it; messages count as sent (`wire` when the client sent more
 * than role and content).
 */
export function cacheKeyOf(req: EngineRequest): string | undefined {
  if (cacheability(req) !== true) return undefined;
  const r = req.request;
  if (r === undefined) return undefined;
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.params ?? {})) if (!DELIVERY_PARAMS.has(k)) params[k] = v;
  const canonical = canonicalJson({
    tenant: req.tenant ?? '',
    model: r.model,
    modelHint: req.modelHint,
    messages: r.messages?.map((m) => m.wire ?? { role: m.role, content: m.content }),
    prompt: r.prompt,
    promptTokens: r.promptTokens,
    maxTokens: r.maxTokens,
    outputTokens: r.outputTokens,
    params,
  });
  return `resp:${createHash('sha256').update(canonical).digest('hex')}`;
}
