/**
 * Limits on what one slow or greedy client can hold of the service: a deadline to send the request headers and
 * one to send the whole request (a body that stops arriving is answered 408 and its connection closed), and an
 * optional cap on concurrent connections per client address. Node's own http server enforces the deadlines;
 * the check runs every `checkIntervalMs`, so a connection is closed within `timeout + interval`.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** Options of the service's inbound limits. */
export interface ConnectionLimitsOptions {
  /** Time to receive the whole request (headers and body); 0 disables. @default 30_000 */
  readonly requestTimeoutMs?: number;
  /** Time to receive the request headers; at most `requestTimeoutMs` when that is on. @default 10_000 */
  readonly headersTimeoutMs?: number;
  /** Concurrent connections one client address may hold; more are closed on accept. 0: no limit. @default 0 */
  readonly maxConnectionsPerAddress?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;

/** The resolved limits, validated (a RangeError names the bad option). */
export interface ConnectionLimits {
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly maxConnectionsPerAddress: number;
  /** How often Node looks for connections past a deadline. */
  readonly checkIntervalMs: number;
}

export function resolveConnectionLimits(o: ConnectionLimitsOptions = {}): ConnectionLimits {
  const requestTimeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const headersTimeoutMs = o.headersTimeoutMs ?? Math.min(DEFAULT_HEADERS_TIMEOUT_MS, requestTimeoutMs > 0 ? requestTimeoutMs : DEFAULT_HEADERS_TIMEOUT_MS);
  const maxConnectionsPerAddress = o.maxConnectionsPerAddress ?? 0;
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 0) throw new RangeError(`requestTimeoutMs: expected an integer >= 0, got ${String(o.requestTimeoutMs)}`);
  if (!Number.isInteger(headersTimeoutMs) || headersTimeoutMs < 1) throw new RangeError(`headersTimeoutMs: expected an integer >= 1, got ${String(o.headersTimeoutMs)}`);
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) {
    throw new RangeError(`headersTimeoutMs: expected at most requestTimeoutMs (${requestTimeoutMs}), got ${headersTimeoutMs}`);
  }
  if (!Number.isInteger(maxConnectionsPerAddress) || maxConnectionsPerAddress < 0) {
    throw new RangeError(`maxConnectionsPerAddress: expected an integer >= 0, got ${String(o.maxConnectionsPerAddress)}`);
  }
  const shortest = requestTimeoutMs > 0 ? Math.min(requestTimeoutMs, headersTimeoutMs) : headersTimeoutMs;
  return { requestTimeoutMs, headersTimeoutMs, maxConnectionsPerAddress, checkIntervalMs: Math.max(50, Math.min(1000, Math.floor(shortest / 4))) };
}

/** The fastify options that make Node's http server enforce the deadlines. */
export function fastifyTimeoutOptions(l: ConnectionLimits): { requestTimeout: number; http: { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } } {
  return {
    requestTimeout: l.requestTimeoutMs,
    http: { headersTimeout: l.headersTimeoutMs, requestTimeout: l.requestTimeoutMs, connectionsCheckingInterval: l.checkIntervalMs },
  };
}

/** Counters of {@link limitConnectionsPerAddress}, for tests and metrics. */
export interface ConnectionCounts {
  /** Open connections per client address. */
  readonly open: ReadonlyMap<string, number>;
  /** Connections closed on accept because their address was at the limit. */
  refused: number;
}

/**
 * Closes, on accept, a connection whose client address already holds `max` (0: no limit; returns counters that
 * stay empty). Cheap: one map update per connection and one per close.
 */
export function limitConnectionsPerAddress(server: Server, max: number): ConnectionCounts {
  const open = new Map<string, number>();
  const counts: ConnectionCounts = { open, refused: 0 };
  if (max <= 0) return counts;
  server.on('connection', (socket: Socket) => {
    const addr = socket.remoteAddress ?? 'unknown';
    const n = open.get(addr) ?? 0;
    if (n >= max) {
      counts.refused++;
      socket.destroy();
      return;
    }
    open.set(addr, n + 1);
    socket.once('close', () => {
      const left = (open.get(addr) ?? 1) - 1;
      if (left <= 0) open.delete(addr);
      else open.set(addr, left);
    });
  });
  return counts;
}
