/** The shipped price sheets (data in src/lib/price-sheets.ts, shared with the engine service's `--price`). */
export * from '../../src/lib/price-sheets.js';
