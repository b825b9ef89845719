/**
 * JSON schemas of the routes (validated by fastify's ajv, no type coercion), and the TypeScript shapes they
 * admit. Schema-first: a payload that passes these reaches a handler; anything else is a 400 naming the field.
 */

const message = {
  type: 'object',
  required: ['role', 'content'],
  properties: {
    role: { enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
    content: {
      anyOf: [
        { type: 'string', maxLength: 1_000_000 },
        { type: 'null' },
        {
          type: 'array',
          maxItems: 1000,
          items: { type: 'object', required: ['type'], properties: { type: { type: 'string' }, text: { type: 'string' } } },
        },
      ],
    },
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
    priority: { enum: ['interactive', 'batch'] },
    modelHint: { enum: ['primary', 'fallback'] },
    batchable: { type: 'boolean' },
    deadlineMs: { type: 'number', exclusiveMinimum: 0, maximum: 86_400_000 },
    callbackUrl: { type: 'string', minLength: 1, maxLength: 2048 },
  },
} as const;

/** A message as admitted by the schemas. */
export interface MessageBody {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string | null | Array<{ type: string; text?: string }>;
}

export interface JobBody {
  model?: string;
  messages?: MessageBody[];
  prompt?: string;
  max_tokens?: number;
  priority?: 'interactive' | 'batch';
  modelHint?: 'primary' | 'fallback';
  batchable?: boolean;
  deadlineMs?: number;
  callbackUrl?: string;
}

/** `POST /v1/chat/completions` body: the fields the proxy uses; others are accepted and ignored, as OpenAI clients send many. */
export const chatBodySchema = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 256 },
    messages: { type: 'array', minItems: 1, maxItems: 10_000, items: message },
    stream: { type: ['boolean', 'null'] },
    stream_options: {
      anyOf: [{ type: 'null' }, { type: 'object', properties: { include_usage: { type: 'boolean' } } }],
    },
    max_tokens: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 1, maximum: 1_000_000 }] },
    max_completion_tokens: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 1, maximum: 1_000_000 }] },
    n: { anyOf: [{ type: 'null' }, { const: 1 }] },
  },
} as const;

export interface ChatBody {
  model: string;
  messages: MessageBody[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  n?: 1 | null;
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

/** Admitted messages as the ModelClient takes them: `developer` is a system message; text parts are joined. */
export function toChatMessages(messages: readonly MessageBody[]): Array<{ role: 'system' | 'user' | 'assistant' | 'tool'; content: string }> {
  return messages.map((m) => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content: typeof m.content === 'string' ? m.content : m.content === null ? '' : m.content.map((p) => p.text ?? '').join(''),
  }));
}
