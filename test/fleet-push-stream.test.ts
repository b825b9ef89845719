/**
 * A fleet deployment's stream forwards the push path (`PushableStream.pushTo`) of its replicas' streams, so the
 * engine reads a fleet without a promise per chunk. Both paths must give the same answers: the same requests,
 * faults and seed run once through the fleet (pushed) and once through a wrapper that hides `pushTo` (so the engine
 * iterates the deployment's generators), and every result, token chunk, replica count and fleet event must match.
 * One replica's client only iterates, so the deployment's push path also pushes what it iterates. With hedging, the
 * race is decided by the first event pushed (src/fleet/hedged-push.ts). A third run asks only for chunk times
 * (`onTokenTimes`), so that a deployment's single calls hold chunks back (StreamSink.hold passes through): the same.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import type { EngineResult, TokenChunk } from '../src/engine/engine-types.js';
import { buildFleet } from '../src/fleet/build.js';
import type { ReplicaState } from '../src/fleet/types.js';
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
  'status:503',
  'status:429,retry-after-ms=200',
  'status:500',
  'ttft:ms=150; jitter:ms=3',
];

const BALANCERS = ['round-robin', 'least-outstanding', 'power-of-two', 'affinity'] as const;
type Variant = { readonly balancer: (typeof BALANCERS)[number]; readonly hedging: boolean };
const VARIANTS: readonly Variant[] = [
  ...BALANCERS.map((balancer) => ({ balancer, hedging: false })),
  // Hedging at the median time to first token: many calls race a second replica.
  { balancer: 'power-of-two', hedging: true },
  { balancer: 'affinity', hedging: true },
];

interface Run {
  results: EngineResult[];
  chunks: number[][];
  states: readonly ReplicaState[];
  pushed: number;
  held: number;
  events: string[];
}

async function runAll(mode: 'push' | 'pull' | 'held', { balancer, hedging }: Variant): Promise<Run> {
  const clock = new VirtualClock({ drain: 'tick' });
  const random = new Random(7);
  const replica = (i: number): { id: string; client: ModelClient } => {
    const model = new MockModel({ name: `d/${i}`, profile: i === 1 ? 'fallback' : 'h100-llama3-8b', clock, random: random.derive(`model/${i}`) });
    const client = new InProcessModelClient(model);
    const named: ModelClient = {
      capabilities: client.capabilities,
      stream: (request, options) => {
        const s = client.stream({ ...request, model: model.name }, options);
        // Replica 2 only iterates: the deployment pushes what it reads.
        return i === 2 ? { [Symbol.asyncIterator]: () => s[Symbol.asyncIterator]() } : s;
      },
      embed: (request, options) => client.embed({ ...request, model: model.name }, options),
    };
    return { id: `d/${i}`, client: named };
  };
  const policy = resolvePolicy('resilient', {
    idleTimeout: { enabled: true, idleMs: 1_000 },
    fleet: { balancer: { kind: balancer }, ejection: { enabled: true }, hedging: hedging ? { enabled: true, percentile: 0.5, minDelayMs: 20 } : { enabled: false } },
  });
  const fleet = buildFleet({
    clock,
    random: random.derive('fleet'),
    config: { deployments: { d: {} }, defaultDeployment: 'd' },
    policy: policy.fleet,
    replicas: { d: [0, 1, 2].map(replica) },
  });
  const events: string[] = [];
  fleet.onEvent((e) => events.push(JSON.stringify(e)));
  let pushed = 0;
  let held = 0;
  const primary: ModelClient = {
    capabilities: fleet.capabilities,
    stream: (request, options) => {
      const s = fleet.stream(request, options) as AsyncIterable<never> & { pushTo?: (sink: StreamSink) => { cancel(): void; flush?(): void } };
      const iterate = { [Symbol.asyncIterator]: () => s[Symbol.asyncIterator]() };
      if (mode === 'pull' || s.pushTo === undefined) return iterate;
      const pushTo = s.pushTo.bind(s);
      return { ...iterate, pushTo: (sink: StreamSink) => (pushed++, pushTo(countingSink(sink, () => held++))) };
    },
    embed: (request, options) => fleet.embed(request, options),
  };
  const engine = new Engine({ clock, random: random.derive('engine'), policy, primary });
  const chunks: number[][] = [];
  const all = Array.from({ length: 60 }, (_, i) => {
    const seen: number[] = [];
    chunks.push(seen);
    const fault = FAULTS[i % FAULTS.length];
    return clock.sleep(i * 5).then(() =>
      engine.submit({
        id: `r${i}`,
        kind: 'chat',
        sessionId: `s${i % 7}`,
        request: { id: `r${i}`, model: 'd', messages: [{ role: 'user', content: `q${i}` }], promptTokens: 50 + i, outputTokens: 40 + (i % 5) * 30, ...(fault !== undefined ? { fault } : {}) },
        ...(mode === 'held' ? { onTokenTimes: (atMs: number, count: number) => void seen.push(count, atMs) } : { onTokens: (c: TokenChunk) => void seen.push(c.count, c.atMs) }),
      }),
    );
  });
  const results = await clock.run(Promise.all(all));
  const states = fleet.deployment('d')?.states() ?? [];
  return { results, chunks, states, pushed, held, events };
}

describe('fleet deployment streams: push path and iteration agree', () => {
  for (const v of VARIANTS) {
    it(`${v.balancer}${v.hedging ? ' with hedging' : ''}: every result, token chunk, replica count and fleet event is the same`, async () => {
      const push = await runAll('push', v);
      const pull = await runAll('pull', v);
      if (v.hedging) expect(push.events.filter((e) => e.includes('"hedge"')).length).toBeGreaterThan(0);
      expect(push.results.map((r) => r.outcome)).toContain('ok');
      expect(push.results.some((r) => r.resumes > 0 || r.attempts > 1)).toBe(true);
      expect(push.pushed).toBeGreaterThanOrEqual(60);
      expect(pull.pushed).toBe(0);
      expect(push.states.map((s) => s.calls)).not.toContain(0);
      expect(push.results).toEqual(pull.results);
      expect(push.chunks).toEqual(pull.chunks);
      expect(push.states).toEqual(pull.states);
      expect(push.events).toEqual(pull.events);
      expect(push.held).toBe(0);
      const late = await runAll('held', v);
      // Hedged calls do not pass holding through; single calls do.
      if (!v.hedging) expect(late.held).toBeGreaterThan(10);
      expect(late.results).toEqual(pull.results);
      expect(late.chunks).toEqual(pull.chunks);
      expect(late.states).toEqual(pull.states);
      expect(late.events).toEqual(pull.events);
    });
  }
});
