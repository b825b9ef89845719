import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkOutputDir, parseChoice, parseDuration, parseInteger, parseList, parsePort, parseTransportFlag } from './flags.js';

describe('CLI flag parsing', () => {
  it('parses durations with units, bare numbers as seconds', () => {
    expect(parseDuration('--duration', '60s')).toBe(60_000);
    expect(parseDuration('--duration', '1500ms')).toBe(1500);
    expect(parseDuration('--duration', '2m')).toBe(120_000);
    expect(parseDuration('--duration', '0.5')).toBe(500);
  });

  it('names the flag and the bad value', () => {
    expect(() => parseDuration('--duration', 'soon')).toThrow('--duration: expected a duration like 60s, 1500ms or 2m, got "soon"');
    expect(() => parseDuration('--duration', '0s')).toThrow('--duration: expected a duration greater than 0, got "0s"');
    expect(() => parseInteger('--seed', '4x')).toThrow('--seed: expected an integer, got "4x"');
    expect(() => parseInteger('--workers', '0', 1)).toThrow('--workers: expected an integer >= 1, got 0');
    expect(() => parseList('--policies', 'naive,,bounded')).toThrow('--policies: expected a comma-separated list like a,b, got "naive,,bounded"');
    expect(() => parseList('--policies', 'naive,fancy', ['naive', 'bounded'])).toThrow(
      '--policies: unknown "fancy"; expected some of naive, bounded',
    );
    expect(() => parseChoice('--mode', 'warp', ['virtual', 'live'])).toThrow('--mode: expected one of virtual, live, got "warp"');
    expect(() => parsePort('--mock-port', '99999')).toThrow('--mock-port: expected a port from 1 to 65534 (the fallback takes the next one), got 99999');
    expect(() => parsePort('--mock-port', '0')).toThrow('--mock-port: expected an integer >= 1, got 0');
    expect(parsePort('--mock-port', '18000')).toBe(18_000);
    expect(() => checkOutputDir('--out', '/dev/null/run')).toThrow('--out: expected a folder that can be written, got "/dev/null/run" (ENOTDIR)');
  });

  it('--out under /proc is refused at once, naming it (Node\'s recursive mkdir never returned there)', () => {
    // In a child process with a time limit: the defect was a synchronous call that never returned.
    const code = "import('./harness/cli/flags.ts').then((m) => { try { m.checkOutputDir('--out', '/proc/no-such/run'); console.log('made'); } catch (e) { console.log(e.message); } })";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.stdout.trim()).toBe('--out: expected a folder that can be written, got "/proc/no-such/run" (ENOENT)');
  });

  it('--out makes the missing folders of a writable path', () => {
    const base = mkdtempSync(join(tmpdir(), 'flags-out-'));
    try {
      checkOutputDir('--out', join(base, 'a', 'b'));
      expect(statSync(join(base, 'a', 'b')).isDirectory()).toBe(true);
      checkOutputDir('--out', join(base, 'a', 'b')); // again: it exists
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('accepts good lists and choices', () => {
    expect(parseList('--policies', 'naive, bounded', ['naive', 'bounded'])).toEqual(['naive', 'bounded']);
    expect(parseChoice('--mode', 'virtual', ['virtual', 'live'])).toBe('virtual');
    expect(parseInteger('--seed', '42')).toBe(42);
  });

  it('parses --transport-ms as hop costs or a JSON transport, naming the bad field', () => {
    expect(parseTransportFlag('--transport-ms', '1.4,1.2')).toEqual({
      engineToModel: { requestMs: 0.7, responseMs: 0.7 },
      clientToEngine: { requestMs: 0.6, responseMs: 0.6 },
    });
    expect(parseTransportFlag('--transport-ms', '2')).toEqual({ engineToModel: { requestMs: 1, responseMs: 1 } });
    expect(parseTransportFlag('--transport-ms', '{"engineToModel":{"responseMs":{"kind":"exponential","mean":0.4}}}')).toEqual({
      engineToModel: { responseMs: { kind: 'exponential', mean: 0.4 } },
    });
    expect(() => parseTransportFlag('--transport-ms', '1,2,3')).toThrow(
      '--transport-ms: expected ENGINE_TO_MODEL[,CLIENT_TO_ENGINE] in ms >= 0 like 1.4,1.2, or a JSON object, got "1,2,3"',
    );
    expect(() => parseTransportFlag('--transport-ms', '-1')).toThrow(/^--transport-ms: expected ENGINE_TO_MODEL/);
    expect(() => parseTransportFlag('--transport-ms', '{"engineToModel":{"requestMs":-1}}')).toThrow(
      '--transport-ms.engineToModel.requestMs: expected a number of ms >= 0, got -1',
    );
    expect(() => parseTransportFlag('--transport-ms', '{"engineToModel":')).toThrow(/^--transport-ms: expected a JSON object, got/);
  });
});
