import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamInterruptedError } from '../upstream/errors.js';
import type { CallOptions, EmbeddingRequest, EmbeddingResult, ModelClient, ModelRequest, StreamEvent, StreamOptions, UpstreamCapabilities } from '../upstream/model-client.js';
import { CheckpointClient } from './checkpoint-client.js';

/** Token i is `w{i}` plus i % 3 spaces (tokens of different lengths); chunks of the given sizes. */
function tokenText(i: number): string {
  return `w${i}${' '.repeat(i % 3)}`;
}

class FakeUpstream implements ModelClient {
  readonly calls: Array<number | undefined> = [];
  readonly capabilities: UpstreamCapabilities;
  constructor(private readonly total: number, private readonly chunk: number, private readonly honoursResume: boolean) {
    // Its text is a function of the token index: a restart reproduces it.
    this.capabilities = { continuation: honoursResume, reproducible: true };
  }
  stream(_r: ModelRequest, o?: StreamOptions): AsyncIterable<StreamEvent> {
    this.calls.push(o?.resumeFrom);
    const start = this.honoursResume ? (o?.resumeFrom ?? 0) : 0;
    const { total, chunk } = this;
    return (async function* () {
      for (let i = start; i < total; i += chunk) {
        const count = Math.min(chunk, total - i);
        yield { type: 'tokens', index: i, count, text: Array.from({ length: count }, (_, k) => tokenText(i + k)).join('') } as const;
      }
      yield { type: 'done', usage: { promptTokens: 1, completionTokens: total - start }, finishReason: 'stop' } as const;
    })();
  }
  embed(_r: EmbeddingRequest, _o?: CallOptions): Promise<EmbeddingResult> {
    return Promise.reject(new Error('unused'));
  }
}

const full = (n: number): string => Array.from({ length: n }, (_, i) => tokenText(i)).join('');

async function collect(c: ModelClient, id: string, resumeFrom?: number): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const ev of c.stream({ id, model: 'm' }, resumeFrom === undefined ? {} : { resumeFrom })) out.push(ev);
  return out;
}

function joined(evs: readonly StreamEvent[]): { text: string; indices: number[] } {
  const ts = evs.filter((e): e is Extract<StreamEvent, { type: 'tokens' }> => e.type === 'tokens');
  return { text: ts.map((t) => t.text).join(''), indices: ts.map((t) => t.index) };
}

describe('CheckpointClient', () => {
  it('passes requests without a checkpoint through untouched', async () => {
    const up = new FakeUpstream(10, 4, true);
    const evs = await collect(new CheckpointClient(up, true), 'a');
    expect(joined(evs).text).toBe(full(10));
    expect(up.calls).toEqual([undefined]);
  });

  it('resumes the upstream after the checkpoint and renumbers tokens from 0', async () => {
    const up = new FakeUpstream(20, 4, true);
    const c = new CheckpointClient(up, true);
    c.set('a', { tokens: 8, chars: full(8).length });
    const evs = await collect(c, 'a');
    expect(up.calls).toEqual([8]);
    expect(joined(evs)).toEqual({ text: full(20).slice(full(8).length), indices: [0, 4, 8] });
    // The engine's own resume (after k tokens of this delivery) continues at checkpoint + k.
    await collect(c, 'a', 5);
    expect(up.calls).toEqual([8, 13]);
    c.clear('a');
    await collect(c, 'a');
    expect(up.calls).toEqual([8, 13, undefined]);
  });

  it('without resume, restarts the upstream and drops what the checkpoint holds, cutting a straddling chunk', async () => {
    const up = new FakeUpstream(20, 4, false);
    const c = new CheckpointClient(up, false);
    c.set('a', { tokens: 6, chars: full(6).length });
    const evs = await collect(c, 'a');
    expect(up.calls).toEqual([undefined]);
    expect(joined(evs)).toEqual({ text: full(20).slice(full(6).length), indices: [0, 2, 6, 10] });
  });

  it('refuses to guess when a chunk cannot be aligned with the checkpoint', async () => {
    // Resume asked for, upstream starts mid-way at an index before the checkpoint (not at 0): no character offset.
    const up: ModelClient = {
      stream: () =>
        (async function* () {
          yield { type: 'tokens', index: 3, count: 4, text: 'xxxx' } as const;
        })(),
      embed: () => Promise.reject(new Error('unused')),
    };
    const c = new CheckpointClient(up, true);
    c.set('a', { tokens: 5, chars: 5 });
    await expect(collect(c, 'a')).rejects.toBeInstanceOf(StreamInterruptedError);
  });

  it('property: checkpoint text + the shifted stream = the uninterrupted text, in both modes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 9 }), fc.nat(), fc.boolean(), async (total, chunk, cut, resume) => {
        const at = cut % (total + 1);
        const up = new FakeUpstream(total, chunk, resume);
        const c = new CheckpointClient(up, resume);
        c.set('p', { tokens: at, chars: full(at).length });
        const { text, indices } = joined(await collect(c, 'p'));
        expect(full(at) + text).toBe(full(total));
        if (indices.length > 0) expect(indices[0]).toBe(0);
      }),
      { numRuns: 200, seed: 42 },
    );
  });
});
