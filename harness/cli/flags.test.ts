import { describe, expect, it } from 'vitest';
import { parseChoice, parseDuration, parseInteger, parseList } from './flags.js';

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
  });

  it('accepts good lists and choices', () => {
    expect(parseList('--policies', 'naive, bounded', ['naive', 'bounded'])).toEqual(['naive', 'bounded']);
    expect(parseChoice('--mode', 'virtual', ['virtual', 'live'])).toBe('virtual');
    expect(parseInteger('--seed', '42')).toBe(42);
  });
});
