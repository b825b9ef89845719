/**
 * Before the load: wait until a target is ready, then check that it speaks the protocol the driver uses — one
 * non-streamed and one streamed chat completion through it (they reach the mock GPU, which is how the runner
 * knows the target is pointed at it). Each failure is a {@link TargetError} that says what was expected, what was
 * got, and what to do: unreachable (nothing listens), not ready (listens but never became ready), wrong protocol.
 */
import { request } from 'undici';
import type { Clock } from '../../src/time/clock.js';
import { TargetError, type TargetAdapter } from './target.js';

/** Options of {@link waitUntilReady}. */
export interface ReadyOptions {
  readonly clock: Clock;
  readonly timeoutMs: number;
  /** @default 200 */
  readonly pollMs?: number;
  /** Said in the unreachable error: where the user's system should send its upstream calls. */
  readonly upstreamUrl?: string;
  readonly signal?: AbortSignal;
}

/** Network error codes that mean nothing listens (or the host is wrong). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNRESET']);

/** The first error code in an error's cause chain (undici wraps socket errors). */
export function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
  }
  return undefined;
}

/** GET `url`: true on any HTTP answer (a gateway's root may well answer 404). */
async function answers(url: string, timeoutMs: number): Promise<{ ok: boolean; code?: string }> {
  try {
    const res = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    await res.body.dump();
    return { ok: true };
  } catch (err) {
    const code = errorCode(err);
    return code === undefined ? { ok: false } : { ok: false, code };
  }
}

/**
 * Polls the adapter's `ready(url)` (default: any HTTP answer from `url`) until it says yes.
 * @throws TargetError TARGET_UNREACHABLE when nothing ever answered, TARGET_NOT_READY when it answered but never
 *   became ready within `timeoutMs`.
 */
export async function waitUntilReady(t: TargetAdapter, url: string, o: ReadyOptions): Promise<void> {
  const started = o.clock.now();
  const pollMs = o.pollMs ?? 200;
  let everAnswered = false;
  let lastCode: string | undefined;
  for (;;) {
    if (o.signal?.aborted === true) throw new TargetError('TARGET_NOT_READY', t.name, 'start aborted');
    if (t.ready !== undefined) {
      const probe = await answers(url, Math.min(2_000, o.timeoutMs));
      everAnswered ||= probe.ok;
      lastCode = probe.code ?? lastCode;
      if (await t.ready(url).catch(() => false)) return;
    } else {
      const probe = await answers(url, Math.min(2_000, o.timeoutMs));
      if (probe.ok) return;
      lastCode = probe.code ?? lastCode;
    }
    if (o.clock.now() - started >= o.timeoutMs) {
      if (!everAnswered) {
        const hint = o.upstreamUrl === undefined ? '' : `; start it first, with its upstream at ${o.upstreamUrl}`;
        throw new TargetError('TARGET_UNREACHABLE', t.name, `expected a server answering at ${url}, got ${lastCode ?? 'no answer'} for ${o.timeoutMs} ms${hint}`);
      }
      throw new TargetError('TARGET_NOT_READY', t.name, `expected ready within ${o.timeoutMs} ms, but its ready check at ${url} still said no`);
    }
    await o.clock.sleep(pollMs, o.signal);
  }
}

/** Options of {@link checkProtocol}. */
export interface ProtocolCheckOptions {
  readonly model: string;
  readonly headers: Readonly<Record<string, string>>;
  /** @default 10_000 */
  readonly timeoutMs?: number;
}

/**
 * One non-streamed and one streamed chat completion through the target (2 output tokens each). Resolves when both
 * came back OpenAI-shaped.
 * @throws TargetError TARGET_UNREACHABLE, TARGET_NOT_READY (it did not answer in time) or TARGET_PROTOCOL.
 */
export async function checkProtocol(t: TargetAdapter, baseUrl: string, o: ProtocolCheckOptions): Promise<void> {
  const url = `${baseUrl.replace(/\/$/, '')}/v1/chat/completions`;
  const timeoutMs = o.timeoutMs ?? 10_000;
  for (const stream of [false, true]) {
    const body = JSON.stringify({ model: o.model, messages: [{ role: 'user', content: 'ping' }], max_tokens: 2, stream });
    let status: number;
    let contentType: string;
    let text: string;
    try {
      const res = await request(url, {
        method: 'POST',
        headers: {
          ...o.headers,
          'content-type': 'application/json',
          'x-request-id': `target-probe-${stream ? 'stream' : 'plain'}`,
          'x-mock-output-tokens': '2',
          'x-mock-prompt-tokens': '4',
        },
        body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      status = res.statusCode;
      contentType = String(res.headers['content-type'] ?? '');
      text = await res.body.text();
    } catch (err) {
      const code = errorCode(err);
      if (code !== undefined && UNREACHABLE.has(code)) throw new TargetError('TARGET_UNREACHABLE', t.name, `POST ${url}: expected an answer, got ${code}`, { cause: err });
      if (code !== undefined && code.startsWith('UND_ERR_') && code.includes('TIMEOUT')) {
        throw new TargetError('TARGET_NOT_READY', t.name, `POST ${url}: expected an answer within ${timeoutMs} ms, got none`, { cause: err });
      }
      throw new TargetError('TARGET_PROTOCOL', t.name, `POST ${url}: expected an HTTP answer, got ${code ?? (err instanceof Error ? err.message : String(err))}`, { cause: err });
    }
    const what = stream ? 'a streamed (SSE) chat completion' : 'a chat completion';
    const snippet = text.slice(0, 200).replace(/\s+/g, ' ');
    if (status !== 200) {
      throw new TargetError('TARGET_PROTOCOL', t.name, `POST ${url} (stream: ${stream}): expected 200 with ${what} (OpenAI-compatible), got ${status}: ${snippet}`);
    }
    const problem = stream ? sseProblem(contentType, text) : jsonProblem(text);
    if (problem !== undefined) throw new TargetError('TARGET_PROTOCOL', t.name, `POST ${url} (stream: ${stream}): expected ${what} (OpenAI-compatible), got ${problem}: ${snippet}`);
  }
}

/** What is wrong with a non-streamed chat completion body, if anything. */
export function jsonProblem(text: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    return 'a body that is not JSON';
  }
  const choices = json !== null && typeof json === 'object' ? (json as { choices?: unknown }).choices : undefined;
  if (!Array.isArray(choices) || choices.length === 0) return 'JSON without a `choices` array';
  const msg = (choices[0] as { message?: { content?: unknown } } | undefined)?.message;
  if (msg === undefined || typeof msg.content !== 'string') return 'JSON whose choices[0].message.content is not a string';
  return undefined;
}

/** What is wrong with a streamed chat completion, if anything. */
export function sseProblem(contentType: string, text: string): string | undefined {
  if (!contentType.includes('text/event-stream')) return `content-type ${JSON.stringify(contentType)} instead of text/event-stream`;
  const data = text
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim());
  if (data.length === 0) return 'an event stream without `data:` lines';
  const chunks = data.filter((d) => d !== '[DONE]');
  for (const d of chunks) {
    let json: unknown;
    try {
      json = JSON.parse(d) as unknown;
    } catch {
      return 'an event whose data is not JSON';
    }
    if (json === null || typeof json !== 'object' || !Array.isArray((json as { choices?: unknown }).choices)) return 'an event without a `choices` array';
  }
  const finished = data.includes('[DONE]') || chunks.some((d) => /"finish_reason":"[a-z_]+"/.test(d));
  if (!finished) return 'a stream that ended without [DONE] or a finish_reason';
  return undefined;
}
