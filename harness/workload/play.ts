/**
 * Plays a run's sessions, the same way in virtual and live mode: each open-loop session at its start time (after
 * a free place when `maxConcurrency` caps the sessions in flight), closed-loop users from their start, and tells
 * the context when each session starts and ends (the runner counts sessions in flight from that).
 *
 * A session held back by the cap keeps its scheduled start as its first request's intended start: the wait shows
 * in its TTFT and E2E, as it would to a user (vllm bench --max-concurrency instead starts the clock when the
 * request is sent, which hides the wait: coordinated omission).
 */
import type { BuiltWorkload } from './build.js';
import { sleepUntil } from './session-common.js';
import type { Session, SessionContext, SessionSummary } from './types.js';

/** A FIFO of places: `acquire` resolves when one is free. Time-free: it only orders promises. */
export class SessionGate {
  readonly limit: number;
  #used = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`SessionGate: expected an integer limit >= 1, got ${limit}`);
    this.limit = limit;
  }

  /** Places in use. */
  get used(): number {
    return this.#used;
  }

  /** Sessions waiting for a place. */
  get waiting(): number {
    return this.#waiting.length;
  }

  acquire(): Promise<void> {
    if (this.#used < this.limit) {
      this.#used++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    // The place passes straight to the next in line, so a later arrival cannot overtake it.
    if (next !== undefined) next();
    else this.#used--;
  }
}

/** Plays every session of `built` with `ctx`; resolves when all are over. */
export async function playWorkload(built: Pick<BuiltWorkload, 'sessions' | 'maxConcurrency'>, ctx: SessionContext): Promise<SessionSummary[]> {
  const gate = built.maxConcurrency === undefined ? undefined : new SessionGate(built.maxConcurrency);
  return Promise.all(built.sessions.map((s) => playSession(s, ctx, gate)));
}

async function playSession(s: Session, ctx: SessionContext, gate: SessionGate | undefined): Promise<SessionSummary> {
  // A closed-loop user tells the context about each session it plays.
  if (s.kind === 'user') return s.run(ctx);
  await sleepUntil(ctx, s.startAtMs);
  if (gate !== undefined) await gate.acquire();
  ctx.sessionStarted?.();
  try {
    return await s.run(ctx);
  } finally {
    ctx.sessionEnded?.();
    gate?.release();
  }
}
