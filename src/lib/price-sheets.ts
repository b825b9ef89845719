/**
 * Named price sheets: list prices of a few provider models (USD per 1M tokens) and GPU types (USD per GPU-hour),
 * as data. Each carries its source and the date the figure was read; prices change, so check the source before
 * quoting a result in dollars, or give your own numbers in the scenario (`model.price: { inputPer1M, ... }`).
 * Figures were copied from the providers' public pricing pages (standard tier, no batch or volume discounts).
 */

/** A provider model billed per token. */
export interface TokenSheet {
  readonly kind: 'tokens';
  readonly inputPer1M: number;
  /** Prompt-cache hits; equal to `inputPer1M` where the provider has no cached price. */
  readonly cachedInputPer1M: number;
  readonly outputPer1M: number;
  readonly source: string;
  /** When the figure was read (YYYY-MM). */
  readonly asOf: string;
  readonly note?: string;
}

/** A GPU billed per hour (self-hosted serving). */
export interface GpuSheet {
  readonly kind: 'gpu-hour';
  readonly gpuHourUsd: number;
  readonly source: string;
  readonly asOf: string;
  readonly note?: string;
}

export type PriceSheet = TokenSheet | GpuSheet;

/** The shipped sheets, by name. */
export const PRICE_SHEETS = {
  'openai/gpt-4o-mini': {
    kind: 'tokens',
    inputPer1M: 0.15,
    cachedInputPer1M: 0.075,
    outputPer1M: 0.6,
    source: 'https://openai.com/api/pricing/',
    asOf: '2025-06',
  },
  'openai/gpt-4o': {
    kind: 'tokens',
    inputPer1M: 2.5,
    cachedInputPer1M: 1.25,
    outputPer1M: 10,
    source: 'https://openai.com/api/pricing/',
    asOf: '2025-06',
  },
  'anthropic/claude-3-5-haiku': {
    kind: 'tokens',
    inputPer1M: 0.8,
    cachedInputPer1M: 0.08,
    outputPer1M: 4,
    source: 'https://www.anthropic.com/pricing#api',
    asOf: '2025-06',
    note: 'cached = prompt-cache reads; cache writes ($1.00/1M) are not modelled',
  },
  'together/llama-3.1-8b-instruct-turbo': {
    kind: 'tokens',
    inputPer1M: 0.18,
    cachedInputPer1M: 0.18,
    outputPer1M: 0.18,
    source: 'https://www.together.ai/pricing',
    asOf: '2025-06',
    note: 'no cached-input price: cache hits bill as input',
  },
  'gpu/h100-sxm': {
    kind: 'gpu-hour',
    gpuHourUsd: 2.99,
    source: 'https://lambda.ai/pricing (on-demand 8x H100 SXM, per GPU)',
    asOf: '2025-06',
  },
  'gpu/a100-80gb': {
    kind: 'gpu-hour',
    gpuHourUsd: 1.79,
    source: 'https://lambda.ai/pricing (on-demand 8x A100 80GB SXM, per GPU)',
    asOf: '2025-06',
  },
} as const satisfies Record<string, PriceSheet>;

export type PriceSheetName = keyof typeof PRICE_SHEETS;
export const PRICE_SHEET_NAMES = Object.keys(PRICE_SHEETS) as PriceSheetName[];
