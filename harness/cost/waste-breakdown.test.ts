import { describe, expect, it } from 'vitest';
import type { AttemptBill } from '../measure/billing.js';
import type { RequestObservation } from '../measure/types.js';
import { addRequest, emptyReconciliation, reconcileRequest } from './waste-breakdown.js';

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

describe('waste reconciliation', () => {
  it('counts unserved and partial requests, and checks every computed but undelivered token is counted as waste', () => {
    const r = emptyReconciliation();
    // Served after a resume: the broken first call computed 14 tokens and delivered 12 (2 never reached the client).
    reconcileRequest(r, obs({ bills: [bill({ outputTokens: 14 }), bill({ startMs: 20, inputTokens: 112, outputTokens: 18, deliveredTokens: 18, resumeFrom: 12, completed: true })] }), PRICES);
    // A partial answer the client kept, and a failed request whose only call ran.
    reconcileRequest(r, obs({ id: 'p', outcome: 'degraded', degraded: 'partial', bills: [bill({ id: 'p' })] }), PRICES);
    reconcileRequest(r, obs({ id: 'f', outcome: 'failed', bills: [bill({ id: 'f', outputTokens: 5, deliveredTokens: 5 })] }), PRICES);
    reconcileRequest(r, obs({ id: 'g', outcome: 'failed', bills: [] }), PRICES);
    expect(r).toMatchObject({ requests: 4, unserved: 2, unservedBilled: 1, partial: 1, bills: 4, brokenBills: 3, outputTokens: 14 + 18 + 12 + 5, deliveredTokens: 12 + 18 + 12 + 5 });
    // The 2 undelivered tokens, and the failed request's 5 delivered ones (it kept nothing).
    expect(r.wastedOutputTokens).toBe(2 + 5);
    expect(r.unservedPaidUsd).toBeCloseTo((100 + 5 * 4) / 1e6, 12);
    expect(r.partialPaidUsd).toBeCloseTo((100 + 12 * 4) / 1e6, 12);
  });
});
