import { describe, expect, it } from 'vitest';
import { forProgram } from './program.js';

describe('forProgram', () => {
  it('writes the npm scripts of help and errors as the bin runs them, with no `--` before the flags', () => {
    const bin = 'ai-chaos-harness';
    const cases: Array<[string, string]> = [
      ['Example: npm run scenario burst-1000 -- --policies naive,resilient --seed 7', 'Example: ai-chaos-harness scenario burst-1000 --policies naive,resilient --seed 7'],
      ['         npm run scenario agreement   (virtual and live)', '         ai-chaos-harness scenario agreement   (virtual and live)'],
      ['npm run regress -- perf/ --baselines perf/baselines --update', 'ai-chaos-harness regress perf/ --baselines perf/baselines --update'],
      ["npm run regress -- 'perf/**/*.scenario.ts' --baselines b", "ai-chaos-harness regress 'perf/**/*.scenario.ts' --baselines b"],
      ['scenario name (see npm run scenario -- --list) or a file', 'scenario name (see ai-chaos-harness scenario --list) or a file'],
      ['a chaos proxy (npm run sim -- --proxy REAL_URL) in front', 'a chaos proxy (ai-chaos-harness sim --proxy REAL_URL) in front'],
      ['expected a scenario name, e.g. npm run tune burst-1000 -- --vary x=1,2 (or --resume DIR)', 'expected a scenario name, e.g. ai-chaos-harness tune burst-1000 --vary x=1,2 (or --resume DIR)'],
      ['npm run tune -- --resume reports/tune/x', 'ai-chaos-harness tune --resume reports/tune/x'],
      ['npm run scenario ./perf/my-scenario.ts', 'ai-chaos-harness scenario ./perf/my-scenario.ts'],
      ['npm test and npm run bench stay', 'npm test and npm run bench stay'],
    ];
    for (const [text, expected] of cases) expect(forProgram(text, bin), text).toBe(expected);
  });

  it('leaves the text alone for the npm scripts', () => {
    const text = 'Example: npm run scenario burst-1000 -- --seed 7';
    expect(forProgram(text, 'npm run')).toBe(text);
  });
});
