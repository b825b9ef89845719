/**
 * A scenario's price for a model: the name of a shipped sheet (harness/cost/price-sheets.ts), or its own numbers
 * (USD per 1M input / cached input / output tokens, or USD per GPU-hour). Validated with zod; an error names the
 * field, what was expected and what was given.
 */
import { z } from 'zod';
import { ValidationError } from '../../src/errors.js';
import type { Price } from '../measure/billing.js';
import { PRICE_SHEET_NAMES, PRICE_SHEETS, type PriceSheetName } from './price-sheets.js';

const usd = z.number().finite().nonnegative();

/** A price as a scenario gives it. */
export const priceInputSchema = z.union([
  z.string(),
  z.strictObject({ inputPer1M: usd, cachedInputPer1M: usd.optional(), outputPer1M: usd }),
  z.strictObject({ gpuHourUsd: usd }),
]);
export type PriceInput = z.input<typeof priceInputSchema>;

/**
 * Resolves a price (sheet name or numbers). `field` names it in errors, e.g. `scenario.model.price`.
 * A token price without `cachedInputPer1M` bills cache hits at the input price.
 * @throws ValidationError naming the field
 */
export function resolvePrice(input: unknown, field: string): Price {
  if (typeof input === 'string') {
    if (!(PRICE_SHEET_NAMES as string[]).includes(input)) throw new ValidationError(field, `a price sheet (${PRICE_SHEET_NAMES.join(', ')}) or numbers`, input);
    const s = PRICE_SHEETS[input as PriceSheetName];
    return s.kind === 'tokens'
      ? { kind: 'tokens', inputPer1M: s.inputPer1M, cachedInputPer1M: s.cachedInputPer1M, outputPer1M: s.outputPer1M }
      : { kind: 'gpu-hour', gpuHourUsd: s.gpuHourUsd };
  }
  const r = priceInputSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    // A union reports its branches; name the deepest field of the branch the input looks like.
    const obj = input !== null && typeof input === 'object' ? (input as Record<string, unknown>) : undefined;
    const gpu = obj !== undefined && 'gpuHourUsd' in obj;
    if (obj === undefined) throw new ValidationError(field, 'a price sheet name or { inputPer1M, cachedInputPer1M?, outputPer1M } or { gpuHourUsd }', input);
    const keys = gpu ? ['gpuHourUsd'] : ['inputPer1M', 'cachedInputPer1M', 'outputPer1M'];
    for (const k of keys) {
      const v = obj[k];
      if (v === undefined && k === 'cachedInputPer1M') continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ValidationError(`${field}.${k}`, 'a non-negative number (USD)', v);
    }
    const extra = Object.keys(obj).find((k) => !keys.includes(k));
    if (extra !== undefined) throw new ValidationError(`${field}.${extra}`, `no such field (a price has only ${keys.join(', ')})`, obj[extra]);
    throw new ValidationError(field, `a price (${issue?.message ?? 'invalid'})`, input);
  }
  const v = r.data;
  if (typeof v === 'string') return resolvePrice(v, field);
  if ('gpuHourUsd' in v) return { kind: 'gpu-hour', gpuHourUsd: v.gpuHourUsd };
  return { kind: 'tokens', inputPer1M: v.inputPer1M, cachedInputPer1M: v.cachedInputPer1M ?? v.inputPer1M, outputPer1M: v.outputPer1M };
}

/** The prices of a scenario's primary and fallback models (`model.price`, `model.fallbackPrice` default: the same). */
export function scenarioPrices(model: { readonly price?: unknown; readonly fallbackPrice?: unknown }): { primary: Price | undefined; fallback: Price | undefined } {
  const fallback = model.fallbackPrice ?? model.price;
  return {
    primary: model.price === undefined ? undefined : resolvePrice(model.price, 'scenario.model.price'),
    fallback: fallback === undefined ? undefined : resolvePrice(fallback, 'scenario.model.fallbackPrice'),
  };
}
