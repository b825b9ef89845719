/**
 * The transport model of the virtual world: the HTTP hops that live mode has and virtual time otherwise leaves out.
 * Live mode has two hops on loopback, the load driver to the engine service and the engine to the mock, and each
 * costs time at every request (serializing, socket writes, parsing, routing, scheduling) that the simulated GPU
 * does not see. A hop here delays the request on its way by one draw of `requestMs`, and each response event (a
 * token chunk, the final event, an error) on its way back by one draw of `responseMs`, never letting an event
 * overtake an earlier one (a connection is FIFO). Delays are constants or seeded distributions (sim/distributions).
 *
 * Zero is the default and means no hop at all: the world is then built exactly as without this file, so a run
 * without a transport is byte-identical to one from before it existed.
 */
import { z } from 'zod';
import { abortReason } from '../../src/errors.js';
import type { EngineRequest, EngineResult, TokenChunk } from '../../src/engine/engine-types.js';
import type { Random } from '../../src/random.js';
import type { Clock, Timer } from '../../src/time/clock.js';
import type { ModelClient, ModelRequest, PushableStream, StreamEvent, StreamOptions } from '../../src/upstream/model-client.js';
import { pushAcross } from './transport-push.js';
import { parseDistribution, parseOrThrow, sampler, type DistributionSpec } from '../../sim/distributions.js';

/** A delay in milliseconds: a constant, or a seeded distribution drawn once per request or event (negatives count as 0). */
export type TransportDelayMs = number | DistributionSpec;

/** One hop, one way each. */
export interface TransportHop {
  /** Delay of the request on its way to the far side. @default 0 */
  readonly requestMs?: TransportDelayMs;
  /** Delay of each response event on its way back (token chunk, final event or error), in order. @default 0 */
  readonly responseMs?: TransportDelayMs;
}

/** The virtual world's transport: the two hops of live mode. @default no delay on either hop */
export interface Transport {
  /** The load driver to the engine (live: the driver's HTTP request to the engine service, and its SSE back). */
  readonly clientToEngine?: TransportHop;
  /** The engine to the model (live: the engine's HTTP request to the mock server, and its SSE back). */
  readonly engineToModel?: TransportHop;
}

const hopShape = z.object({ requestMs: z.unknown().optional(), responseMs: z.unknown().optional() }).strict();
const transportShape = z.object({ clientToEngine: hopShape.optional(), engineToModel: hopShape.optional() }).strict();

/**
 * Validates a transport option; `path` names it in errors (`transport.engineToModel.requestMs: expected a number of
 * ms >= 0 or a distribution spec, got -1`).
 * @throws ValidationError naming the first bad field.
 */
export function parseTransport(input: unknown, path = 'transport'): Transport {
  const t = parseOrThrow(transportShape, input, path);
  const hop = (h: z.output<typeof hopShape> | undefined, name: string): TransportHop | undefined => {
    if (h === undefined) return undefined;
    const out: { requestMs?: TransportDelayMs; responseMs?: TransportDelayMs } = {};
    for (const k of ['requestMs', 'responseMs'] as const) {
      const v = h[k];
      if (v !== undefined) out[k] = parseDelay(v, `${path}.${name}.${k}`);
    }
    return out;
  };
  const clientToEngine = hop(t.clientToEngine, 'clientToEngine');
  const engineToModel = hop(t.engineToModel, 'engineToModel');
  return { ...(clientToEngine !== undefined ? { clientToEngine } : {}), ...(engineToModel !== undefined ? { engineToModel } : {}) };
}

function parseDelay(v: unknown, path: string): TransportDelayMs {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return parseDistribution(v, path);
  return parseOrThrow(delayNumber, v, path);
}
const delayNumber = z.number({ error: 'a number of ms >= 0 or a distribution spec' }).nonnegative({ error: 'a number of ms >= 0' });

/** True when the delay is 0 for certain (absent, 0, or a constant 0). */
export function isZeroDelay(d: TransportDelayMs | undefined): boolean {
  return d === undefined || d === 0 || (typeof d === 'object' && d.kind === 'constant' && d.value === 0);
}

/** True when the hop delays nothing either way. */
export function isZeroHop(h: TransportHop | undefined): boolean {
  return h === undefined || (isZeroDelay(h.requestMs) && isZeroDelay(h.responseMs));
}

/** True when the transport delays nothing: the world is then built without it. */
export function isZeroTransport(t: Transport | undefined): boolean {
  return t === undefined || (isZeroHop(t.clientToEngine) && isZeroHop(t.engineToModel));
}

/**
 * A transport from each hop's zero-load round-trip cost, in ms (what a sequential probe's TTFT measures: the
 * request's way there plus the first event's way back). No probe tells the two directions apart, so each hop's
 * cost is split evenly between them; TTFT and E2E see the sum either way.
 */
export function transportFromHopCosts(costs: { readonly engineToModelMs: number; readonly clientToEngineMs: number }): Transport {
  const half = (ms: number): TransportHop => ({ requestMs: ms / 2, responseMs: ms / 2 });
  return {
    ...(costs.clientToEngineMs > 0 ? { clientToEngine: half(costs.clientToEngineMs) } : {}),
    ...(costs.engineToModelMs > 0 ? { engineToModel: half(costs.engineToModelMs) } : {}),
  };
}

/** A sampler of one delay: constants need no random stream; draws below 0 count as 0. */
function delaySampler(d: TransportDelayMs | undefined, random: () => Random): () => number {
  if (d === undefined || typeof d === 'number') {
    const ms = d ?? 0;
    return () => ms;
  }
  const draw = sampler(d, random());
  return () => Math.max(0, draw());
}

/**
 * A one-way FIFO link on a Clock: each item is delivered after its own delay, but never before an item pushed
 * earlier. One timer at a time, armed for the head of the line; an item whose delay is 0 with nothing ahead of it
 * is delivered at once.
 */
export class DelayLine<T> {
  private readonly items: Array<{ dueMs: number; item: T }> = [];
  private lastDueMs = Number.NEGATIVE_INFINITY;
  private timer: Timer | undefined;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly delayMs: () => number,
    private readonly deliver: (item: T) => void,
    private readonly label = 'transport',
  ) {}

  /** Items on their way. */
  get pending(): number {
    return this.items.length;
  }

  /** Sends `item`; ignored once the line is closed. */
  push(item: T): void {
    if (this.closed) return;
    const now = this.clock.now();
    const dueMs = Math.max(this.lastDueMs, now + this.delayMs());
    this.lastDueMs = dueMs;
    if (this.items.length === 0 && dueMs <= now) {
      this.deliver(item);
      return;
    }
    this.items.push({ dueMs, item });
    if (this.timer === undefined) this.arm();
  }

  /** Delivers everything on its way now, in order (the far side gave up waiting). */
  flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    while (!this.closed && this.items.length > 0) this.deliver((this.items.shift() as { item: T }).item);
  }

  /** Drops everything on its way; later pushes are ignored. */
  close(): void {
    this.closed = true;
    this.items.length = 0;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    const head = this.items[0] as { dueMs: number };
    const dueMs = head.dueMs;
    // Fire for this due time exactly: everything due by then goes, whatever the clock's float arithmetic says.
    this.timer = this.clock.setTimer(dueMs - this.clock.now(), () => this.fire(dueMs), this.label);
  }

  private fire(dueMs: number): void {
    this.timer = undefined;
    while (!this.closed && this.items.length > 0 && (this.items[0] as { dueMs: number }).dueMs <= dueMs) {
      this.deliver((this.items.shift() as { item: T }).item);
    }
    if (!this.closed && this.items.length > 0 && this.timer === undefined) this.arm();
  }
}

/** How a hop is built: its clock, its delays, and the random stream its distributions draw from. */
export interface HopOptions {
  readonly clock: Clock;
  readonly hop: TransportHop | undefined;
  /** Distributions derive `request` and `response` streams from it; constants draw nothing. */
  readonly random: Random;
}

/** Waits `ms` (no timer at all for 0); rejects with the signal's reason when it aborts. */
export async function hopWait(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted === true) throw abortReason(signal);
  if (ms > 0) await clock.sleep(ms, signal);
}

/** What a call across the hop waits on: the clock, and a draw of each way's delay. */
export interface HopDelays {
  readonly clock: Clock;
  readonly requestMs: () => number;
  readonly responseMs: () => number;
}

/** `client` seen across the engine→model hop; `client` itself when the hop delays nothing. */
export function transportedModelClient(client: ModelClient, o: HopOptions): ModelClient {
  if (isZeroHop(o.hop)) return client;
  const hop: HopDelays = {
    clock: o.clock,
    requestMs: delaySampler(o.hop?.requestMs, () => o.random.derive('request')),
    responseMs: delaySampler(o.hop?.responseMs, () => o.random.derive('response')),
  };
  return {
    ...(client.capabilities !== undefined ? { capabilities: client.capabilities } : {}),
    stream: (request, options = {}): PushableStream => ({
      [Symbol.asyncIterator]: () => streamAcross(client, request, options, hop),
      pushTo: (sink) => pushAcross(client, request, options, hop, sink),
    }),
    embed: unaryAcross(client.embed.bind(client), hop),
    ...(client.completeBatch !== undefined ? { completeBatch: unaryAcross(client.completeBatch.bind(client), hop) } : {}),
  };
}

/** A unary call across the hop (embeddings, a multi-prompt batch): the request's delay, the call, the answer's (or the error's) delay. */
function unaryAcross<Req, Res>(
  call: (request: Req, options: { signal?: AbortSignal }) => Promise<Res>,
  hop: HopDelays,
): (request: Req, options?: { signal?: AbortSignal }) => Promise<Res> {
  return async (request, options = {}) => {
    await hopWait(hop.clock, hop.requestMs(), options.signal);
    let result;
    try {
      result = await call(request, options);
    } catch (e) {
      await hopWait(hop.clock, hop.responseMs(), options.signal);
      throw e;
    }
    await hopWait(hop.clock, hop.responseMs(), options.signal);
    return result;
  };
}

/** What reaches the consumer's side of the hop, in order: an event, the far side's error, or its end. */
export type Arrival = { readonly event: StreamEvent } | { readonly error: unknown } | { readonly end: true };

/**
 * The stream, delayed. A pump reads the far side as fast as it produces (as a socket buffer would), so the model
 * sees the same consumer as without the hop; the consumer reads what has arrived. Aborting the signal ends the
 * consumer at once; leaving the loop early cancels the far side, as closing a connection does.
 */
async function* streamAcross(
  client: ModelClient,
  request: ModelRequest,
  options: StreamOptions,
  hop: HopDelays,
): AsyncGenerator<StreamEvent> {
  const outer = options.signal;
  await hopWait(hop.clock, hop.requestMs(), outer);
  const ctl = new AbortController();
  const arrived: Arrival[] = [];
  let wake: (() => void) | undefined;
  const onAbort = (): void => {
    ctl.abort(outer?.reason);
    wake?.();
  };
  outer?.addEventListener('abort', onAbort, { once: true });
  const line = new DelayLine<Arrival>(hop.clock, hop.responseMs, (a) => {
    arrived.push(a);
    wake?.();
  });
  const pump = async (): Promise<void> => {
    try {
      for await (const event of client.stream(request, { ...options, signal: ctl.signal })) line.push({ event });
      line.push({ end: true });
    } catch (error) {
      line.push({ error });
    }
  };
  void pump();
  let finished = false;
  try {
    for (;;) {
      while (arrived.length === 0) {
        if (outer?.aborted === true) throw abortReason(outer);
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      if (outer?.aborted === true) throw abortReason(outer);
      const a = arrived.shift() as Arrival;
      if ('error' in a) {
        finished = true;
        throw a.error;
      }
      if ('end' in a) {
        finished = true;
        return;
      }
      if (a.event.type === 'done') finished = true;
      yield a.event;
    }
  } finally {
    outer?.removeEventListener('abort', onAbort);
    line.close();
    if (!finished) ctl.abort(outer?.aborted === true ? outer.reason : new Error('stream consumer stopped'));
  }
}

/** How a client submits to the engine. */
export type Submit = (request: EngineRequest, signal?: AbortSignal) => Promise<EngineResult>;

/**
 * `submit` seen from the load driver across the client→engine hop: the engine gets the request after the request
 * delay; the caller's `onTokens` gets each chunk when it arrives (its `atMs` the arrival time), and the result's
 * `firstTokenAtMs` and `endAtMs` are arrival times too, as the live driver measures them. `submit` itself when the
 * hop delays nothing. An abort still reaches the engine at once (the driver drops the connection), and whatever
 * was on its way is delivered then.
 */
export function transportedSubmit(submit: Submit, o: HopOptions): Submit {
  if (isZeroHop(o.hop)) return submit;
  const requestMs = delaySampler(o.hop?.requestMs, () => o.random.derive('request'));
  const responseMs = delaySampler(o.hop?.responseMs, () => o.random.derive('response'));
  return async (request, signal) => {
    await hopWait(o.clock, requestMs(), signal).catch(() => undefined); // aborted on the way: the engine sees it cancelled
    const onTokens = request.onTokens;
    let firstAtMs: number | undefined;
    let endAtMs: number | undefined;
    let ended: (() => void) | undefined;
    const line = new DelayLine<TokenChunk | null>(o.clock, responseMs, (c) => {
      const now = o.clock.now();
      if (c === null) {
        endAtMs = now;
        ended?.();
        return;
      }
      firstAtMs ??= now;
      onTokens?.({ ...c, atMs: now });
    });
    const flush = (): void => line.flush();
    signal?.addEventListener('abort', flush, { once: true });
    try {
      const r = await submit({ ...request, onTokens: (c) => line.push(c) }, signal);
      line.push(null);
      if (signal?.aborted === true) line.flush();
      if (endAtMs === undefined) await new Promise<void>((resolve) => (ended = resolve));
      const end = endAtMs as number;
      const { firstTokenAtMs, ...rest } = r;
      return { ...rest, endAtMs: end, ...(firstTokenAtMs !== undefined ? { firstTokenAtMs: firstAtMs ?? end } : {}) };
    } finally {
      signal?.removeEventListener('abort', flush);
    }
  };
}
