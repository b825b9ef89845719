/**
 * What the service was billed, through its API (inject()): a job's view carries its billed tokens and its cost at
 * `serve`'s prices, and /metrics counts billed tokens and dollars by model and tenant. Hand-computed figures: the
 * in-process mock bills the prompt it was told (`x-mock-prompt-tokens`) and every output token it produced.
 */
import { describe, expect, it } from 'vitest';
import { isTerminal } from '../src/jobs/job-store.js';
import { createTelemetry } from '../src/telemetry/setup.js';
import { ALPHA, BRAVO, servicesClosedAfterEach, waitForJob } from './api-testkit.js';

// $1 per 1M input, $0.5 per 1M cached, $4 per 1M output: easy to check by hand.
const PRICE = { inputPer1M: 1, cachedInputPer1M: 0.5, outputPer1M: 4 };
const service = servicesClosedAfterEach();

async function runJob(s: ReturnType<typeof service>, headers: Record<string, string>) {
  const res = await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'what does it cost' }, headers });
  const { id } = res.json() as { id: string };
  await waitForJob(s.store, id, (j) => isTerminal(j.status));
  return (await s.app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers })).json() as Record<string, unknown>;
}

describe('service cost', () => {
  it("a job's view carries its billed tokens and its cost; a job whose every attempt was refused with 503 paid nothing", async () => {
    const s = service({ preset: 'bounded', policy: { retry: { maxAttempts: 3, baseMs: 1, maxMs: 2 } }, service: { prices: { primary: PRICE } } });
    const clean = await runJob(s, { ...ALPHA, 'x-mock-prompt-tokens': '50', 'x-mock-output-tokens': '6' });
    expect(clean['usage']).toEqual({ billedInput: 50, billedCachedInput: 0, billedOutput: 6, delivered: 6, estimated: false });
    expect(clean['costUsd']).toBeCloseTo((50 * 1 + 6 * 4) / 1e6, 12);
    // Three attempts, each refused with 503 before it ran: nothing billed, and that is known (0, not null).
    const refused = await runJob(s, { ...ALPHA, 'x-mock-prompt-tokens': '50', 'x-mock-output-tokens': '6', 'x-mock-fault': 'status:503' });
    expect(refused['attempts']).toBe(3);
    expect(refused['usage']).toEqual({ billedInput: 0, billedCachedInput: 0, billedOutput: 0, delivered: 0, estimated: false });
    expect(refused['costUsd']).toBe(0);
  });

  it('without prices the tokens are still counted and the cost is null', async () => {
    const s = service({ preset: 'bounded' });
    const view = await runJob(s, { ...ALPHA, 'x-mock-prompt-tokens': '20', 'x-mock-output-tokens': '4' });
    expect(view['usage']).toMatchObject({ billedInput: 20, billedOutput: 4, delivered: 4 });
    expect(view['costUsd']).toBeNull();
  });

  it('/metrics counts billed tokens by model, tenant and kind, and dollars by model and tenant', async () => {
    const telemetry = createTelemetry({ exporter: 'prometheus' });
    const s = service({ preset: 'bounded', service: { telemetry, prices: { primary: PRICE } } });
    try {
      await runJob(s, { ...ALPHA, 'x-mock-prompt-tokens': '50', 'x-mock-output-tokens': '6' });
      await runJob(s, { ...ALPHA, 'x-mock-prompt-tokens': '30', 'x-mock-output-tokens': '2' });
      await runJob(s, { ...BRAVO, 'x-mock-prompt-tokens': '10', 'x-mock-output-tokens': '1' });
      const text = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
      const value = (name: string, labels: string): number => {
        const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((x) => l.includes(x)));
        if (line === undefined) throw new Error(`no ${name}{${labels}} in:\n${text}`);
        return Number(line.slice(line.lastIndexOf(' ') + 1));
      };
      expect(value('engine_billed_tokens_total', 'tenant="alpha",kind="input",model="primary"')).toBe(80);
      expect(value('engine_billed_tokens_total', 'tenant="alpha",kind="output"')).toBe(8);
      expect(value('engine_billed_tokens_total', 'tenant="alpha",kind="cached_input"')).toBe(0);
      expect(value('engine_billed_tokens_total', 'tenant="bravo",kind="input"')).toBe(10);
      expect(value('engine_cost_usd_total', 'tenant="alpha",model="primary"')).toBeCloseTo((80 + 8 * 4) / 1e6, 12);
      expect(value('engine_cost_usd_total', 'tenant="bravo"')).toBeCloseTo((10 + 4) / 1e6, 12);
    } finally {
      await telemetry.shutdown();
    }
  });
});
