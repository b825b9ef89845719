/**
 * Bad target definitions give clear errors (an unreachable URL, a system that never gets ready, a wrong protocol,
 * one that answers without calling the mock, bad names and flags), and the pure parts of the target API: the
 * protocol checks, the Portkey configs and how its answers are classified, and a target row's unknowns.
 */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors.js';
import { RealClock } from '../src/time/real-clock.js';
import { UsageError } from '../harness/cli/flags.js';
import { liveOnlyTargets, parseTargets } from '../harness/cli/target-flags.js';
import { Recorder } from '../harness/measure/recorder.js';
import { freePort, ProcessGroup } from '../harness/run/processes.js';
import { validateScenario } from '../harness/scenario.js';
import { jsonProblem, sseProblem } from '../harness/targets/probe.js';
import { PORTKEY_RETRY, portkeyConfig, portkeyTarget } from '../harness/targets/portkey.js';
import { startTarget } from '../harness/targets/start.js';
import { defineTarget, TargetError, validateTargets, type TargetAdapter } from '../harness/targets/target.js';
import { finishTargetResult } from '../harness/targets/target-result.js';
import { parseTargetFlag, urlTarget } from '../harness/targets/url-target.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function serve(handler: RequestListener): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

function start(t: TargetAdapter, mockUrl = 'http://127.0.0.1:1', extra: { readyTimeoutMs?: number } = {}): Promise<unknown> {
  const clock = new RealClock();
  const group = new ProcessGroup(clock);
  return startTarget(t, { clock, group, mocks: { primary: mockUrl }, primaryModel: 'primary', fallbackModel: 'fallback', userReadyTimeoutMs: 400, ...extra }).finally(() =>
    group.stopAll(),
  );
}

async function targetError(p: Promise<unknown>): Promise<TargetError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof TargetError)) throw new Error(`expected a TargetError, got ${String(e)}`);
  return e;
}

const OPENAI_JSON = JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] });
const OPENAI_SSE = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] })}\n\ndata: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`;

describe('bad targets', () => {
  it('an unreachable URL: says what was expected, what came back, and where to point the upstream', async () => {
    const port = await freePort();
    const e = await targetError(start(urlTarget('gone', `http://127.0.0.1:${port}`)));
    expect(e.code).toBe('TARGET_UNREACHABLE');
    expect(e.message).toContain(`target gone: expected a server answering at http://127.0.0.1:${port}, got ECONNREFUSED`);
    expect(e.message).toContain('start it first, with its upstream at http://127.0.0.1:1/v1');
  });

  it('a system that never gets ready: its ready check times out', async () => {
    const url = await serve((_req, res) => res.writeHead(503).end());
    const e = await targetError(start(defineTarget({ name: 'sleepy', url, ready: () => Promise.resolve(false) })));
    expect(e.code).toBe('TARGET_NOT_READY');
    expect(e.message).toMatch(/^target sleepy: expected ready within 400 ms/);
  });

  it('a started system that never gets ready is stopped, and the error shows its stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'target-'));
    const entry = join(dir, 'never-ready.mjs');
    writeFileSync(entry, "import http from 'node:http';\nconsole.error('booting forever');\nhttp.createServer((q, r) => r.writeHead(503).end()).listen(Number(process.argv[2]), '127.0.0.1');\n");
    let port = 0;
    const t = defineTarget({
      name: 'stuck',
      async start(ctx) {
        port = ctx.port;
        const p = await ctx.spawn({ name: 'target[stuck]', entry, args: [String(ctx.port)], port: ctx.port, readyPath: '/health' });
        return { url: p.url };
      },
    });
    // Long enough for a child node process to start and print on a busy machine (1.5 s was not).
    const e = await targetError(start(t, 'http://127.0.0.1:1', { readyTimeoutMs: 8_000 }));
    expect(e.code).toBe('TARGET_NOT_READY');
    expect(e.message).toContain('target stuck: target[stuck]: not ready after 8000 ms');
    expect(e.message).toContain('booting forever');
    // The process it started is gone: nothing listens on its port any more.
    expect(port).toBeGreaterThan(0);
    const after = await fetch(`http://127.0.0.1:${port}/health`).then(
      (r) => r.status,
      (err: unknown) => String((err as { cause?: { code?: string } }).cause?.code),
    );
    expect(after).toBe('ECONNREFUSED');
  });

  it('a wrong protocol: names the endpoint, what it expected and what it got', async () => {
    const url = await serve((req, res) => (req.url === '/' ? res.writeHead(200).end('hello') : res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>no</h1>')));
    const e = await targetError(start(urlTarget('web', url)));
    expect(e.code).toBe('TARGET_PROTOCOL');
    expect(e.message).toBe(`target web: POST ${url}/v1/chat/completions (stream: false): expected 200 with a chat completion (OpenAI-compatible), got 404: <h1>no</h1>`);
  });

  it('a wrong protocol when streaming: JSON where an event stream belongs', async () => {
    const url = await serve((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(OPENAI_JSON));
    const e = await targetError(start(urlTarget('nostream', url)));
    expect(e.code).toBe('TARGET_PROTOCOL');
    expect(e.message).toContain('(stream: true): expected a streamed (SSE) chat completion (OpenAI-compatible), got content-type "application/json" instead of text/event-stream');
  });

  it('an OpenAI-compatible system that does not call the mock: told to point its upstream at it', async () => {
    const url = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/') return void res.writeHead(200).end();
        const stream = (JSON.parse(body) as { stream: boolean }).stream;
        res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json' }).end(stream ? OPENAI_SSE : OPENAI_JSON);
      });
    });
    const e = await targetError(start(urlTarget('elsewhere', url)));
    expect(e.code).toBe('TARGET_PROTOCOL');
    expect(e.message).toBe('target elsewhere: expected its answers to come from the mock GPU at http://127.0.0.1:1/v1, but the mock received no request: point its upstream there');
  });

  it('a Portkey mode that needs a fallback model the scenario does not have', () => {
    expect(() => portkeyConfig('retry-fallback', { upstreamUrl: 'http://127.0.0.1:1/v1' })).toThrow(/mode 'retry-fallback' needs a fallback model/);
  });

  it('bad names, duplicates, missing URLs and bad flags are validation errors naming the field', () => {
    expect(() => validateTargets([urlTarget('Mine', 'http://127.0.0.1:9000')], 'targets')).toThrow('targets[0].name: expected lower case letters');
    expect(() => validateTargets([urlTarget('naive', 'http://127.0.0.1:9000')], 'targets', ['naive'])).toThrow('targets[0].name: expected a name not used by another policy or target');
    expect(() => validateTargets([defineTarget({ name: 'x' })], 'targets')).toThrow('targets[0].url: expected the URL of a system you started');
    expect(() => validateTargets([{ name: 'x', url: 'http://a' }], 'targets')).toThrow("targets[0]: expected a target adapter made with defineTarget (kind: 'target')");
    expect(() => parseTargetFlag('mine')).toThrow('--target: expected NAME=URL, e.g. mine=http://127.0.0.1:9000, got "mine"');
    expect(() => parseTargetFlag('mine=ftp://x')).toThrow(ValidationError);
    expect(() => parseTargets(['a=http://127.0.0.1:1', 'a=http://127.0.0.1:2'])).toThrow(UsageError);
    expect(() => parseTargets(['a b=http://127.0.0.1:1'])).toThrow(UsageError);
    expect(parseTargets(['mine=http://127.0.0.1:9000/'])[0]?.url).toBe('http://127.0.0.1:9000');
  });

  it('a scenario validates its targets, and targets are refused where they cannot run', () => {
    const base = {
      name: 's',
      description: 'd',
      seed: 1,
      durationMs: 1000,
      workload: { arrivals: { kind: 'poisson', ratePerSec: 1 }, mix: [{ name: 'c', weight: 1, kind: 'single', promptTokens: 10, outputTokens: 10 }] },
      model: {},
      policies: ['naive'],
      slo: { ttftMs: 1000 },
    } as const;
    expect(() => validateScenario({ ...base, targets: [urlTarget('naive', 'http://127.0.0.1:9')] })).toThrow('scenario.targets[0].name: expected a name not used');
    const s = validateScenario({ ...base, targets: [portkeyTarget()] });
    expect(s.targets?.[0]?.name).toBe('portkey-retry');
    expect(() => liveOnlyTargets('both', s, [])).toThrow('--mode both: external targets have no virtual run');
    expect(() => liveOnlyTargets('virtual', validateScenario(base), parseTargets(['m=http://127.0.0.1:1']))).toThrow('--target: external targets run in live mode only');
    expect(() => liveOnlyTargets('live', s, [])).not.toThrow();
  });
});

describe('protocol checks', () => {
  it('accept OpenAI-shaped answers and name what is wrong with others', () => {
    expect(jsonProblem(OPENAI_JSON)).toBeUndefined();
    expect(jsonProblem('<html>')).toBe('a body that is not JSON');
    expect(jsonProblem('{"data":[]}')).toBe('JSON without a `choices` array');
    expect(sseProblem('text/event-stream; charset=utf-8', OPENAI_SSE)).toBeUndefined();
    expect(sseProblem('text/event-stream', 'data: {"choices":[]}\n\n')).toBe('a stream that ended without [DONE] or a finish_reason');
    expect(sseProblem('text/event-stream', 'data: nope\n\n')).toBe('an event whose data is not JSON');
    expect(sseProblem('text/event-stream', ': comment only\n\n')).toBe('an event stream without `data:` lines');
  });
});

describe('Portkey adapter', () => {
  const up = { upstreamUrl: 'http://127.0.0.1:1000/v1', fallbackUrl: 'http://127.0.0.1:1001/v1', fallbackModel: 'fallback' };

  it('builds the documented configs: retries on the mock, then a fallback target with the fallback model', () => {
    expect(portkeyConfig('retry', up)).toEqual({
      provider: 'openai',
      custom_host: up.upstreamUrl,
      retry: { attempts: 3, on_status_codes: [429, 500, 502, 503, 504], use_retry_after_header: true },
      forward_headers: ['x-request-id', 'x-mock-prompt-tokens', 'x-mock-output-tokens'],
    });
    const fb = portkeyConfig('retry-fallback', up) as { strategy: unknown; targets: Array<Record<string, unknown>> };
    expect(fb.strategy).toEqual({ mode: 'fallback', on_status_codes: [429, 500, 502, 503, 504] });
    expect(fb.targets[1]).toMatchObject({ custom_host: up.fallbackUrl, override_params: { model: 'fallback' }, retry: { ...PORTKEY_RETRY } });
    const t = portkeyTarget({ mode: 'retry-fallback' });
    const header = t.headers?.({ ...up, primaryModel: 'primary' })['x-portkey-config'];
    expect(JSON.parse(header ?? '{}')).toEqual(fb);
  });

  it('counts an answer from a later config target as degraded (fallback), and every error as a failure', () => {
    const t = portkeyTarget({ mode: 'retry-fallback' });
    expect(t.degradedFrom?.({ 'x-portkey-last-used-option-index': 'config.targets[1]' })).toBe('fallback');
    expect(t.degradedFrom?.({ 'x-portkey-last-used-option-index': 'config.targets[0]' })).toBeUndefined();
    expect(t.degradedFrom?.({ 'x-portkey-last-used-option-index': 'config' })).toBeUndefined();
    expect(t.outcomeOfStatus?.(429, 'rate_limit_exceeded')).toBe('failed');
    expect(t.outcomeOfStatus?.(408, undefined)).toBe('timeout');
  });

  it('refuses a gateway that is not the pinned version', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pk-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: '@portkey-ai/gateway', version: '9.9.9' }));
    const e = await targetError(start(portkeyTarget({ packageDir: dir })));
    expect(e.code).toBe('TARGET_INVALID');
    expect(e.message).toContain('expected @portkey-ai/gateway 1.15.2 (the pinned version)');
    expect(e.message).toContain('got 9.9.9');
  });
});

describe('a target row', () => {
  it('reports queue and backoff waits as unknown and takes the protocol check out of the mock counters', () => {
    const rec = new Recorder({ policy: 't', slo: { ttftMs: 1000 } });
    for (let i = 0; i < 4; i++) {
      rec.arrival(i * 100);
      rec.complete({ id: `r${i}`, class: 'c', intendedStartMs: i * 100, firstTokenAtMs: i * 100 + 50, endAtMs: i * 100 + 90, chunks: [{ atMs: i * 100 + 50, count: 10 }], tokens: 10, outcome: 'ok', queuedMs: 0, backoffMs: 0, attempts: 1, upstreamCalls: 1 });
    }
    const raw = rec.finish({ durationMs: 1000, wastedTokens: 5, tokensComputed: 44, gpuUtilization: null, meanBatchSize: null, faultPhases: [], upstreamCalls: 8 });
    expect(raw.summary.queueMs.count).toBe(4);
    const r = finishTargetResult(raw, { upstreamCalls: 2, tokensComputed: 4, wastedTokens: 1 });
    expect(r.counters.upstreamCalls).toBe(6);
    expect(r.summary.amplification).toBe(1.5);
    expect(r.counters.tokensComputed).toBe(40);
    expect(r.summary.wastedTokenFraction).toBe(0.1);
    expect(r.summary.queueMs).toEqual({ count: 0, p50: null, p90: null, p99: null, max: null, mean: null });
    expect(r.summary.backoffMs.p50).toBeNull();
    expect(r.histograms.queueMs).not.toBe(raw.histograms.queueMs);
    expect(r.summary.ttftMs).toEqual(raw.summary.ttftMs);
  });
});
