/**
 * Ctrl-C during a sweep: exit 130 and a resume hint written as the program the user ran (here the package's bin,
 * from source). Waits on the first finished configuration's line, not on time.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const out = mkdtempSync(join(tmpdir(), 'tune-interrupt-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('tune interrupted', { timeout: 600_000 }, () => {
  it('exits 130 and says how to resume, as the bin runs it', async () => {
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const args = ['harness/bin.ts', 'tune', 'steady-poisson', '--vary', 'concurrency.limit=4..256:12:log', '--duration', '2s', '--workers', '1', '--out', out];
    const child = spawn(tsx, args, { env: { ...process.env, DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // After the first configuration finished: Ctrl-C, as a user would.
      if (!sent && /\[1\/12\]/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(sent, stderr).toBe(true);
    expect(code, stderr).toBe(130);
    expect(stderr).toContain(`Resume with: ai-chaos-harness tune --resume ${out}`);
  });
});
