/**
 * The request side of a generated k6 script (k6 code kept as text): metrics named as in the RunResult, the
 * outcome of an answer (the engine's `x_engine` verdict first, then the wire, as harness/run/drivers/http-driver.ts
 * reads it), a streamed chat call over `k6/x/sse` or a plain one, embeddings, and `play`. Latencies count from
 * the request's intended start: the iteration's scheduled start for its first call where the executor says when
 * that was, else the moment the call is sent. The text's `Date.now()` runs inside k6, where the VU's wall clock is
 * the only clock a script has; this file itself reads no time.
 */
import { ENGINE_HEADERS } from './script-runtime.js';

const H = ENGINE_HEADERS;

/** Metrics, outcome and SLO helpers shared by both variants. */
const COMMON = `
const e2e = new Trend('e2eMs', true);
const e2eAll = new Trend('e2eAllMs', true);
const queued = new Trend('queueMs', true);
const backoff = new Trend('backoffMs', true);
const attemptsTrend = new Trend('attempts');
/** Actual send time minus the scheduled start (the load generator's own lag). */
const scheduleLag = new Trend('scheduleLagMs', true);
const okRate = new Rate('okFraction');
const degradedRate = new Rate('degradedFraction');
const shedRate = new Rate('shedFraction');
const errorRate = new Rate('errorFraction');
const sloMet = new Rate('sloMetFraction');
const goodput = new Counter('goodput');
const tokensDelivered = new Counter('tokensDelivered');
/** +1 when a request starts, −1 when it ends: a request still open when k6 stops the run leaves it above 0. */
const unfinished = new Counter('requestsUnfinished');

type Outcome = 'ok' | 'degraded' | 'shed' | 'failed' | 'timeout' | 'cancelled';
const OUTCOMES = ['ok', 'degraded', 'shed', 'failed', 'timeout', 'cancelled'];
/** The engine's own account of a request (its x_engine field), when the target is our engine. */
interface Verdict {
  outcome?: Outcome;
  degraded?: string;
  attempts?: number;
  queuedMs?: number;
  backoffMs?: number;
}
/** What the script saw of one request. */
interface Seen {
  cls: string;
  startMs: number;
  firstMs?: number;
  endMs: number;
  tokens: number;
  status: number;
  code?: string;
  verdict?: Verdict;
  degraded?: string;
  finished: boolean;
  streamError?: string;
  timedOut: boolean;
  itl: number[];
  lastMs?: number;
}

function sloFor(cls: string): SloBounds {
  const b = SLO_BY_CLASS[cls];
  return b === undefined ? DEFAULT_SLO : b;
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch (_e) {
    return undefined;
  }
}

function field(o: unknown, key: string): unknown {
  return o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[key] : undefined;
}

function errorCode(o: unknown): string | undefined {
  const c = field(field(o, 'error'), 'code');
  return typeof c === 'string' ? c : undefined;
}

function verdictOf(o: unknown): Verdict | undefined {
  const x = field(o, 'x_engine');
  const outcome = field(x, 'outcome');
  if (typeof outcome !== 'string' || OUTCOMES.indexOf(outcome) < 0) return undefined;
  const num = (k: string): number | undefined => {
    const v = field(x, k);
    return typeof v === 'number' ? v : undefined;
  };
  const degraded = field(x, 'degraded');
  return { outcome: outcome as Outcome, degraded: typeof degraded === 'string' ? degraded : undefined, attempts: num('attempts'), queuedMs: num('queuedMs'), backoffMs: num('backoffMs') };
}

const SHED_CODES = ['rate_limit_exceeded', 'queue_full', 'deadline_exceeded_in_queue', 'overloaded'];

/** The outcome an HTTP status (and its error code) means when the engine said nothing more. */
function outcomeOfStatus(status: number, code: string | undefined): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  if (code === 'deadline_exceeded' || (code === 'deadline_exceeded_in_queue' && status !== 429)) return 'timeout';
  if (code === 'cancelled') return 'cancelled';
  if (status === 429) return code === undefined || SHED_CODES.indexOf(code) >= 0 ? 'shed' : 'failed';
  return 'failed';
}

function outcomeOf(s: Seen): Outcome {
  let o: Outcome;
  if (s.verdict !== undefined && s.verdict.outcome !== undefined) o = s.verdict.outcome;
  else if (s.timedOut) o = 'timeout';
  else if (s.status === 0) o = 'failed';
  else if (s.status !== 200) o = outcomeOfStatus(s.status, s.code);
  else if (s.streamError !== undefined) o = s.degraded === 'partial' ? 'degraded' : outcomeOfStatus(500, s.streamError);
  else o = s.finished ? 'ok' : 'failed';
  if (o === 'ok' && s.degraded !== undefined && s.degraded !== '') o = 'degraded';
  if (o === 'degraded' && s.tokens === 0 && s.degraded === 'partial') o = 'failed';
  return o;
}

/** Records one finished request; true when it was served (ok or degraded). */
function record(s: Seen): boolean {
  const outcome = outcomeOf(s);
  const tags = { class: s.cls };
  const served = outcome === 'ok' || outcome === 'degraded';
  const e2eMs = s.endMs - s.startMs;
  const ttftMs = s.firstMs === undefined ? undefined : s.firstMs - s.startMs;
  const tpotMs = ttftMs === undefined || s.tokens < 2 ? undefined : (e2eMs - ttftMs) / (s.tokens - 1);
  e2eAll.add(e2eMs, { class: s.cls, outcome });
  if (served) e2e.add(e2eMs, tags);
  streamTimes(s, ttftMs, served ? tpotMs : undefined, tags);
  if (s.tokens > 0) tokensDelivered.add(s.tokens, tags);
  const v = s.verdict;
  if (v !== undefined) {
    if (v.queuedMs !== undefined) queued.add(v.queuedMs, tags);
    if (v.backoffMs !== undefined) backoff.add(v.backoffMs, tags);
    if (v.attempts !== undefined) attemptsTrend.add(v.attempts, tags);
  }
  const degradedReason = outcome === 'degraded' ? (v !== undefined && v.degraded !== undefined ? v.degraded : s.degraded || 'unspecified') : undefined;
  okRate.add(outcome === 'ok', tags);
  degradedRate.add(outcome === 'degraded', degradedReason === undefined ? tags : { class: s.cls, degraded: degradedReason });
  shedRate.add(outcome === 'shed', tags);
  errorRate.add(outcome === 'failed' || outcome === 'timeout', tags);
  // Goodput: ok answers (not degraded) within every SLO bound of their class; TPOT is skipped for one token.
  const b = sloFor(s.cls);
  let met = outcome === 'ok';
  if (met && STREAM && b.ttftMs !== undefined && s.tokens > 0) met = ttftMs !== undefined && ttftMs <= b.ttftMs;
  if (met && b.e2eMs !== undefined) met = e2eMs <= b.e2eMs;
  if (met && STREAM && b.tpotMs !== undefined && tpotMs !== undefined) met = tpotMs <= b.tpotMs;
  sloMet.add(met, tags);
  if (met) goodput.add(1, tags);
  check(outcome, { 'served (ok or degraded)': (x) => x === 'ok' || x === 'degraded' });
  return served;
}

/** A new observation; \`dueMs\` is the intended start (epoch ms) when known, else the request starts now. */
function begin(cls: string, dueMs: number | undefined): Seen {
  const now = Date.now(); // k6's VU wall clock: a k6 script has no other clock (this is k6 code kept as text)
  let startMs = now;
  if (dueMs !== undefined && dueMs <= now) {
    startMs = dueMs;
    scheduleLag.add(now - dueMs);
  }
  unfinished.add(1);
  return { cls, startMs, endMs: now, tokens: 0, status: 0, finished: false, timedOut: false, itl: [] };
}

function end(s: Seen): boolean {
  s.endMs = Date.now(); // k6's VU wall clock: a k6 script has no other clock (this is k6 code kept as text)
  unfinished.add(-1);
  return record(s);
}

/**
 * The x-mock-prefix value of a step: as exported, with the session's own segments renamed '@<cycle>' when the
 * embedded sessions are replayed again (a replay is another user, whose conversation the cache has not seen).
 */
function cycledPrefix(s: Session, prefix: string | undefined, cycle: number): string | undefined {
  if (prefix === undefined || prefix === '' || cycle === 0) return prefix;
  const own = s.id + '/';
  return prefix
    .split(',')
    .map((seg) => {
      const eq = seg.lastIndexOf('=');
      const id = seg.slice(0, eq);
      return id.indexOf(own) === 0 || id.indexOf('out:' + own) === 0 ? id + '@' + cycle + seg.slice(eq) : seg;
    })
    .join(',');
}

function headersFor(s: Session, requestId: string, promptTokens: number, outputTokens?: number, idempotencyKey?: string, prefix?: string): Record<string, string> {
  const h: Record<string, string> = {
    'Content-Type': 'application/json',
    '${H.requestId}': requestId,
    '${H.promptTokens}': String(promptTokens),
    '${H.tenant}': s.tenant,
    '${H.priority}': s.priority,
  };
  if (outputTokens !== undefined) h['${H.outputTokens}'] = String(outputTokens);
  if (prefix !== undefined && prefix !== '') h['${H.prefix}'] = prefix;
  const key = API_KEYS[s.tenant] || API_KEY;
  if (key !== '') h['Authorization'] = 'Bearer ' + key;
  if (idempotencyKey !== undefined) h['${H.idempotencyKey}'] = idempotencyKey;
  if (s.deadlineMs !== undefined) h['${H.deadlineMs}'] = String(s.deadlineMs);
  return h;
}

function promptText(label: string, tokens: number): string {
  const head = '[' + label + '] synthetic prompt of ' + tokens + ' tokens';
  return PAD_PROMPTS ? head + ' lorem'.repeat(Math.max(0, Math.floor((tokens * 4 - head.length) / 6))) : head;
}

/** Request ids and idempotency keys get '#<cycle>' when the embedded sessions are replayed again. */
function cycled(id: string, cycle: number): string {
  return cycle > 0 ? id + '#' + cycle : id;
}

function chatBody(id: string, promptTokens: number, outputTokens: number): string {
  return JSON.stringify({
    model: MODEL,
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: promptText(id, promptTokens) },
    ],
    max_tokens: outputTokens,
    stream: STREAM,
  });
}
`;

/** A chat call streamed over k6/x/sse: TTFT at the first token event, ITL per token, TPOT and E2E at the end. */
const STREAM_CHAT = `
/** Time to the first token event, from the intended start. */
const ttft = new Trend('ttftMs', true);
/** Inter-token latency: the gap before a chunk, divided among the tokens it carries. */
const itl = new Trend('itlMs', true);
/** (E2E − TTFT) / (tokens − 1) of a served answer. */
const tpot = new Trend('tpotMs', true);

function streamTimes(s: Seen, ttftMs: number | undefined, tpotMs: number | undefined, tags: Record<string, string>): void {
  if (ttftMs !== undefined) ttft.add(ttftMs, tags);
  if (tpotMs !== undefined) tpot.add(tpotMs, tags);
  for (const v of s.itl) itl.add(v, tags);
}
/** Tokens a chunk carries: the engine's x_engine.count or the mock's x_mock.count, else 1. */
function chunkTokens(msg: unknown): number {
  const c = field(field(msg, 'x_engine'), 'count');
  const m = field(field(msg, 'x_mock'), 'count');
  return typeof c === 'number' && c > 0 ? c : typeof m === 'number' && m > 0 ? m : 1;
}

function onData(seen: Seen, data: string): void {
  if (data === '') return; // a keep-alive comment
  if (data === '[DONE]') {
    seen.finished = true;
    return;
  }
  const msg = parseJson(data);
  if (msg === undefined) return;
  if (field(msg, 'error') !== undefined) seen.streamError = errorCode(msg) || 'error';
  const v = verdictOf(msg);
  if (v !== undefined) seen.verdict = v;
  const marker = field(msg, 'x_degraded');
  if (typeof marker === 'string') seen.degraded = marker;
  const choice = field(field(msg, 'choices'), '0');
  const content = field(field(choice, 'delta'), 'content');
  if (typeof content === 'string' && content !== '') {
    const now = Date.now(); // k6's VU wall clock: a k6 script has no other clock (this is k6 code kept as text)
    const count = chunkTokens(msg);
    if (seen.firstMs === undefined) seen.firstMs = now;
    else {
      const gap = (now - (seen.lastMs as number)) / count;
      for (let i = 0; i < count; i++) seen.itl.push(gap);
    }
    seen.lastMs = now;
    seen.tokens += count;
  }
  const finish = field(choice, 'finish_reason');
  if (finish !== undefined && finish !== null) seen.finished = true;
}

function chat(s: Session, step: ChatStep, cycle: number, dueMs: number | undefined): boolean {
  const [, label, cls, promptTokens, outputTokens, key, prefix] = step;
  const id = cycled(s.id + '/' + label, cycle);
  const idempotencyKey = key === undefined || key === null ? undefined : cycled(key, cycle);
  const headers = headersFor(s, id, promptTokens, outputTokens, idempotencyKey, cycledPrefix(s, prefix, cycle));
  const seen = begin(cls, dueMs);
  const res = sse.open(
    TARGET + '/v1/chat/completions',
    {
      method: 'POST',
      body: chatBody(id, promptTokens, outputTokens),
      headers,
      tags: { class: cls, name: 'chat' },
      timeout: REQUEST_TIMEOUT,
    },
    (client) => {
      client.on('event', (ev) => onData(seen, ev.data));
      client.on('error', (e) => {
        const text = String(e.error());
        // A non-200 answer is read as a stream: its JSON body comes back as an 'unknown event' line.
        if (text.indexOf('unknown event: ') === 0) {
          const body = parseJson(text.slice('unknown event: '.length));
          if (body !== undefined) {
            seen.code = errorCode(body) || seen.code;
            seen.verdict = verdictOf(body) || seen.verdict;
          }
          return;
        }
        seen.streamError = 'stream_error';
        if (/timeout|deadline/i.test(text)) seen.timedOut = true;
        client.close(); // after a reset or timeout, open() would otherwise stay blocked
      });
    },
  );
  seen.status = res.status;
  if (res.status === 0 && /timeout|deadline/i.test(res.error)) seen.timedOut = true;
  const h = res.headers || {};
  const marker = h['X-Degraded'];
  if (marker !== undefined && marker !== '' && seen.degraded === undefined) seen.degraded = marker;
  if (res.status !== 200 && res.status !== 0) seen.streamError = undefined;
  return end(seen);
}
`;

/** A plain chat call (no extension): one response; its time is the response time, not TTFT. */
const PLAIN_CHAT = `
/** Response time of a non-streamed chat answer, from the intended start: the whole generation, not TTFT. */
const responseTime = new Trend('responseMs', true);

/** Without a stream there is no first token, no inter-token gap and no TPOT to record. */
function streamTimes(_s: Seen, _ttftMs: number | undefined, _tpotMs: number | undefined, _tags: Record<string, string>): void {}
function readAnswer(seen: Seen, res: RefinedResponse<ResponseType | undefined>, field0: 'choices' | 'data'): void {
  seen.status = res.status;
  if (res.status === 0 && /timeout/i.test(res.error)) seen.timedOut = true;
  const body = typeof res.body === 'string' ? parseJson(res.body) : undefined;
  seen.code = errorCode(body);
  seen.verdict = verdictOf(body);
  const marker = res.headers['X-Degraded'] || field(body, 'degraded');
  if (typeof marker === 'string' && marker !== '') seen.degraded = marker;
  seen.finished = res.status === 200 && Array.isArray(field(body, field0));
  const usage = field(field(body, 'usage'), 'completion_tokens');
  if (typeof usage === 'number') seen.tokens = usage;
}

function chat(s: Session, step: ChatStep, cycle: number, dueMs: number | undefined): boolean {
  const [, label, cls, promptTokens, outputTokens, key, prefix] = step;
  const id = cycled(s.id + '/' + label, cycle);
  const idempotencyKey = key === undefined || key === null ? undefined : cycled(key, cycle);
  const headers = headersFor(s, id, promptTokens, outputTokens, idempotencyKey, cycledPrefix(s, prefix, cycle));
  const seen = begin(cls, dueMs);
  const res = http.post(TARGET + '/v1/chat/completions', chatBody(id, promptTokens, outputTokens), {
    headers,
    tags: { class: cls, name: 'chat' },
    timeout: REQUEST_TIMEOUT,
    responseType: 'text',
  });
  readAnswer(seen, res, 'choices');
  seen.endMs = Date.now(); // k6's VU wall clock: a k6 script has no other clock (this is k6 code kept as text)
  responseTime.add(seen.endMs - seen.startMs, { class: cls });
  unfinished.add(-1);
  return record(seen);
}
`;

/** Embeddings (http.batch), the session player. */
const PLAY = `
function embed(s: Session, step: EmbedStep, cycle: number, dueMs: number | undefined): void {
  const [, cls, calls] = step;
  const requests = calls.map(([label, inputTokens]) => {
    const id = cycled(s.id + '/' + label, cycle);
    const total = inputTokens.reduce((a, b) => a + b, 0);
    return {
      method: 'POST',
      url: TARGET + '/v1/embeddings',
      body: JSON.stringify({ model: EMBEDDING_MODEL, input: inputTokens.map((t, j) => promptText(id + '.' + j, t)) }),
      params: { headers: headersFor(s, id, total), tags: { class: cls, name: 'embeddings' }, timeout: REQUEST_TIMEOUT, responseType: 'text' as const },
    };
  });
  const seen = calls.map(() => begin(cls, dueMs));
  const answers = http.batch(requests);
  answers.forEach((res, i) => {
    const x = seen[i] as Seen;
    const body = typeof res.body === 'string' ? parseJson(res.body) : undefined;
    x.status = res.status;
    x.code = errorCode(body);
    x.verdict = verdictOf(body);
    x.finished = res.status === 200 && Array.isArray(field(body, 'data'));
    end(x);
  });
}

/** Plays a session's steps in order, as one iteration; the first call is due at \`dueMs\` (epoch ms) when known. */
function play(s: Session, cycle: number, dueMs: number | undefined): void {
  let due = dueMs;
  for (const step of s.steps) {
    if (step[0] === 'think') sleep(step[1] / 1000);
    else if (step[0] === 'embed') embed(s, step, cycle, due);
    else if (!chat(s, step, cycle, due) && s.abandon) return;
    due = undefined; // later calls start when the earlier ones (and the think time) are over
  }
}
`;

/** Metrics, request helpers and `play` for the streaming or the plain variant. */
export function requestsBody(stream: boolean): string {
  return `\nconst STREAM = ${stream};\n${COMMON}${stream ? STREAM_CHAT : PLAIN_CHAT}${PLAY}`;
}
