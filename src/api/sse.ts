/**
 * Server-sent events on a hijacked fastify reply: framing, a keep-alive comment on the Clock, close detection,
 * and backpressure. Writes after the client went away are dropped. A writer says when its socket is full
 * (`full`, `onDrain`, `whenWritable`) so a producer that can stops: the job events route (its tokens are in the
 * store) catches up later, the chat proxy stops reading the upstream; what one response may hold unsent is capped (`maxBufferedBytes`: past it the stream is
 * ended), and a reader that has not taken anything for `stallTimeoutMs` while data waits is cut off.
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

/** Limits of one SSE response. */
export interface SseLimits {
  /** Bytes one response may hold unsent (Node's buffer); a write past it ends the stream. @default 1 MiB */
  readonly maxBufferedBytes?: number;
  /** How long a full socket may stay full (the reader takes nothing) before the stream is ended. @default 30_000 */
  readonly stallTimeoutMs?: number;
}

export const DEFAULT_SSE_MAX_BUFFERED_BYTES = 1024 * 1024;
export const DEFAULT_SSE_STALL_TIMEOUT_MS = 30_000;

/** Counters over every SSE response of one service (for tests, metrics and /healthz). */
export class SseStats {
  /** Open writers. */
  readonly open = new Set<SseWriter>();
  /** The most any one response held unsent, seen at a write. */
  peakBufferedBytes = 0;
  /** Streams ended because their reader took nothing for stallTimeoutMs. */
  endedStalled = 0;
  /** Streams ended because one more write would have passed maxBufferedBytes. */
  endedOverBuffer = 0;
  /** Times a producer stopped (it stopped reading its source) because its reader's socket was full. */
  pauses = 0;
  /** Producers stopped now, waiting for their reader's socket to drain. */
  paused = 0;

  /** Bytes held unsent by every open response now. */
  bufferedBytes(): number {
    let n = 0;
    for (const w of this.open) n += w.bufferedBytes;
    return n;
  }
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
  private drainListeners: Array<() => void> = [];
  /** Producers waiting in `whenWritable`: released on drain or end. */
  private writableWaiters: Array<() => void> = [];
  private stallTimer: Timer | undefined;
  private readonly maxBufferedBytes: number;
  private readonly stallTimeoutMs: number;

  /** @param keepAliveMs a `: keep-alive` comment after this long without a write; 0 disables it. */
  constructor(
    private readonly raw: ServerResponse,
    private readonly clock: Clock,
    private readonly keepAliveMs: number,
    limits: SseLimits = {},
    private readonly stats?: SseStats,
  ) {
    this.maxBufferedBytes = limits.maxBufferedBytes ?? DEFAULT_SSE_MAX_BUFFERED_BYTES;
    this.stallTimeoutMs = limits.stallTimeoutMs ?? DEFAULT_SSE_STALL_TIMEOUT_MS;
    raw.on('close', () => this.finish());
    raw.on('drain', () => this.drained());
    stats?.open.add(this);
  }

  /** True once ended by us or closed by the client. */
  get closed(): boolean {
    return this.ended || this.raw.destroyed;
  }

  /** The socket is full: what is written now waits in memory until the reader takes more. */
  get full(): boolean {
    return this.raw.writableNeedDrain === true;
  }

  /** Bytes written and not yet taken by the socket. */
  get bufferedBytes(): number {
    return this.raw.writableLength ?? 0;
  }

  /**
   * For a producer that can stop reading its source (the chat proxy stops reading the upstream): undefined when
   * the socket has room, else a promise that resolves once it drains or the stream ends (then `closed` is true).
   */
  whenWritable(): Promise<void> | undefined {
    if (this.closed || !this.full) return undefined;
    const stats = this.stats;
    if (stats !== undefined) {
      stats.pauses++;
      stats.paused++;
    }
    return new Promise<void>((resolve) => {
      let done = false;
      const go = (): void => {
        if (done) return;
        done = true;
        if (stats !== undefined) stats.paused--;
        resolve();
      };
      this.writableWaiters.push(go);
    });
  }

  /** Runs `fn` once, when the socket has room again (not at all if the stream ends first). */
  onDrain(fn: () => void): void {
    if (this.closed) return;
    this.drainListeners.push(fn);
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

  /**
   * Writes framed text (one or more events). Past `maxBufferedBytes` unsent, the stream is ended instead (the
   * reader is far too slow); a write that fills the socket starts the stall clock.
   */
  write(text: string): void {
    if (this.closed) return;
    if (this.bufferedBytes + text.length > this.maxBufferedBytes) {
      if (this.stats !== undefined) this.stats.endedOverBuffer++;
      this.abandon();
      return;
    }
    const room = this.raw.write(text);
    if (this.stats !== undefined) this.stats.peakBufferedBytes = Math.max(this.stats.peakBufferedBytes, this.bufferedBytes);
    if (!room && this.stallTimer === undefined && this.stallTimeoutMs > 0) {
      this.stallTimer = this.clock.setTimer(this.stallTimeoutMs, () => this.stalled(), 'sse stalled reader');
    }
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

  private drained(): void {
    this.stallTimer?.cancel();
    this.stallTimer = undefined;
    for (const go of this.writableWaiters.splice(0)) go();
    for (const fn of this.drainListeners.splice(0)) {
      if (this.closed) return;
      fn();
    }
  }

  private stalled(): void {
    this.stallTimer = undefined;
    if (this.closed || !this.full) return;
    if (this.stats !== undefined) this.stats.endedStalled++;
    this.abandon();
  }

  /** Cuts the connection: the reader is gone or too slow. Nothing unsent is kept. */
  private abandon(): void {
    this.raw.destroy();
    this.finish();
  }

  private fire(): void {
    this.timer = undefined;
    if (this.ended) return;
    // A full socket needs no keep-alive: the reader has data waiting.
    if (this.full) {
      this.arm();
      return;
    }
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
    this.stallTimer?.cancel();
    this.stallTimer = undefined;
    this.drainListeners = [];
    for (const go of this.writableWaiters.splice(0)) go();
    this.stats?.open.delete(this);
    for (const fn of this.closeListeners.splice(0)) fn();
  }
}
