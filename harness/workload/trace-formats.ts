/**
 * The trace formats teams have, besides Azure's (harness/workload/trace.ts), chosen by content or by name:
 * - `mooncake`: JSONL, one request a line: `timestamp` (ms), `input_length`, `output_length`, `hash_ids` (one id per
 *   512-token block of the prompt; equal ids are equal blocks, so they become the request's prefix identity);
 * - `burstgpt`: CSV `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type` (timestamp in seconds);
 *   `Model` and `Log Type` become the request class, e.g. `chatgpt-conversation`, `gpt-4-api`;
 * - `sharegpt`: a JSON array of conversations `{ id, conversations: [{ from: human|gpt|system, value }] }`: multi-turn
 *   sessions with the real message lengths (about 4 characters a token), arriving by a chosen arrival process.
 * Malformed input gets a {@link TraceFormatError} naming the file, line and column, the offending text cut short.
 */
import { parseTrace, TraceFormatError, type TraceRow } from './trace.js';

/** The formats a trace can be in. */
export const TRACE_FORMATS = ['azure', 'mooncake', 'burstgpt', 'sharegpt'] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];

/** Tokens per Mooncake `hash_ids` block. */
export const MOONCAKE_BLOCK_TOKENS = 512;

/** One conversation of a ShareGPT-shaped file: alternating user and assistant turns, lengths in tokens. */
export interface TraceConversation {
  /** 1-based line where the conversation starts in the file. */
  readonly line: number;
  readonly id: string;
  /** Tokens of a leading system message (0 when none). */
  readonly systemTokens: number;
  /** Each turn: the user's new tokens and the assistant's answer tokens. */
  readonly turns: ReadonlyArray<{ readonly userTokens: number; readonly outputTokens: number }>;
}

/** A parsed trace: request rows (azure, mooncake, burstgpt) or conversations (sharegpt). */
export type ParsedTrace =
  | { readonly format: Exclude<TraceFormat, 'sharegpt'>; readonly rows: TraceRow[] }
  | { readonly format: 'sharegpt'; readonly conversations: TraceConversation[] };

const BURSTGPT_COLUMNS = ['Timestamp', 'Model', 'Request tokens', 'Response tokens', 'Total tokens', 'Log Type'] as const;

/** The format of a trace's text, by its first non-blank characters and header. */
export function sniffTraceFormat(text: string, file: string): TraceFormat {
  const body = text.replace(/^\uFEFF/, '');
  const start = body.trimStart();
  if (start.startsWith('[')) return 'sharegpt';
  if (start.startsWith('{')) return 'mooncake';
  const header = (body.split('\n')[0] ?? '').replace(/\r$/, '').split(',').map((c) => c.trim());
  if (header[0] === 'TIMESTAMP') return 'azure';
  if (header[0] === 'Timestamp' && header.includes('Model')) return 'burstgpt';
  throw new TraceFormatError(
    file,
    1,
    '1',
    `a known trace format (${TRACE_FORMATS.join(', ')}: an Azure or BurstGPT CSV header, Mooncake JSON lines or a ShareGPT JSON array)`,
    JSON.stringify(start.split('\n')[0] ?? ''),
  );
}

/** Parses a trace in `format` (sniffed from the text when undefined). */
export function parseTraceAs(text: string, file: string, format?: TraceFormat): ParsedTrace {
  const f = format ?? sniffTraceFormat(text, file);
  switch (f) {
    case 'azure':
      return { format: f, rows: parseTrace(text, file) };
    case 'mooncake':
      return { format: f, rows: parseMooncake(text, file) };
    case 'burstgpt':
      return { format: f, rows: parseBurstGpt(text, file) };
    case 'sharegpt':
      return { format: f, conversations: parseShareGpt(text, file) };
  }
}

function lines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split('\n').map((l) => l.replace(/\r$/, ''));
}

/** A JSON.parse failure's 1-based column within the line, from V8's "at position N" (else 1). */
function jsonColumn(error: unknown): string {
  const m = /position (\d+)/.exec(error instanceof Error ? error.message : '');
  return m === null ? '1' : String(Number(m[1]) + 1);
}

function count(v: unknown, file: string, line: number, column: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new TraceFormatError(file, line, column, 'a non-negative integer', v === undefined ? 'nothing' : JSON.stringify(v));
  }
  return v;
}

/** Mooncake JSONL: `{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [ids]}` per line. */
export function parseMooncake(text: string, file: string): TraceRow[] {
  const rows: TraceRow[] = [];
  let first: number | undefined;
  let previous = Number.NEGATIVE_INFINITY;
  lines(text).forEach((raw, i) => {
    if (raw.trim() === '') return;
    const line = i + 1;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch (error) {
      throw new TraceFormatError(file, line, jsonColumn(error), 'a JSON object', JSON.stringify(raw));
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new TraceFormatError(file, line, '1', 'a JSON object', JSON.stringify(raw));
    const r = o as Record<string, unknown>;
    const ts = r['timestamp'];
    if (typeof ts !== 'number' || !Number.isFinite(ts) || ts < 0) {
      throw new TraceFormatError(file, line, 'timestamp', 'a time in ms (a non-negative number)', ts === undefined ? 'nothing' : JSON.stringify(ts));
    }
    const input = count(r['input_length'], file, line, 'input_length');
    const output = count(r['output_length'], file, line, 'output_length');
    const ids = r['hash_ids'] ?? [];
    if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'number' || !Number.isSafeInteger(x))) {
      throw new TraceFormatError(file, line, 'hash_ids', 'an array of integer block ids', JSON.stringify(ids));
    }
    if (ids.length > Math.ceil(input / MOONCAKE_BLOCK_TOKENS)) {
      throw new TraceFormatError(file, line, 'hash_ids', `at most ${Math.ceil(input / MOONCAKE_BLOCK_TOKENS)} ids (one per ${MOONCAKE_BLOCK_TOKENS} tokens of input_length ${input})`, String(ids.length));
    }
    first ??= ts;
    if (ts < previous) throw new TraceFormatError(file, line, 'timestamp', 'a time at or after the previous line', JSON.stringify(ts));
    previous = ts;
    rows.push({ line, offsetMs: ts - first, contextTokens: input, generatedTokens: output, hashIds: ids as number[] });
  });
  return rows;
}

/** BurstGPT CSV: seconds from the start, model, request/response tokens, log type. */
export function parseBurstGpt(text: string, file: string): TraceRow[] {
  const all = lines(text);
  const header = (all[0] ?? '').split(',').map((c) => c.trim());
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new TraceFormatError(file, 1, name, `a header with the columns ${BURSTGPT_COLUMNS.join(', ')}`, JSON.stringify(all[0] ?? ''));
    return i;
  };
  const [ts, model, req, res, , type] = BURSTGPT_COLUMNS.map((n, i) => (i === 4 ? -1 : col(n))) as number[];
  const rows: TraceRow[] = [];
  let first: number | undefined;
  let previous = Number.NEGATIVE_INFINITY;
  for (let i = 1; i < all.length; i++) {
    const raw = all[i] as string;
    if (raw.trim() === '') continue;
    const line = i + 1;
    const cells = raw.split(',').map((c) => c.trim());
    const cell = (k: number | undefined): string => cells[k ?? 0] ?? '';
    const t = Number(cell(ts));
    if (cell(ts) === '' || !Number.isFinite(t) || t < 0) throw new TraceFormatError(file, line, 'Timestamp', 'seconds from the start (a non-negative number)', JSON.stringify(cell(ts)));
    const num = (k: number | undefined, name: string): number => {
      const v = cell(k);
      if (!/^\d+$/.test(v)) throw new TraceFormatError(file, line, name, 'a non-negative integer', JSON.stringify(v));
      return Number(v);
    };
    const input = num(req, 'Request tokens');
    const output = num(res, 'Response tokens');
    const ms = t * 1000;
    first ??= ms;
    if (ms < previous) throw new TraceFormatError(file, line, 'Timestamp', 'a time at or after the previous row', JSON.stringify(cell(ts)));
    previous = ms;
    rows.push({ line, offsetMs: ms - first, contextTokens: input, generatedTokens: output, class: burstClass(cell(model), cell(type)) });
  }
  return rows;
}

/** `ChatGPT` + `Conversation log` → `chatgpt-conversation`; `GPT-4` + `API log` → `gpt-4-api`. */
export function burstClass(model: string, logType: string): string {
  const slug = (s: string): string => s.toLowerCase().replace(/\blog\b/g, '').replace(/[^a-z0-9.]+/g, '-').replace(/^-+|-+$/g, '');
  return [slug(model) || 'unknown', slug(logType)].filter((s) => s !== '').join('-');
}

/** Estimated tokens of a message's text (about 4 characters a token, as the mock estimates). */
function textTokens(s: string): number {
  return s.length === 0 ? 0 : Math.max(1, Math.ceil(s.length / 4));
}

/** ShareGPT JSON: conversations of alternating human and gpt messages. */
export function parseShareGpt(text: string, file: string): TraceConversation[] {
  const body = text.replace(/^\uFEFF/, '');
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (error) {
    const m = /position (\d+)/.exec(error instanceof Error ? error.message : '');
    const at = m === null ? 0 : Number(m[1]);
    const { line, column } = lineColumn(body, at);
    throw new TraceFormatError(file, line, String(column), 'a JSON array of conversations', JSON.stringify(body.slice(at, at + 40)));
  }
  if (!Array.isArray(data)) throw new TraceFormatError(file, 1, '1', 'a JSON array of conversations', JSON.stringify(body.slice(0, 40)));
  const starts = topLevelElementOffsets(body);
  return data.map((c: unknown, i) => {
    const { line } = lineColumn(body, starts[i] ?? 0);
    const conv = c as { id?: unknown; conversations?: unknown } | null;
    const msgs = conv?.conversations;
    if (conv === null || typeof conv !== 'object' || !Array.isArray(msgs)) {
      throw new TraceFormatError(file, line, 'conversations', `conversation ${i} as { id, conversations: [{ from, value }] }`, JSON.stringify(c));
    }
    let systemTokens = 0;
    const turns: Array<{ userTokens: number; outputTokens: number }> = [];
    let pendingUser: number | undefined;
    msgs.forEach((m: unknown, j) => {
      const msg = m as { from?: unknown; value?: unknown } | null;
      if (msg === null || typeof msg !== 'object' || typeof msg.value !== 'string' || typeof msg.from !== 'string') {
        throw new TraceFormatError(file, line, `conversations[${j}]`, `conversation ${i}: a message { from, value }`, JSON.stringify(m));
      }
      const tokens = textTokens(msg.value);
      if (msg.from === 'system') systemTokens += tokens;
      else if (msg.from === 'human' || msg.from === 'user') pendingUser = (pendingUser ?? 0) + tokens;
      else if (msg.from === 'gpt' || msg.from === 'assistant' || msg.from === 'chatgpt' || msg.from === 'bard') {
        // An answer before any question continues the previous turn's answer.
        if (pendingUser !== undefined) turns.push({ userTokens: Math.max(1, pendingUser), outputTokens: Math.max(1, tokens) });
        pendingUser = undefined;
      } else {
        throw new TraceFormatError(file, line, `conversations[${j}].from`, `conversation ${i}: human, gpt or system`, JSON.stringify(msg.from));
      }
    });
    return { line, id: typeof conv.id === 'string' ? conv.id : String(i), systemTokens, turns };
  }).filter((c) => c.turns.length > 0);
}

/** 1-based line and column of a character offset. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Offsets of the top-level array's elements (skipping strings), so errors can name a conversation's line. */
function topLevelElementOffsets(text: string): number[] {
  const out: number[] = [];
  let depth = 0;
  let inString = false;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (expectElement && depth === 1 && !/\s/.test(ch) && ch !== ']') {
      out.push(i);
      expectElement = false;
    }
    if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 1) expectElement = true;
  }
  return out;
}
