import { AbortError, abortReason } from '../errors.js';
import type { Timer } from '../time/clock.js';
import type { ModelRequest, StreamEvent, StreamOptions } from '../upstream/model-client.js';
import type { ReplicaDeployment, ReplicaEntry } from './deployment.js';
import { outcomeOf, type CallOutcome } from './outlier.js';

/** One call of a hedged request: a replica, its own abort, its iterator and its pending read. */
interface Leg {
  readonly entry: ReplicaEntry;
  readonly controller: AbortController;
  readonly it: AsyncIterator<StreamEvent>;
  readonly startMs: number;
  pending: Promise<Settled> | undefined;
  ended: boolean;
}

type Settled = { leg: Leg; ok: true; r: IteratorResult<StreamEvent> } | { leg: Leg; ok: false; error: unknown };

/** The reason a hedge's losing call is aborted with. */
export class HedgeLostError extends AbortError {
  constructor() {
    super('the other call of a hedged request answered first');
  }
}

/** What {@link hedgedStream} needs. */
export interface HedgeStart {
  readonly entry: ReplicaEntry;
  readonly request: ModelRequest;
  readonly options: StreamOptions;
  readonly budget: { tryAcquire(): boolean };
  readonly delayMs: number;
}

/**
 * A hedged stream (The Tail at Scale, Dean and Barroso): the call goes to `entry`; if it has sent no event after
 * `delayMs`, a second call of the same request goes to another replica the balancer picks (never the first), when
 * the retry budget grants one (else none is sent). Whichever sends an event first wins: its stream is the answer,
 * and the other call is aborted through its signal (an upstream bills what it generated: that is the hedge's cost).
 * A call that fails before the other answered leaves the other to go on; when every call failed, the last error is
 * thrown. Events `hedge` and `hedge-lost`.
 */
export async function* hedgedStream(d: ReplicaDeployment, s: HedgeStart): AsyncGenerator<StreamEvent> {
  const caller = s.options.signal;
  const legs: Leg[] = [];
  const open = (entry: ReplicaEntry): Leg => {
    const controller = new AbortController();
    d.begin(entry);
    const options: StreamOptions = { ...withoutSignal(s.options), signal: controller.signal };
    const leg: Leg = { entry, controller, it: entry.replica.client.stream(s.request, options)[Symbol.asyncIterator](), startMs: d.now(), pending: undefined, ended: false };
    legs.push(leg);
    return leg;
  };
  const close = (leg: Leg, outcome: CallOutcome): void => {
    if (leg.ended) return;
    leg.ended = true;
    d.end(leg.entry, outcome);
  };
  const onCallerAbort = (): void => {
    for (const leg of legs) leg.controller.abort(caller?.reason);
  };
  if (caller?.aborted === true) throw abortReason(caller);
  caller?.addEventListener('abort', onCallerAbort, { once: true });

  let timer: Timer | undefined;
  let fired: Promise<'hedge'> | undefined = new Promise<'hedge'>((resolve) => {
    timer = d.setTimer(s.delayMs, () => resolve('hedge'));
  });
  let winner: Leg | undefined;
  let answered = false;
  let lastError: unknown;
  try {
    open(s.entry);
    let first: IteratorResult<StreamEvent> | undefined;
    while (winner === undefined) {
      const live = legs.filter((l) => !l.ended);
      if (live.length === 0) throw lastError;
      const reads = live.map((l) => (l.pending ??= read(l)));
      const got = await Promise.race(fired === undefined ? reads : [...reads, fired]);
      if (got === 'hedge') {
        fired = undefined;
        const other = d.choose(s.options.route, s.entry);
        if (other !== undefined && s.budget.tryAcquire()) {
          const leg = open(other);
          if (d.hasListeners()) d.emit({ type: 'hedge', deployment: d.name, id: s.request.id, from: s.entry.id, to: leg.entry.id, atMs: d.now() });
        }
        continue;
      }
      got.leg.pending = undefined;
      if (!got.ok) {
        lastError = got.error;
        close(got.leg, outcomeOf(got.error, got.leg.controller.signal));
        continue;
      }
      winner = got.leg;
      first = got.r;
    }
    timer?.cancel();
    d.hedgeDelay?.add(d.now() - winner.startMs);
    for (const leg of legs) {
      if (leg === winner || leg.ended) continue;
      leg.controller.abort(new HedgeLostError());
      leg.it.return?.()?.catch(() => undefined);
      leg.pending?.catch(() => undefined);
      close(leg, 'neutral');
      if (d.hasListeners()) d.emit({ type: 'hedge-lost', deployment: d.name, id: s.request.id, replica: leg.entry.id, atMs: d.now() });
    }
    let r = first as IteratorResult<StreamEvent>;
    try {
      while (r.done !== true) {
        if (r.value.type === 'done') answered = true;
        yield r.value;
        r = await winner.it.next();
      }
      close(winner, answered ? 'answered' : 'gateway');
    } catch (error) {
      close(winner, outcomeOf(error, winner.controller.signal));
      throw error;
    }
  } finally {
    timer?.cancel();
    caller?.removeEventListener('abort', onCallerAbort);
    for (const leg of legs) {
      if (leg.ended) continue;
      // The consumer stopped reading (after `done`, or it gave up): end the call, neutral unless it answered.
      leg.it.return?.()?.catch(() => undefined);
      leg.pending?.catch(() => undefined);
      close(leg, leg === winner && answered ? 'answered' : 'neutral');
    }
  }
}

function read(leg: Leg): Promise<Settled> {
  return leg.it.next().then(
    (r) => ({ leg, ok: true as const, r }),
    (error: unknown) => ({ leg, ok: false as const, error }),
  );
}

/** The options without their signal (read lazily: the engine's is a getter that creates its controller). */
function withoutSignal(o: StreamOptions): StreamOptions {
  const { signal: _signal, ...rest } = o;
  return rest;
}
