/**
 * Splits a relayed SSE byte stream into whole events, as raw bytes (the chaos proxy relays them unchanged), and
 * counts the tokens an event carries, so a fault can cut a stream after N tokens. Events end at a blank line
 * (`\n\n`, `\r\n\r\n` or `\r\r`); the bytes of an event include its terminator.
 */

const LF2 = Buffer.from('\n\n');
const CRLF2 = Buffer.from('\r\n\r\n');
const CR2 = Buffer.from('\r\r');

/** Feeds chunks in, takes whole events out; what is left of an unfinished event is kept for the next chunk. */
export class SseSplitter {
  private rest: Buffer = Buffer.alloc(0);

  /** The complete events in `chunk` (with what was held back before it). */
  push(chunk: Buffer): Buffer[] {
    let buf = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      const end = eventEnd(buf);
      if (end < 0) break;
      out.push(buf.subarray(0, end));
      buf = buf.subarray(end);
    }
    this.rest = buf;
    return out;
  }

  /** Bytes of an unfinished event at the end of the stream. */
  get pending(): Buffer {
    return this.rest;
  }
}

function eventEnd(buf: Buffer): number {
  let best = -1;
  for (const sep of [LF2, CRLF2, CR2]) {
    const i = buf.indexOf(sep);
    if (i >= 0 && (best < 0 || i + sep.length < best)) best = i + sep.length;
  }
  return best;
}

/** What one event is, for the fault logic. */
export interface SseEventInfo {
  /** Tokens it carries: `x_mock.count` when the mock sent it, else one per choice with text or a tool call. */
  readonly tokens: number;
  /** `data: [DONE]`. */
  readonly done: boolean;
}

/** Reads the `data:` lines of a raw event. Anything that is not JSON carries no tokens. */
export function sseEventInfo(event: Buffer): SseEventInfo {
  const text = event.toString('utf8');
  let data = '';
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line.startsWith('data:')) data += (data === '' ? '' : '\n') + line.slice(line.startsWith('data: ') ? 6 : 5);
  }
  if (data === '[DONE]') return { tokens: 0, done: true };
  if (data === '') return { tokens: 0, done: false };
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { tokens: 0, done: false };
  }
  const o = json as { x_mock?: { count?: unknown }; choices?: unknown };
  if (typeof o.x_mock?.count === 'number') return { tokens: o.x_mock.count, done: false };
  let tokens = 0;
  if (Array.isArray(o.choices)) {
    for (const c of o.choices as Array<{ delta?: { content?: unknown; reasoning_content?: unknown; tool_calls?: unknown }; text?: unknown }>) {
      const d = c.delta;
      const has =
        (typeof d?.content === 'string' && d.content !== '') ||
        (typeof d?.reasoning_content === 'string' && d.reasoning_content !== '') ||
        (Array.isArray(d?.tool_calls) && d.tool_calls.length > 0) ||
        (typeof c.text === 'string' && c.text !== '');
      if (has) tokens++;
    }
  }
  return { tokens, done: false };
}
