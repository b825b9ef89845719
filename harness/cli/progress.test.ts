import { describe, expect, it } from 'vitest';
import { createProgress } from './progress.js';

/** A log's stream (not a terminal) that keeps what was written. */
function log(): { isTTY: false; lines: string[]; write: (t: string) => void } {
  const lines: string[] = [];
  return { isTTY: false, lines, write: (t) => lines.push(t) };
}

describe('progress in a log', () => {
  it('gives each policy a line at 25%, 50% and 75% of the arrival window and one when done, never a repeat', () => {
    const out = log();
    const p = createProgress(60_000, false, 'simulated', out);
    for (const ms of [1_000, 14_000, 15_000, 16_000, 31_000, 70_000]) p.update({ policy: 'naive', index: 0, total: 2, simulatedMs: ms, done: false });
    p.update({ policy: 'naive', index: 0, total: 2, simulatedMs: 72_000, done: true });
    p.update({ policy: 'resilient', index: 1, total: 2, simulatedMs: 50_000, done: false });
    expect(out.lines).toEqual([
      '  naive: 25% of the 60 s arrival window (15.0 s simulated) [1/2]\n',
      '  naive: 50% of the 60 s arrival window (31.0 s simulated) [1/2]\n',
      '  naive: 75% of the 60 s arrival window (70.0 s simulated) [1/2]\n',
      '  naive: done (72.0 s simulated) [1/2]\n',
      '  resilient: 75% of the 60 s arrival window (50.0 s simulated) [2/2]\n',
    ]);
  });

  it('says elapsed, not simulated, for a live run; nothing at all when quiet', () => {
    const out = log();
    createProgress(10_000, false, 'elapsed', out).update({ policy: 'resilient', index: 0, total: 1, simulatedMs: 12_500, done: true });
    expect(out.lines).toEqual(['  resilient: done (12.5 s elapsed) [1/1]\n']);
    const quiet = log();
    createProgress(10_000, true, 'elapsed', quiet).update({ policy: 'resilient', index: 0, total: 1, simulatedMs: 12_500, done: true });
    expect(quiet.lines).toEqual([]);
  });
});
