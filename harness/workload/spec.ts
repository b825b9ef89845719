/**
 * The workload spec: JSON-describable, validated with zod, with errors that name the field path.
 * Either a synthetic workload (arrivals + a weighted mix of session classes) or a trace replay.
 */
import { z } from 'zod';
import { arrivalSchema } from './arrivals.js';
import { distSchema } from './dist.js';
import { TRACE_FORMATS } from './trace-formats.js';
import { PRIORITIES } from './types.js';
import { parseWith } from './validate.js';
import { repeatedPromptsSchema } from './prompt-pool.js';

const name = z.string().min(1);
const weight = z.number().min(0);
const tokens = distSchema;

/** Fields every mix entry has. */
const entryCommon = {
  /** The class name, used for request classes and per-class metrics (`chat`, `long-gen`, `batch`, `agent`). */
  name,
  /** Relative weight in the mix; weights need not sum to 1. */
  weight,
  /** @default 'interactive' */
  priority: z.enum(PRIORITIES).optional(),
  /** Pin the class to one tenant; otherwise each session draws a tenant from `tenants`. */
  tenant: name.optional(),
  /** Per-request budget in ms from its intended start. @default none */
  deadlineMs: z.number().positive().optional(),
};

const singleEntry = z
  .object({
    ...entryCommon,
    kind: z.literal('single'),
    promptTokens: tokens,
    outputTokens: tokens,
    /** The engine may batch these (batch jobs). @default priority === 'batch' */
    batchable: z.boolean().optional(),
    /** Sampling temperature sent with each request (0: repeatable, cacheable). @default not sent */
    temperature: z.number().min(0).max(2).optional(),
  })
  .strict();

const multiTurnEntry = z
  .object({
    ...entryCommon,
    kind: z.literal('multi-turn'),
    /** Turns per session (rounded, at least 1). */
    turns: distSchema,
    /** Time between a reply and the next user message. */
    thinkTimeMs: distSchema,
    /** New user tokens per turn. */
    userTokens: tokens,
    /** New user tokens of the first turn (a pasted document, a long opening question). @default userTokens */
    firstTurnUserTokens: tokens.optional(),
    outputTokens: tokens,
    /** Counted into every turn's prompt, and the same prefix for every session of the class. @default 0 */
    systemPromptTokens: z.number().int().min(0).optional(),
    /** Prompts are truncated to this many tokens (oldest turns dropped first, as chat apps do). @default none */
    maxContextTokens: z.number().int().positive().optional(),
    /** After a failed turn: `abandon` ends the session, `continue` goes on to the next turn. @default 'abandon' */
    onFailure: z.enum(['abandon', 'continue']).optional(),
  })
  .strict();

const callShape = z.object({ promptTokens: tokens, outputTokens: tokens }).strict();

const agentEntry = z
  .object({
    ...entryCommon,
    kind: z.literal('agent'),
    planner: callShape,
    /** Retriever branches run in parallel after the planner (rounded, at least 0). */
    retrievers: distSchema,
    retriever: z
      .object({
        /** Embedding inputs per retriever call (rounded, at least 1). @default 1 */
        inputs: distSchema.optional(),
        /** Tokens per embedding input. */
        inputTokens: tokens,
        /** Tokens a successful retriever adds to the summarizer's prompt. */
        retrievedTokens: tokens,
      })
      .strict(),
    /** `promptTokens` is the summarizer's own instructions; the planner's output and retrieved text are added. */
    summarizer: callShape,
    /**
     * The agent's tools and instructions, the same for every session of the class: counted at the head of the
     * planner's and the summarizer's prompts, and a shared prefix for a server's prefix cache. @default 0
     */
    sharedContextTokens: z.number().int().min(0).optional(),
  })
  .strict();

/** One weighted class of sessions. */
export const mixEntrySchema = z.discriminatedUnion('kind', [singleEntry, multiTurnEntry, agentEntry]);
export type MixEntry = z.infer<typeof mixEntrySchema>;

const tenantSchema = z
  .object({
    name,
    weight,
    /**
     * The tenant's shared system prompt: counted at the head of every chat prompt of its sessions, and the same
     * prefix for all of them (a server's prefix cache computes it once). @default 0
     */
    systemPromptTokens: z.number().int().min(0).optional(),
  })
  .strict();

/** A synthetic workload: open-loop session arrivals, each session drawn from the weighted mix. */
export const syntheticSchema = z
  .object({
    arrivals: arrivalSchema,
    mix: z
      .array(mixEntrySchema)
      .min(1)
      .refine((m) => m.some((e) => e.weight > 0), 'at least one weight > 0'),
    /** Tenants and their shares of sessions. @default [{ name: 'default', weight: 1 }] */
    tenants: z
      .array(tenantSchema)
      .min(1)
      .refine((t) => t.some((e) => e.weight > 0), 'at least one weight > 0')
      .optional(),
    /**
     * Share of sessions that repeat an earlier single-request session with the same idempotency key and content
     * (a double submit or a client retry). @default 0
     */
    repeatFraction: z.number().min(0).max(1).optional(),
    /** A repeat copies one of this many most recent single-request sessions, so it often meets its twin in flight. @default 50 */
    repeatWindow: z.number().int().positive().optional(),
    /**
     * Share of single-request sessions that ask one of a pool of popular prompts (Zipf popularity), with the same
     * messages, lengths and `temperature: 0` as every other ask of it and no idempotency key: what a response cache
     * answers (harness/workload/prompt-pool.ts). @default none
     */
    repeatedPrompts: repeatedPromptsSchema.optional(),
    /**
     * At most this many sessions in flight at once (`vllm bench --max-concurrency`): an arrival past the cap waits
     * for a session to end, and its requests still count from its scheduled start, so the wait shows in TTFT and
     * E2E (no coordinated omission); see harness/workload/play.ts. Open loop only (`users` is its own cap).
     * @default unbounded
     */
    maxConcurrency: z.number().int().positive().optional(),
    /**
     * The clients' own patience (harness/workload/client.ts), as SDKs and users have it: a request with no first
     * token `timeoutMs` after it was sent is abandoned (outcome `timeout`, reason `client_timeout`) and sent again, as
     * a new request, up to `resends` times. The mechanism of a retry storm. Virtual mode only. @default none
     */
    client: z
      .object({ timeoutMs: z.number().positive(), resends: z.number().int().min(0).max(100).optional() })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (w.arrivals.kind !== 'users') return;
    // A closed-loop user draws its sessions as they start: there is no earlier session to repeat, and no cap to add.
    if ((w.repeatFraction ?? 0) > 0) ctx.addIssue({ code: 'custom', path: ['repeatFraction'], message: 'expected 0 or no repeatFraction with closed-loop users (arrivals.kind "users")' });
    if (w.repeatedPrompts !== undefined) ctx.addIssue({ code: 'custom', path: ['repeatedPrompts'], message: 'expected no repeatedPrompts with closed-loop users (arrivals.kind "users"): their sessions are drawn as they start' });
    if (w.client !== undefined) ctx.addIssue({ code: 'custom', path: ['client'], message: 'expected no client timeout with closed-loop users (arrivals.kind "users"): open-loop sessions only' });
    if (w.maxConcurrency !== undefined) ctx.addIssue({ code: 'custom', path: ['maxConcurrency'], message: 'expected no maxConcurrency with closed-loop users: arrivals.users is the concurrency' });
  });
export type SyntheticWorkload = z.infer<typeof syntheticSchema>;

/**
 * Replay of a trace file: the Azure LLM inference CSV, Mooncake JSONL, BurstGPT CSV or ShareGPT conversations
 * (harness/workload/trace-formats.ts), recognised by content unless `format` says.
 */
export const traceSpecSchema = z
  .object({
    /** The trace file, resolved against `buildSessions`' `baseDir`. */
    path: name,
    /** @default sniffed from the content */
    format: z.enum(TRACE_FORMATS).optional(),
    /** ShareGPT conversations carry no times: they start by this arrival process. @default poisson, 1 session/s */
    arrivals: arrivalSchema.optional(),
    /** ShareGPT: the time between an answer and the next user message. @default constant 5,000 ms */
    thinkTimeMs: distSchema.optional(),
    /** Time compression: 2 replays the trace twice as fast (gaps halved). @default 1 */
    speedup: z.number().positive().optional(),
    /** Window start, in trace time from the first row. @default 0 */
    startMs: z.number().min(0).optional(),
    /** Window length, in trace time. @default to the end of the trace */
    durationMs: z.number().positive().optional(),
    /** @default 'trace' (BurstGPT: from its model and log type, e.g. `chatgpt-conversation`) */
    class: name.optional(),
    /** @default 'default' */
    tenant: name.optional(),
    /** @default 'interactive' */
    priority: z.enum(PRIORITIES).optional(),
    /** Per-request budget in ms from its intended start. @default none */
    deadlineMs: z.number().positive().optional(),
  })
  .strict();
export type TraceSpec = z.infer<typeof traceSpecSchema>;

export const traceWorkloadSchema = z.object({ trace: traceSpecSchema }).strict();
export type TraceWorkload = z.infer<typeof traceWorkloadSchema>;

/** A workload: synthetic (`arrivals` + `mix`) or a trace replay (`trace`). */
export type WorkloadSpec = SyntheticWorkload | TraceWorkload;

/** True for a trace-replay spec. */
export function isTraceWorkload(spec: WorkloadSpec): spec is TraceWorkload {
  return 'trace' in spec;
}

/**
 * Validates a workload spec. Throws a ValidationError naming the first bad field, e.g.
 * `workload.mix[2].weight: expected a number >= 0, got -1`.
 * @param root the name of the spec in messages. @default 'workload'
 */
export function parseWorkload(input: unknown, root = 'workload'): WorkloadSpec {
  // Choose the branch by its key rather than with a zod union, so errors point into the branch the user meant.
  if (input !== null && typeof input === 'object' && 'trace' in input) return parseWith(traceWorkloadSchema, input, root);
  return parseWith(syntheticSchema, input, root);
}
