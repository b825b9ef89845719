/**
 * The engine in front of a model that is not our mock, through the official `openai` client: a stand-in that
 * generates fresh text on every call and cuts its first stream after a few tokens. In the `openai` dialect no
 * answer ever holds text from two generations (a stream ends explicitly partial; a non-streamed answer starts
 * again from scratch); in the `vllm` dialect the upstream receives the standard continuation with exactly the
 * prefix the engine had, and the answer is that prefix plus the continuation. Chat and completions, streaming
 * and not, `resilient` and `adaptive`. `usage` is the upstream's own.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { resolvePolicy } from '../src/policy.js';
import { Random } from '../src/random.js';
import { buildService } from '../src/api/server.js';
import { RealClock } from '../src/time/real-clock.js';
import { HttpModelClient } from '../src/upstream/http-openai.js';
import type { UpstreamDialect } from '../src/upstream/model-client.js';
import { generationsIn, standIn, tokenOf, type StandIn, type StandInOptions } from './stand-in-upstream.js';

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

/** The engine service over a stand-in upstream, and an openai client on it. */
export async function engineOver(o: StandInOptions & { dialect: UpstreamDialect; preset?: string }): Promise<{ upstream: StandIn; client: OpenAI; url: string }> {
  const upstream = await standIn(o);
  opened.push(() => upstream.close());
  const primary = new HttpModelClient({ baseUrl: upstream.url, dialect: o.dialect, idleTimeoutMs: 60_000 });
  const { app } = buildService({
    clock: new RealClock(),
    random: new Random(3),
    tenants: 'open',
    policy: resolvePolicy(o.preset ?? 'resilient', { retry: { baseMs: 1, maxMs: 5 } }),
    upstream: { primary },
    forwardMockHeaders: false,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  opened.push(async () => {
    await app.close();
    await primary.close();
  });
  const a = app.server.address();
  const url = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
  return { upstream, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'tenant-key', maxRetries: 0, timeout: 60_000 }), url };
}

const full = (n: number, from = 0, to = 12): string => Array.from({ length: to - from }, (_, k) => tokenOf(n, from + k)).join('');

type Kind = 'chat' | 'completion';

/** One answer through the openai client: the text received (before any error), the error, finish reason and usage. */
async function ask(client: OpenAI, kind: Kind, stream: boolean): Promise<{ text: string; error?: unknown; finish?: string | null; usage?: unknown; raw?: Record<string, unknown> }> {
  const out: { text: string; error?: unknown; finish?: string | null; usage?: unknown; raw?: Record<string, unknown> } = { text: '' };
  try {
    if (kind === 'chat' && stream) {
      const s = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Say something' }], stream: true, stream_options: { include_usage: true } });
      for await (const c of s) {
        out.text += c.choices[0]?.delta.content ?? '';
        out.finish = c.choices[0]?.finish_reason ?? out.finish;
        if (c.usage) out.usage = c.usage;
      }
    } else if (kind === 'chat') {
      const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Say something' }] });
      out.text = r.choices[0]?.message.content ?? '';
      out.finish = r.choices[0]?.finish_reason;
      out.usage = r.usage;
      out.raw = r as unknown as Record<string, unknown>;
    } else if (stream) {
      const s = await client.completions.create({ model: 'm', prompt: 'Say something', stream: true, stream_options: { include_usage: true } });
      for await (const c of s) {
        out.text += c.choices[0]?.text ?? '';
        out.finish = c.choices[0]?.finish_reason ?? out.finish;
        if (c.usage) out.usage = c.usage;
      }
    } else {
      const r = await client.completions.create({ model: 'm', prompt: 'Say something' });
      out.text = r.choices[0]?.text ?? '';
      out.finish = r.choices[0]?.finish_reason;
      out.usage = r.usage;
      out.raw = r as unknown as Record<string, unknown>;
    }
  } catch (e) {
    out.error = e;
  }
  return out;
}

/** What the continuation request asked to continue. */
function continuedPrefix(u: StandIn, call: number, kind: Kind): string | undefined {
  const body = u.seen[call]?.body;
  if (body === undefined) return undefined;
  if (kind === 'chat') {
    const messages = body['messages'] as Array<{ role: string; content: string }>;
    expect(body['continue_final_message']).toBe(true);
    expect(body['add_generation_prompt']).toBe(false);
    expect(messages.slice(0, -1)).toEqual([{ role: 'user', content: 'Say something' }]);
    expect(messages.at(-1)?.role).toBe('assistant');
    return messages.at(-1)?.content;
  }
  const prompt = String(body['prompt']);
  expect(prompt.startsWith('Say something')).toBe(true);
  return prompt.slice('Say something'.length);
}

const CASES = (['resilient', 'adaptive'] as const).flatMap((preset) =>
  (['chat', 'completion'] as const).flatMap((kind) => [true, false].map((stream) => ({ preset, kind, stream }))),
);

describe.each(CASES)('engine over a real-model stand-in: $preset, $kind, stream $stream', ({ preset, kind, stream }) => {
  it('openai dialect, cut after 3 tokens: never two generations in one answer', async () => {
    const { upstream, client } = await engineOver({ dialect: 'openai', preset, cut: (n) => (n === 1 ? 3 : undefined) });
    const r = await ask(client, kind, stream);
    expect(generationsIn(r.text).size).toBe(1);
    for (const s of upstream.seen) {
      expect(s.body['continue_final_message']).toBeUndefined();
      expect(String(s.body['prompt'] ?? 'Say something')).toBe('Say something');
    }
    if (stream) {
      // The tokens already streamed cannot be taken back: the answer ends explicitly partial, as an error the client raises.
      expect(upstream.seen).toHaveLength(1);
      expect(r.text).toBe(full(1, 0, 3));
      expect(r.error).toBeInstanceOf(OpenAI.APIError);
      expect(String((r.error as Error).message)).toMatch(/partial/);
      expect(r.finish).not.toBe('stop');
    } else {
      // The client had nothing yet: the engine started again from scratch, and the answer is one whole generation.
      expect(r.error).toBeUndefined();
      expect(upstream.seen).toHaveLength(2);
      expect(r.text).toBe(full(2));
      expect(r.finish).toBe('stop');
      expect(r.usage).toEqual(upstream.usages[1]);
    }
  });

  it('openai dialect, cut before the first token: retried from scratch, one whole generation', async () => {
    const { upstream, client } = await engineOver({ dialect: 'openai', preset, cut: (n) => (n === 1 ? 0 : undefined) });
    const r = await ask(client, kind, stream);
    expect(r.error).toBeUndefined();
    expect(upstream.seen).toHaveLength(2);
    expect(r.text).toBe(full(2));
    expect(r.finish).toBe('stop');
    expect(r.usage).toEqual(upstream.usages[1]);
  });

  it('vllm dialect, cut after 3 tokens: the continuation carries exactly the prefix; answer = prefix + continuation', async () => {
    const { upstream, client } = await engineOver({ dialect: 'vllm', preset, cut: (n) => (n === 1 ? 3 : undefined) });
    const r = await ask(client, kind, stream);
    expect(r.error).toBeUndefined();
    expect(upstream.seen).toHaveLength(2);
    const prefix = continuedPrefix(upstream, 1, kind);
    expect(prefix).toBe(upstream.sent[0]);
    expect(prefix).toBe(full(1, 0, 3));
    expect(r.text).toBe(`${prefix}${upstream.sent[1]}`);
    expect(r.text).toBe(full(1, 0, 3) + full(2, 3));
    expect(r.finish).toBe('stop');
    // The token limit, when sent, is what is left; usage is the completing call's own.
    expect(r.usage).toEqual(upstream.usages[1]);
  });
});

describe('usage', () => {
  it('is the upstream\'s own, details included, streamed or not', async () => {
    const { upstream, client } = await engineOver({ dialect: 'openai' });
    const a = await ask(client, 'chat', true);
    const b = await ask(client, 'chat', false);
    expect(a.usage).toEqual(upstream.usages[0]);
    expect(b.usage).toEqual(upstream.usages[1]);
    expect((b.raw?.['x_engine'] as { usage?: string }).usage).toBe('upstream');
  });
});

describe('naive, asked for by name', () => {
  it('keeps its restart-and-splice anti-pattern against an upstream that cannot continue, and marks the answer spliced', async () => {
    const { upstream, client } = await engineOver({ dialect: 'openai', preset: 'naive', cut: (n) => (n === 1 ? 3 : undefined) });
    const s = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Say something' }], stream: true });
    let text = '';
    let last: Record<string, unknown> | undefined;
    for await (const c of s) {
      text += c.choices[0]?.delta.content ?? '';
      last = c as unknown as Record<string, unknown>;
    }
    expect(upstream.seen).toHaveLength(2);
    // The first 3 tokens of one generation, then the rest of another: the splice, said out loud.
    expect(text).toBe(full(1, 0, 3) + full(2, 3));
    expect(last?.['x_degraded']).toBe('spliced');
    expect((last?.['x_engine'] as { degraded?: string }).degraded).toBe('spliced');
  });
});
