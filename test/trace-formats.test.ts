/**
 * Trace formats: small traces in each format are built here (never copies of the shared files), parsed, sniffed,
 * refused with a line and column when malformed, replayed in virtual time, and run through the CLI with
 * --trace-speed and --trace-window.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Random } from '../src/random.js';
import { parseRunResult } from '../harness/report/schema.js';
import { runPolicyVirtual } from '../harness/run/virtual.js';
import { defineScenario } from '../harness/scenario.js';
import { buildWorkload, parseTraceAs, sniffTraceFormat, TraceFormatError, type TraceFormat } from '../harness/workload/index.js';
import { parseTraceWindow, withTraceFlags } from '../harness/cli/trace-flags.js';
import traceReplay from '../scenarios/trace-replay.js';

const dir = mkdtempSync(join(tmpdir(), 'trace-formats-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `n` requests, one every `gapS` seconds, in each format. */
function azure(n: number, gapS: number): string {
  const rows = Array.from({ length: n }, (_, i) => {
    const t = i * gapS;
    return `2023-11-16 18:${String(Math.floor(t / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}.0000000,${300 + i},${20 + i}`;
  });
  return ['TIMESTAMP,ContextTokens,GeneratedTokens', ...rows].join('\n');
}

function mooncake(n: number, gapS: number, shared: number, blocks = 4): string {
  return Array.from({ length: n }, (_, i) => {
    const ids = Array.from({ length: blocks }, (_, b) => (b < shared ? b + 1 : 1000 * (i + 1) + b));
    return JSON.stringify({ timestamp: i * gapS * 1000, input_length: blocks * 512, output_length: 10, hash_ids: ids });
  }).join('\n');
}

function burstgpt(n: number, gapS: number): string {
  const rows = Array.from({ length: n }, (_, i) => `${i * gapS},${i % 2 === 0 ? 'ChatGPT' : 'GPT-4'},${200 + i},${30 + i},${230 + 2 * i},${i % 3 === 0 ? 'API log' : 'Conversation log'}`);
  return ['Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type', ...rows].join('\n');
}

function sharegpt(n: number): string {
  const conv = (i: number): object => ({
    id: `c${i}`,
    conversations: [
      { from: 'human', value: 'q'.repeat(400 + 40 * i) },
      { from: 'gpt', value: 'a'.repeat(200) },
      { from: 'human', value: 'follow-up question' },
      { from: 'gpt', value: 'b'.repeat(120) },
    ],
  });
  return JSON.stringify(Array.from({ length: n }, (_, i) => conv(i)), null, 1);
}

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function formatError(text: string, format?: TraceFormat): TraceFormatError {
  try {
    parseTraceAs(text, 't', format);
  } catch (error) {
    expect(error).toBeInstanceOf(TraceFormatError);
    return error as TraceFormatError;
  }
  throw new Error('expected a TraceFormatError');
}

describe('trace formats: parsing and sniffing', () => {
  it('reads each format by content', () => {
    const cases: Array<[string, TraceFormat]> = [
      [azure(3, 2), 'azure'],
      [mooncake(3, 2, 1), 'mooncake'],
      [burstgpt(3, 2), 'burstgpt'],
      [sharegpt(2), 'sharegpt'],
    ];
    for (const [text, format] of cases) expect(sniffTraceFormat(text, 't')).toBe(format);
    const mc = parseTraceAs(mooncake(3, 2, 1), 't');
    expect(mc.format === 'mooncake' && mc.rows.map((r) => [r.offsetMs, r.contextTokens, r.hashIds?.[0]])).toEqual([
      [0, 2048, 1],
      [2000, 2048, 1],
      [4000, 2048, 1],
    ]);
    const bg = parseTraceAs(burstgpt(3, 2), 't');
    expect(bg.format === 'burstgpt' && bg.rows.map((r) => r.class)).toEqual(['chatgpt-api', 'gpt-4-conversation', 'chatgpt-conversation']);
    const sg = parseTraceAs(sharegpt(2), 't');
    expect(sg.format === 'sharegpt' && sg.conversations[1]).toEqual({
      line: expect.any(Number) as number,
      id: 'c1',
      systemTokens: 0,
      turns: [
        { userTokens: 110, outputTokens: 50 },
        { userTokens: 5, outputTokens: 30 },
      ],
    });
  });

  it('a malformed trace is refused naming the line and column, the offending text cut short', () => {
    const long = `{"timestamp": 0, "input_length": 10, "output_length": 1}\n{"timestamp": 5, "input_length": "${'x'.repeat(500)}"}`;
    const e = formatError(long);
    expect(e.line).toBe(2);
    expect(e.column).toBe('input_length');
    expect(e.message.length).toBeLessThan(250);
    expect(e.message).toContain('(502 characters)');
    const json = formatError('{"timestamp": 0, "input_length": 10, "output_length": 1}\n{"timestamp": 1, oops}');
    expect([json.line, json.column]).toEqual([2, '18']); // the o of oops, 1-based
    const bg = formatError(`${burstgpt(2, 1)}\n9,ChatGPT,12x,3,15,API log`);
    expect([bg.line, bg.column]).toEqual([4, 'Request tokens']);
    const sg = formatError('[\n {"id": "a", "conversations": [{"from": "human", "value": "hi"}]},\n {"id": "b", "conversations": [{"from": "robot", "value": "x"}]}\n]');
    expect([sg.line, sg.column]).toEqual([3, 'conversations[0].from']);
    expect(formatError('hello,world\n1,2').message).toContain('a known trace format');
    expect(formatError(mooncake(2, 1, 0), 'azure').column).toBe('1'); // forced to the wrong format: refused, not guessed
  });
});

describe('trace replay', () => {
  const scenario = (path: string) =>
    defineScenario({
      name: 'trace-test',
      description: 'trace test',
      seed: 1,
      durationMs: 60_000,
      workload: { trace: { path } },
      model: { profile: 'h100-llama3-8b' },
      policies: ['bounded'],
      slo: { ttftMs: 2_000, e2eMs: 30_000 },
    });

  it('a Mooncake trace whose requests share hash_ids gets cache hits in proportion to the shared blocks', async () => {
    const rates: number[] = [];
    for (const shared of [0, 1, 2, 3]) {
      const path = write(`mc-${shared}.jsonl`, mooncake(20, 1, shared));
      const run = await runPolicyVirtual({ scenario: scenario(path), policy: 'bounded', seed: 1, durationMs: 60_000 });
      expect(run.result.summary.ok).toBe(20);
      rates.push(run.result.summary.prefixCacheHitRate ?? Number.NaN);
    }
    // 20 prompts of 4 blocks (2,048 tokens) one second apart: all but the first find `shared` blocks cached.
    expect(rates).toEqual([0, 1, 2, 3].map((shared) => (19 * shared * 512) / (20 * 2048)));
  });

  it('every format replays; rates divide by the span replayed, not the longer arrival window', async () => {
    const files: Record<TraceFormat, string> = {
      azure: write('a.csv', azure(30, 2)),
      mooncake: write('m.jsonl', mooncake(30, 2, 1)),
      burstgpt: write('b.csv', burstgpt(30, 2)),
      sharegpt: write('s.json', sharegpt(5)),
    };
    for (const [format, path] of Object.entries(files)) {
      // 60 s of trace at 4× speed: 15 s replayed, inside a 60 s arrival window.
      const s = { ...scenario(path), workload: { trace: { path, speedup: 4, startMs: 0, durationMs: 60_000 } } };
      const built = buildWorkload(s.workload, new Random(1).derive('workload'), { durationMs: 60_000 });
      expect(built.replay?.format).toBe(format);
      expect(built.replay?.replayedMs).toBe(format === 'sharegpt' ? 15_000 : 58_000 / 4);
      expect(built.sessions.length).toBeGreaterThan(0);
      const run = await runPolicyVirtual({ scenario: s, policy: 'bounded', seed: 1, durationMs: 60_000 });
      const sum = run.result.summary;
      expect(sum.requests, format).toBeGreaterThan(0);
      expect(sum.goodputPerSec).toBeCloseTo(sum.sloMet / ((built.replay?.replayedMs ?? 0) / 1000), 5);
    }
  });

  it('--trace-window and --trace-speed rewrite the window, the arrival window and the description', () => {
    expect(parseTraceWindow('0..10m')).toEqual({ startMs: 0, durationMs: 600_000 });
    expect(parseTraceWindow('5m..')).toEqual({ startMs: 300_000 });
    expect(() => parseTraceWindow('10m..5m')).toThrow('--trace-window: expected END after START');
    const path = write('w.jsonl', mooncake(3, 1, 0));
    const s = withTraceFlags(traceReplay, { trace: path, traceSpeed: '4', traceWindow: '0..10m' });
    expect(s.durationMs).toBe(150_000);
    expect(s.workload).toEqual({ trace: { path, speedup: 4, startMs: 0, durationMs: 600_000 } });
    expect(s.description).toBe(`trace replay of ${path} (mooncake), window 0..10m of trace time, 4× speed`);
  });
});

describe('npm run scenario trace-replay -- --trace FILE --trace-speed 4 --trace-window 0..10m', () => {
  const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
  it('works for every format and names the file, format, window and speed in the report', () => {
    const files: Array<[TraceFormat, string]> = [
      ['azure', write('cli.csv', azure(20, 3))],
      ['mooncake', write('cli.jsonl', mooncake(20, 3, 2))],
      ['burstgpt', write('cli-b.csv', burstgpt(20, 3))],
      ['sharegpt', write('cli.json', sharegpt(4))],
    ];
    for (const [format, path] of files) {
      const out = join(dir, `out-${format}`);
      const args = ['harness/cli.ts', 'scenario', 'trace-replay', '--trace', path, '--trace-speed', '4', '--trace-window', '0..10m', '--policies', 'bounded', '--out', out, '--quiet'];
      const r = spawnSync(tsx, args, { encoding: 'utf8', env: { ...process.env, DEBUG: '' }, timeout: 240_000 });
      expect(r.status, `${format}: ${r.stderr}`).toBe(0);
      const result = parseRunResult(readFileSync(join(out, 'result.json'), 'utf8'));
      expect(result.scenario.description).toBe(`trace replay of ${path} (${format}), window 0..10m of trace time, 4× speed`);
      expect(result.policies[0]?.summary.requests).toBeGreaterThan(0);
      expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain(`(${format}), window 0..10m`);
    }
  });
});
