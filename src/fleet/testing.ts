/** Helpers for the fleet's tests. */
import type { StreamEvent } from '../upstream/model-client.js';

/** Every event of a stream, in order. */
export async function drain(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of stream) out.push(e);
  return out;
}

/** The text of a stream's token events. */
export function textOf(events: readonly StreamEvent[]): string {
  return events.map((e) => (e.type === 'tokens' ? e.text : '')).join('');
}
