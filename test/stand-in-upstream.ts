/**
 * A stand-in for a real OpenAI-compatible model (not our mock), for the engine's tests: every call generates
 * fresh text (token i of call n is ` w{i}.g{n}`, so an answer that mixes two generations shows it), it can cut
 * chosen calls after a few tokens (a socket reset), it continues a prefix the way vLLM does (`continue_final_message`
 * on chat; on completions the prompt's tail of generated tokens), streams tool-call deltas when `tools` are sent
 * with a forcing `tool_choice`, and sends a distinctive usage chunk when asked. It records what it received.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly headers: IncomingHttpHeaders;
}

export interface StandIn {
  readonly url: string;
  readonly seen: SeenRequest[];
  /** The text each call sent (before a cut, only what was sent). */
  readonly sent: string[];
  /** The usage object each completed call sent. */
  readonly usages: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface StandInOptions {
  /** Tokens of a whole answer. @default 12 */
  readonly tokens?: number;
  /** For call n (from 1): reset the connection after this many tokens; undefined: no cut. */
  readonly cut?: (n: number) => number | undefined;
  /** For call n: after this many tokens send nothing more and keep the connection open (a stall). */
  readonly stall?: (n: number) => number | undefined;
}

const TOKEN = / w\d+\.g\d+/g;

/** Token `i` of generation `n`. */
export const tokenOf = (n: number, i: number): string => ` w${i}.g${n}`;

/** The generation numbers an answer's tokens come from. */
export function generationsIn(text: string): Set<number> {
  return new Set([...text.matchAll(/ w\d+\.g(\d+)/g)].map((m) => Number(m[1])));
}

/** The prefix a continuation request asks to continue, if it is one. */
function prefixOf(path: string, body: Record<string, unknown>): string | undefined {
  if (path.endsWith('/chat/completions')) {
    const messages = body['messages'] as Array<{ role: string; content: unknown }>;
    const last = messages[messages.length - 1];
    return body['continue_final_message'] === true && last?.role === 'assistant' && typeof last.content === 'string' ? last.content : undefined;
  }
  const prompt = String(body['prompt'] ?? '');
  const at = prompt.search(TOKEN);
  return at < 0 ? undefined : prompt.slice(at);
}

function forcedTool(body: Record<string, unknown>): string | undefined {
  const tools = body['tools'] as Array<{ function?: { name?: string } }> | undefined;
  const choice = body['tool_choice'] as { function?: { name?: string } } | string | undefined;
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  if (typeof choice === 'object' && choice?.function?.name !== undefined) return choice.function.name;
  return choice === 'required' ? tools[0]?.function?.name : undefined;
}

export async function standIn(o: StandInOptions = {}): Promise<StandIn> {
  const total = o.tokens ?? 12;
  const seen: SeenRequest[] = [];
  const sent: string[] = [];
  const usages: Array<Record<string, unknown>> = [];
  let calls = 0;
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const path = req.url ?? '';
      if (req.method === 'GET' && path === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'stand-in-model', object: 'model', created: 1, owned_by: 'test' }] }));
        return;
      }
      const body = JSON.parse(raw) as Record<string, unknown>;
      seen.push({ path, body, headers: req.headers });
      const n = ++calls;
      const chat = path.endsWith('/chat/completions');
      const prefix = prefixOf(path, body);
      const from = prefix === undefined ? 0 : (prefix.match(TOKEN) ?? []).length;
      void answer(res, { n, chat, from, total, body, cutAfter: o.cut?.(n), stallAfter: o.stall?.(n), sent, usages });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    sent,
    usages,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function write(res: ServerResponse, data: unknown): Promise<void> {
  return new Promise((resolve) => res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`, () => resolve()));
}

async function answer(
  res: ServerResponse,
  a: {
    n: number;
    chat: boolean;
    from: number;
    total: number;
    body: Record<string, unknown>;
    cutAfter: number | undefined;
    stallAfter: number | undefined;
    sent: string[];
    usages: Array<Record<string, unknown>>;
  },
): Promise<void> {
  const head = { id: `stand-in-${a.n}`, object: a.chat ? 'chat.completion.chunk' : 'text_completion', created: 1, model: String(a.body['model']) };
  const choice = (fields: Record<string, unknown>, finish: string | null = null): unknown => ({ ...head, choices: [{ index: 0, ...fields, logprobs: null, finish_reason: finish }] });
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let text = '';
  const cut = async (): Promise<void> => {
    a.sent[a.n - 1] = text;
    res.socket?.destroy();
  };
  if (a.chat) await write(res, choice({ delta: { role: 'assistant', content: '' } }));
  const tool = a.chat ? forcedTool(a.body) : undefined;
  let count = 0;
  let finish = 'stop';
  if (tool !== undefined) {
    await write(res, choice({ delta: { tool_calls: [{ index: 0, id: `call_${a.n}`, type: 'function', function: { name: tool, arguments: '' } }] } }));
    for (const piece of ['{"city":', '"Paris"}']) await write(res, choice({ delta: { tool_calls: [{ index: 0, function: { arguments: piece } }] } }));
    count = 3;
    finish = 'tool_calls';
  } else {
    for (let i = a.from; i < a.total; i++) {
      if (a.cutAfter !== undefined && count >= a.cutAfter) return cut();
      if (a.stallAfter !== undefined && count >= a.stallAfter) {
        a.sent[a.n - 1] = text;
        return; // the connection stays open until the client leaves
      }
      const t = tokenOf(a.n, i);
      text += t;
      count++;
      await write(res, choice(a.chat ? { delta: { content: t } } : { text: t }));
    }
  }
  a.sent[a.n - 1] = text;
  await write(res, choice(a.chat ? { delta: {} } : { text: '' }, finish));
  const options = a.body['stream_options'] as { include_usage?: boolean } | undefined;
  if (options?.include_usage === true) {
    const usage = { prompt_tokens: 1000 + a.n, completion_tokens: count, total_tokens: 1000 + a.n + count, prompt_tokens_details: { cached_tokens: a.n } };
    a.usages[a.n - 1] = usage;
    await write(res, { ...head, choices: [], usage });
  }
  await write(res, '[DONE]');
  res.end();
}
