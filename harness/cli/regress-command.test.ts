import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runHarnessCli } from './program.js';

const dir = mkdtempSync(join(tmpdir(), 'regress-command-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Two seconds of short chat with a TTFT threshold no run can meet. */
const scenario = {
  name: 'tiny-strict',
  description: 'two seconds of short chat, judged by an impossible TTFT threshold',
  seed: 5,
  durationMs: 2_000,
  workload: { arrivals: { kind: 'poisson', ratePerSec: 4 }, mix: [{ name: 'chat', weight: 1, kind: 'single', promptTokens: 100, outputTokens: 20 }] },
  model: {},
  policies: ['resilient'],
  slo: { ttftMs: 1_000 },
  thresholds: [{ metric: 'ttftMs', stat: 'p99', op: '<=', value: 0.001 }],
};

/** Runs the CLI in this process; returns the exit code and what it printed with console.log. */
async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  try {
    const code = await runHarnessCli(['node', 'cli', ...args]);
    return { code, out: log.mock.calls.map((c) => c.join(' ')).join('\n') };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe('regress', () => {
  it('names a broken threshold with its measured value in the metric\'s unit', async () => {
    mkdirSync(join(dir, 'perf', 'baselines'), { recursive: true });
    writeFileSync(join(dir, 'perf', 'tiny-strict.json'), JSON.stringify(scenario));
    const junit = join(dir, 'junit.xml');
    const args = ['regress', join(dir, 'perf'), '--baselines', join(dir, 'perf', 'baselines'), '--junit', junit];
    expect((await cli(...args, '--update')).code).toBe(0); // writes the baseline
    const { code, out } = await cli(...args);
    expect(code).toBe(1);
    // e.g. "resilient ttftMs.p99 <= 0.001 (actual 212 ms)", never a raw float such as 212.479
    expect(out).toMatch(/Thresholds broken in tiny-strict: resilient ttftMs\.p99 <= 0\.001 \(actual [\d.]+ ms\)/);
  });
});
