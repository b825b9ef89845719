import type { Dispatcher } from 'undici';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../time/virtual-clock.js';
import { CallControl } from './call-control.js';
import { ConnectionRefusedError, IdleTimeoutError, RateLimitedError, StreamInterruptedError } from './errors.js';
import type { StreamEvent } from './model-client.js';
import { StreamCall } from './stream-call.js';

/** undici's side of a dispatched request, played by hand: no sockets. */
class FakeController implements Dispatcher.DispatchController {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  pauses = 0;
  constructor(private readonly call: StreamCall) {}
  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    // As undici does: an abort ends the request with an error.
    this.call.onResponseError(this, reason);
  }
  pause(): void {
    this.paused = true;
    this.pauses++;
  }
  resume(): void {
    this.paused = false;
  }
}

const chunk = (text: string, index: number, count = 1): string =>
  `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":${JSON.stringify(text)}},"logprobs":null,"finish_reason":null}],"x_mock":{"index":${index},"count":${count}}}\n\n`;
const DONE = 'data: [DONE]\n\n';

function setup(o: { idleMs?: number; signal?: AbortSignal; resumeFrom?: number } = {}) {
  const clock = new VirtualClock();
  const finished: CallControl[] = [];
  const ctl: CallControl = new CallControl(clock, o.idleMs ?? 0, o.signal, (): number => call.tokensReceived);
  const call: StreamCall = new StreamCall(ctl, { origin: 'http://upstream', wallNow: () => undefined, done: (c) => finished.push(c) }, o.resumeFrom ?? 0, 7);
  const controller = new FakeController(call);
  const start = (status = 200, headers: Record<string, string> = {}): void => {
    call.onRequestStart(controller);
    call.onResponseStart(controller, status, headers);
  };
  const data = (s: string | Buffer): void => call.onResponseData(controller, typeof s === 'string' ? Buffer.from(s) : s);
  return { clock, ctl, call, controller, start, data, finished };
}

async function drain(call: StreamCall): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of call) out.push(e);
  return out;
}

describe('StreamCall', () => {
  it('coalesces the tokens that arrive before the consumer pulls into one chunk, then done; the socket is kept', async () => {
    const { call, controller, start, data, finished } = setup();
    start();
    data(chunk(' a', 0) + chunk(' b', 1));
    data(chunk(' c', 2, 2));
    const first = await call.next();
    expect(first.value).toEqual({ type: 'tokens', index: 0, count: 4, text: ' a b c' });
    const second = call.next();
    data(DONE);
    expect((await second).value).toMatchObject({ type: 'done', usage: { promptTokens: 7, completionTokens: 4 }, finishReason: 'stop' });
    await call.return();
    call.onResponseEnd();
    expect(controller.aborted).toBe(false);
    expect(finished).toHaveLength(1);
  });

  it('leaving before the end aborts the request (the server frees the GPU slot)', async () => {
    const { call, ctl, controller, start, data } = setup();
    start();
    data(chunk('x', 0));
    expect((await call.next()).value).toMatchObject({ type: 'tokens', count: 1 });
    await call.return();
    expect(controller.aborted).toBe(true);
    expect(ctl.failure()?.message).toBe('stream consumer stopped');
    expect(await call.next()).toEqual({ value: undefined, done: true });
  });

  it('decodes a character split across reads', async () => {
    const { call, start, data } = setup();
    start();
    const bytes = Buffer.from(chunk('é€', 0));
    const cut = bytes.indexOf(0xe2) + 1; // inside the euro sign
    data(bytes.subarray(0, cut));
    data(bytes.subarray(cut));
    data(DONE);
    call.onResponseEnd();
    expect((await drain(call))[0]).toEqual({ type: 'tokens', index: 0, count: 1, text: 'é€' });
  });

  it('pauses the socket when the consumer falls 64 KiB behind, and resumes when it pulls', async () => {
    const { call, controller, start, data } = setup();
    start();
    const big = 'x'.repeat(1024);
    for (let i = 0; i < 80; i++) data(chunk(big, i));
    expect(controller.paused).toBe(true);
    const r = await call.next();
    expect(r.value).toMatchObject({ type: 'tokens', index: 0, count: 80 });
    expect(controller.paused).toBe(false);
  });

  it('delivers the tokens before a failure, then throws StreamInterruptedError with the absolute count', async () => {
    const { call, start, data } = setup({ resumeFrom: 10 });
    start();
    data(chunk('a', 10) + chunk('b', 11));
    call.onResponseEnd();
    const got: StreamEvent[] = [];
    await expect(
      (async () => {
        for await (const e of call) got.push(e);
      })(),
    ).rejects.toSatisfy((e: unknown) => e instanceof StreamInterruptedError && e.tokensReceived === 12 && /without \[DONE\]/.test(e.message));
    expect(got).toEqual([{ type: 'tokens', index: 10, count: 2, text: 'ab' }]);
  });

  it('a truncated chunk and a reset after the headers are interruptions; a failure before them is a refused connection', async () => {
    const t = setup();
    t.start();
    t.data(chunk('a', 0).slice(0, 30));
    t.call.onResponseError(t.controller, Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
    await expect(drain(t.call)).rejects.toThrow(/truncated chunk/);

    const r = setup();
    r.call.onRequestStart(r.controller);
    r.call.onResponseError(r.controller, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    await expect(r.call.next()).rejects.toBeInstanceOf(ConnectionRefusedError);
  });

  it("undici's own headers and body timeouts are idle timeouts (a silent server), not a refused connection or a cut stream", async () => {
    const h = setup({ idleMs: 60_000 });
    h.call.onRequestStart(h.controller);
    await h.clock.advanceBy(300);
    h.call.onResponseError(h.controller, Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }));
    await expect(h.call.next()).rejects.toSatisfy((e: unknown) => e instanceof IdleTimeoutError && e.tokensReceived === 0 && e.idleMs === 300);

    const b = setup({ idleMs: 60_000 });
    b.start();
    b.data(chunk('a', 0, 2));
    await b.clock.advanceBy(200);
    b.call.onResponseError(b.controller, Object.assign(new Error('Body Timeout Error'), { code: 'UND_ERR_BODY_TIMEOUT' }));
    const events: StreamEvent[] = [];
    await expect(
      (async () => {
        for await (const e of b.call) events.push(e);
      })(),
    ).rejects.toSatisfy((e: unknown) => e instanceof IdleTimeoutError && e.tokensReceived === 2 && e.idleMs === 200);
    expect(events).toMatchObject([{ type: 'tokens', count: 2 }]);
  });

  it('reads an error status whole and throws its typed error, Retry-After included', async () => {
    const { call, start, data } = setup();
    start(429, { 'retry-after-ms': '250' });
    data('{"error":{"message":"slow down","type":"rate_limit"}}');
    const pending = call.next();
    call.onResponseEnd();
    await expect(pending).rejects.toSatisfy((e: unknown) => e instanceof RateLimitedError && e.retryAfterMs === 250 && /slow down/.test(e.message));
  });

  it("the caller's abort rejects a waiting pull at once, and aborts the request when it starts", async () => {
    const outer = new AbortController();
    const { call, controller, start } = setup({ signal: outer.signal });
    const pending = call.next();
    outer.abort(new Error('client went away'));
    await expect(pending).rejects.toThrow('client went away');
    start();
    expect(controller.aborted).toBe(true);
  });

  it('the idle timeout ends the call with IdleTimeoutError, counting the tokens received, but never while the consumer holds a chunk', async () => {
    const { clock, call, start, data } = setup({ idleMs: 100 });
    start();
    data(chunk('a', 0, 3));
    const first = await call.next();
    expect(first.value).toMatchObject({ count: 3 });
    // The consumer holds the chunk: no idle time counts.
    await clock.advanceBy(500);
    const pending = expect(call.next()).rejects.toSatisfy((e: unknown) => e instanceof IdleTimeoutError && e.tokensReceived === 3);
    await clock.advanceBy(99);
    expect(call.tokensReceived).toBe(3);
    await clock.advanceBy(1);
    await pending;
  });
});
