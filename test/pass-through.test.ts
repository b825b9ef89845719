/**
 * Full pass-through: every request field the engine does not own reaches the upstream unchanged (all the OpenAI
 * parameters, and fields it has never heard of), messages keep their tool calls, tool call ids, names and content
 * parts, and streamed tool-call deltas reach the official `openai` client, which parses them as tool calls.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { buildService } from '../src/api/server.js';
import { resolvePolicy } from '../src/policy.js';
import { Random } from '../src/random.js';
import { RealClock } from '../src/time/real-clock.js';
import { HttpModelClient } from '../src/upstream/http-openai.js';
import { standIn, type StandIn } from './stand-in-upstream.js';

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function engineOver(): Promise<{ upstream: StandIn; client: OpenAI }> {
  const upstream = await standIn();
  opened.push(() => upstream.close());
  const primary = new HttpModelClient({ baseUrl: upstream.url });
  const { app } = buildService({ clock: new RealClock(), random: new Random(5), tenants: 'open', policy: resolvePolicy('resilient'), upstream: { primary }, forwardMockHeaders: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  opened.push(async () => {
    await app.close();
    await primary.close();
  });
  const a = app.server.address();
  const url = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
  return { upstream, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'k', maxRetries: 0, timeout: 60_000 }) };
}

const TOOLS = [
  {
    type: 'function' as const,
    function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  },
];

/** A conversation with a tool-call history, content parts, a developer message and a named user. */
const MESSAGES = [
  { role: 'developer', content: 'Be brief.' },
  { role: 'system', content: [{ type: 'text', text: 'You are a weather bot.' }] },
  { role: 'user', name: 'ada', content: [{ type: 'text', text: 'Weather in ' }, { type: 'text', text: 'Paris?' }] },
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
  { role: 'tool', tool_call_id: 'call_9', content: '{"temp_c":21}' },
  { role: 'user', content: 'And tomorrow?' },
];

/** Every parameter the issue lists, plus vLLM's own and one nobody knows. */
const PARAMS = {
  temperature: 0.3,
  top_p: 0.9,
  seed: 42,
  stop: ['\n\n', 'END'],
  n: 1,
  logprobs: true,
  top_logprobs: 2,
  frequency_penalty: 0.1,
  presence_penalty: 0.2,
  logit_bias: { '50256': -100 },
  response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' } } },
  tools: TOOLS,
  tool_choice: 'auto',
  parallel_tool_calls: false,
  user: 'user-7',
  metadata: { team: 'ml', run: '17' },
  store: false,
  max_completion_tokens: 64,
  reasoning_effort: 'low',
  // vLLM's extensions, and a field no one has heard of: passed all the same.
  top_k: 5,
  min_p: 0.05,
  guided_json: { type: 'object', properties: { temp: { type: 'number' } } },
  x_never_heard_of: { nested: [1, 2, 3] },
};

describe('pass-through', () => {
  it.each([false, true])('every field the engine does not own reaches the upstream unchanged (stream %s)', async (stream) => {
    const { upstream, client } = await engineOver();
    const body = { model: 'gpt-x', messages: MESSAGES, ...PARAMS, ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) };
    if (stream) {
      const s = (await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming)) as AsyncIterable<unknown>;
      for await (const _ of s) {
        // drain
      }
    } else {
      await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
    }
    expect(upstream.seen).toHaveLength(1);
    const got = upstream.seen[0]?.body ?? {};
    for (const [k, v] of Object.entries(PARAMS)) expect(got[k], k).toEqual(v);
    expect(got['model']).toBe('gpt-x');
    // Messages exactly as sent: tool calls, the tool call id, names, content parts, the developer role.
    expect(got['messages']).toEqual(MESSAGES);
    // The engine's own: it always streams from the upstream and asks for the usage chunk.
    expect(got['stream']).toBe(true);
    expect(got['stream_options']).toEqual({ include_usage: true });
    expect(got['max_tokens']).toBeUndefined();
    expect(Object.keys(got).sort()).toEqual([...Object.keys(PARAMS), 'model', 'messages', 'stream', 'stream_options'].sort());
  });

  it('a completions request passes its fields too', async () => {
    const { upstream, client } = await engineOver();
    const extra = { temperature: 0, stop: 'END', echo: false, best_of: 1, suffix: '!', logprobs: 2, max_tokens: 20, top_k: 3, guided_regex: '[a-z]+' };
    await client.completions.create({ model: 'base-x', prompt: 'Once', ...extra } as unknown as OpenAI.CompletionCreateParamsNonStreaming);
    const got = upstream.seen[0]?.body ?? {};
    expect(upstream.seen[0]?.path).toBe('/v1/completions');
    for (const [k, v] of Object.entries(extra)) expect(got[k], k).toEqual(v);
    expect(got['prompt']).toBe('Once');
  });

  it('streamed tool-call deltas reach the openai client and parse as tool calls', async () => {
    const { client } = await engineOver();
    const runner = client.chat.completions.stream({
      model: 'm',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: TOOLS,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const deltas: unknown[] = [];
    runner.on('chunk', (c) => {
      if (c.choices[0]?.delta.tool_calls) deltas.push(c.choices[0].delta.tool_calls);
    });
    const done = await runner.finalChatCompletion();
    const choice = done.choices[0];
    expect(deltas).toHaveLength(3);
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.tool_calls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type === 'function' ? JSON.parse(call.function.arguments) : undefined).toEqual({ city: 'Paris' });
  });

  it('a non-streamed answer assembles the tool call from the deltas', async () => {
    const { client } = await engineOver();
    const r = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: TOOLS,
      tool_choice: 'required',
    });
    expect(r.choices[0]?.finish_reason).toBe('tool_calls');
    expect(r.choices[0]?.message.content).toBeNull();
    expect(r.choices[0]?.message.tool_calls).toEqual([{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
  });
});
