import { afterEach, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import { buildServer } from './server.js';
import { testModel } from './server-testkit.js';

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

function app() {
  const clock = new RealClock();
  const model = testModel(clock, { name: 'primary' });
  const server = buildServer({ models: [model], clock });
  opened.push(async () => {
    await server.close();
    model.close();
  });
  return server;
}

type Whole = { choices: Array<{ message?: { content: string }; text?: string; finish_reason: string }>; usage: { completion_tokens: number } };

describe('mock: the standard continuation request (vLLM)', () => {
  it('chat: continue_final_message continues the same request id byte for byte; max_tokens counts what is left', async () => {
    const s = app();
    const headers = { 'x-request-id': 'cont-1', 'x-mock-output-tokens': '20' };
    const messages = [{ role: 'user', content: 'hello mock' }];
    const full = (await s.inject({ method: 'POST', url: '/v1/chat/completions', headers, payload: { model: 'primary', messages, max_tokens: 30 } })).json() as Whole;
    const text = full.choices[0]?.message?.content ?? '';
    const words = text.match(/ [^ ]+/g) ?? [];
    expect(words).toHaveLength(20);
    const prefix = words.slice(0, 7).join('');
    const rest = (
      await s.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers,
        payload: { model: 'primary', messages: [...messages, { role: 'assistant', content: prefix }], continue_final_message: true, add_generation_prompt: false, max_tokens: 23 },
      })
    ).json() as Whole;
    expect(prefix + (rest.choices[0]?.message?.content ?? '')).toBe(text);
    expect(rest.usage.completion_tokens).toBe(13);
    expect(rest.choices[0]?.finish_reason).toBe('stop');
  });

  it('completions: the prefix appended to the prompt, with x-mock-resume-from naming its tokens', async () => {
    const s = app();
    const headers = { 'x-request-id': 'cont-2', 'x-mock-output-tokens': '12' };
    const full = (await s.inject({ method: 'POST', url: '/v1/completions', headers, payload: { model: 'primary', prompt: 'Once upon', max_tokens: 12 } })).json() as Whole;
    const text = full.choices[0]?.text ?? '';
    const prefix = (text.match(/ [^ ]+/g) ?? []).slice(0, 5).join('');
    const rest = (
      await s.inject({ method: 'POST', url: '/v1/completions', headers: { ...headers, 'x-mock-resume-from': '5' }, payload: { model: 'primary', prompt: `Once upon${prefix}`, max_tokens: 7 } })
    ).json() as Whole;
    expect(prefix + (rest.choices[0]?.text ?? '')).toBe(text);
    expect(rest.usage.completion_tokens).toBe(7);
  });
});
