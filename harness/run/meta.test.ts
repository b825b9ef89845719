import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitCommit, gitCommitAsync, machineInfo } from './meta.js';

describe('run meta', () => {
  it('gitCommitAsync answers what gitCommit does: in this checkout, and null outside one', async () => {
    const sync = gitCommit();
    expect(await gitCommitAsync()).toBe(sync);
    // A source checkout (the suite's usual home) has a commit; an unpacked tarball has none.
    expect(sync === null || /^[0-9a-f]{40}(-dirty)?$/.test(sync)).toBe(true);
    const outside = mkdtempSync(join(tmpdir(), 'no-git-'));
    try {
      expect(await gitCommitAsync(outside)).toBeNull();
      expect(gitCommit(outside)).toBeNull();
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('machineInfo describes this machine', () => {
    const m = machineInfo();
    expect(m.cpus).toBeGreaterThan(0);
    expect(m.memoryBytes).toBeGreaterThan(0);
  });
});
