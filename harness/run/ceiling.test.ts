import { describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import type { PlannedRequest } from '../workload/index.js';
import { duplicates } from './ceiling.js';

const chat = (id: string, content: string, o: Partial<PlannedRequest> = {}): PlannedRequest => ({
  id,
  class: 'chat',
  kind: 'chat',
  tenant: 't',
  priority: 'interactive',
  promptTokens: 100,
  outputTokens: 10,
  messages: [{ role: 'user', content }],
  batchable: false,
  ...o,
});

/** The definition: one key for the whole content, one for the idempotency key, every request's content serialized. */
function reference(requests: readonly PlannedRequest[]): boolean[] {
  const seen = new Set<string>();
  return requests.map((req) => {
    const keys = [`content:${req.kind}|${req.promptTokens}|${req.outputTokens}|${JSON.stringify(req.messages)}|${JSON.stringify(req.inputs ?? null)}`];
    if (req.idempotencyKey !== undefined) keys.push(`idem:${req.idempotencyKey}`);
    const dup = keys.some((k) => seen.has(k));
    for (const k of keys) seen.add(k);
    return dup;
  });
}

describe('duplicates', () => {
  it('marks a request whose content or idempotency key an earlier one had', () => {
    const reqs = [
      chat('a', 'hello'),
      chat('b', 'hello'), // same content
      chat('c', 'hellp'), // same shape, other content
      chat('d', 'hello', { outputTokens: 11 }), // other shape
      chat('e', 'x', { idempotencyKey: 'k' }),
      chat('f', 'y', { idempotencyKey: 'k' }), // same key, other content
      chat('g', 'hellp'), // same content as c, after a third of its shape
      { ...chat('h', ''), kind: 'embedding', messages: [], inputs: ['p', 'q'], outputTokens: 0 },
      { ...chat('i', ''), kind: 'embedding', messages: [], inputs: ['p', 'r'], outputTokens: 0 },
      { ...chat('j', ''), kind: 'embedding', messages: [], inputs: ['p', 'q'], outputTokens: 0 },
    ] as PlannedRequest[];
    expect(duplicates(reqs)).toEqual([false, true, false, false, false, true, true, false, false, true]);
    expect(duplicates(reqs)).toEqual(reference(reqs));
  });

  it('agrees with the definition on random requests with many collisions', () => {
    const random = new Random(7);
    const reqs: PlannedRequest[] = [];
    for (let i = 0; i < 2_000; i++) {
      const turns = random.int(1, 3);
      reqs.push(
        chat(`r${i}`, `c${random.int(0, 30)}`, {
          promptTokens: random.int(1, 4),
          outputTokens: random.int(1, 3),
          messages: Array.from({ length: turns }, (_, t) => ({ role: t % 2 === 0 ? 'user' : 'assistant', content: `m${random.int(0, 5)}` }) as const),
          ...(random.next() < 0.3 ? { idempotencyKey: `k${random.int(0, 50)}` } : {}),
        }),
      );
    }
    const got = duplicates(reqs);
    expect(got).toEqual(reference(reqs));
    expect(got.filter(Boolean).length).toBeGreaterThan(100);
    expect(got.filter((d) => !d).length).toBeGreaterThan(100);
  });
});
