/**
 * Low-level wire helpers shared by the routes: sending an error reply, breaking a socket, detecting that the
 * client went away, and waiting for a slow reader without holding memory.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';
import { AbortError } from '../src/errors.js';
import type { HttpErrorReply } from './http-errors.js';
import type { Clock } from '../src/time/clock.js';
import type { ServedModel } from './served-model.js';

/** What every route handler shares. */
export interface RouteContext {
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly clock: Clock;
  /** A fresh request id when the client sent no `x-request-id`: a per-app counter, so runs repeat. */
  nextId(): string;
  /** The `created` field: Unix seconds when the clock knows the wall time, else clock seconds. */
  created(): number;
}

/** Sends an error as the API does, or resets the connection when that is the error's wire form. */
export function sendError(reply: FastifyReply, e: HttpErrorReply): FastifyReply {
  if (e.kind === 'reset') {
    reply.hijack();
    resetConnection(reply.raw);
    return reply;
  }
  return reply.code(e.status).headers(e.headers).send(e.body);
}

/** Ends the connection abruptly: a TCP RST where the socket supports it, else a plain destroy. */
export function resetConnection(res: ServerResponse): void {
  const socket = res.socket as (Socket & { resetAndDestroy?: () => void }) | null;
  if (socket && typeof socket.resetAndDestroy === 'function' && !socket.destroyed) {
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // fall through: some sockets (e.g. not yet connected) refuse a reset
    }
  }
  res.destroy();
}

/**
 * An AbortController that aborts when the client closes the connection before the response finished, so the
 * GPU slot of an abandoned generation is freed. Call `done()` when the response is complete. The controller and
 * the socket listener are made on first use of `signal`, so a request refused at admission never pays for them.
 */
export class ClientAbort {
  private ac: AbortController | undefined;
  private onClose: (() => void) | undefined;

  constructor(private readonly res: ServerResponse) {}

  get signal(): AbortSignal {
    if (this.ac === undefined) {
      const ac = new AbortController();
      const res = this.res;
      this.ac = ac;
      this.onClose = (): void => {
        if (!res.writableFinished) ac.abort(new AbortError(new Error('client closed the connection')));
      };
      res.once('close', this.onClose);
    }
    return this.ac.signal;
  }

  abort(): void {
    this.ac?.abort(new AbortError(new Error('response ended early')));
  }

  done(): void {
    if (this.onClose !== undefined) this.res.removeListener('close', this.onClose);
  }
}

/** A {@link ClientAbort} whose signal exists from the start. */
export function clientAbort(res: ServerResponse): ClientAbort {
  const a = new ClientAbort(res);
  void a.signal;
  return a;
}

/** Waits for `drain` after a write returned false; resolves early when the signal aborts or the socket closes. */
export function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  if (signal.aborted || res.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const finish = (): void => {
      res.removeListener('drain', finish);
      res.removeListener('close', finish);
      signal.removeEventListener('abort', finish);
      resolve();
    };
    res.once('drain', finish);
    res.once('close', finish);
    signal.addEventListener('abort', finish, { once: true });
  });
}

/** A 404 for a model this server does not serve, as the OpenAI API words it. */
export function modelNotFound(model: string, served: Iterable<string>): HttpErrorReply {
  return {
    kind: 'reply',
    status: 404,
    headers: {},
    body: {
      error: {
        message: `The model \`${model}\` does not exist; this server serves ${[...served].join(', ')}`,
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      },
    },
  };
}

/**
 * The write side of one SSE response. On a real socket with chunked encoding it frames each event as one HTTP
 * chunk and writes it to the socket in one call, skipping ServerResponse's per-write cork/nextTick work: the
 * hot path of a streamed token. Elsewhere (inject(), HTTP/1.0) it falls back to `res.write`.
 */
export interface SseSink {
  /** Writes one or more SSE events; false when the caller should wait for `drained()`. */
  write(events: string): boolean;
  /** Writes, then calls `flushed` once the bytes were handed to the kernel. */
  writeThen(events: string, flushed: () => void): void;
  drained(signal: AbortSignal): Promise<void>;
  /** Ends the response cleanly (the terminating chunk), after `last` if given. */
  end(last?: string): void;
  readonly destroyed: boolean;
}

/**
 * Sends the status and headers, with `first` (the first events, e.g. the role chunk) in the same write when given,
 * and returns the sink for the rest.
 */
export function openSse(res: ServerResponse, status: number, headers: Record<string, string>, first?: string): SseSink {
  res.writeHead(status, headers);
  // ServerResponse puts the header and its first chunk in one write (corked until the next tick); a later direct
  // socket write queues behind them in order.
  if (first !== undefined) res.write(first);
  else res.flushHeaders();
  const socket = res.socket;
  if (res.chunkedEncoding && socket !== null && socket.constructor.name === 'Socket' && !socket.destroyed) {
    return new SocketSse(res, socket);
  }
  return new ResponseSse(res);
}

/** Writes framed chunks straight to the socket (a class, so the per-token calls stay monomorphic). */
class SocketSse implements SseSink {
  constructor(
    private readonly res: ServerResponse,
    private readonly socket: Socket,
  ) {}

  write(events: string): boolean {
    return this.socket.write(frame(events));
  }

  writeThen(events: string, flushed: () => void): void {
    this.socket.write(frame(events), () => flushed());
  }

  drained(signal: AbortSignal): Promise<void> {
    return waitDrain(this.socket, signal);
  }

  end(last?: string): void {
    if (last !== undefined) this.res.end(last);
    else this.res.end();
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }
}

/** Writes through ServerResponse (inject(), HTTP/1.0). */
class ResponseSse implements SseSink {
  constructor(private readonly res: ServerResponse) {}

  write(events: string): boolean {
    return this.res.write(events);
  }

  writeThen(events: string, flushed: () => void): void {
    this.res.write(events, () => flushed());
  }

  drained(signal: AbortSignal): Promise<void> {
    return drained(this.res, signal);
  }

  end(last?: string): void {
    if (last !== undefined) this.res.end(last);
    else this.res.end();
  }

  get destroyed(): boolean {
    return this.res.destroyed;
  }
}

/** One HTTP/1.1 chunk: size in hex, CRLF, data, CRLF. */
function frame(data: string): string {
  return `${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`;
}

function waitDrain(socket: Socket, signal: AbortSignal): Promise<void> {
  if (signal.aborted || socket.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const finish = (): void => {
      socket.removeListener('drain', finish);
      socket.removeListener('close', finish);
      signal.removeEventListener('abort', finish);
      resolve();
    };
    socket.once('drain', finish);
    socket.once('close', finish);
    signal.addEventListener('abort', finish, { once: true });
  });
}
