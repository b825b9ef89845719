import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'sim/**/*.test.ts', 'harness/**/*.test.ts', 'scenarios/**/*.test.ts', 'test/**/*.test.ts'],
    // Tests run on VirtualClock; the timeout only catches a hung test, it never measures anything.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
