import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { RealClock } from '../src/time/real-clock.js';
import { buildServer } from './server.js';
import { testModel } from './server-testkit.js';

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function mockClient(): Promise<OpenAI> {
  const clock = new RealClock();
  const model = testModel(clock, { name: 'primary' });
  const app = buildServer({ models: [model], clock });
  await app.listen({ port: 0, host: '127.0.0.1' });
  opened.push(async () => {
    await app.close();
    model.close();
  });
  const a = app.server.address();
  return new OpenAI({ baseURL: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/v1`, apiKey: 'k', maxRetries: 0 });
}

const TOOLS = [{ type: 'function' as const, function: { name: 'search', parameters: { type: 'object', properties: { input: { type: 'string' } } } } }];
const ASK = { model: 'primary', messages: [{ role: 'user' as const, content: 'find it' }], tools: TOOLS, max_tokens: 8 };

describe('mock: synthetic tool calls', () => {
  it('a forcing tool_choice streams a tool call whose arguments are JSON, finishing with tool_calls', async () => {
    const client = await mockClient();
    const done = await client.chat.completions.stream({ ...ASK, tool_choice: { type: 'function', function: { name: 'search' } } }).finalChatCompletion();
    const c = done.choices[0];
    expect(c?.finish_reason).toBe('tool_calls');
    const call = c?.message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    const fn = call?.type === 'function' ? call.function : undefined;
    expect(fn?.name).toBe('search');
    const args = JSON.parse(fn?.arguments ?? '') as { input: string };
    expect(args.input.split(' ').filter((w) => w !== '')).toHaveLength(8);
  });

  it('non-streamed: the same call whole; without a forcing choice, text as before', async () => {
    const client = await mockClient();
    const r = await client.chat.completions.create({ ...ASK, tool_choice: 'required' });
    expect(r.choices[0]?.finish_reason).toBe('tool_calls');
    expect(r.choices[0]?.message.content).toBeNull();
    expect(JSON.parse(r.choices[0]?.message.tool_calls?.[0]?.type === 'function' ? r.choices[0].message.tool_calls[0].function.arguments : '')).toHaveProperty('input');
    const plain = await client.chat.completions.create({ ...ASK, tool_choice: 'auto' });
    expect(plain.choices[0]?.message.tool_calls).toBeUndefined();
    expect(plain.choices[0]?.message.content?.length).toBeGreaterThan(0);
  });
});
