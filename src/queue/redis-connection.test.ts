import { describe, expect, it } from 'vitest';
import { QueueUrlError } from './errors.js';
import { parseRedisUrl, redisOptions } from './redis-connection.js';

describe('parseRedisUrl', () => {
  it('reads host, port, db and credentials', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6390/2')).toMatchObject({ host: '127.0.0.1', port: 6390, db: 2, tls: false });
    expect(parseRedisUrl('redis://localhost')).toMatchObject({ host: 'localhost', port: 6379, db: 0 });
    const t = parseRedisUrl('rediss://app:s%3Acret@cache.internal:6380');
    expect(t).toMatchObject({ username: 'app', password: 's:cret', tls: true, display: 'rediss://app@cache.internal:6380' });
    expect(parseRedisUrl('redis://[::1]:7000')).toMatchObject({ host: '::1', port: 7000 });
  });

  it('says what is wrong', () => {
    expect(() => parseRedisUrl('127.0.0.1:6379')).toThrow(QueueUrlError);
    expect(() => parseRedisUrl('not a url')).toThrow(/got "not a url" \(not a URL\)/);
    expect(() => parseRedisUrl('http://h:1')).toThrow(/scheme http is not redis or rediss/);
    expect(() => parseRedisUrl('redis://h:1/x')).toThrow(/database "x"/);
  });
});

describe('redisOptions', () => {
  it('fail-fast connections refuse commands while down; patient ones queue them', () => {
    const t = parseRedisUrl('redis://127.0.0.1:6379');
    expect(redisOptions(t, 'failFast')).toMatchObject({ enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    expect(redisOptions(t, 'patient')).toMatchObject({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    const retry = redisOptions(t, 'patient', { maxReconnectDelayMs: 300 }).retryStrategy as (n: number) => number;
    expect([1, 2, 10, 100].map(retry)).toEqual([50, 100, 300, 300]);
  });
});
