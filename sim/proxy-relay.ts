/**
 * One relayed response of the chaos proxy. Unfaulted, the upstream's bytes are written as they arrive (no parsing;
 * the upstream is paused while the client's socket is backed up). When a fault needs to see tokens (a disconnect
 * or stall after N tokens, a TTFT delay, jitter), an SSE body is split into whole events, relayed byte for byte,
 * and each event is delivered on the same schedule as the mock's tokens (sim/generation-delivery.ts): the TTFT delay
 * shifts the whole stream, jitter delays each event, none overtakes another. The disconnect forms are the mock's
 * (sim/wire-breaks.ts). A client that leaves aborts the upstream request.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Clock, Timer } from '../src/time/clock.js';
import type { RequestFaults } from './faults.js';
import { DeliverySchedule } from './generation-delivery.js';
import type { OpenRelay, ProxyFaults } from './proxy-faults.js';
import { SseSplitter, sseEventInfo } from './sse-split.js';
import type { DisconnectForm } from './types.js';
import { breakJson, breakStream, type BreakSink } from './wire-breaks.js';
import { resetConnection } from './wire.js';

/** Response headers a proxy must not copy (hop-by-hop, RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection']);

/** The upstream's response headers, minus hop-by-hop ones (and content-length, when the body may change length). */
export function relayedHeaders(h: IncomingHttpHeaders | Record<string, string | string[] | undefined>, dropLength: boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k) || (dropLength && k === 'content-length')) continue;
    out[k] = v;
  }
  return out;
}

/** What a relay is given: the upstream's answer, the request's faults and where to count. */
export interface RelayInput {
  readonly clock: Clock;
  readonly faults: ProxyFaults;
  readonly id: string;
  readonly res: ServerResponse;
  readonly status: number;
  readonly headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>;
  readonly body: Readable;
  readonly f: RequestFaults;
  /** Aborts the upstream request (the client left, a fault cut the stream, the proxy crashed). */
  readonly abortUpstream: () => void;
  /** When the proxy received the request. */
  readonly startMs: number;
}

const SYNTHETIC_TRUNCATED = 'data: {"choices":[{"index":0,"delta":{"content":" truncated"},"finish_reason":null}]}\n\n';

/** Relays one upstream answer to the client; resolves when the response has ended one way or another. */
export function relayResponse(i: RelayInput): Promise<void> {
  const sse = /text\/event-stream/i.test(String(i.headers['content-type'] ?? ''));
  const f = i.f;
  const faulted = f.disconnect !== undefined || f.stall !== undefined || f.ttftDelayMs > 0 || f.jitterMs !== undefined;
  if (!sse && faulted) return relayJsonFaulted(i);
  return new StreamRelay(i, sse).run();
}

/** A relayed body, piped or split into events. */
class StreamRelay implements OpenRelay {
  private mode: 'pipe' | 'events' = 'pipe';
  private splitter: SseSplitter | undefined;
  private readonly queue: Buffer[] = [];
  private received = 0;
  private delivered = 0;
  private visibleTo = 0;
  private tokensSent = 0;
  private disconnectAt = Infinity;
  private disconnectForm: DisconnectForm = 'reset';
  private stallAt = Infinity;
  private stallForMs: number | undefined;
  private stalled = false;
  private schedule: DeliverySchedule | undefined;
  private upstreamEnded = false;
  private ended = false;
  private readonly timers: Timer[] = [];
  private firstByteMs: number | undefined;
  private resolve!: () => void;

  constructor(
    private readonly i: RelayInput,
    private readonly sse: boolean,
  ) {}

  run(): Promise<void> {
    const { i } = this;
    const done = new Promise<void>((r) => (this.resolve = r));
    i.faults.open.add(this);
    i.res.writeHead(i.status, relayedHeaders(i.headers, this.sse));
    i.res.flushHeaders();
    if (this.sse) {
      const f = i.f;
      if (f.ttftDelayMs > 0 || f.jitterMs !== undefined) {
        this.enterEvents();
        this.schedule = new DeliverySchedule(i.clock, f.ttftDelayMs, f.jitterMs, (upTo) => this.reveal(upTo ?? this.visibleTo));
      }
      this.injectMidStream({ disconnect: f.disconnect, stall: f.stall });
    }
    i.res.once('close', this.onClientClose);
    i.body.on('data', this.onData);
    i.body.once('end', this.onEnd);
    i.body.once('error', this.onError);
    return done;
  }

  injectMidStream(f: Pick<RequestFaults, 'disconnect' | 'stall'>): string[] {
    if (this.ended || !this.sse) return [];
    const applied: string[] = [];
    if (f.disconnect !== undefined && this.disconnectAt === Infinity) {
      this.enterEvents();
      this.disconnectForm = f.disconnect.form;
      if (f.disconnect.afterTokens !== undefined) this.disconnectAt = this.tokensSent + f.disconnect.afterTokens;
      if (f.disconnect.afterMs !== undefined) this.timers.push(this.i.clock.setTimer(f.disconnect.afterMs, () => this.cut(), 'proxy-disconnect'));
      applied.push('disconnect');
    }
    if (f.stall !== undefined && this.stallAt === Infinity) {
      this.enterEvents();
      this.stallAt = this.tokensSent + f.stall.afterTokens;
      this.stallForMs = f.stall.forMs;
      applied.push('stall');
    }
    if (applied.length > 0) this.pump();
    return applied;
  }

  kill(): void {
    if (this.ended) return;
    this.finish();
    this.i.abortUpstream();
    resetConnection(this.i.res);
  }

  private enterEvents(): void {
    if (this.mode === 'events') return;
    this.mode = 'events';
    this.splitter = new SseSplitter();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.ended) return;
    this.firstByteMs ??= this.i.clock.now();
    this.i.faults.counters.bytesRelayed += chunk.length;
    if (this.mode === 'pipe') {
      if (!this.i.res.write(chunk)) this.backpressure();
      return;
    }
    for (const ev of (this.splitter as SseSplitter).push(chunk)) {
      this.queue.push(ev);
      this.received++;
      if (this.schedule !== undefined) this.schedule.schedule(this.received);
      else this.reveal(this.received);
    }
  };

  private backpressure(): void {
    this.i.body.pause();
    this.i.res.once('drain', () => this.i.body.resume());
  }

  private reveal(upTo: number): void {
    if (upTo > this.visibleTo) this.visibleTo = upTo;
    this.pump();
  }

  /** Delivers the visible events in order, stopping at a stall or a disconnect. */
  private pump(): void {
    while (!this.ended && !this.stalled && this.delivered < this.visibleTo) {
      const ev = this.queue[0] as Buffer;
      const info = sseEventInfo(ev);
      // The role chunk before any token passes; after that, any event may be where the fault strikes.
      const strikes = info.tokens > 0 || info.done || this.tokensSent > 0;
      if (strikes && this.tokensSent >= this.disconnectAt) return this.cut();
      if (strikes && this.tokensSent >= this.stallAt) return this.stall();
      this.queue.shift();
      this.delivered++;
      this.tokensSent += info.tokens;
      this.i.faults.counters.tokensRelayed += info.tokens;
      if (!this.i.res.write(ev) && !this.i.body.isPaused()) this.backpressure();
    }
    if (!this.ended && this.upstreamEnded && this.delivered === this.received) this.complete();
  }

  private stall(): void {
    this.stalled = true;
    this.stallAt = Infinity;
    const forMs = this.stallForMs;
    if (forMs !== undefined) {
      this.timers.push(
        this.i.clock.setTimer(forMs, () => {
          this.stalled = false;
          this.pump();
        }, 'proxy-stall'),
      );
    }
  }

  /** The disconnect fault: the stream is broken in its form; the upstream request is aborted. */
  private cut(): void {
    if (this.ended) return;
    const next = this.queue[0];
    this.finish();
    this.i.faults.events.count('disconnect', this.i.id);
    this.i.faults.counters.faulted++;
    this.i.abortUpstream();
    const res = this.i.res;
    const sink: BreakSink = {
      write: (s) => res.write(s),
      writeThen: (s, cb) => void res.write(s, () => cb()),
      end: (last) => (last === undefined ? res.end() : res.end(last)),
    };
    breakStream(res, sink, this.disconnectForm, this.tokensSent, () => next?.toString('utf8') ?? SYNTHETIC_TRUNCATED);
  }

  private readonly onEnd = (): void => {
    this.upstreamEnded = true;
    if (this.ended) return;
    if (this.mode === 'pipe') return this.complete();
    const rest = (this.splitter as SseSplitter).pending;
    if (rest.length > 0) {
      this.queue.push(Buffer.from(rest));
      this.received++;
      if (this.schedule !== undefined) this.schedule.schedule(this.received);
      else this.reveal(this.received);
      return;
    }
    this.pump();
  };

  private readonly onError = (): void => {
    if (this.ended) return;
    // The upstream broke the answer (or the client left and the request was aborted): the client's side breaks too.
    const clientGone = this.i.res.destroyed || this.i.res.writableEnded;
    this.finish();
    if (clientGone) this.i.faults.counters.cancelled++;
    else {
      this.i.faults.counters.upstreamErrors++;
      resetConnection(this.i.res);
    }
  };

  private readonly onClientClose = (): void => {
    if (this.ended) return;
    this.finish();
    this.i.faults.counters.cancelled++;
    this.i.abortUpstream();
  };

  private complete(): void {
    this.finish();
    const c = this.i.faults.counters;
    c.relayedByStatus[this.i.status] = (c.relayedByStatus[this.i.status] ?? 0) + 1;
    this.i.res.end();
    const ev = this.i.faults.events;
    if (ev.listening) {
      const now = this.i.clock.now();
      ev.emit({
        type: 'request-done',
        id: this.i.id,
        outcome: 'stop',
        ttftMs: this.firstByteMs === undefined ? undefined : this.firstByteMs - this.i.startMs,
        e2eMs: now - this.i.startMs,
        queueMs: undefined,
        itlMs: undefined,
        promptTokens: 0,
        cachedTokens: 0,
        completionTokens: this.tokensSent,
      });
    }
  }

  private finish(): void {
    this.ended = true;
    for (const t of this.timers) t.cancel();
    this.schedule?.cancel();
    this.i.faults.open.delete(this);
    this.i.res.removeListener('close', this.onClientClose);
    this.i.body.removeListener('data', this.onData);
    this.resolve();
  }
}

/** A non-streamed answer under a delivery fault: read whole, then delayed, held (stall) or broken (disconnect). */
async function relayJsonFaulted(i: RelayInput): Promise<void> {
  const chunks: Buffer[] = [];
  const killed = { value: false };
  const relay: OpenRelay = {
    injectMidStream: () => [],
    kill: () => {
      killed.value = true;
      i.abortUpstream();
      resetConnection(i.res);
    },
  };
  i.faults.open.add(relay);
  const gone = new Promise<void>((resolve) => i.res.once('close', () => resolve()));
  const wait = (ms: number | undefined): Promise<void> =>
    ms === undefined ? gone : Promise.race([gone, new Promise<void>((resolve) => i.clock.setTimer(ms, resolve, 'proxy-json-delay'))]);
  try {
    try {
      for await (const c of i.body) chunks.push(c as Buffer);
    } catch {
      if (!killed.value) {
        if (i.res.destroyed) i.faults.counters.cancelled++;
        else {
          i.faults.counters.upstreamErrors++;
          resetConnection(i.res);
        }
      }
      return;
    }
    const body = Buffer.concat(chunks);
    i.faults.counters.bytesRelayed += body.length;
    if (i.f.ttftDelayMs > 0) await wait(i.f.ttftDelayMs);
    if (i.f.stall !== undefined && !i.res.destroyed) await wait(i.f.stall.forMs);
    if (i.res.destroyed || killed.value) return;
    if (i.f.disconnect !== undefined) {
      i.faults.events.count('disconnect', i.id);
      i.faults.counters.faulted++;
      const headers = relayedHeaders(i.headers, true) as Record<string, string>;
      breakJson(i.res, i.f.disconnect.form, body.toString('utf8'), headers, 0);
      return;
    }
    i.res.writeHead(i.status, relayedHeaders(i.headers, false));
    i.res.end(body);
    i.faults.counters.relayedByStatus[i.status] = (i.faults.counters.relayedByStatus[i.status] ?? 0) + 1;
  } finally {
    i.faults.open.delete(relay);
  }
}
