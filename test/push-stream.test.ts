/**
 * The engine reads an in-process stream through its push path (`PushableStream.pushTo`, no promise per chunk) and
 * any other stream by iterating it. Both must give the same answers: the same requests, faults and seed run once
 * through the in-process client and once through a wrapper that hides `pushTo` (so the engine iterates), and every
 * result (text, tokens, outcome, attempts, resumes, times) must match. A third run asks only for chunk times
 * (`onTokenTimes`), which lets the in-process stream hold chunks back (StreamSink.hold) and hand them over late in
 * batches: its results and chunk times must match too, through idle timeouts, deadlines, stalls and disconnects.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import type { EngineResult, TokenChunk } from '../src/engine/engine-types.js';
import { resolvePolicy } from '../src/policy.js';
import { Random } from '../src/random.js';
import { VirtualClock } from '../src/time/virtual-clock.js';
import type { ModelClient, StreamSink } from '../src/upstream/model-client.js';
import { InProcessModelClient } from '../sim/in-process.js';
import { MockModel } from '../sim/mock-model.js';
import { countingSink } from './helpers/counting-sink.js';

const FAULTS = [
  undefined,
  'disconnect:after=20',
  'disconnect:after=5,form=clean-close',
  'stall:after=10',
  'stall:after=4,ms=300',
  'status:429,retry-after-ms=200',
  'status:500',
  'ttft:ms=150; jitter:ms=3',
];

async function runAll(mode: 'push' | 'pull' | 'held', preset: string): Promise<{ results: EngineResult[]; chunks: number[][]; pushed: number; held: number }> {
  const clock = new VirtualClock();
  const random = new Random(11);
  const model = new MockModel({ name: 'primary', profile: 'h100-llama3-8b', clock, random: random.derive('model') });
  const inProcess = new InProcessModelClient(model);
  // Hides pushTo: the engine must iterate.
  const iterated: ModelClient = {
    capabilities: inProcess.capabilities,
    stream: (request, options) => {
      const s = inProcess.stream(request, options);
      return { [Symbol.asyncIterator]: () => s[Symbol.asyncIterator]() };
    },
    embed: (request, options) => inProcess.embed(request, options),
  };
  let pushed = 0;
  let held = 0;
  // Counts the calls read through pushTo, and the held batches handed over.
  const counted: ModelClient = {
    capabilities: inProcess.capabilities,
    stream: (request, options) => {
      const s = inProcess.stream(request, options);
      return { [Symbol.asyncIterator]: () => s[Symbol.asyncIterator](), pushTo: (sink: StreamSink) => (pushed++, s.pushTo(countingSink(sink, () => held++))) };
    },
    embed: (request, options) => inProcess.embed(request, options),
  };
  const policy = resolvePolicy(preset, { idleTimeout: { enabled: true, idleMs: 1_000 } });
  const engine = new Engine({ clock, random: random.derive('engine'), policy, primary: mode === 'pull' ? iterated : counted });
  const chunks: number[][] = [];
  const all = Array.from({ length: 48 }, (_, i) => {
    const seen: number[] = [];
    chunks.push(seen);
    const fault = FAULTS[i % FAULTS.length];
    return clock.sleep(i * 7).then(() =>
      engine.submit({
        id: `r${i}`,
        kind: 'chat',
        request: { id: `r${i}`, model: 'primary', messages: [{ role: 'user', content: `q${i}` }], promptTokens: 50 + i, outputTokens: 40 + (i % 5) * 30, ...(fault !== undefined ? { fault } : {}) },
        // Some end at their deadline mid-stream.
        ...(i % 6 === 5 ? { deadlineMs: 300 + i * 5 } : {}),
        // Pairs share an idempotency key: the second (sent 42 ms later) joins the first as a dedup twin, mid-stream.
        ...(i % 12 === 0 || i % 12 === 6 ? { idempotencyKey: `k${Math.floor(i / 12)}` } : {}),
        ...(mode === 'held' ? { onTokenTimes: (atMs: number, count: number) => void seen.push(count, atMs) } : { onTokens: (c: TokenChunk) => void seen.push(c.count, c.atMs) }),
      }),
    );
  });
  const results = await clock.run(Promise.all(all));
  return { results, chunks, pushed, held };
}

describe('engine stream attempts: push path and iteration agree', () => {
  for (const preset of ['resilient', 'bounded']) {
    it(`${preset}: every result and every token chunk is the same`, async () => {
      const push = await runAll('push', preset);
      const pull = await runAll('pull', preset);
      expect(push.results.map((r) => r.outcome)).toContain('ok');
      expect(push.results.some((r) => r.resumes > 0 || r.attempts > 1)).toBe(true);
      expect(push.pushed).toBeGreaterThanOrEqual(48);
      expect(pull.pushed).toBe(0);
      expect(push.results).toEqual(pull.results);
      expect(push.chunks).toEqual(pull.chunks);
      expect(push.held).toBe(0);
      const late = await runAll('held', preset);
      expect(late.held).toBeGreaterThan(20);
      expect(late.results).toEqual(pull.results);
      expect(late.chunks).toEqual(pull.chunks);
      // Mid-stream deadlines and idle timeouts (a stall without an end) were among them.
      expect(pull.results.some((r) => r.outcome === 'timeout' && r.error?.code === 'DEADLINE_EXCEEDED' && r.tokens > 0)).toBe(true);
      expect(pull.results.some((r) => r.error?.code === 'IDLE_TIMEOUT' && r.tokens > 0)).toBe(true);
      // With dedup on (resilient), twins joined held streams mid-stream.
      if (preset === 'resilient') expect(pull.results.some((r) => r.deduped === 'joined' && r.tokens > 0)).toBe(true);
    });
  }
});
