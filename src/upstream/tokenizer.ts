/**
 * Prompt-token counts with the model family's real tokenizer, for admission and TPM limits and for a usage
 * estimate when an upstream reports none: OpenAI's BPE encodings from `gpt-tokenizer` (o200k_base for GPT-4o,
 * GPT-4.1, GPT-5 and the o-series; cl100k_base for GPT-4 and GPT-3.5) and Llama 3's from `llama3-tokenizer-js`
 * (vocabulary shipped inside the package, nothing downloaded). Loading an encoding costs seconds, so it happens
 * once, before serving (`loadTokenCounter`), and only for the families asked for; counting is synchronous.
 */
import { ValidationError } from '../errors.js';
import type { ChatMessage, ModelRequest } from './model-client.js';

/** `auto` picks by the request's model name (Llama → llama3, GPT-4/3.5 → cl100k, else o200k); `chars` is ~4 chars a token. */
export const TOKENIZER_FAMILIES = ['auto', 'o200k', 'cl100k', 'llama3', 'chars'] as const;
export type TokenizerFamily = (typeof TOKENIZER_FAMILIES)[number];

/** Counts a request's prompt tokens. */
export type PromptTokenCounter = (request: ModelRequest) => number;

type Encoder = (text: string) => number;

/** Chat formatting per message (role and separators) and the reply's priming, as OpenAI counts them. */
const PER_MESSAGE_TOKENS = 4;
const REPLY_PRIMING_TOKENS = 3;

/** About 4 characters a token: the rule of thumb, for `chars` and for text before an encoder is loaded. */
export function charsEstimate(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The family `auto` uses for a model name. */
export function familyOf(model: string): Exclude<TokenizerFamily, 'auto'> {
  const m = model.toLowerCase();
  if (m.includes('llama')) return 'llama3';
  if (/gpt-4(?!o|\.1|\.5)|gpt-3\.5|text-embedding-(ada|3)/.test(m)) return 'cl100k';
  return 'o200k';
}

async function loadEncoder(family: Exclude<TokenizerFamily, 'auto'>): Promise<Encoder> {
  switch (family) {
    case 'o200k': {
      const { countTokens } = await import('gpt-tokenizer/encoding/o200k_base');
      return (text) => countTokens(text);
    }
    case 'cl100k': {
      const { countTokens } = await import('gpt-tokenizer/encoding/cl100k_base');
      return (text) => countTokens(text);
    }
    case 'llama3': {
      const llama3 = (await import('llama3-tokenizer-js')).default;
      return (text) => llama3.encode(text, { bos: false, eos: false }).length;
    }
    case 'chars':
      return charsEstimate;
  }
}

function messageTokens(m: ChatMessage, encode: Encoder): number {
  const calls = m.wire?.['tool_calls'];
  return PER_MESSAGE_TOKENS + encode(m.content) + (calls === undefined ? 0 : encode(JSON.stringify(calls)));
}

/** A counter for `family` (for `auto`: every family a model name may need), its encoders loaded. */
export async function loadTokenCounter(family: TokenizerFamily): Promise<PromptTokenCounter> {
  if (!(TOKENIZER_FAMILIES as readonly string[]).includes(family)) {
    throw new ValidationError('tokenizer', TOKENIZER_FAMILIES.map((f) => JSON.stringify(f)).join(' | '), family);
  }
  const families = family === 'auto' ? (['o200k', 'cl100k', 'llama3'] as const) : [family];
  const encoders = new Map<string, Encoder>();
  for (const f of families) encoders.set(f, await loadEncoder(f));
  return (request) => {
    const encode = encoders.get(family === 'auto' ? familyOf(request.model) : family) ?? charsEstimate;
    if (request.messages === undefined) return encode(request.prompt ?? '');
    let n = REPLY_PRIMING_TOKENS;
    for (const m of request.messages) n += messageTokens(m, encode);
    return n;
  };
}
