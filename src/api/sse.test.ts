import fc from 'fast-check';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../time/virtual-clock.js';
import { tokenChunkFramer } from './proxy.js';
import { SseWriter } from './sse.js';

/** The part of a ServerResponse an SseWriter uses, recording what is written and when. */
class FakeResponse {
  readonly writes: Array<{ atMs: number; text: string }> = [];
  head: { status: number; headers: Record<string, string> } | undefined;
  flushed = false;
  destroyed = false;
  writableEnded = false;
  private readonly closeListeners: Array<() => void> = [];
  constructor(private readonly clock: VirtualClock) {}
  writeHead(status: number, headers: Record<string, string>): void {
    this.head = { status, headers };
  }
  flushHeaders(): void {
    this.flushed = true;
  }
  write(text: string): boolean {
    this.writes.push({ atMs: this.clock.now(), text });
    return true;
  }
  end(): void {
    this.writableEnded = true;
  }
  on(event: string, fn: () => void): this {
    if (event === 'close') this.closeListeners.push(fn);
    return this;
  }
}

describe('SseWriter', () => {
  it('sends a keep-alive comment keepAliveMs after the last write, with one timer however many writes', async () => {
    const clock = new VirtualClock();
    const res = new FakeResponse(clock);
    const sse = new SseWriter(res as unknown as ServerResponse, clock, 100);
    sse.open(200, { 'x-a': '1' });
    expect(res.head?.headers).toMatchObject({ 'content-type': 'text/event-stream; charset=utf-8', 'x-a': '1' });
    // No `connection` header: Node then adds keep-alive with its timeout hint.
    expect(res.head?.headers).not.toHaveProperty('connection');
    expect(res.flushed).toBe(true);
    for (let i = 0; i < 10; i++) {
      await clock.advanceBy(30);
      sse.write(`data: ${i}\n\n`);
      expect(clock.pendingTimers).toBe(1);
    }
    // The last write was at 300: nothing at 399, the comment at 400, then every 100 ms of silence.
    await clock.advanceBy(99);
    expect(res.writes.filter((w) => w.text.startsWith(':'))).toEqual([]);
    await clock.advanceBy(1);
    await clock.advanceBy(100);
    expect(res.writes.filter((w) => w.text.startsWith(':'))).toEqual([
      { atMs: 400, text: ': keep-alive\n\n' },
      { atMs: 500, text: ': keep-alive\n\n' },
    ]);
    sse.end();
    expect(res.writableEnded).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('open(…, false) leaves the headers for the first write (one packet)', () => {
    const clock = new VirtualClock();
    const res = new FakeResponse(clock);
    new SseWriter(res as unknown as ServerResponse, clock, 0).open(200, {}, false);
    expect(res.flushed).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('tokenChunkFramer', () => {
  it('property: the same bytes as stringifying the whole chunk object', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string(), fc.nat(), fc.string({ unit: 'binary' }), fc.nat(), fc.nat(), (id, model, created, text, index, count) => {
        const head = { id, object: 'chat.completion.chunk' as const, created, model };
        const whole = `data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }], x_engine: { index, count } })}\n\n`;
        expect(tokenChunkFramer(head)({ text, index, count })).toBe(whole);
      }),
      { numRuns: 300 },
    );
  });
});
