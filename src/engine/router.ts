import type { ChatMessage, ModelRequest } from '../upstream/model-client.js';
import type { ContextLengthExceededError } from '../upstream/errors.js';
import type { BreakerTicket, CircuitBreaker } from './breaker.js';

export type ModelChoice = 'primary' | 'fallback';

/** What the router looks at for one attempt. */
export interface RouteInput {
  readonly modelHint?: ModelChoice;
  readonly priority: 'interactive' | 'batch';
  /** Tokens were already delivered from this model: its text cannot be continued by another one. */
  readonly lockedTo?: ModelChoice;
  /**
   * The request goes to the fallback model whatever the breaker says, when one exists: it is too large for the
   * primary's budget (`smallerModel.aboveTokens`) or its context window (`contextFallback`).
   */
  readonly preferFallback?: boolean;
}

/** Where an attempt goes, or why it cannot go anywhere. */
export type Route =
  | {
      readonly model: ModelChoice;
      /** Permission from the primary's breaker (report the outcome on it); absent for the fallback. */
      readonly ticket: BreakerTicket | undefined;
      /** Served by the fallback because the primary's breaker refused: an explicit degradation. */
      readonly degraded: boolean;
    }
  | { readonly model: undefined; readonly reason: 'breaker-open'; readonly retryAfterMs: number };

/** Options of {@link Router}. */
export interface RouterOptions {
  /** The primary model's breaker; none means always allowed. */
  readonly breaker?: CircuitBreaker;
  /** A fallback model exists and may be used while the breaker is open. @default false */
  readonly fallback?: boolean;
  /** Route `batch` priority to the fallback model whenever it exists. @default false */
  readonly batchToFallback?: boolean;
  /** A fallback model exists at all (whether or not it may take breaker failover): `preferFallback` may use it. @default false */
  readonly fallbackModel?: boolean;
}

/**
 * Chooses the primary or the fallback model per attempt, from the breaker state and the request's hints:
 * a `fallback` hint goes to the fallback; otherwise the primary when its breaker lets the call through, else the
 * fallback (degraded), else nowhere.
 */
export class Router {
  constructor(private readonly options: RouterOptions) {}

  /** A fallback model exists (for size and context-window routing). */
  get hasFallbackModel(): boolean {
    return this.options.fallbackModel === true;
  }

  route(input: RouteInput): Route {
    if (input.preferFallback === true && this.options.fallbackModel === true && input.lockedTo !== 'primary') return { model: 'fallback', ticket: undefined, degraded: false };
    const hasFallback = this.options.fallback === true;
    if (input.lockedTo === 'fallback' && hasFallback) return { model: 'fallback', ticket: undefined, degraded: false };
    if (input.lockedTo === undefined && hasFallback) {
      if (input.modelHint === 'fallback') return { model: 'fallback', ticket: undefined, degraded: false };
      if (input.priority === 'batch' && this.options.batchToFallback === true) return { model: 'fallback', ticket: undefined, degraded: false };
    }
    const breaker = this.options.breaker;
    if (breaker === undefined) return { model: 'primary', ticket: undefined, degraded: false };
    const ticket = breaker.tryAcquire();
    if (ticket !== undefined) return { model: 'primary', ticket, degraded: false };
    if (hasFallback && input.lockedTo === undefined) return { model: 'fallback', ticket: undefined, degraded: true };
    return { model: undefined, reason: 'breaker-open', retryAfterMs: breaker.retryAfterMs };
  }
}

/** A rough token count for text (about 4 characters per token), used only when the request has no count. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function promptChars(r: ModelRequest): number {
  if (r.messages !== undefined) return r.messages.reduce((n, m) => n + m.content.length, 0);
  return r.prompt?.length ?? 0;
}

/**
 * The request with its oldest context trimmed so that it fits the window the server reported: drops the
 * oldest non-system messages (never the system messages or the latest message), then cuts the head of the
 * oldest remaining one; a plain prompt loses its head. Undefined when nothing can make it fit (the output
 * allowance alone is too large, or only system text is left).
 */
export function trimContext(request: ModelRequest, error: ContextLengthExceededError): ModelRequest | undefined {
  const chars = promptChars(request);
  const promptTokens = request.promptTokens ?? estimateTokens(request.messages?.map((m) => m.content).join('') ?? request.prompt ?? '');
  const overBy = error.requestedTokens - error.maxContextTokens;
  const targetTokens = promptTokens - Math.max(1, overBy);
  if (targetTokens <= 0) return undefined;
  const budgetChars = Math.floor((chars * targetTokens) / promptTokens);
  if (request.promptTokens !== undefined) {
    // The token count is authoritative, whatever the text's length (a synthetic prompt's text is a stand-in): the
    // count is trimmed exactly and the text in proportion, as far as it can be. The head is gone, so the prompt no
    // longer starts with its prefix segments.
    const { prefix: _prefix, ...rest } = request;
    const messages = request.messages === undefined ? undefined : (trimMessages(request.messages, budgetChars) ?? request.messages);
    const prompt = request.prompt === undefined ? undefined : request.prompt.slice(request.prompt.length - budgetChars);
    return { ...rest, ...(messages !== undefined ? { messages } : {}), ...(prompt !== undefined ? { prompt } : {}), promptTokens: targetTokens };
  }
  if (chars === 0) return undefined;

  let kept: ModelRequest;
  if (request.messages !== undefined) {
    const messages = trimMessages(request.messages, budgetChars);
    if (messages === undefined) return undefined;
    kept = { ...request, messages };
  } else {
    const prompt = request.prompt ?? '';
    kept = { ...request, prompt: prompt.slice(prompt.length - budgetChars) };
  }
  const keptChars = promptChars(kept);
  const newTokens = Math.min(targetTokens, Math.ceil((promptTokens * keptChars) / chars));
  return request.promptTokens === undefined ? kept : { ...kept, promptTokens: Math.max(1, newTokens) };
}

function trimMessages(messages: readonly ChatMessage[], budgetChars: number): ChatMessage[] | undefined {
  const out = [...messages];
  let total = out.reduce((n, m) => n + m.content.length, 0);
  const lastIndex = (): number => out.length - 1;
  // Drop whole messages, oldest first, while that alone does not reach the budget.
  for (let i = 0; i < lastIndex() && total > budgetChars; ) {
    const m = out[i] as ChatMessage;
    if (m.role === 'system') {
      i++;
      continue;
    }
    out.splice(i, 1);
    total -= m.content.length;
  }
  if (total <= budgetChars) return out;
  // Then cut the head of the oldest non-system message that is left (possibly the latest one).
  const i = out.findIndex((m) => m.role !== 'system');
  if (i < 0) return undefined;
  const m = out[i] as ChatMessage;
  const excess = total - budgetChars;
  if (excess >= m.content.length) return undefined;
  // The cut message is sent as plain text (its client form, `wire`, holds the uncut content).
  out[i] = { role: m.role, content: m.content.slice(excess) };
  return out;
}
