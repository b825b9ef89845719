/**
 * `sim --replicas N`: N independent replicas of the mock in one process, each its own fastify server on its own port
 * (consecutive from `--port`), with its own MockModels (GPU state, fault plan, random streams) and its own control
 * endpoint (`/mock/*` on its port). Every replica answers a request id with the same token text (one content seed),
 * so an engine that resumes a broken stream on another replica gets the continuation byte for byte.
 *
 * A crash fault in one replica (a header, a probability or a timeline phase) crashes that replica alone, as if it
 * were its own process: its listener closes and every connection to it is reset (connections are refused during the
 * downtime), and its other models crash with it (a process loses all of its state). The other replicas keep serving.
 * With `--supervise` the replica listens again on the same port after the crash's downtime, in cold start (503
 * until the crash's cold start ends); without it, it stays down, and the process exits with the crash exit code
 * once every replica is down. One process per replica (separate `npm run sim -- --replicas 1 --first-replica I`
 * processes, each with its own `--supervise`) remains the way to crash a real process per replica.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock, Timer } from '../src/time/clock.js';
import type { MockModel } from './mock-model.js';

/** One replica's state: `up` serving, `down` in a crash's downtime (restart pending), `gone` down for good. */
export type ReplicaStatus = 'up' | 'down' | 'gone';

/** Events of a replica set (the process prints them). */
export type ReplicaSetEvent =
  | { readonly type: 'listening'; readonly index: number; readonly url: string; readonly restarted: boolean; readonly coldStartMs: number }
  | { readonly type: 'crash'; readonly index: number; readonly model: string; readonly downtimeMs: number; readonly coldStartMs: number; readonly restart: boolean }
  | { readonly type: 'all-down' };

/** Options of {@link ReplicaSet.start}. */
export interface ReplicaSetOptions {
  /** Replica indices served (e.g. [0, 1, 2]). */
  readonly indices: readonly number[];
  /** The first port; replica k (k-th of `indices`) listens on `port + k`. 0: a free port each. */
  readonly port: number;
  readonly host: string;
  readonly clock: Clock;
  /** Restart a crashed replica after its downtime, in cold start. */
  readonly supervise: boolean;
  /** The models of replica `index` (a new GPU each); called once per replica. */
  models(index: number): MockModel[];
  /** The fastify app serving `models` (sim/server.ts buildServer). */
  app(models: readonly MockModel[]): FastifyInstance;
}

/** One served replica. */
export interface Replica {
  readonly index: number;
  readonly models: readonly MockModel[];
  readonly app: FastifyInstance;
  /** The bound port (stays the same across restarts). */
  readonly port: number;
  readonly url: string;
  readonly status: ReplicaStatus;
}

class ReplicaHandle implements Replica {
  status: ReplicaStatus = 'up';
  port = 0;
  restartTimer: Timer | undefined;

  constructor(
    readonly index: number,
    readonly models: readonly MockModel[],
    readonly app: FastifyInstance,
    private readonly host: string,
  ) {}

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }
}

/** The replicas of one process. */
export class ReplicaSet {
  private readonly listeners = new Set<(e: ReplicaSetEvent) => void>();
  private closed = false;

  private constructor(
    private readonly o: ReplicaSetOptions,
    private readonly handles: readonly ReplicaHandle[],
  ) {}

  /** Builds every replica and listens; rejects (with every replica closed) when a port cannot be bound. */
  static async start(o: ReplicaSetOptions, onEvent?: (e: ReplicaSetEvent) => void): Promise<ReplicaSet> {
    const handles = o.indices.map((index) => {
      const models = o.models(index);
      return new ReplicaHandle(index, models, o.app(models), o.host);
    });
    const set = new ReplicaSet(o, handles);
    if (onEvent !== undefined) set.onEvent(onEvent);
    for (const h of handles) {
      for (const m of h.models) m.onEvent((e) => {
        if (e.type === 'crash') set.crash(h, m.name, e.downtimeMs, e.coldStartMs);
      });
    }
    try {
      for (const [k, h] of handles.entries()) {
        await h.app.listen({ port: o.port === 0 ? 0 : o.port + k, host: o.host });
        const a = h.app.server.address();
        h.port = typeof a === 'object' && a !== null ? a.port : o.port + k;
        // A timeline crash at atMs 0 may already have taken the replica down while it was starting to listen.
        if (h.status === 'up') set.emit({ type: 'listening', index: h.index, url: h.url, restarted: false, coldStartMs: 0 });
        else await set.closeListener(h);
      }
    } catch (err) {
      await set.close();
      throw err;
    }
    return set;
  }

  onEvent(listener: (e: ReplicaSetEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: ReplicaSetEvent): void {
    for (const l of this.listeners) l(e);
  }

  get replicas(): readonly Replica[] {
    return this.handles;
  }

  /** A crash of one model takes its whole replica down: the listener, every connection and its other models. */
  private crash(h: ReplicaHandle, model: string, downtimeMs: number, coldStartMs: number): void {
    if (h.status !== 'up' || this.closed) return;
    h.status = 'down';
    // The replica's other models die with it, as in a process crash (the guard above stops the recursion).
    for (const m of h.models) if (m.name !== model) m.crash(downtimeMs, coldStartMs);
    const restart = this.o.supervise;
    this.emit({ type: 'crash', index: h.index, model, downtimeMs, coldStartMs, restart });
    const closing = this.closeListener(h);
    if (!restart) {
      h.status = 'gone';
      for (const m of h.models) m.close();
      if (this.handles.every((x) => x.status === 'gone')) void closing.then(() => this.emit({ type: 'all-down' }));
      return;
    }
    h.restartTimer = this.o.clock.setTimer(downtimeMs, () => {
      h.restartTimer = undefined;
      void closing.then(() => this.relisten(h, coldStartMs));
    }, `replica-restart:${h.index}`);
  }

  /** Stops accepting connections and resets the open ones (the port refuses connections until it listens again). */
  private closeListener(h: ReplicaHandle): Promise<void> {
    const server = h.app.server;
    const closed = new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
    server.closeAllConnections();
    return closed;
  }

  private relisten(h: ReplicaHandle, coldStartMs: number): void {
    if (this.closed) return;
    const server = h.app.server;
    const onError = (err: Error): void => {
      // The port was taken while the replica was down: it stays down, as a restarted process that cannot bind would.
      h.status = 'gone';
      process.stderr.write(`sim: replica ${h.index} could not listen again on port ${h.port}: ${err.message}\n`);
      if (this.handles.every((x) => x.status === 'gone')) this.emit({ type: 'all-down' });
    };
    server.once('error', onError);
    server.listen(h.port, this.o.host, () => {
      server.off('error', onError);
      h.status = 'up';
      this.emit({ type: 'listening', index: h.index, url: h.url, restarted: true, coldStartMs });
    });
  }

  /** Closes every replica: pending restarts, models (in-flight generations end), then the apps. */
  async close(): Promise<void> {
    this.closed = true;
    for (const h of this.handles) {
      h.restartTimer?.cancel();
      for (const m of h.models) m.close();
    }
    await Promise.all(this.handles.map((h) => h.app.close()));
  }
}
