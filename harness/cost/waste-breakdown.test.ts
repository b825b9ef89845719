import { describe, expect, it } from 'vitest';
import type { AttemptBill } from '../measure/billing.js';
import type { RequestObservation } from '../measure/types.js';
import { addRequest } from './waste-breakdown.js';

const PRICES = { primary: { kind: 'tokens', inputPer1M: 1, cachedInputPer1M: 0.5, outputPer1M: 4 } as const, fallback: undefined };
const bill = (o: Partial<AttemptBill>): AttemptBill => ({ id: 'r', fallback: false, startMs: 0, endMs: 10, inputTokens: 100, cachedInputTokens: 0, outputTokens: 12, deliveredTokens: 12, resumeFrom: 0, completed: false, ...o });
const obs = (o: Partial<RequestObservation>): RequestObservation => ({ id: 'r', class: 'chat', intendedStartMs: 0, endAtMs: 50, chunks: [], tokens: 30, outcome: 'ok', queuedMs: 0, backoffMs: 0, attempts: 2, upstreamCalls: 2, ...o });

describe('waste breakdown', () => {
  it('groups each call by how its request ended, its kind and whether it completed, with what it paid and wasted', () => {
    const groups = new Map();
    addRequest(groups, obs({ bills: [bill({}), bill({ startMs: 20, inputTokens: 112, outputTokens: 18, deliveredTokens: 18, resumeFrom: 12, completed: true })] }), PRICES);
    addRequest(groups, obs({ id: 't', outcome: 'timeout', reason: 'deadline', bills: [bill({ id: 't' })] }), PRICES);
    const row = (k: string) => groups.get(k) as { requests: Set<string>; paidUsd: number; wastedUsd: number };
    // The first call's prompt is sent again by the resume (wasted); the resume's 12-token prefix too.
    expect(row('ok\tchat\tfirst\tbroken').paidUsd).toBeCloseTo((100 + 12 * 4) / 1e6, 12);
    expect(row('ok\tchat\tfirst\tbroken').wastedUsd).toBeCloseTo(100 / 1e6, 12);
    expect(row('ok\tchat\tresume (last)\tcompleted').wastedUsd).toBeCloseTo(12 / 1e6, 12);
    // A timed-out request kept nothing: all of it is waste.
    const t = row('timeout deadline\tchat\tfirst (last)\tbroken');
    expect(t.requests.size).toBe(1);
    expect(t.wastedUsd).toBeCloseTo(t.paidUsd, 12);
  });
});
