import type { InjectOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/time/virtual-clock.js';
import type { MockModel } from './mock-model.js';
import { buildServer } from './server.js';
import { chatBody, testModel } from './server-testkit.js';

const opened: Array<{ app: ReturnType<typeof buildServer>; model: MockModel }> = [];

function setup() {
  const clock = new VirtualClock();
  const model = testModel(clock, { name: 'primary' });
  const app = buildServer({ models: [model], clock });
  opened.push({ app, model });
  const inject = (opts: InjectOptions) => clock.run(app.inject(opts));
  return { inject };
}

afterEach(async () => {
  for (const { app, model } of opened.splice(0)) {
    await app.close();
    model.close();
  }
});

describe('control plane /mock/rate-limits', () => {
  it('puts provider rate limits on a running model, and {} takes them off', async () => {
    const { inject } = setup();
    const chat = () => inject({ method: 'POST', url: '/v1/chat/completions', headers: { authorization: 'Bearer k' }, payload: chatBody({}) });
    expect((await chat()).statusCode).toBe(200);
    const put = await inject({ method: 'PUT', url: '/mock/rate-limits?model=primary', payload: { rpm: 1 } });
    expect(put.statusCode).toBe(200);
    expect((put.json() as { models: Record<string, unknown> }).models).toEqual({ primary: { rpm: 1 } });
    expect((await chat()).statusCode).toBe(200);
    const refused = await chat();
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after-ms'])).toBeGreaterThan(0);
    expect((await inject({ method: 'PUT', url: '/mock/rate-limits', payload: {} })).statusCode).toBe(200);
    expect((await chat()).statusCode).toBe(200);
    expect((await inject({ method: 'GET', url: '/mock/rate-limits' })).json()).toEqual({ models: { primary: {} } });
  });

  it('refuses bad limits naming the field, and keeps the ones it had', async () => {
    const { inject } = setup();
    await inject({ method: 'PUT', url: '/mock/rate-limits', payload: { rpm: 5 } });
    const bad = await inject({ method: 'PUT', url: '/mock/rate-limits', payload: { rpm: -1 } });
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as { error: { message: string } }).error.message).toMatch(/rateLimits\.rpm/);
    expect((await inject({ method: 'GET', url: '/mock/rate-limits' })).json()).toEqual({ models: { primary: { rpm: 5 } } });
  });
});
