/**
 * Shared helpers of the mock server's tests (not product code): models on a given clock, SSE parsing with
 * eventsource-parser, and a loopback server that is always closed.
 */
import { createParser } from 'eventsource-parser';
import { Random } from '../src/random.js';
import type { Clock } from '../src/time/clock.js';
import { MockModel, type MockModelOptions } from './mock-model.js';
import type { ProfileOverrides } from './profiles.js';

/** A profile whose steps take about 1 ms: real-time tests stay short, the scheduling stays the real one. */
export const FAST_PROFILE: ProfileOverrides = {
  base: 'h100-llama3-8b',
  name: 'fast-test',
  step: { baseMs: 0.5, overheadMs: 0, perTokenMs: 0, attentionMsPerContextToken: 0 },
};

export function testModel(clock: Clock, o: Partial<MockModelOptions> & { name?: string; seed?: number } = {}): MockModel {
  const { seed = 1, name = 'primary', ...rest } = o;
  return new MockModel({ name, profile: 'h100-llama3-8b', clock, random: new Random(seed).derive(`model/${name}`), ...rest });
}

/** A parsed SSE body: the JSON chunks and whether `[DONE]` arrived. */
export interface ParsedStream {
  readonly chunks: Array<Record<string, unknown> & { choices?: Array<Record<string, unknown>>; x_mock?: { index: number; count: number } }>;
  readonly done: boolean;
  /** The concatenated token text of choice 0 (chat `delta.content` or completion `text`). */
  readonly text: string;
  /** The bytes after the last complete event (a truncated chunk leaves some). */
  readonly rest: string;
}

export function parseSse(body: string): ParsedStream {
  const chunks: ParsedStream['chunks'] = [];
  let done = false;
  const p = createParser({
    onEvent: (e) => {
      if (e.data === '[DONE]') done = true;
      else chunks.push(JSON.parse(e.data) as ParsedStream['chunks'][number]);
    },
  });
  p.feed(body);
  const lastEnd = body.lastIndexOf('\n\n');
  let text = '';
  for (const c of chunks) {
    const ch = c.choices?.[0];
    if (ch === undefined || (ch['index'] as number) !== 0) continue;
    const delta = ch['delta'] as { content?: string } | undefined;
    text += delta?.content ?? (typeof ch['text'] === 'string' ? ch['text'] : '');
  }
  return { chunks, done, text, rest: body.slice(lastEnd + 2) };
}

/** Token chunks only (those carrying `x_mock`). */
export function tokenChunks(s: ParsedStream): Array<{ index: number; count: number }> {
  return s.chunks.filter((c) => c.x_mock !== undefined).map((c) => c.x_mock as { index: number; count: number });
}

/** A chat request body. */
export function chatBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'primary', messages: [{ role: 'user', content: 'hello mock' }], ...extra };
}

/** Resolves on the first event of `model` that matches. */
export function nextEvent<T extends { type: string }>(
  model: { onEvent(l: (e: T) => void): () => void },
  match: (e: T) => boolean,
): Promise<T> {
  return new Promise((resolve) => {
    const off = model.onEvent((e) => {
      if (match(e)) {
        off();
        resolve(e);
      }
    });
  });
}
