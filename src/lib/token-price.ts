/**
 * A per-token price for the engine service (`serve --price`): the name of a shipped sheet (src/lib/price-sheets.ts)
 * or numbers in USD per 1M input / cached input / output tokens. A GPU-hour sheet does not apply to a service (it
 * bills per token of its upstream, not GPU time). And the dollars of a bill at that price.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { PRICE_SHEET_NAMES, PRICE_SHEETS, type PriceSheetName } from './price-sheets.js';

/** USD per 1M tokens. */
export interface TokenPrice {
  readonly inputPer1M: number;
  /** Cache hits; the input price where a provider has none. */
  readonly cachedInputPer1M: number;
  readonly outputPer1M: number;
}

const usd = z.number().finite().nonnegative();
const numbersSchema = z.strictObject({ inputPer1M: usd, cachedInputPer1M: usd.optional(), outputPer1M: usd });

/**
 * Resolves a sheet name or `{ inputPer1M, cachedInputPer1M?, outputPer1M }` (an object, or its JSON text).
 * @throws ValidationError naming `field` (e.g. `--price`), what was expected and what was given
 */
export function resolveTokenPrice(input: unknown, field: string): TokenPrice {
  if (typeof input === 'string') {
    const text = input.trim();
    if (text.startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ValidationError(field, 'a price sheet name or JSON { inputPer1M, cachedInputPer1M?, outputPer1M }', input);
      }
      return resolveTokenPrice(parsed, field);
    }
    if (!(PRICE_SHEET_NAMES as string[]).includes(text)) throw new ValidationError(field, `a price sheet (${PRICE_SHEET_NAMES.join(', ')}) or JSON numbers`, input);
    const s = PRICE_SHEETS[text as PriceSheetName];
    if (s.kind !== 'tokens') throw new ValidationError(field, 'a per-token price (a service bills its upstream per token, not per GPU-hour)', input);
    return { inputPer1M: s.inputPer1M, cachedInputPer1M: s.cachedInputPer1M, outputPer1M: s.outputPer1M };
  }
  const r = numbersSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    const at = issue?.path.length ? `${field}.${issue.path.join('.')}` : field;
    throw new ValidationError(at, issue?.code === 'unrecognized_keys' ? 'only inputPer1M, cachedInputPer1M, outputPer1M' : 'a non-negative number (USD per 1M tokens)', issue?.path.length ? (input as Record<string, unknown>)[String(issue.path[0])] : input);
  }
  return { inputPer1M: r.data.inputPer1M, cachedInputPer1M: r.data.cachedInputPer1M ?? r.data.inputPer1M, outputPer1M: r.data.outputPer1M };
}

/** Billed tokens: input includes cached input. */
export interface BilledTokenCounts {
  readonly inputTokens: number;
  readonly cachedInputTokens: number;
  readonly outputTokens: number;
}

/** USD of one bill at `price`. */
export function billUsd(b: BilledTokenCounts, price: TokenPrice): number {
  return ((b.inputTokens - b.cachedInputTokens) * price.inputPer1M + b.cachedInputTokens * price.cachedInputPer1M + b.outputTokens * price.outputPer1M) / 1e6;
}
