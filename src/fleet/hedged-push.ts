import { abortReason } from '../errors.js';
import type { Timer } from '../time/clock.js';
import { StreamInterruptedError } from '../upstream/errors.js';
import type { StreamOptions, StreamSink } from '../upstream/model-client.js';
import type { ReplicaDeployment, ReplicaEntry } from './deployment.js';
import { HedgeLostError, type HedgeStart } from './hedged-stream.js';
import { outcomeOf, type CallOutcome } from './outlier.js';
import { afterReactions, NOTHING_TO_CANCEL, pushFrom } from './push.js';

const NOOP = (): void => undefined;

/** One call of a pushed hedged request: a replica, its own abort and its pushed call. */
interface Leg {
  readonly entry: ReplicaEntry;
  readonly controller: AbortController;
  readonly startMs: number;
  call: { cancel(): void } | undefined;
  ended: boolean;
  /** The call failed: its outcome, counted a few promise reactions later (see `fail`). */
  failed: CallOutcome | undefined;
}

/**
 * The push path of {@link hedgedStream} (PushableStream.pushTo): the same calls, hedge, winner and outcomes, with
 * each call's events pushed. The race is decided by the first event any call pushes (a hedge only races before
 * the first event); after that the winner's events go straight to `sink`.
 */
export function pushHedged(d: ReplicaDeployment, s: HedgeStart, sink: StreamSink): { cancel(): void } {
  const caller = s.options.signal;
  if (caller?.aborted === true) {
    sink.fail(abortReason(caller));
    return NOTHING_TO_CANCEL;
  }
  const legs: Leg[] = [];
  let winner: Leg | undefined;
  let answered = false;
  // `sink` had its last call, or the consumer cancelled.
  let over = false;
  let timer: Timer | undefined;
  const onCallerAbort = (): void => {
    for (const leg of legs) leg.controller.abort(caller?.reason);
  };
  const close = (leg: Leg, outcome: CallOutcome): void => {
    if (leg.ended) return;
    leg.ended = true;
    d.end(leg.entry, outcome);
  };
  const settle = (): void => {
    timer?.cancel();
    timer = undefined;
    caller?.removeEventListener('abort', onCallerAbort);
  };
  const win = (leg: Leg): void => {
    winner = leg;
    timer?.cancel();
    timer = undefined;
    d.hedgeDelay?.add(d.now() - leg.startMs);
    for (const other of legs) {
      if (other === leg || other.ended || other.failed !== undefined) continue;
      other.controller.abort(new HedgeLostError());
      other.call?.cancel();
      close(other, 'neutral');
      if (d.hasListeners()) d.emit({ type: 'hedge-lost', deployment: d.name, id: s.request.id, replica: other.entry.id, atMs: d.now() });
    }
  };
  /** True when `leg` carries the answer (it wins with its first event if nothing won before). */
  const carries = (leg: Leg): boolean => {
    if (winner === undefined) win(leg);
    return winner === leg && !over;
  };
  const open = (entry: ReplicaEntry): Leg => {
    const controller = new AbortController();
    d.begin(entry);
    const options: StreamOptions = { ...withoutSignal(s.options), signal: controller.signal };
    const stream = entry.replica.client.stream(s.request, options);
    const leg: Leg = { entry, controller, startMs: d.now(), call: undefined, ended: false, failed: undefined };
    legs.push(leg);
    leg.call = pushFrom(
      stream,
      {
        tokens: (index, count, text) => {
          if (carries(leg)) sink.tokens(index, count, text);
        },
        event: (ev) => {
          if (!carries(leg)) return;
          if (ev.type === 'done') answered = true;
          sink.event(ev);
        },
        fail: (error) => {
          if (winner !== undefined && winner !== leg) return; // lost the race: closed already
          const outcome = outcomeOf(error, controller.signal);
          leg.failed = outcome;
          // Counted where hedgedStream's loop would count it, a few promise reactions later.
          afterReactions(() => close(leg, outcome));
          // Before any answer, the other call goes on; the last failure is the stream's.
          if (winner === undefined && legs.some((l) => !l.ended && l.failed === undefined)) return;
          settle();
          if (over) return;
          over = true;
          sink.fail(error);
        },
        ended: () => {
          if (winner === undefined) win(leg);
          else if (winner !== leg) return;
          close(leg, answered ? 'answered' : 'gateway');
          settle();
          if (over) return;
          over = true;
          if (sink.ended !== undefined) sink.ended();
          else sink.fail(new StreamInterruptedError(0, 'stream ended without a done event'));
        },
      },
      // The consumer stopped reading (after `done`, or it gave up): the call ends, neutral unless it answered.
      () => close(leg, leg.failed ?? (leg === winner && answered ? 'answered' : 'neutral')),
    );
    return leg;
  };

  caller?.addEventListener('abort', onCallerAbort, { once: true });
  const hedge = (): void => {
    if (winner !== undefined || over || legs.every((l) => l.ended || l.failed !== undefined)) return;
    const other = d.choose(s.options.route, s.entry);
    if (other !== undefined && s.budget.tryAcquire()) {
      const leg = open(other);
      if (d.hasListeners()) d.emit({ type: 'hedge', deployment: d.name, id: s.request.id, from: s.entry.id, to: leg.entry.id, atMs: d.now() });
    }
  };
  // The hedge is decided two promise reactions after its timer, where the iterating race (hedgedStream) decides it:
  // calls routed in the same instant see the same replica loads, and draw from the balancer's random in the same
  // order, either way.
  timer = d.setTimer(s.delayMs, () => {
    timer = undefined;
    void Promise.resolve().then(NOOP).then(hedge);
  });
  open(s.entry);
  return {
    cancel: () => {
      over = true;
      settle();
      for (const leg of legs) if (!leg.ended && leg.failed === undefined) leg.call?.cancel();
    },
  };
}

/** The options without their signal (read lazily: the engine's is a getter that creates its controller). */
function withoutSignal(o: StreamOptions): StreamOptions {
  const { signal: _signal, ...rest } = o;
  return rest;
}
