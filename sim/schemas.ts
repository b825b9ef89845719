/**
 * JSON schemas of the mock server's routes (fastify validates with them before a handler runs) and the body
 * types they admit. Unknown fields are allowed and ignored, as real servers do; known fields are checked
 * strictly (no type coercion), so `max_tokens: "5"` is a 400 naming `max_tokens`, as the OpenAI API does.
 */

const nullableInt = (minimum: number) => ({ type: ['integer', 'null'], minimum }) as const;

const streamOptions = {
  type: ['object', 'null'],
  properties: { include_usage: { type: ['boolean', 'null'] } },
} as const;

const contentPart = { type: 'object', properties: { type: { type: 'string' }, text: { type: 'string' } } } as const;

/** Prompt or embedding input: a string, strings, token ids, or arrays of token ids. */
const textOrTokens = {
  anyOf: [
    { type: 'string' },
    { type: 'array', minItems: 1, items: { type: 'string' } },
    { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } },
    { type: 'array', minItems: 1, items: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } } },
  ],
} as const;

/** Shared sampling fields: accepted and checked, not used (the mock's text does not depend on them). */
const sampling = {
  temperature: { type: ['number', 'null'], minimum: 0, maximum: 2 },
  top_p: { type: ['number', 'null'], minimum: 0, maximum: 1 },
  n: { type: ['integer', 'null'], minimum: 1, maximum: 1 },
  user: { type: ['string', 'null'] },
  seed: { type: ['integer', 'null'] },
} as const;

export const chatBodySchema = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model: { type: 'string', minLength: 1 },
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool', 'function'] },
          content: { anyOf: [{ type: 'string' }, { type: 'null' }, { type: 'array', items: contentPart }] },
        },
      },
    },
    stream: { type: ['boolean', 'null'] },
    stream_options: streamOptions,
    max_tokens: nullableInt(1),
    max_completion_tokens: nullableInt(1),
    continue_final_message: { type: ['boolean', 'null'] },
    add_generation_prompt: { type: ['boolean', 'null'] },
    ...sampling,
  },
} as const;

export const completionBodySchema = {
  type: 'object',
  required: ['model', 'prompt'],
  properties: {
    model: { type: 'string', minLength: 1 },
    prompt: textOrTokens,
    stream: { type: ['boolean', 'null'] },
    stream_options: streamOptions,
    max_tokens: nullableInt(1),
    echo: { type: ['boolean', 'null'] },
    ...sampling,
  },
} as const;

export const embeddingBodySchema = {
  type: 'object',
  required: ['model', 'input'],
  properties: {
    model: { type: 'string', minLength: 1 },
    input: textOrTokens,
    encoding_format: { type: 'string', enum: ['float', 'base64'] },
    dimensions: { type: 'integer', minimum: 1, maximum: 65536 },
    user: { type: 'string' },
  },
} as const;

export const modelQuerySchema = {
  type: 'object',
  properties: { model: { type: 'string', minLength: 1 }, reset: { type: 'string', enum: ['0', '1', 'true', 'false'] } },
} as const;

/** One chat message as the API admits it. */
export interface ChatMessageBody {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function';
  content?: string | null | Array<{ type?: string; text?: string }>;
}

export interface StreamOptionsBody {
  include_usage?: boolean | null;
}

export interface ChatBody {
  model: string;
  messages: ChatMessageBody[];
  stream?: boolean | null;
  stream_options?: StreamOptionsBody | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  /** vLLM: continue the final (assistant) message instead of starting a new one. */
  continue_final_message?: boolean | null;
  add_generation_prompt?: boolean | null;
  tools?: unknown[] | null;
  tool_choice?: unknown;
}

export type TextOrTokens = string | string[] | number[] | number[][];

export interface CompletionBody {
  model: string;
  prompt: TextOrTokens;
  stream?: boolean | null;
  stream_options?: StreamOptionsBody | null;
  max_tokens?: number | null;
}

export interface EmbeddingBody {
  model: string;
  input: TextOrTokens;
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
}

export interface ModelQuery {
  model?: string;
  reset?: string;
}

/** One prompt after normalizing `prompt`/`input`: its text, and its exact token count when given as token ids. */
export interface NormalizedText {
  readonly text: string;
  readonly tokens?: number;
}

/**
 * Splits a `prompt` or `input` into its items: a string is one item, an array of strings is many, an array of
 * token ids is one item of that many tokens, an array of arrays is many.
 */
export function normalizeTextOrTokens(v: TextOrTokens): NormalizedText[] {
  if (typeof v === 'string') return [{ text: v }];
  const first = v[0];
  if (typeof first === 'string') return (v as string[]).map((text) => ({ text }));
  if (typeof first === 'number') return [{ text: '', tokens: v.length }];
  return (v as number[][]).map((ids) => ({ text: '', tokens: ids.length }));
}

/** Flattens chat content (a string, null, or text parts) to text. */
export function contentText(content: ChatMessageBody['content']): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  let s = '';
  for (const part of content) if (typeof part.text === 'string') s += part.text;
  return s;
}
