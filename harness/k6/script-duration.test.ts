/**
 * A k6 export with an arrival window shorter than a burst cuts the burst at its own rate, as `--duration` cuts it
 * for `npm run scenario` (harness/run/scale-run.ts), and says so in the script's header.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../run/scenarios.js';
import { generateK6Script } from './script.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

describe('generateK6Script with durationMs', () => {
  it('cuts burst-1000 (1,000 sessions in 2 s) to 500 sessions in a 1 s window', async () => {
    const out = generateK6Script(await loadScenario('burst-1000'), { baseDir: ROOT, durationMs: 1_000 });
    expect(out.sessions).toBe(500);
    expect(out.executor.config).toMatchObject({ executor: 'per-vu-iterations', vus: 500, maxDuration: '1s' });
    expect(out.script).toContain('burst cut to the 1 s arrival window at the same rate (1,000 sessions in 2 s -> 500 in 1 s)');
    expect(out.script).toContain('const BASE_WINDOW_MS = 1000;');
  });

  it('keeps the whole burst when the window holds it', async () => {
    const out = generateK6Script(await loadScenario('burst-1000'), { baseDir: ROOT, durationMs: 10_000 });
    expect(out.sessions).toBe(1000);
    expect(out.script).not.toContain('[scaled:');
  });
});
