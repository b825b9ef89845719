/**
 * Many open SSE streams and proxied calls at once share the service's one shutdown signal: that is load, not a
 * leak, so Node must not warn (MaxListenersExceededWarning fires past 10 listeners on an AbortSignal), and
 * closing the app still ends every one of them.
 */
import { request } from 'undici';
import { afterEach, expect, it } from 'vitest';
import { ALPHA, parseSseBody, testService, type TestService } from './api-testkit.js';

const open: TestService[] = [];
const warnings: Error[] = [];
const onWarning = (w: Error): void => {
  warnings.push(w);
};
afterEach(async () => {
  process.off('warning', onWarning);
  await Promise.all(open.splice(0).map((s) => s.close()));
});

it('30 open SSE streams and 15 embeddings in flight: no MaxListenersExceededWarning, and close ends them all', async () => {
  process.on('warning', onWarning);
  const s = testService();
  open.push(s);
  const url = await s.app.listen({ port: 0, host: '127.0.0.1' });
  const hang = { ...ALPHA, 'x-mock-fault': 'hang' };

  const ids: string[] = [];
  for (let i = 0; i < 30; i++) ids.push((await s.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: `job ${i}` }, headers: hang })).json().id);
  // The route listens on the shutdown signal as soon as it has sent its headers.
  const streams = await Promise.all(ids.map((id) => request(`${url}/v1/jobs/${id}/events`, { headers: ALPHA })));
  expect(streams.map((r) => r.statusCode)).toEqual(ids.map(() => 200));

  // Hanging embeddings: each has started its attempt (so it listens on the shutdown signal too).
  const n = 15;
  let started = 0;
  let allStarted!: () => void;
  const attempts = new Promise<void>((resolve) => (allStarted = resolve));
  const off = s.engine.onEvent((e) => {
    if (e.type === 'attempt' && e.id.startsWith('emb-') && ++started === n) allStarted();
  });
  const calls = Array.from({ length: n }, (_, i) => s.app.inject({ method: 'POST', url: '/v1/embeddings', payload: { model: 'primary', input: `hang ${i}` }, headers: hang }));
  await attempts;
  off();
  // Warnings are emitted on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message)).toEqual([]);

  await s.app.close();
  const bodies = await Promise.all(streams.map((r) => r.body.text()));
  for (const b of bodies) {
    const end = parseSseBody(b).at(-1);
    expect(end?.event).toBe('end');
    expect(JSON.parse(end?.data ?? '{}')).toMatchObject({ status: 'cancelled' });
  }
  const answers = await Promise.all(calls);
  expect(answers.map((r) => r.statusCode)).toEqual(answers.map(() => 503));
  expect(answers[0]?.json().error.code).toBe('cancelled');
});
