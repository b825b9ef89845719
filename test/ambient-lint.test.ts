import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// Proves the house rule "no ambient time or randomness outside src/time and src/random.ts" can fail.
const eslint = new ESLint({ cwd: process.cwd() });

async function ruleIds(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('ambient time and randomness lint', () => {
  const offenders = [
    'export const t = Date.now();',
    'export const r = Math.random();',
    'export const p = performance.now();',
    'setTimeout(() => undefined, 10);',
    'setInterval(() => undefined, 10);',
    'export const d = new Date();',
    "import { setTimeout as wait } from 'node:timers/promises';\nexport const w = wait;",
  ];

  for (const code of offenders) {
    it(`rejects \`${code.split('\n')[0]}\` in engine code`, async () => {
      const ids = await ruleIds(code, 'src/engine/example.ts');
      expect(ids.length).toBeGreaterThan(0);
      expect(ids.every((id) => id.startsWith('no-restricted'))).toBe(true);
    });
  }

  it('rejects them in sim/ and harness/ too', async () => {
    expect(await ruleIds('export const t = Date.now();', 'sim/gpu.ts')).toContain('no-restricted-properties');
    expect(await ruleIds('export const r = Math.random();', 'harness/run/x.ts')).toContain('no-restricted-properties');
  });

  it('allows them in src/time/ and in tests', async () => {
    expect(await ruleIds('export const t = Date.now();', 'src/time/real-clock.ts')).toEqual([]);
    expect(await ruleIds('export const t = Date.now();', 'src/engine/example.test.ts')).toEqual([]);
  });

  it('allows a Date built from a given timestamp', async () => {
    expect(await ruleIds('export const d = new Date(0).toISOString();', 'harness/report/x.ts')).toEqual([]);
  });
});
