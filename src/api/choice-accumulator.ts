/**
 * A non-streamed answer assembled from the deltas the engine passes through unread (`tool_calls`, `refusal`,
 * `logprobs`, other choices of `n` > 1), the way OpenAI's SDK assembles a stream into a completion: text fields
 * are concatenated; a tool call is merged by its `index` (`id`, `type` and the function `name` are set,
 * `arguments` concatenated); `logprobs.content`/`logprobs.refusal` arrays are concatenated; anything else is the
 * last value sent.
 */
import type { ExtraDelta } from '../engine/engine-types.js';

type Json = Record<string, unknown>;

interface ChoiceState {
  message: Json;
  logprobs: Json | undefined;
  finishReason: string | undefined;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function mergeToolCalls(into: Json[], deltas: readonly unknown[]): void {
  for (const d of deltas) {
    if (!isObject(d)) continue;
    const index = typeof d['index'] === 'number' ? d['index'] : into.length;
    let call = into.find((c) => c['index'] === index);
    if (call === undefined) {
      call = { index };
      into.push(call);
    }
    for (const [k, v] of Object.entries(d)) {
      if (k === 'function' && isObject(v)) {
        const fn = (call['function'] ??= {}) as Json;
        if (typeof v['name'] === 'string') fn['name'] = v['name'];
        if (typeof v['arguments'] === 'string') fn['arguments'] = `${typeof fn['arguments'] === 'string' ? fn['arguments'] : ''}${v['arguments']}`;
      } else if (k !== 'index' && v !== null && v !== undefined) {
        call[k] = v;
      }
    }
  }
}

/** The passed-through parts of every choice, merged. */
export class ChoiceAccumulator {
  private readonly choices = new Map<number, ChoiceState>();

  private state(choice: number): ChoiceState {
    let s = this.choices.get(choice);
    if (s === undefined) {
      s = { message: {}, logprobs: undefined, finishReason: undefined };
      this.choices.set(choice, s);
    }
    return s;
  }

  add(e: ExtraDelta): void {
    const s = this.state(e.choice);
    if (e.finishReason !== undefined) s.finishReason = e.finishReason;
    if (e.delta !== undefined) {
      for (const [k, v] of Object.entries(e.delta)) {
        if (v === null || v === undefined) continue;
        if (k === 'tool_calls' && Array.isArray(v)) mergeToolCalls((s.message['tool_calls'] ??= []) as Json[], v);
        else if (typeof v === 'string' && k !== 'role') s.message[k] = `${typeof s.message[k] === 'string' ? s.message[k] : ''}${v}`;
        else s.message[k] = v;
      }
    }
    if (isObject(e.logprobs)) {
      s.logprobs ??= {};
      for (const [k, v] of Object.entries(e.logprobs)) {
        const have = s.logprobs[k];
        s.logprobs[k] = Array.isArray(v) && Array.isArray(have) ? [...(have as unknown[]), ...v] : v;
      }
    }
  }

  /** What was passed through for `choice`, if anything; tool calls as a whole message has them (no `index`). */
  get(choice: number): { readonly message: Readonly<Json>; readonly logprobs: Json | undefined; readonly finishReason: string | undefined } | undefined {
    const s = this.choices.get(choice);
    if (s === undefined) return undefined;
    const calls = s.message['tool_calls'] as Json[] | undefined;
    if (calls === undefined) return s;
    const whole = [...calls].sort((a, b) => Number(a['index']) - Number(b['index'])).map(({ index: _index, ...c }) => c);
    return { ...s, message: { ...s.message, tool_calls: whole } };
  }

  /** The choices other than 0, in index order. */
  others(): number[] {
    return [...this.choices.keys()].filter((c) => c !== 0).sort((a, b) => a - b);
  }
}
