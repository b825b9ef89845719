import { describe, expect, it } from 'vitest';
import { buildRunResult } from './run-result.js';
import { parseRunResult, RunResultError, SCHEMA_VERSION } from './schema.js';
import { serializeRunResult } from './serialize.js';
import { syntheticRunResult } from './synthetic-run.js';

const result = syntheticRunResult(42, 20_000, 10);
const json = serializeRunResult(result);

describe('RunResult schema', () => {
  it('round-trips: parse(serialize(r)) deep-equals r and re-serializes to the same bytes', () => {
    const back = parseRunResult(json, 'run.json');
    expect(back).toEqual(result);
    expect(serializeRunResult(back)).toBe(json);
    expect(back.schemaVersion).toBe(SCHEMA_VERSION);
  });

  it('is byte-identical for identical inputs, whatever order config keys were built in', () => {
    expect(serializeRunResult(syntheticRunResult(42, 20_000, 10))).toBe(json);
    const reordered = { ...result, scenario: { ...result.scenario, config: { z: 1, a: { y: 2, b: 3 } } } };
    const ordered = { ...result, scenario: { ...result.scenario, config: { a: { b: 3, y: 2 }, z: 1 } } };
    expect(serializeRunResult(reordered)).toBe(serializeRunResult(ordered));
    expect(json.endsWith('\n')).toBe(true);
    // Primitive arrays stay on one line so baselines diff sensibly.
    expect(json).toMatch(/"arrivals": \[\d+(, \d+)+\]/);
  });

  it('a different seed changes the content outside meta', () => {
    expect(serializeRunResult(syntheticRunResult(43, 20_000, 10))).not.toBe(json);
  });

  it('rejects a bad file with a message naming the field', () => {
    const bad = JSON.parse(json);
    bad.policies[1].summary.ttftMs.p99 = 'fast';
    expect(() => parseRunResult(bad, 'baseline.json')).toThrow(RunResultError);
    expect(() => parseRunResult(bad, 'baseline.json')).toThrow(/baseline\.json: .*policies\[1\]\.summary\.ttftMs\.p99: expected number, received string/);
  });

  it('names missing fields, bad enums, corrupt histograms and ragged series', () => {
    const bad = JSON.parse(json);
    delete bad.meta.startedAt;
    bad.scenario.mode = 'turbo';
    bad.policies[0].histograms.e2eMs = 'garbage';
    bad.policies[0].series.queueDepth.pop();
    try {
      parseRunResult(bad, 'x.json');
      expect.unreachable();
    } catch (err) {
      const issues = (err as RunResultError).issues.join('\n');
      expect(issues).toMatch(/^meta\.startedAt: expected string/m);
      expect(issues).toMatch(/^scenario\.mode: expected one of "virtual"\|"live", got "turbo"$/m);
      expect((err as RunResultError).code).toBe('INVALID_RUN_RESULT');
    }
    const bad2 = JSON.parse(json);
    bad2.policies[0].histograms.e2eMs = 'garbage';
    bad2.policies[2].series.queueDepth.pop();
    expect(() => parseRunResult(bad2)).toThrow(/policies\[0\]\.histograms\.e2eMs: expected a compressed base64 HDR histogram/);
    expect(() => parseRunResult(bad2)).toThrow(/policies\[2\]\.series\.queueDepth: expected \d+ buckets/);
  });

  it('rejects another schema version and non-JSON clearly', () => {
    expect(() => parseRunResult({ ...JSON.parse(json), schemaVersion: 2 }, 'old.json')).toThrow(/old\.json: .*schemaVersion: expected 1, got 2/);
    expect(() => parseRunResult('{not json', 'broken.json')).toThrow(/broken\.json: .*invalid JSON/);
  });

  it('buildRunResult fills each policy\'s thresholds and rejects a threshold naming an unknown policy', () => {
    expect(result.policies.map((p) => p.summary.thresholds.length)).toEqual([2, 2, 3]);
    expect(() =>
      buildRunResult({ ...result, thresholds: [{ metric: 'okFraction', op: '>', value: 0.5, policy: 'nope' }] }),
    ).toThrow(/thresholds\[0\]\.policy: expected one of naive, bounded, resilient, got "nope"/);
  });
});
