/**
 * Redis connections from a `redis://` URL (ioredis). Two flavours: `failFast` connections (the API: a command
 * during an outage rejects at once, so requests get a 503 instead of hanging) and `patient` ones (workers and
 * BullMQ's blocking connections: commands wait for the reconnect, nothing is dropped).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { QueueUrlError } from './errors.js';

/** Host, port, db and credentials parsed from a Redis URL. */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
  /** The URL without its password, for logs. */
  readonly display: string;
}

/** Parses `redis://[user:pass@]host[:port][/db]` (or `rediss://`); the error names the problem. */
export function parseRedisUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QueueUrlError(url, 'not a URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new QueueUrlError(url, `scheme ${u.protocol.replace(/:$/, '')} is not redis or rediss`);
  if (u.hostname === '') throw new QueueUrlError(url, 'no host');
  const port = u.port === '' ? 6379 : Number(u.port);
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,2}$/.test(dbText)) throw new QueueUrlError(url, `database ${JSON.stringify(dbText)} is not a number from 0 to 99`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return {
    host,
    port,
    db: dbText === '' ? 0 : Number(dbText),
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
    tls: u.protocol === 'rediss:',
    display: `${u.protocol}//${u.username !== '' ? `${u.username}@` : ''}${u.host}${dbText === '' ? '' : `/${dbText}`}`,
  };
}

/** How a connection behaves while Redis is away. */
export type ConnectionMode = 'failFast' | 'patient';

/** ioredis options for a target. Reconnects forever, backing off up to `maxReconnectDelayMs`. */
export function redisOptions(t: RedisTarget, mode: ConnectionMode, o: { readonly name?: string; readonly maxReconnectDelayMs?: number } = {}): RedisOptions {
  const maxDelay = o.maxReconnectDelayMs ?? 500;
  return {
    host: t.host,
    port: t.port,
    db: t.db,
    ...(t.username !== undefined ? { username: t.username } : {}),
    ...(t.password !== undefined ? { password: t.password } : {}),
    ...(t.tls ? { tls: {} } : {}),
    ...(o.name !== undefined ? { connectionName: o.name } : {}),
    lazyConnect: true,
    retryStrategy: (times: number) => Math.min(50 * times, maxDelay),
    // failFast: no offline queue and no retries of a command, so an outage is a prompt error (a 503).
    // patient: BullMQ's requirement for workers (maxRetriesPerRequest null), commands wait for the reconnect.
    enableOfflineQueue: mode === 'patient',
    maxRetriesPerRequest: mode === 'patient' ? null : 0,
  };
}

/** A connected client (rejects if the first connection fails). */
export async function connectRedis(t: RedisTarget, mode: ConnectionMode, o: { readonly name?: string } = {}): Promise<Redis> {
  const r = new Redis(redisOptions(t, mode, o));
  // Errors are reported through status and rejected commands; an unhandled 'error' event would crash.
  r.on('error', () => undefined);
  try {
    await r.connect();
  } catch (error) {
    r.disconnect();
    throw error;
  }
  return r;
}
