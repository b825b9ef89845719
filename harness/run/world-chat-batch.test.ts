/**
 * Batchable chat in virtual time: the world the virtual runner builds forwards the in-process client's
 * `completeBatch` (sim/in-process.ts), directly and across a transport hop, so the engine's chat batcher sends one
 * multi-prompt completions call for several batchable chat requests, and each gets its own answer.
 */
import { describe, expect, it } from 'vitest';
import type { EngineRequest } from '../../src/engine/engine.js';
import { resolvePolicy } from '../../src/policy.js';
import type { BilledAttempt } from '../../sim/mock-model.js';
import { loadScenario } from './scenarios.js';
import { buildWorld } from './world.js';

describe('batchable chat in a virtual world', () => {
  const chat = (id: string, content: string): EngineRequest => ({
    id,
    kind: 'chat',
    batchable: true,
    request: { id, model: 'primary', maxTokens: 8, messages: [{ role: 'user', content }] },
  });

  for (const transport of [undefined, { engineToModel: { requestMs: 2, responseMs: 2 } }] as const) {
    it(`batchable chat requests become one upstream call, each with its own answer${transport !== undefined ? ' (across a transport hop)' : ''}`, async () => {
      const scenario = await loadScenario('agreement');
      const policy = resolvePolicy('resilient', { batching: { enabled: true, mode: 'size', maxSize: 4 } });
      const world = buildWorld(scenario, policy, 3, transport !== undefined ? { transport } : {});
      const bills: BilledAttempt[] = [];
      world.primary.onBill((b) => bills.push(b));
      try {
        const questions = ['a', 'bb', 'ccc', 'dddd'];
        const rs = await world.clock.run(Promise.all(questions.map((q, i) => world.engine.submit(chat(`q${i}`, q)))));
        expect(rs.map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok', 'ok']);
        expect(world.engine.snapshot().counters).toMatchObject({ upstreamCalls: 1, batches: 1, ok: 4 });
        // Each its own answer: the choice of its own prompt (distinct per-prompt ids on the GPU).
        expect(new Set(rs.map((r) => r.text)).size).toBe(4);
        expect(bills).toHaveLength(4);
        expect(new Set(bills.map((b) => b.id)).size).toBe(4);
        // The call's usage, shared out: nothing invented, nothing lost.
        expect(rs.reduce((a, r) => a + (r.usage?.completionTokens ?? 0), 0)).toBe(bills.reduce((a, b) => a + b.outputTokens, 0));
        expect(rs.reduce((a, r) => a + (r.usage?.promptTokens ?? 0), 0)).toBe(bills.reduce((a, b) => a + b.inputTokens, 0));
        for (const r of rs) expect(r.tokens).toBeGreaterThan(0);
      } finally {
        world.close();
      }
    });
  }
});
