import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Random } from '../../src/random.js';
import { VirtualClock } from '../../src/time/virtual-clock.js';
import { buildSessions } from './build.js';
import type { SessionContext } from './types.js';
import { loadTrace, parseTrace, TraceFormatError, TraceReadError, traceStats, windowTrace } from './trace.js';

// The real traces live outside the repo (never copied in); these tests run when the folder is there.
const TRACES = '../shared/data/traces';
const haveTraces = existsSync(join(TRACES, 'azure-2023-conv.csv')) && existsSync(join(TRACES, 'azure-2023-code.csv'));

const HEADER = 'TIMESTAMP,ContextTokens,GeneratedTokens';

function formatError(text: string, file = 'trace.csv'): TraceFormatError {
  try {
    parseTrace(text, file);
  } catch (error) {
    expect(error).toBeInstanceOf(TraceFormatError);
    expect((error as TraceFormatError).code).toBe('TRACE_FORMAT');
    return error as TraceFormatError;
  }
  throw new Error('expected parseTrace to throw');
}

describe.runIf(haveTraces)('real Azure traces reproduce the README figures', () => {
  it('conversation trace: 19,366 rows over 58 min, 5.5 req/s, tokens 1,155/1,020/4,142 and 211/129/601, CV 1.09', () => {
    const s = traceStats(loadTrace(join(TRACES, 'azure-2023-conv.csv')));
    expect(s.rows).toBe(19_366);
    expect(Math.round(s.spanMs / 60_000)).toBe(58);
    expect(s.meanRatePerSec).toBeCloseTo(5.5, 1);
    expect(s.contextTokens.mean).toBeCloseTo(1155, -1);
    expect(s.contextTokens.median).toBe(1020);
    expect(s.contextTokens.p99).toBeCloseTo(4142, -1);
    expect(s.generatedTokens.mean).toBeCloseTo(211, 0);
    expect(s.generatedTokens.median).toBe(129);
    expect(s.generatedTokens.p99).toBeCloseTo(601, -1);
    expect(s.interArrivalCv).toBeCloseTo(1.09, 1);
  });

  it('code trace: 8,819 rows over 57 min, 2.6 req/s, tokens 2,048/1,469/7,436 and 28/13/251, CV 13.2, gaps to 217 s, peak 67/s', () => {
    const s = traceStats(loadTrace(join(TRACES, 'azure-2023-code.csv')));
    expect(s.rows).toBe(8_819);
    expect(Math.round(s.spanMs / 60_000)).toBe(57);
    expect(s.meanRatePerSec).toBeCloseTo(2.6, 1);
    expect(s.contextTokens.mean).toBeCloseTo(2048, -1);
    expect(s.contextTokens.median).toBe(1469);
    expect(s.contextTokens.p99).toBeCloseTo(7436, -1);
    expect(s.generatedTokens.mean).toBeCloseTo(28, 0);
    expect(s.generatedTokens.median).toBe(13);
    expect(Math.abs(s.generatedTokens.p99 - 251)).toBeLessThanOrEqual(2); // percentile conventions differ by a rank
    expect(s.interArrivalCv).toBeCloseTo(13.2, 0);
    expect(Math.round(s.maxGapMs / 1000)).toBe(217);
    expect(s.peakPerSec).toBe(67);
  });

  it('replay through buildSessions keeps every row, its lengths and its timing', () => {
    const rows = loadTrace(join(TRACES, 'azure-2023-conv.csv'));
    const sessions = buildSessions({ trace: { path: 'azure-2023-conv.csv' } }, new Random(1), { durationMs: 4_000_000, baseDir: TRACES });
    expect(sessions).toHaveLength(19_366);
    const requests = sessions.map((s) => (s.plan.kind === 'trace' ? s.plan.request : undefined));
    const meanPrompt = requests.reduce((a, r) => a + (r?.promptTokens ?? 0), 0) / requests.length;
    expect(meanPrompt).toBeCloseTo(1155, -1);
    expect(sessions.at(-1)?.startAtMs).toBeCloseTo(rows.at(-1)?.offsetMs as number, 6);
    expect(sessions.every((s) => s.kind === 'trace' && s.class === 'trace')).toBe(true);
  });

  it('a speed-up compresses time and a window selects rows by trace time', () => {
    const rows = loadTrace(join(TRACES, 'azure-2023-code.csv'));
    const startMs = 600_000;
    const durationMs = 300_000;
    const expected = rows.filter((r) => r.offsetMs >= startMs && r.offsetMs < startMs + durationMs);
    const sessions = buildSessions({ trace: { path: 'azure-2023-code.csv', speedup: 10, startMs, durationMs } }, new Random(1), {
      durationMs: 1_000_000,
      baseDir: TRACES,
    });
    expect(sessions).toHaveLength(expected.length);
    expect(sessions.length).toBeGreaterThan(100);
    sessions.forEach((s, i) => {
      const row = expected[i];
      expect(s.startAtMs).toBeCloseTo(((row?.offsetMs as number) - startMs) / 10, 6);
      expect(s.plan.kind === 'trace' && s.plan.traceLine).toBe(row?.line);
    });
    expect(sessions.at(-1)?.startAtMs).toBeLessThan(durationMs / 10);
    // The run's duration cuts the replay short.
    const short = buildSessions({ trace: { path: 'azure-2023-code.csv', speedup: 10, startMs, durationMs } }, new Random(1), { durationMs: 5000, baseDir: TRACES });
    expect(short.length).toBe(expected.filter((r) => (r.offsetMs - startMs) / 10 < 5000).length);
    expect(short.length).toBeLessThan(sessions.length);
  });
});

describe('parseTrace', () => {
  it('parses CRLF or LF, a BOM, a missing final newline and blank lines; offsets keep sub-millisecond digits', () => {
    const text = `\uFEFF${HEADER}\r\n2023-11-16 18:17:03.9799600,4808,10\r\n\r\n2023-11-16 18:17:04.0319601,3180,8\n2023-11-16 18:18:04,1,0`;
    expect(parseTrace(text, 't.csv')).toEqual([
      { line: 2, offsetMs: 0, contextTokens: 4808, generatedTokens: 10 },
      { line: 4, offsetMs: expect.closeTo(52.0001, 6) as number, contextTokens: 3180, generatedTokens: 8 },
      { line: 5, offsetMs: expect.closeTo(60_020.04, 6) as number, contextTokens: 1, generatedTokens: 0 },
    ]);
  });

  it('names the line and the column of a bad value', () => {
    const rows = Array.from({ length: 15 }, (_, i) => `2023-11-16 18:17:${String(10 + i).padStart(2, '0')}.0000000,100,20`);
    const text = [HEADER, ...rows, '2023-11-16 18:17:40.0000000,100,abc'].join('\n');
    expect(formatError(text).message).toBe('trace.csv line 17, column GeneratedTokens: expected a non-negative integer, got "abc"');
    const e = formatError(text);
    expect([e.file, e.line, e.column]).toEqual(['trace.csv', 17, 'GeneratedTokens']);

    expect(formatError(`${HEADER}\n2023-11-16 18:17:03.97,-5,10`).message).toBe(
      'trace.csv line 2, column ContextTokens: expected a non-negative integer, got "-5"',
    );
    expect(formatError(`${HEADER}\n2023-11-16 18:17:03.97,12.5,10`).message).toBe(
      'trace.csv line 2, column ContextTokens: expected a non-negative integer, got "12.5"',
    );
    expect(formatError(`${HEADER}\n2023-11-16 18:17:03.97,12`).message).toBe(
      'trace.csv line 2, column GeneratedTokens: expected a non-negative integer, got nothing',
    );
    expect(formatError(`${HEADER}\n2023-11-16 18:17:03.97,12,3,9`).message).toBe('trace.csv line 2, column 4: expected 3 columns, got 4 ("9")');
    expect(formatError(`${HEADER}\n16/11/2023 18:17,12,3`).message).toBe(
      'trace.csv line 2, column TIMESTAMP: expected a timestamp like "2023-11-16 18:17:03.9799600", got "16/11/2023 18:17"',
    );
    expect(formatError(`${HEADER}\n2023-13-16 18:17:03,12,3`).message).toBe(
      'trace.csv line 2, column TIMESTAMP: expected a timestamp like "2023-11-16 18:17:03.9799600", got "2023-13-16 18:17:03"',
    );
    expect(formatError(`${HEADER}\n2023-11-16 18:17:05,1,1\n2023-11-16 18:17:04,1,1`).message).toBe(
      'trace.csv line 3, column TIMESTAMP: expected a time at or after the previous row, got "2023-11-16 18:17:04"',
    );
  });

  it('rejects a trace in another format at its header', () => {
    // BurstGPT-style header.
    expect(formatError('Timestamp,Model,Request tokens,Response tokens\n5,ChatGPT,472,18').message).toBe(
      'trace.csv line 1, column 1: expected header "TIMESTAMP", got "Timestamp"',
    );
    expect(formatError('TIMESTAMP,ContextTokens\n2023-11-16 18:17:03,1').message).toBe(
      'trace.csv line 1, column 3: expected header "GeneratedTokens", got nothing',
    );
    expect(formatError(`${HEADER},Model\n`).message).toBe('trace.csv line 1, column 4: expected no further header column, got "Model"');
    expect(formatError('').message).toBe('trace.csv line 1, column 1: expected header "TIMESTAMP", got ""');
  });

  it('windowTrace shifts to the window start and divides by the speed-up', () => {
    const rows = parseTrace(`${HEADER}\n2023-01-01 00:00:00,1,1\n2023-01-01 00:00:10,2,2\n2023-01-01 00:00:20,3,3\n2023-01-01 00:00:30,4,4`, 't');
    expect(windowTrace(rows, { startMs: 10_000, durationMs: 20_000, speedup: 2 }).map((w) => [w.row.contextTokens, w.atMs])).toEqual([
      [2, 0],
      [3, 5000],
    ]);
  });
});

describe('trace files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'workload-trace-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('buildSessions reports a malformed file by the path it was given', () => {
    writeFileSync(join(dir, 'bad.csv'), `${HEADER}\n2023-11-16 18:17:03.97,100,20\n2023-11-16 18:17:04.97,100,x1\n`);
    expect(() => buildSessions({ trace: { path: 'bad.csv' } }, new Random(1), { durationMs: 10_000, baseDir: dir })).toThrow(
      'bad.csv line 3, column GeneratedTokens: expected a non-negative integer, got "x1"',
    );
  });

  it('a missing file is a TraceReadError naming it', () => {
    expect(() => loadTrace('nope.csv', dir)).toThrow(TraceReadError);
    expect(() => loadTrace('nope.csv', dir)).toThrow('nope.csv: expected a readable trace file, got ENOENT');
  });

  it('replayed sessions send the row lengths at the row time, from the intended start', async () => {
    writeFileSync(join(dir, 'ok.csv'), `${HEADER}\n2023-11-16 18:17:03.5,100,20\n2023-11-16 18:17:04.5,300,40`);
    const sessions = buildSessions({ trace: { path: 'ok.csv', tenant: 't1', priority: 'batch', deadlineMs: 9000 } }, new Random(1), { durationMs: 10_000, baseDir: dir });
    expect(sessions.map((s) => s.startAtMs)).toEqual([0, 1000]);
    const second = sessions[1];
    expect(second?.plan.kind === 'trace' && second.plan.request).toMatchObject({
      id: 's1/t0', class: 'trace', tenant: 't1', priority: 'batch', batchable: true, promptTokens: 300, outputTokens: 40, deadlineMs: 9000,
    });
    const clock = new VirtualClock();
    const sent: Array<[string, number, number]> = [];
    const ctx: SessionContext = {
      now: () => clock.now(),
      sleep: (ms) => clock.sleep(ms),
      send: async (req, intended) => {
        sent.push([req.id, intended, clock.now()]);
        return { ok: true, outcome: 'ok', tokens: req.outputTokens, text: '' };
      },
    };
    await clock.run(Promise.all(sessions.map((s) => s.run(ctx))));
    expect(sent).toEqual([['s0/t0', 0, 0], ['s1/t0', 1000, 1000]]);
  });
});
