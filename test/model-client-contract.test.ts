/**
 * One ModelClient contract, run against both implementations: the in-process client (sim/in-process.ts) and the
 * HTTP client (src/upstream/http-openai.ts) against the mock server on loopback. Each fixture's model has the same
 * seed as a reference in-process model, so "same tokens" is checked against an independent instance. Real time on
 * a ~0.5 ms-per-step profile: every wait is for an event, except the stall test's bounded window.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import {
  BadRequestError,
  ConnectionRefusedError,
  ContextLengthExceededError,
  IdleTimeoutError,
  OverloadedError,
  RateLimitedError,
  ServerError,
  StreamInterruptedError,
} from '../src/upstream/errors.js';
import { HttpModelClient } from '../src/upstream/http-openai.js';
import type { ModelClient, ModelRequest, StreamEvent, StreamOptions } from '../src/upstream/model-client.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { MockModel, type MockModelEvent } from '../sim/mock-model.js';
import { buildServer } from '../sim/server.js';
import { FAST_PROFILE } from '../sim/server-testkit.js';
import { DISCONNECT_FORMS, type DisconnectForm } from '../sim/types.js';

const SEED = 4242;
const IDLE_MS = 200;

function newModel(clock: RealClock): MockModel {
  return new MockModel({ name: 'primary', profile: FAST_PROFILE, clock, random: new Random(SEED).derive('model/primary') });
}

interface Fixture {
  readonly client: ModelClient;
  readonly model: MockModel;
  /**
   * A client with a short idle timeout, for the stall test, when the implementation has one (the in-process client
   * leaves idle timeouts to the engine). The main client's is long, so a loaded machine's pauses never trip it.
   */
  readonly idle: { readonly client: ModelClient; readonly idleTimeoutMs: number } | undefined;
  close(): Promise<void>;
}

const FIXTURES: Array<{ name: string; make: () => Promise<Fixture> }> = [
  {
    name: 'InProcessModelClient',
    make: async () => {
      const model = newModel(new RealClock());
      return { client: new InProcessModelClient(model), model, idle: undefined, close: async () => model.close() };
    },
  },
  {
    name: 'HttpModelClient → mock server',
    make: async () => {
      const clock = new RealClock();
      const model = newModel(clock);
      const app = buildServer({ models: [model], clock });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const a = app.server.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      const baseUrl = `http://127.0.0.1:${port}`;
      const client = new HttpModelClient({ baseUrl, clock, idleTimeoutMs: 10_000, connections: 16, dialect: 'mock' });
      const idleClient = new HttpModelClient({ baseUrl, clock, idleTimeoutMs: IDLE_MS, connections: 2 });
      return {
        client,
        model,
        idle: { client: idleClient, idleTimeoutMs: IDLE_MS },
        close: async () => {
          await client.close();
          await idleClient.close();
          model.close();
          await app.close();
        },
      };
    },
  },
];

interface Outcome {
  text: string;
  tokens: number;
  chunks: Array<{ index: number; count: number }>;
  done?: Extract<StreamEvent, { type: 'done' }>;
  error?: unknown;
}

async function collect(
  client: ModelClient,
  req: ModelRequest,
  opts: StreamOptions = {},
  onTokens?: (o: Outcome) => void,
): Promise<Outcome> {
  const out: Outcome = { text: '', tokens: 0, chunks: [] };
  try {
    for await (const ev of client.stream(req, opts)) {
      if (ev.type === 'tokens') {
        out.text += ev.text;
        out.tokens += ev.count;
        out.chunks.push({ index: ev.index, count: ev.count });
        onTokens?.(out);
      } else if (ev.type === 'done') out.done = ev;
    }
  } catch (e) {
    out.error = e;
  }
  return out;
}

/** Chunk indices are contiguous from `start`. */
function expectContiguous(o: Outcome, start: number): void {
  let next = start;
  for (const c of o.chunks) {
    expect(c.index).toBe(next);
    expect(c.count).toBeGreaterThan(0);
    next += c.count;
  }
}

function nextEvent(model: MockModel, match: (e: MockModelEvent) => boolean): Promise<MockModelEvent> {
  return new Promise((resolve) => {
    const off = model.onEvent((e) => {
      if (match(e)) {
        off();
        resolve(e);
      }
    });
  });
}

/** Polls a condition every 2 ms, up to `maxMs` (the GPU frees an aborted slot at its next step boundary). */
async function eventually(cond: () => boolean, maxMs = 2000): Promise<boolean> {
  const until = Date.now() + maxMs;
  while (!cond()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}

const chat = (id: string, extra: Partial<ModelRequest> = {}): ModelRequest => ({
  id,
  model: 'primary',
  messages: [{ role: 'user', content: 'tell me a story' }],
  promptTokens: 40,
  outputTokens: 30,
  ...extra,
});

// The reference: an independent in-process model with the same seed.
const refModel = newModel(new RealClock());
const reference = new InProcessModelClient(refModel);
afterAll(() => refModel.close());

const REASON_PREFIX: Record<DisconnectForm, string> = {
  reset: 'connection reset',
  'clean-close': 'stream closed without [DONE]',
  'error-event': 'error event in stream',
  'truncated-chunk': 'truncated chunk',
};

describe.each(FIXTURES)('ModelClient contract: $name', ({ make }) => {
  let f: Fixture;
  beforeAll(async () => {
    f = await make();
  });
  afterAll(async () => {
    await f.close();
  });

  it('streams the reference text for the same seed and id, with contiguous chunks, then usage', async () => {
    const ref = await collect(reference, chat('same-1'));
    const r = await collect(f.client, chat('same-1'));
    expect(r.error).toBeUndefined();
    expect(r.text).toBe(ref.text);
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.tokens).toBe(30);
    expectContiguous(r, 0);
    expect(r.done).toMatchObject({ type: 'done', usage: { promptTokens: 40, completionTokens: 30, cachedPromptTokens: 0 }, finishReason: 'stop' });
    // Another id, other text.
    expect((await collect(f.client, chat('same-2'))).text).not.toBe(r.text);
  });

  it('completions (prompt) stream too; max_tokens below the output length finishes with length', async () => {
    const req: ModelRequest = { id: 'cmpl-1', model: 'primary', prompt: 'once upon a time', promptTokens: 12, outputTokens: 50, maxTokens: 20 };
    const ref = await collect(reference, req);
    const r = await collect(f.client, req);
    expect(r.error).toBeUndefined();
    expect(r.text).toBe(ref.text);
    expect(r.tokens).toBe(20);
    expect(r.done).toMatchObject({ type: 'done', usage: { promptTokens: 12, completionTokens: 20, cachedPromptTokens: 0 }, finishReason: 'length' });
  });

  it.each(DISCONNECT_FORMS)('disconnect form %s → StreamInterruptedError(7); resume from 7 completes byte for byte', async (form) => {
    const id = `cut-${form}`;
    const full = await collect(reference, chat(id));
    const cut = await collect(f.client, chat(id, { fault: `disconnect:after=7,form=${form}` }));
    expect(cut.error).toBeInstanceOf(StreamInterruptedError);
    const e = cut.error as StreamInterruptedError;
    expect(e.tokensReceived).toBe(7);
    expect(e.reason.startsWith(REASON_PREFIX[form])).toBe(true);
    expect(cut.tokens).toBe(7);
    expectContiguous(cut, 0);
    const rest = await collect(f.client, chat(id), { resumeFrom: e.tokensReceived, resumeText: cut.text });
    expect(rest.error).toBeUndefined();
    expect(rest.chunks[0]?.index).toBe(7);
    expectContiguous(rest, 7);
    expect(cut.text + rest.text).toBe(full.text);
    // The continuation's prompt includes the 7-token prefix it continues (as vLLM counts it, and as it is billed).
    expect(rest.done?.usage).toMatchObject({ promptTokens: 47, completionTokens: 23, cachedPromptTokens: 0 });
  });

  it('a resumed stream that breaks again counts tokens absolutely (resumeFrom included)', async () => {
    const first = await collect(reference, chat('cut-twice', { fault: 'disconnect:after=10,form=reset' }));
    expect(first.tokens).toBe(10);
    const r = await collect(f.client, chat('cut-twice', { fault: 'disconnect:after=3,form=reset' }), { resumeFrom: 10, resumeText: first.text });
    expect(r.error).toBeInstanceOf(StreamInterruptedError);
    expect((r.error as StreamInterruptedError).tokensReceived).toBe(13);
    expectContiguous(r, 10);
  });

  it('429 with retry-after-ms → RateLimitedError with that retryAfterMs, before any event', async () => {
    const r = await collect(f.client, chat('rl', { fault: 'status:429,retry-after-ms=1234' }));
    expect(r.error).toBeInstanceOf(RateLimitedError);
    expect((r.error as RateLimitedError).retryAfterMs).toBe(1234);
    expect((r.error as RateLimitedError).message).toBe('rate limited (429): injected status fault; retry after 1234ms');
    expect(r.chunks).toEqual([]);
  });

  it('503 → OverloadedError(retryAfterMs); 500 → ServerError(500); 422 → BadRequestError(422)', async () => {
    const o = await collect(f.client, chat('ov', { fault: 'status:503,retry-after-ms=700' }));
    expect(o.error).toBeInstanceOf(OverloadedError);
    expect((o.error as OverloadedError).retryAfterMs).toBe(700);
    const s = await collect(f.client, chat('se', { fault: 'status:500' }));
    expect(s.error).toBeInstanceOf(ServerError);
    expect((s.error as ServerError).status).toBe(500);
    expect((s.error as ServerError).message).toBe('server error (500): injected status fault');
    const b = await collect(f.client, chat('br', { fault: 'status:422' }));
    expect(b.error).toBeInstanceOf(BadRequestError);
    expect((b.error as BadRequestError).status).toBe(422);
  });

  it('a prompt beyond the context window → ContextLengthExceededError with the figures', async () => {
    const r = await collect(f.client, chat('ctx', { promptTokens: 9000, maxTokens: 100 }));
    expect(r.error).toBeInstanceOf(ContextLengthExceededError);
    const e = r.error as ContextLengthExceededError;
    expect([e.requestedTokens, e.maxContextTokens]).toEqual([9100, 8192]);
  });

  it('an unknown model → BadRequestError(404)', async () => {
    const r = await collect(f.client, chat('nomodel', { model: 'nope' }));
    expect(r.error).toBeInstanceOf(BadRequestError);
    expect((r.error as BadRequestError).status).toBe(404);
  });

  it('a stall: the tokens before it arrive, then nothing; with an idle timeout → IdleTimeoutError(idle, 3)', async () => {
    const ac = new AbortController();
    const done = nextEvent(f.model, (e) => e.type === 'request-done' && e.id === 'stall');
    let armed = false;
    const r = await collect(f.idle?.client ?? f.client, chat('stall', { fault: 'stall:after=3', outputTokens: 50 }), { signal: ac.signal }, (o) => {
      // Bounded: without an idle timeout of its own, the client waits until the caller gives up.
      if (o.tokens === 3 && !armed) {
        armed = true;
        setTimeout(() => ac.abort(new Error('caller gave up')), IDLE_MS * 2);
      }
    });
    expect(r.tokens).toBe(3);
    if (f.idle !== undefined) {
      expect(r.error).toBeInstanceOf(IdleTimeoutError);
      expect((r.error as IdleTimeoutError).idleMs).toBe(f.idle.idleTimeoutMs);
      expect((r.error as IdleTimeoutError).tokensReceived).toBe(3);
    } else {
      expect((r.error as Error).message).toBe('caller gave up');
    }
    ac.abort();
    expect(((await done) as Extract<MockModelEvent, { type: 'request-done' }>).outcome).toBe('aborted');
    expect(await eventually(() => f.model.metrics().running === 0)).toBe(true);
  });

  it('abort mid-stream rejects with the signal reason and frees the GPU slot', async () => {
    const ac = new AbortController();
    const reason = new Error('user cancelled');
    const done = nextEvent(f.model, (e) => e.type === 'request-done' && e.id === 'abort-me');
    const r = await collect(f.client, chat('abort-me', { outputTokens: 5000 }), { signal: ac.signal }, (o) => {
      if (o.tokens >= 5) ac.abort(reason);
    });
    expect(r.error).toBe(reason);
    expect(r.done).toBeUndefined();
    const ev = (await done) as Extract<MockModelEvent, { type: 'request-done' }>;
    expect(ev.outcome).toBe('aborted');
    expect(ev.completionTokens).toBeLessThan(5000);
    expect(f.model.metrics().inFlight).toBe(0);
    expect(await eventually(() => f.model.metrics().running === 0)).toBe(true);
  });

  it('leaving the loop early frees the GPU slot too; an already-aborted signal rejects at once', async () => {
    const done = nextEvent(f.model, (e) => e.type === 'request-done' && e.id === 'break-me');
    for await (const ev of f.client.stream(chat('break-me', { outputTokens: 5000 }))) {
      if (ev.type === 'tokens') break;
    }
    expect(((await done) as Extract<MockModelEvent, { type: 'request-done' }>).outcome).toBe('aborted');
    expect(await eventually(() => f.model.metrics().running === 0)).toBe(true);
    const reason = new Error('too late');
    const r = await collect(f.client, chat('pre-aborted'), { signal: AbortSignal.abort(reason) });
    expect(r.error).toBe(reason);
  });

  it('embeddings: per-item vectors and tokens as the reference; a bad input fails with the same class', async () => {
    const req = { id: 'emb-1', model: 'primary', inputs: ['alpha beta', 'gamma', 'a much longer input text, to weigh more'] };
    const ref = await reference.embed(req);
    const r = await f.client.embed(req);
    expect(r.items).toHaveLength(3);
    for (const [i, item] of r.items.entries()) {
      const want = ref.items[i];
      expect(item.ok && want?.ok).toBe(true);
      if (item.ok && want?.ok === true) {
        expect(item.embedding).toHaveLength(16);
        expect(item.embedding.map((x) => Math.fround(x))).toEqual(want.embedding.map((x) => Math.fround(x)));
        expect(item.tokens).toBe(want.tokens);
      }
    }
    expect(r.usage).toEqual(ref.usage);
    // The in-process client reports a bad input per item; the OpenAI API (and so the mock over HTTP) fails the
    // whole call with that input's error. Either way the policy sees the same typed error.
    let err: unknown;
    try {
      const bad = await f.client.embed({ id: 'emb-2', model: 'primary', inputs: ['fine', ''] });
      err = bad.items.find((i) => !i.ok)?.ok === false ? (bad.items[1] as { error: Error }).error : undefined;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadRequestError);
  });

  it('embeddings map admission errors the same way (429 with retryAfterMs)', async () => {
    const err = await f.client.embed({ id: 'emb-rl', model: 'primary', inputs: ['x'], fault: 'status:429,retry-after-ms=250' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(250);
  });

  it('multi-prompt completions: one choice per prompt by index, text and summed usage as the reference', async () => {
    const req = { id: 'batch-1', model: 'primary', prompts: ['user: a\nassistant:', 'user: bb\nassistant:', 'user: ccc\nassistant:'], maxTokens: 9 };
    const ref = await reference.completeBatch(req);
    expect(f.client.completeBatch).toBeTypeOf('function');
    const r = await f.client.completeBatch?.(req);
    expect(r?.choices).toEqual(ref.choices);
    expect(r?.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(r?.usage).toEqual(ref.usage);
    // A refusal at admission fails the whole call with the same typed error.
    const err = await f.client.completeBatch?.({ ...req, id: 'batch-bad', model: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
  });

  it('a crash while admitting → ConnectionRefusedError (the server resets before a response)', async () => {
    // Last in this suite: the model stays down for downtime-ms.
    const r = await collect(f.client, chat('crash', { fault: 'crash:downtime-ms=50,cold-start-ms=0' }));
    expect(r.error).toBeInstanceOf(ConnectionRefusedError);
  });
});
