/**
 * JSON schemas of the routes (validated by fastify's ajv, no type coercion), and the TypeScript shapes they
 * admit. Schema-first: a payload that passes these reaches a handler; anything else is a 400 naming the field.
 */
import type { ChatMessage } from '../upstream/model-client.js';

const messageContent = {
  anyOf: [
    { type: 'string', maxLength: 1_000_000 },
    { type: 'null' },
    {
      type: 'array',
      maxItems: 1000,
      items: { type: 'object', required: ['type'], properties: { type: { type: 'string' }, text: { type: 'string' } } },
    },
  ],
} as const;

/** A job's message: a role and its content. */
const message = {
  type: 'object',
  required: ['role', 'content'],
  properties: {
    role: { enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
    content: messageContent,
  },
} as const;

/**
 * A chat message: `content` may be absent (an assistant message that only calls tools); other fields
 * (`tool_calls`, `tool_call_id`, `name`, ...) are kept and sent upstream unchanged.
 */
const chatMessage = {
  type: 'object',
  required: ['role'],
  properties: {
    role: { enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
    content: messageContent,
  },
} as const;

/** `POST /v1/jobs` body. */
export const jobBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 256 },
    messages: { type: 'array', minItems: 1, maxItems: 10_000, items: message },
    prompt: { type: 'string', maxLength: 1_000_000 },
    max_tokens: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    // A class name, or 1–10 (10 most urgent) mapped onto the classes: see PRIORITY_LEVEL_INTERACTIVE_MIN.
    priority: { anyOf: [{ enum: ['interactive', 'batch'] }, { type: 'integer', minimum: 1, maximum: 10 }] },
    // Any configured deployment name; checked against the service's deployments in the route.
    modelHint: { type: 'string', minLength: 1, maxLength: 256 },
    maxAttempts: { type: 'integer', minimum: 1, maximum: 100 },
    metadata: { type: 'object', maxProperties: 64 },
    batchable: { type: 'boolean' },
    deadlineMs: { type: 'number', exclusiveMinimum: 0, maximum: 86_400_000 },
    callbackUrl: { type: 'string', minLength: 1, maxLength: 2048 },
  },
} as const;

/** A message as admitted by the schemas. */
export interface MessageBody {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | null | Array<{ type: string; text?: string }>;
  [field: string]: unknown;
}

export interface JobBody {
  model?: string;
  messages?: MessageBody[];
  prompt?: string;
  max_tokens?: number;
  priority?: 'interactive' | 'batch' | number;
  modelHint?: string;
  maxAttempts?: number;
  metadata?: Record<string, unknown>;
  batchable?: boolean;
  deadlineMs?: number;
  callbackUrl?: string;
}

/**
 * `POST /v1/chat/completions` body: the fields the proxy reads are checked; every other field (sampling, `stop`,
 * `tools`, `response_format`, vendor fields such as vLLM's `top_k`, ...) is accepted and sent upstream unchanged.
 */
export const chatBodySchema = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 256 },
    messages: { type: 'array', minItems: 1, maxItems: 10_000, items: chatMessage },
    stream: { type: ['boolean', 'null'] },
    stream_options: {
      anyOf: [{ type: 'null' }, { type: 'object', properties: { include_usage: { type: 'boolean' } } }],
    },
    max_tokens: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 1, maximum: 1_000_000 }] },
    max_completion_tokens: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 1, maximum: 1_000_000 }] },
    n: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 1, maximum: 128 }] },
  },
} as const;

export interface ChatBody {
  model: string;
  messages: MessageBody[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  n?: number | null;
  [field: string]: unknown;
}

/** `POST /v1/completions` body: as chat, with a text `prompt`; other fields go upstream unchanged. */
export const completionBodySchema = {
  type: 'object',
  required: ['model', 'prompt'],
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 256 },
    prompt: { type: 'string', maxLength: 1_000_000 },
    stream: { type: ['boolean', 'null'] },
    stream_options: chatBodySchema.properties.stream_options,
    max_tokens: chatBodySchema.properties.max_tokens,
    n: chatBodySchema.properties.n,
  },
} as const;

export interface CompletionBody {
  model: string;
  prompt: string;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number | null;
  n?: number | null;
  [field: string]: unknown;
}

/** `:id` route parameters. */
export const idParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

export interface IdParams {
  id: string;
}

/** `GET /v1/dead-letter` query. */
export const deadLetterQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'string', pattern: '^[0-9]{1,5}$' } },
} as const;

export interface DeadLetterQuery {
  limit?: string;
}

/**
 * Admitted messages as the ModelClient takes them: the text (`developer` counts as system, text parts joined) for
 * token counts and the mock, and the message as the client sent it (`wire`), which an HTTP upstream receives.
 */
export function toChatMessages(messages: readonly MessageBody[]): ChatMessage[] {
  return messages.map((m) => {
    const role = m.role === 'developer' ? 'system' : m.role;
    const content = typeof m.content === 'string' ? m.content : Array.isArray(m.content) ? m.content.map((p) => p.text ?? '').join('') : '';
    // A plain text message is sent as { role, content } anyway: only a richer one keeps its own form.
    return isPlain(m) ? { role, content } : { role, content, wire: m };
  });
}

/** Only `role` (not `developer`) and a string `content`. */
function isPlain(m: MessageBody): boolean {
  if (m.role === 'developer' || typeof m.content !== 'string') return false;
  for (const k in m) if (k !== 'role' && k !== 'content') return false;
  return true;
}

/** The fields of a chat or completions body that the engine reads; everything else is the upstream's. */
const OWNED = new Set(['model', 'messages', 'prompt', 'stream']);

/** The body's fields the engine does not own, unchanged (null-valued ones too: the client sent them). */
export function passThroughParams(body: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in body) if (!OWNED.has(k)) out[k] = body[k];
  return out;
}
