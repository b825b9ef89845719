/**
 * One trace per request, driven by the Engine's typed events and the request's lifecycle:
 *
 *     request                     (root: id, tenant, priority; outcome, attempts, tokens at the end)
 *     ├── admission               (API validation + store + engine admission; a synchronous shed ends here)
 *     ├── queue.wait              (admitted -> first attempt; again after a backoff that gave its slot back)
 *     ├── attempt                 (attempt number, model, resume_from; `error.class` = the error code on failure)
 *     │   └── model.stream        (the upstream call; a `first-token` event at its first token)
 *     └── backoff                 (cause, code, delay; exactly the scheduled delay)
 *
 * Times come from the Clock (explicit start and end times), so spans line up with the engine's own figures
 * and virtual-time runs give virtual-time spans.
 */
import { context, SpanStatusCode, trace, type Attributes, type Context, type HrTime, type Span, type Tracer } from '@opentelemetry/api';
import type { EngineEvent, EngineResult, TokenChunk } from '../engine/engine-types.js';
import type { Clock } from '../time/clock.js';

interface Live {
  readonly root: Span;
  readonly ctx: Context;
  admission: Span | undefined;
  queue: Span | undefined;
  attempt: Span | undefined;
  stream: Span | undefined;
  streamCtx: Context | undefined;
  firstTokenSeen: boolean;
}

/** Options of {@link RequestTracer.begin}. */
export interface BeginOptions {
  /** Root span name. @default 'request' */
  readonly name?: string;
  readonly attributes?: Attributes;
  /** When the request arrived (Clock ms). @default clock.now() */
  readonly startMs?: number;
}

/** How an idempotent replay was answered: from the stored result, or by joining the in-flight twin. */
export type ReplayKind = 'stored' | 'joined';

/** Options of {@link RequestTracer.replayed}. */
export interface ReplayOptions {
  readonly kind: ReplayKind;
  /** The id of the request (job) that answered it. */
  readonly of: string;
}

/** Maps engine events for begun requests onto spans. Events for requests never begun are ignored. */
export class RequestTracer {
  private readonly live = new Map<string, Live>();
  private readonly originMs: number;

  constructor(private readonly tracer: Tracer, private readonly clock: Clock) {
    // Span times are Unix-epoch based: anchor the clock's origin to wall time when the clock knows it.
    const wall = (clock as { wallTimeMs?: () => number }).wallTimeMs;
    this.originMs = typeof wall === 'function' ? wall.call(clock) - clock.now() : 0;
  }

  /** Requests with an open trace. */
  get open(): number {
    return this.live.size;
  }

  private hr(ms: number): HrTime {
    const t = this.originMs + ms;
    const s = Math.floor(t / 1000);
    return [s, Math.round((t - s * 1000) * 1e6)];
  }

  private child(parent: Context, name: string, atMs: number, attributes?: Attributes): Span {
    return this.tracer.startSpan(name, { startTime: this.hr(atMs), ...(attributes !== undefined ? { attributes } : {}) }, parent);
  }

  /** Opens the request's root span and its admission span. */
  begin(id: string, o: BeginOptions = {}): void {
    if (this.live.has(id)) return;
    const atMs = o.startMs ?? this.clock.now();
    const root = this.tracer.startSpan(o.name ?? 'request', { startTime: this.hr(atMs), attributes: { 'request.id': id, ...o.attributes } }, context.active());
    // A no-op tracer (no span processor): nothing to follow, and no per-request state to keep.
    if (!root.isRecording()) return;
    const ctx = trace.setSpan(context.active(), root);
    this.live.set(id, { root, ctx, admission: this.child(ctx, 'admission', atMs), queue: undefined, attempt: undefined, stream: undefined, streamCtx: undefined, firstTokenSeen: false });
  }

  /** The engine accepted the request (submit returned): admission ends, queue wait begins. */
  admitted(id: string): void {
    const l = this.live.get(id);
    if (l?.admission === undefined) return;
    const now = this.clock.now();
    l.admission.end(this.hr(now));
    l.admission = undefined;
    l.queue ??= this.child(l.ctx, 'queue.wait', now);
  }

  /** A token chunk reached the caller: the first one of an attempt marks the model stream. */
  tokens(id: string, chunk: TokenChunk): void {
    const l = this.live.get(id);
    if (l === undefined || l.firstTokenSeen || l.stream === undefined) return;
    l.firstTokenSeen = true;
    l.stream.addEvent('first-token', { 'token.index': chunk.index }, this.hr(chunk.atMs));
  }

  /** Ends, with an ERROR status, a trace that never reached the engine (rejected before submit). */
  abandon(id: string, reason: string): void {
    const l = this.close(id);
    if (l === undefined) return;
    l.root.setStatus({ code: SpanStatusCode.ERROR, message: reason });
    l.root.end(this.hr(this.clock.now()));
  }

  /**
   * Ends the trace of an idempotent replay: answered by an earlier request with the same key (`stored`: from its
   * result; `joined`: it is still in flight), so it never reached the engine, and nothing failed. The status stays
   * UNSET, as for any request that succeeded; `request.replay` and `request.replay_of` say what answered it.
   */
  replayed(id: string, o: ReplayOptions): void {
    const l = this.close(id);
    if (l === undefined) return;
    l.root.setAttributes({ 'request.replay': o.kind, 'request.replay_of': o.of });
    l.root.end(this.hr(this.clock.now()));
  }

  /** Forgets a begun request and ends its open child spans now; the caller ends the root. */
  private close(id: string): Live | undefined {
    const l = this.live.get(id);
    if (l === undefined) return undefined;
    this.live.delete(id);
    const end = this.hr(this.clock.now());
    for (const s of [l.admission, l.queue, l.stream, l.attempt]) s?.end(end);
    return l;
  }

  /** Feeds one engine event. */
  onEvent(e: EngineEvent): void {
    if (e.type === 'done') return this.done(e.result);
    if (!('id' in e)) return;
    const l = this.live.get(e.id);
    if (l === undefined) return;
    switch (e.type) {
      case 'attempt': {
        this.endQueue(l, e.atMs, true);
        l.attempt = this.child(l.ctx, 'attempt', e.atMs, {
          'attempt.number': e.attempt,
          'attempt.model': e.model,
          ...(e.resumeFrom !== undefined ? { 'attempt.resume_from': e.resumeFrom } : {}),
        });
        l.streamCtx = trace.setSpan(l.ctx, l.attempt);
        l.stream = this.child(l.streamCtx, 'model.stream', e.atMs, { 'model': e.model });
        l.firstTokenSeen = false;
        break;
      }
      case 'attempt-failed': {
        const end = this.hr(e.atMs);
        l.stream?.setStatus({ code: SpanStatusCode.ERROR, message: e.code });
        l.stream?.end(end);
        l.attempt?.setAttribute('error.class', e.code);
        l.attempt?.setStatus({ code: SpanStatusCode.ERROR, message: e.code });
        l.attempt?.end(end);
        l.stream = l.attempt = undefined;
        break;
      }
      case 'retry': {
        // The delay is known when the retry is scheduled: the span is exact at once.
        const b = this.child(l.ctx, 'backoff', e.atMs, { 'backoff.cause': e.cause, 'backoff.delay_ms': e.delayMs, 'error.class': e.code, 'backoff.holds_slot': e.holdsSlot });
        b.end(this.hr(e.atMs + e.delayMs));
        // A retry that gave its slot back queues again once the delay is over.
        if (!e.holdsSlot && e.delayMs > 0) l.queue = this.child(l.ctx, 'queue.wait', e.atMs + e.delayMs);
        break;
      }
      case 'shed':
        l.root.addEvent('shed', { 'shed.reason': e.reason, ...(e.retryAfterMs !== undefined ? { 'shed.retry_after_ms': e.retryAfterMs } : {}) }, this.hr(e.atMs));
        break;
      case 'give-up':
        l.root.addEvent('give-up', { 'give_up.reason': e.reason, 'error.class': e.code }, this.hr(e.atMs));
        break;
      default:
        break;
    }
  }

  private endQueue(l: Live, atMs: number, started = false): void {
    if (l.admission !== undefined) {
      l.admission.end(this.hr(atMs));
      l.admission = undefined;
      // Dispatched within admission (a free slot): it waited in no queue, which the trace says explicitly.
      if (started) l.queue ??= this.child(l.ctx, 'queue.wait', atMs);
    }
    // A queue span that would start after now (a zero-delay re-entry) ends where it starts.
    l.queue?.end(this.hr(atMs));
    l.queue = undefined;
  }

  private done(r: EngineResult): void {
    const l = this.live.get(r.id);
    if (l === undefined) return;
    this.live.delete(r.id);
    const end = this.hr(r.endAtMs);
    this.endQueue(l, r.endAtMs);
    const failed = r.outcome !== 'ok' && r.outcome !== 'degraded';
    for (const s of [l.stream, l.attempt]) {
      if (s === undefined) continue;
      if (failed && r.error !== undefined) {
        s.setStatus({ code: SpanStatusCode.ERROR, message: r.error.code });
        if (s === l.attempt) s.setAttribute('error.class', r.error.code);
      }
      s.end(end);
    }
    l.root.setAttributes({
      'request.outcome': r.outcome,
      'request.attempts': r.attempts,
      'request.tokens': r.tokens,
      'request.model': r.model,
      ...(r.degraded !== undefined ? { 'request.degraded': r.degraded } : {}),
      // The engine's own dedup: the outcome is the twin's (a failed twin fails this one too).
      ...(r.deduped !== undefined ? { 'request.deduped': r.deduped } : {}),
      ...(r.error !== undefined ? { 'error.class': r.error.code } : {}),
    });
    if (failed) l.root.setStatus({ code: SpanStatusCode.ERROR, message: r.error?.message ?? r.outcome });
    l.root.end(end);
  }
}
