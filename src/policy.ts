import { z } from 'zod';
import { ValidationError } from './errors.js';
import { fleetPolicySchema } from './fleet/policy-schema.js';

/**
 * The Policy: one validated config object that the Engine is built from. Every group is flat, so the tuner can
 * set a knob by dotted path (`concurrency.limit`, `retryBudget.ratio`). Units are in the field names.
 * The schema defaults are the `resilient` preset; the other presets are documented deltas from it.
 */

const int = (min: number) => z.number().int().min(min);
const ms = () => z.number().min(0).max(86_400_000);
const ratio = () => z.number().min(0).max(1);

const rateLimitSchema = z.strictObject({
  /** @default false */
  enabled: z.boolean().default(false),
  /** Global requests per minute; absent means no request limit. */
  requestsPerMinute: z.number().positive().optional(),
  /** Global tokens (prompt + max output) per minute; absent means no token limit. */
  tokensPerMinute: z.number().positive().optional(),
  /** Requests per minute per tenant. */
  perTenantRequestsPerMinute: z.number().positive().optional(),
  /** Tokens per minute per tenant. */
  perTenantTokensPerMinute: z.number().positive().optional(),
});

const dedupSchema = z.strictObject({
  /** Join an in-flight twin or return the stored result for the same `idempotencyKey`. @default true */
  enabled: z.boolean().default(true),
  /** How long a completed `ok` result is kept. @default 60_000 */
  ttlMs: ms().default(60_000),
  /** @default 10_000 */
  maxEntries: int(1).default(10_000),
});

const queueSchema = z.strictObject({
  /** A bounded admission queue; when false, requests go straight to the concurrency limit. @default true */
  enabled: z.boolean().default(true),
  /** Requests that may wait; beyond this they are shed with 429 and Retry-After. @default 1000 */
  capacity: int(1).default(1000),
  /**
   * `fifo`, or `lifo-under-overload` (adaptive LIFO, Facebook's "fail at scale"): while a standing queue is
   * longer than the threshold, serve the newest first, so fresh requests still meet their SLO and the backlog
   * (already late) fills the spare capacity instead of making every new arrival late too. @default 'lifo-under-overload'
   */
  order: z.enum(['fifo', 'lifo-under-overload']).default('lifo-under-overload'),
  /** Fraction of `capacity` (eligible items) above which `lifo-under-overload` serves newest first. @default 0.05 */
  lifoThresholdRatio: ratio().default(0.05),
  /**
   * SLO-aware admission: shed a new request at once (429, reason `shed_slo`, Retry-After = the expected wait) when
   * even a lower bound of its wait for a slot, from recent slot hold times, runs past its deadline. @default true
   */
  deadlineShed: z.boolean().default(true),
  /** CoDel-like shedding on queue wait. @default false */
  codelEnabled: z.boolean().default(false),
  /** @default 100 */
  codelTargetMs: ms().default(100),
  /** @default 1000 */
  codelIntervalMs: ms().default(1000),
});

const concurrencySchema = z.strictObject({
  /** `unbounded` (no limit), `fixed` (a semaphore of `limit`), or an adaptive limit. @default 'fixed' */
  mode: z.enum(['unbounded', 'fixed', 'aimd', 'gradient']).default('fixed'),
  /**
   * The fixed limit, and the initial limit of the adaptive modes. The default matches vLLM's `max_num_seqs`
   * (256): the engine then queues only what the GPU could not run anyway, and its own queue (priorities,
   * deadlines, shedding) holds the rest instead of the server's FIFO. Set it to your upstream's capacity.
   * @default 256
   */
  limit: int(1).default(256),
  /** Floor of an adaptive limit. @default 4 */
  minLimit: int(1).default(4),
  /** Ceiling of an adaptive limit. @default 512 */
  maxLimit: int(1).default(512),
  /** AIMD: multiplicative decrease on a drop. @default 0.9 */
  aimdBackoffRatio: z.number().gt(0).lt(1).default(0.9),
  /** Gradient: tolerated RTT inflation before the limit shrinks. @default 1.5 */
  gradientTolerance: z.number().min(1).default(1.5),
});

const batchingSchema = z.strictObject({
  /** Batch `batchable` embedding requests. @default true */
  enabled: z.boolean().default(true),
  /** @default 'hybrid' */
  mode: z.enum(['size', 'time', 'hybrid']).default('hybrid'),
  /** @default 32 */
  maxSize: int(1).default(32),
  /** @default 10 */
  maxWaitMs: ms().default(10),
  /** Token cap per batch; absent means none. */
  maxTokens: int(1).optional(),
});

const retrySchema = z.strictObject({
  /** Attempts including the first. @default 4 */
  maxAttempts: int(1).default(4),
  /** `retryable` classifies errors; `any` retries every error (the naive anti-pattern). @default 'retryable' */
  retryOn: z.enum(['retryable', 'any']).default('retryable'),
  /** @default 'exponential' */
  backoff: z.enum(['none', 'constant', 'exponential']).default('exponential'),
  /** @default 'full' */
  jitter: z.enum(['none', 'full', 'equal', 'decorrelated']).default('full'),
  /** First delay (and the constant delay). @default 50 */
  baseMs: ms().default(50),
  /** Delay cap. @default 5000 */
  maxMs: ms().default(5000),
  /** Growth factor of the exponential backoff. @default 2 */
  factor: z.number().min(1).default(2),
  /** Wait at least the server's Retry-After. @default true */
  honorRetryAfter: z.boolean().default(true),
  /** A Retry-After longer than this is not waited for: the request fails at once. @default 30_000 */
  maxRetryAfterMs: ms().default(30_000),
  /** Sleep holding the concurrency slot instead of giving it back and re-entering the queue. @default false */
  holdSlotWhileWaiting: z.boolean().default(false),
});

const retryBudgetSchema = z.strictObject({
  /**
   * `finagle` (deposit per request, TTL), `grpc` (token throttling), `tokens` (input tokens retries may re-send
   * per second: a retry of a long prompt spends more), `usd` (the same in dollars per second at `inputPer1MUsd`)
   * or `off`. @default 'finagle'
   */
  mode: z.enum(['off', 'finagle', 'grpc', 'tokens', 'usd']).default('finagle'),
  /** Finagle: retries allowed per request. @default 0.2 */
  ratio: z.number().min(0).max(10).default(0.2),
  /** Finagle: retries always allowed per second. @default 10 */
  minRetriesPerSec: z.number().min(0).default(10),
  /** Finagle: how long a deposit lasts. @default 10_000 */
  ttlMs: z.number().min(1).max(86_400_000).default(10_000),
  /** gRPC: bucket size. @default 10 */
  maxTokens: z.number().gt(0).default(10),
  /** gRPC: tokens returned per success. @default 0.1 */
  tokenRatio: z.number().gt(0).max(1).default(0.1),
  /** tokens: input tokens per second retries may re-send. Required with mode `tokens`. */
  tokensPerSec: z.number().gt(0).optional(),
  /** usd: dollars per second retries may spend on input. Required with mode `usd`. */
  usdPerSec: z.number().gt(0).optional(),
  /** usd: the input price, USD per 1M tokens. Required with mode `usd`. */
  inputPer1MUsd: z.number().gt(0).optional(),
  /** tokens/usd: seconds of refill the bucket holds. @default 10 */
  burstSec: z.number().gt(0).optional(),
});

const breakerSchema = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** `consecutive` failures, or failure `ratio` over a sliding window. @default 'ratio' */
  rule: z.enum(['consecutive', 'ratio']).default('ratio'),
  /** @default 5 */
  consecutiveFailures: int(1).default(5),
  /** @default 0.5 */
  failureRatio: z.number().gt(0).max(1).default(0.5),
  /** Calls in the window before the ratio counts. @default 20 */
  minThroughput: int(1).default(20),
  /**
   * The ratio window. Short, so that a crash trips the breaker within about a second instead of being diluted by
   * the successes of the seconds before it. @default 3000
   */
  windowMs: z.number().min(1).max(86_400_000).default(3000),
  /** @default 10 */
  windowBuckets: int(1).default(10),
  /**
   * How long the breaker stays open before it lets probes through. Short, because probes are cheap and every
   * millisecond open after the upstream is healthy again is outage the breaker made (crash-recovery). @default 1000
   */
  openMs: ms().default(1000),
  /** Successful probes needed in half-open before closing. @default 3 */
  halfOpenProbes: int(1).default(3),
  /**
   * With no fallback to route to, a request refused by the open breaker waits (in the queue, holding no slot)
   * until the breaker lets probes through, while its deadline leaves room, instead of failing at once. @default true
   */
  waitWhenOpen: z.boolean().default(true),
  /**
   * When the breaker closes again, the concurrency limit ramps from a tenth of itself to all of it over this
   * long (slow start), so the requests that waited out the outage do not all land on the upstream at once;
   * 0 turns it off. @default 2000
   */
  slowStartMs: ms().default(2000),
});

const fallbackSchema = z.strictObject({
  /** Route to the fallback model while the primary's breaker is open. @default true */
  enabled: z.boolean().default(true),
  /** Send `batch` priority requests to the fallback model always. @default false */
  forBatchPriority: z.boolean().default(false),
});

const contextTrimSchema = z.strictObject({
  /** Retry a context-length rejection once with the oldest context trimmed (outcome `degraded`). @default true */
  enabled: z.boolean().default(true),
});

const deadlineSchema = z.strictObject({
  /** Apply `timeoutMs` to requests that carry no deadline of their own. @default true */
  enabled: z.boolean().default(true),
  /** @default 60_000 */
  timeoutMs: z.number().min(1).max(86_400_000).default(60_000),
  /**
   * `timeoutMs` (the default deadline, for requests without their own) bounds the wait for the first token only:
   * queueing, backoff, retries and time to first token. Once the answer streams, the idle timeout guards it, so a
   * long generation that keeps making progress is not cut at `timeoutMs` after most of its tokens were computed
   * (burst-1000's 5,000-token answers). A request's own `deadlineMs` always bounds the whole request. @default true
   */
  untilFirstToken: z.boolean().default(true),
});

const idleTimeoutSchema = z.strictObject({
  /** @default true */
  enabled: z.boolean().default(true),
  /** Longest wait for the first or next token. @default 10_000 */
  idleMs: z.number().min(1).max(86_400_000).default(10_000),
});

const resumeSchema = z.strictObject({
  /**
   * Resume an interrupted stream from the last token received (`resumeFrom`), where the upstream can continue a
   * prefix (dialect `vllm`/`mock`); else restart. After tokens reached the caller, an upstream that can neither
   * continue nor reproduce its text ends the answer explicitly partial instead. @default true
   */
  enabled: z.boolean().default(true),
  /**
   * The anti-pattern, kept for the `naive` preset: after tokens reached the caller, restart an upstream that can
   * neither continue nor reproduce the answer and skip as many tokens of the new generation, so the answer mixes
   * two generations. The result says so (`degraded: 'spliced'`). @default false
   */
  splice: z.boolean().default(false),
});

const cacheSchema = z.strictObject({
  /**
   * Answer repeatable requests (`temperature: 0` or a fixed `seed`, no tools; src/engine/cache-key.ts) from a cache
   * of earlier `ok` answers, keyed by a canonical hash of the request and scoped by tenant. Off in every preset: a
   * cache changes what a client gets (a replay of an earlier answer, which a real GPU at temperature 0 need not
   * reproduce exactly), so a deployment or scenario turns it on knowingly. @default false
   */
  enabled: z.boolean().default(false),
  /** How long an answer is served as a plain hit (`x-cache: hit`). @default 300_000 */
  ttlMs: z.number().min(1).max(86_400_000).default(300_000),
  /** Bytes of answers kept in memory; the least recently used go first. @default 67_108_864 (64 MiB) */
  maxBytes: int(0).default(64 * 1024 * 1024),
  /**
   * How old an answer may be (past its TTL) and still be served, as `degraded: cached`, when the upstream fails or
   * its breaker is open; 0 never serves stale answers. @default 3_600_000
   */
  staleIfErrorMs: ms().default(3_600_000),
  /** Identical cacheable requests in flight at once make one upstream call (needs `dedup.enabled`). @default true */
  coalesce: z.boolean().default(true),
});

const smallerModelSchema = z.strictObject({
  /**
   * A chat request whose token budget (prompt + max output tokens) exceeds this goes to the fallback model (the
   * smaller deployment), as `degraded: smaller-model`; absent: never.
   */
  aboveTokens: int(1).optional(),
});

const contextFallbackSchema = z.strictObject({
  /**
   * A prompt the primary refuses as too long for its context window goes to the fallback model first when the
   * fallback's window is larger (or unknown), as `degraded: context-fallback` (LiteLLM's context-window
   * fallbacks); trimming comes after that. @default true
   */
  enabled: z.boolean().default(true),
});

/** The Policy schema (zod 4). */
export const policySchema = z.strictObject({
  /** A label: the preset name, or `custom`. @default 'custom' */
  name: z.string().min(1).default('custom'),
  rateLimit: rateLimitSchema.prefault({}),
  dedup: dedupSchema.prefault({}),
  queue: queueSchema.prefault({}),
  concurrency: concurrencySchema.prefault({}),
  batching: batchingSchema.prefault({}),
  retry: retrySchema.prefault({}),
  retryBudget: retryBudgetSchema.prefault({}),
  breaker: breakerSchema.prefault({}),
  fallback: fallbackSchema.prefault({}),
  contextTrim: contextTrimSchema.prefault({}),
  deadline: deadlineSchema.prefault({}),
  idleTimeout: idleTimeoutSchema.prefault({}),
  resume: resumeSchema.prefault({}),
  cache: cacheSchema.prefault({}),
  smallerModel: smallerModelSchema.prefault({}),
  contextFallback: contextFallbackSchema.prefault({}),
  /** Balancing, outlier ejection and hedging across a deployment's replicas (src/fleet/policy-schema.ts). */
  fleet: fleetPolicySchema.prefault({}),
});

/** A validated, fully defaulted policy. Treat as immutable. */
export type Policy = z.output<typeof policySchema>;
/** What `parsePolicy` accepts: every field optional. */
export type PolicyInput = z.input<typeof policySchema>;
type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
/** A nested partial of a Policy, for overrides. */
export type PolicyOverrides = { [G in keyof Policy]?: Policy[G] extends object ? DeepPartial<Policy[G]> : Policy[G] };

/** The names of the presets. */
export const PRESET_NAMES = ['naive', 'bounded', 'resilient', 'adaptive'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

function joinPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(policy)' : path.map(String).join('.');
}

function expectedOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'int') return 'an integer';
      if (issue.expected === 'object') return 'an object';
      if (issue.expected === 'number' && typeof issue.input === 'number') return 'a finite number';
      return `a ${issue.expected}`;
    case 'too_small':
      return `a number ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`;
    case 'too_big':
      return `a number ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}`;
    default:
      return issue.message;
  }
}

function toValidationError(issue: z.core.$ZodIssue): ValidationError {
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '?';
    const input = issue.input as Record<string, unknown> | undefined;
    const parent = issue.path.length === 0 ? 'the policy' : joinPath(issue.path);
    const others = issue.keys.length > 1 ? ` (also unknown: ${issue.keys.slice(1).join(', ')})` : '';
    return new ValidationError(joinPath([...issue.path, key]), `no such field in ${parent}${others}`, input?.[key]);
  }
  if (issue.code === 'too_small' && issue.origin === 'string') {
    return new ValidationError(joinPath(issue.path), 'a non-empty string', issue.input);
  }
  return new ValidationError(joinPath(issue.path), expectedOf(issue), issue.input);
}

/**
 * Validates and defaults a policy. Throws {@link ValidationError} naming the first bad field's dotted path,
 * what was expected and what was given, e.g. `retry.maxAttempts: expected a number >= 1, got 0`.
 */
export function parsePolicy(input: unknown): Policy {
  const r = policySchema.safeParse(input ?? {}, { reportInput: true });
  if (r.success) {
    const p = r.data;
    if (p.concurrency.minLimit > p.concurrency.maxLimit) {
      throw new ValidationError('concurrency.minLimit', `a number <= concurrency.maxLimit (${p.concurrency.maxLimit})`, p.concurrency.minLimit);
    }
    if (p.retry.baseMs > p.retry.maxMs) {
      throw new ValidationError('retry.baseMs', `a number <= retry.maxMs (${p.retry.maxMs})`, p.retry.baseMs);
    }
    const { ejection, hedging } = p.fleet;
    if (ejection.baseEjectionMs > ejection.maxEjectionMs) {
      throw new ValidationError('fleet.ejection.baseEjectionMs', `a number <= fleet.ejection.maxEjectionMs (${ejection.maxEjectionMs})`, ejection.baseEjectionMs);
    }
    if (hedging.minDelayMs > hedging.maxDelayMs) {
      throw new ValidationError('fleet.hedging.minDelayMs', `a number <= fleet.hedging.maxDelayMs (${hedging.maxDelayMs})`, hedging.minDelayMs);
    }
    return p;
  }
  const issue = r.error.issues[0];
  if (issue === undefined) throw new ValidationError('(policy)', 'a valid policy', input);
  throw toValidationError(issue);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; `override` wins; arrays and scalars replace. Inputs are not mutated. */
function deepMerge(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

const PRESET_DELTAS: Record<PresetName, PolicyOverrides> = {
  // The anti-pattern from the field: no limits, 3 immediate retries on any error, Retry-After ignored.
  naive: {
    rateLimit: { enabled: false },
    dedup: { enabled: false },
    queue: { enabled: false },
    concurrency: { mode: 'unbounded' },
    batching: { enabled: false },
    retry: { maxAttempts: 4, retryOn: 'any', backoff: 'none', jitter: 'none', honorRetryAfter: false, holdSlotWhileWaiting: true },
    retryBudget: { mode: 'off' },
    breaker: { enabled: false },
    fallback: { enabled: false },
    contextTrim: { enabled: false },
    deadline: { enabled: false },
    idleTimeout: { enabled: false },
    resume: { enabled: false, splice: true },
    contextFallback: { enabled: false },
    fleet: { balancer: { kind: 'round-robin' }, ejection: { enabled: false }, hedging: { enabled: false } },
  },
  // A bounded queue and a fixed semaphore; exponential backoff with full jitter (50 ms to 5 s); Retry-After honoured.
  bounded: {
    dedup: { enabled: false },
    queue: { order: 'fifo', lifoThresholdRatio: 0.5, deadlineShed: false },
    concurrency: { mode: 'fixed' },
    batching: { enabled: false },
    retry: { retryOn: 'retryable', backoff: 'exponential', jitter: 'full', baseMs: 50, maxMs: 5000, honorRetryAfter: true },
    retryBudget: { mode: 'off' },
    breaker: { enabled: false },
    fallback: { enabled: false },
    contextTrim: { enabled: false },
    deadline: { enabled: false },
    idleTimeout: { enabled: false },
    resume: { enabled: false },
    contextFallback: { enabled: false },
    fleet: { balancer: { kind: 'round-robin' }, ejection: { enabled: false }, hedging: { enabled: false } },
  },
  // bounded + retry budget, breaker with fallback, deadlines, idle timeout, resume, dedup and batching, and across
  // replicas power of two choices with outlier ejection (no hedging: an opt-in knob): the defaults.
  resilient: {},
  // resilient with an adaptive (AIMD) concurrency limit starting at `concurrency.limit`.
  adaptive: { concurrency: { mode: 'aimd' } },
};

/** A preset, validated. */
export function preset(name: PresetName): Policy {
  return resolvePolicy(name);
}

/**
 * A preset with overrides deep-merged on top, validated. Unknown preset names and unknown override keys are
 * rejected with a {@link ValidationError} that names them.
 */
export function resolvePolicy(presetName: string, overrides?: unknown): Policy {
  if (!(PRESET_NAMES as readonly string[]).includes(presetName)) {
    throw new ValidationError('preset', `one of ${PRESET_NAMES.map((n) => JSON.stringify(n)).join(' | ')}`, presetName);
  }
  if (overrides !== undefined && !isPlainObject(overrides)) throw new ValidationError('overrides', 'an object', overrides);
  const base = deepMerge({ name: presetName }, PRESET_DELTAS[presetName as PresetName] as Record<string, unknown>);
  return parsePolicy(overrides === undefined ? base : deepMerge(base, overrides));
}

/** A policy with extra overrides deep-merged and re-validated (the input is not mutated). */
export function withOverrides(policy: Policy, overrides: unknown): Policy {
  if (!isPlainObject(overrides)) throw new ValidationError('overrides', 'an object', overrides);
  return parsePolicy(deepMerge(policy as unknown as Record<string, unknown>, overrides));
}

/** A policy with one field set by dotted path (`retryBudget.ratio`), validated; for tuning sweeps. */
export function setPolicyField(policy: Policy, path: string, value: unknown): Policy {
  const keys = path.split('.');
  if (keys.some((k) => k === '')) throw new ValidationError('path', 'a dotted field path like "retry.maxAttempts"', path);
  let patch: unknown = value;
  for (let i = keys.length - 1; i >= 0; i--) patch = { [keys[i] as string]: patch };
  return withOverrides(policy, patch);
}
