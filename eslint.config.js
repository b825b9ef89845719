// @ts-check
import tseslint from 'typescript-eslint';

/**
 * Ambient time and randomness are allowed only in src/time/ and src/random.ts (house style rule 1).
 * Tests may use them; product code may not, so that the same code runs in virtual and real time.
 */
const ambientMessage = 'Ambient time/randomness: take a Clock or a Random instead (only src/time/ and src/random.ts may use this).';

export default tseslint.config(
  { ignores: ['node_modules/**', 'reports/**', 'coverage/**', 'dist/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'TSEnumDeclaration', message: 'No enum: use an `as const` union.' }],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: ambientMessage },
        { name: 'setInterval', message: ambientMessage },
        { name: 'setImmediate', message: ambientMessage },
        { name: 'performance', message: ambientMessage },
      ],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: ambientMessage },
        { object: 'Math', property: 'random', message: ambientMessage },
        { object: 'performance', property: 'now', message: ambientMessage },
        { object: 'globalThis', property: 'setTimeout', message: ambientMessage },
        { object: 'globalThis', property: 'setInterval', message: ambientMessage },
      ],
      'no-restricted-imports': ['error', { paths: [
        { name: 'node:timers', message: ambientMessage },
        { name: 'node:timers/promises', message: ambientMessage },
        { name: 'timers', message: ambientMessage },
        { name: 'timers/promises', message: ambientMessage },
        { name: 'node:perf_hooks', importNames: ['performance'], message: ambientMessage },
      ] }],
    },
  },
  {
    // `new Date()` (no arguments) reads the wall clock.
    files: ['**/*.ts'],
    ignores: ['src/time/**', 'src/random.ts', '**/*.test.ts', 'test/**', 'bench/**'],
    rules: {
      'no-restricted-syntax': ['error',
        { selector: 'TSEnumDeclaration', message: 'No enum: use an `as const` union.' },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: ambientMessage },
      ],
    },
  },
  {
    // The two clocks are the only code allowed to touch real time; tests and benchmarks may too.
    files: ['src/time/**', 'src/random.ts', '**/*.test.ts', 'test/**', 'bench/**'],
    rules: { 'no-restricted-globals': 'off', 'no-restricted-properties': 'off', 'no-restricted-imports': 'off' },
  },
);
