/**
 * Server-sent events on a hijacked fastify reply: framing, a keep-alive comment on the Clock, and close
 * detection. Writes after the client went away are dropped.
 */
import type { ServerResponse } from 'node:http';
import type { Clock, Timer } from '../time/clock.js';

/**
 * Response headers of an SSE stream. No `connection` header: Node then sends `Connection: keep-alive` with a
 * `Keep-Alive: timeout=…` hint itself, and clients (undici among them) keep the socket for as long as we will.
 */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/** One SSE event. `data` may hold newlines: each line becomes a `data:` line. */
export interface SseEvent {
  readonly id?: string;
  readonly event?: string;
  readonly data: string;
}

/** Frames one event. */
export function frame(e: SseEvent): string {
  let out = '';
  if (e.id !== undefined) out += `id: ${e.id}\n`;
  if (e.event !== undefined) out += `event: ${e.event}\n`;
  for (const line of e.data.split('\n')) out += `data: ${line}\n`;
  return `${out}\n`;
}

/**
 * A writer over a raw response. The keep-alive timer is lazy: a write only records the time, and the one timer
 * re-arms itself for the remainder when it fires early, so a streamed token costs a clock read, not a timer.
 */
export class SseWriter {
  private timer: Timer | undefined;
  private lastWriteMs = 0;
  private ended = false;
  private readonly closeListeners: Array<() => void> = [];

  /** @param keepAliveMs a `: keep-alive` comment after this long without a write; 0 disables it. */
  constructor(private readonly raw: ServerResponse, private readonly clock: Clock, private readonly keepAliveMs: number) {
    raw.on('close', () => this.finish());
  }

  /** True once ended by us or closed by the client. */
  get closed(): boolean {
    return this.ended || this.raw.destroyed;
  }

  /**
   * Sends the status line and headers. With `flush: false` they leave with the first write instead (one packet,
   * one syscall), for a caller that writes at once.
   * @param flush @default true
   */
  open(status = 200, headers: Readonly<Record<string, string>> = {}, flush = true): void {
    this.raw.writeHead(status, { ...SSE_HEADERS, ...headers });
    if (flush) this.raw.flushHeaders();
    this.arm();
  }

  /** Writes framed text (one or more events). */
  write(text: string): void {
    if (this.closed) return;
    this.raw.write(text);
    this.arm();
  }

  event(e: SseEvent): void {
    this.write(frame(e));
  }

  /** Ends the response. */
  end(): void {
    // Even when the client is gone: an unended response would keep its connection busy (server.close waits).
    if (!this.raw.writableEnded) this.raw.end();
    this.finish();
  }

  /** Called once when the stream ends either way. */
  onClose(fn: () => void): void {
    if (this.ended) fn();
    else this.closeListeners.push(fn);
  }

  private arm(): void {
    if (this.keepAliveMs <= 0 || this.ended) return;
    this.lastWriteMs = this.clock.now();
    this.timer ??= this.clock.setTimer(this.keepAliveMs, () => this.fire(), 'sse keep-alive');
  }

  private fire(): void {
    this.timer = undefined;
    if (this.ended) return;
    const dueInMs = this.lastWriteMs + this.keepAliveMs - this.clock.now();
    // Written to since the timer was set: wait out the remainder. A floating-point residue counts as due, so a
    // timer cannot re-fire at the same instant forever.
    if (dueInMs > 1e-6) this.timer = this.clock.setTimer(Math.max(dueInMs, 1e-3), () => this.fire(), 'sse keep-alive');
    else this.write(': keep-alive\n\n');
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.timer?.cancel();
    this.timer = undefined;
    for (const fn of this.closeListeners.splice(0)) fn();
  }
}
