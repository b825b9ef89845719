/**
 * `sim --replicas N` in process: N replicas on loopback ports, the same token text for a request id on every replica,
 * a fault plan per replica, and a crash that takes down one replica alone (restarted in cold start with supervise,
 * down for good without). Waits are on the replica set's events, bounded by the test timeout; every set is closed.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import type { SimOptions } from './cli-options.js';
import { replicaModels } from './replica-models.js';
import { ReplicaSet, type ReplicaSetEvent } from './replica-set.js';
import { buildServer } from './server.js';
import { FAST_PROFILE, parseSse } from './server-testkit.js';

const open: ReplicaSet[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

const base = {
  models: [{ name: 'primary', profile: FAST_PROFILE as Record<string, unknown>, label: 'primary=fast' }],
  seed: 7,
  coldStartMs: 0,
  timelineOffsetMs: 0,
} satisfies Partial<SimOptions>;

async function start(n: number, o: { supervise?: boolean; faults?: unknown } = {}): Promise<{ set: ReplicaSet; events: ReplicaSetEvent[]; next: (p: (e: ReplicaSetEvent) => boolean) => Promise<ReplicaSetEvent> }> {
  const clock = new RealClock();
  const events: ReplicaSetEvent[] = [];
  const waiters: Array<{ p: (e: ReplicaSetEvent) => boolean; resolve: (e: ReplicaSetEvent) => void }> = [];
  const set = await ReplicaSet.start(
    {
      indices: Array.from({ length: n }, (_, i) => i),
      port: 0,
      host: '127.0.0.1',
      clock,
      supervise: o.supervise ?? false,
      models: (index) => replicaModels({ ...base, ...(o.faults !== undefined ? { faults: o.faults } : {}) }, clock, index),
      app: (models) => buildServer({ models, clock }),
    },
    (e) => {
      events.push(e);
      for (const w of waiters.splice(0)) {
        if (w.p(e)) w.resolve(e);
        else waiters.push(w);
      }
    },
  );
  open.push(set);
  const next = (p: (e: ReplicaSetEvent) => boolean): Promise<ReplicaSetEvent> => new Promise((resolve) => waiters.push({ p, resolve }));
  return { set, events, next };
}

async function chat(url: string, headers: Record<string, string> = {}, stream = false): Promise<{ status: number; text: string } | Error> {
  try {
    const r = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'primary', stream, messages: [{ role: 'user', content: 'hello there' }] }),
    });
    const body = await r.body.text();
    return { status: r.statusCode, text: stream ? parseSse(body).text : body };
  } catch (err) {
    return err as Error;
  }
}

describe('ReplicaSet', { timeout: 30_000 }, () => {
  it('serves each replica on its own port, and every replica answers a request id with the same text', async () => {
    const { set } = await start(3);
    const ports = set.replicas.map((r) => r.port);
    expect(new Set(ports).size).toBe(3);
    const texts = await Promise.all(set.replicas.map((r) => chat(r.url, { 'x-request-id': 'conv-1', 'x-mock-output-tokens': '12' }, true)));
    for (const t of texts) expect(t).toMatchObject({ status: 200 });
    const [a, b, c] = texts as Array<{ text: string }>;
    expect(a?.text.length).toBeGreaterThan(0);
    expect(b?.text).toBe(a?.text);
    expect(c?.text).toBe(a?.text);
    // A resume on another replica continues the same text: the tail from token 5 on replica 2 is the tail on replica 0.
    const tail = await chat(set.replicas[2]?.url ?? '', { 'x-request-id': 'conv-1', 'x-mock-output-tokens': '12', 'x-mock-resume-from': '5' }, true);
    expect(tail).toMatchObject({ status: 200 });
    const rest = (tail as { text: string }).text;
    expect(rest.length).toBeGreaterThan(0);
    expect(rest.length).toBeLessThan(a?.text.length ?? 0);
    expect(a?.text.endsWith(rest)).toBe(true);
  });

  it('gives each replica its own fault plan from a replicas map (unnamed replicas have none)', async () => {
    const { set } = await start(3, { faults: { replicas: { '1': { serverError: { probability: 1 } } } } });
    const statuses = await Promise.all(set.replicas.map((r) => chat(r.url, { 'x-mock-output-tokens': '2' })));
    expect(statuses.map((s) => (s instanceof Error ? s.message : s.status))).toEqual([200, 500, 200]);
  });

  it('draws each replica\'s faults from its own seeded stream: one plan, different requests hit', async () => {
    const { set } = await start(2, { faults: { serverError: { probability: 0.5 } } });
    const pattern = async (url: string): Promise<string> => {
      let out = '';
      for (let i = 0; i < 24; i++) {
        const r = await chat(url, { 'x-request-id': `q-${i}`, 'x-mock-output-tokens': '1' });
        out += r instanceof Error ? 'E' : r.status === 200 ? '.' : 'x';
      }
      return out;
    };
    const a = await pattern(set.replicas[0]?.url ?? '');
    const b = await pattern(set.replicas[1]?.url ?? '');
    expect(a).toContain('x');
    expect(b).toContain('x');
    expect(a).not.toBe(b);
  });

  it('a crash fault takes down its replica alone; with supervise it listens again on its port, in cold start', async () => {
    const { set, next } = await start(3, { supervise: true });
    const [r0, r1, r2] = set.replicas;
    if (r0 === undefined || r1 === undefined || r2 === undefined) throw new Error('three replicas expected');
    const crashed = next((e) => e.type === 'crash');
    const back = next((e) => e.type === 'listening' && e.restarted);
    expect(await chat(r1.url, { 'x-mock-fault': 'crash:downtime-ms=300,cold-start-ms=60000' })).toBeInstanceOf(Error);
    expect(await crashed).toMatchObject({ type: 'crash', index: 1, model: 'primary', downtimeMs: 300, coldStartMs: 60_000, restart: true });
    // The others keep serving while replica 1 is down.
    expect(await chat(r0.url, { 'x-mock-output-tokens': '2' })).toMatchObject({ status: 200 });
    expect(await chat(r2.url, { 'x-mock-output-tokens': '2' })).toMatchObject({ status: 200 });
    expect(await back).toMatchObject({ type: 'listening', index: 1, url: r1.url, restarted: true, coldStartMs: 60_000 });
    expect(r1.status).toBe('up');
    expect(await chat(r1.url, { 'x-mock-output-tokens': '2' })).toMatchObject({ status: 503 });
    const h = await request(`${r1.url}/health`);
    expect(await h.body.json()).toMatchObject({ models: { primary: 'cold-start' } });
    expect(await chat(r0.url, { 'x-mock-output-tokens': '2' })).toMatchObject({ status: 200 });
  });

  it('without supervise a crashed replica stays down, and the set reports when every replica is down', async () => {
    const { set, next, events } = await start(2);
    const [r0, r1] = set.replicas;
    if (r0 === undefined || r1 === undefined) throw new Error('two replicas expected');
    expect(await chat(r0.url, { 'x-mock-fault': 'crash:downtime-ms=50' })).toBeInstanceOf(Error);
    expect(r0.status).toBe('gone');
    expect(await chat(r0.url)).toBeInstanceOf(Error);
    expect(await chat(r1.url, { 'x-mock-output-tokens': '2' })).toMatchObject({ status: 200 });
    expect(events.some((e) => e.type === 'all-down')).toBe(false);
    const all = next((e) => e.type === 'all-down');
    expect(await chat(r1.url, { 'x-mock-fault': 'crash:downtime-ms=50' })).toBeInstanceOf(Error);
    expect(await all).toEqual({ type: 'all-down' });
  });
});
