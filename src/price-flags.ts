/**
 * `--price` and `--fallback-price`, shared by `npm run serve` and `npm run worker`: the per-token price of each
 * upstream, a shipped sheet (src/lib/price-sheets.ts) or JSON numbers. They price jobs (`costUsd` in the job view)
 * and the `engine_cost_usd_total` metric, wherever the jobs run: the service, or the workers of a Redis queue.
 */
import { Option } from 'commander';
import type { ServicePrices } from './engine/billed-usage.js';
import { PRICE_SHEET_NAMES } from './lib/price-sheets.js';
import { resolveTokenPrice, type TokenPrice } from './lib/token-price.js';

/** `--price`: the primary upstream's per-token price. */
export function priceOption(): Option {
  return new Option(
    '--price <sheet|json>',
    `per-token price of the upstream: a sheet (${PRICE_SHEET_NAMES.filter((n) => !n.startsWith('gpu/')).join(', ')}) or JSON {"inputPer1M":0.15,"cachedInputPer1M":0.075,"outputPer1M":0.6} (USD)`,
  );
}

/** `--fallback-price`: the fallback upstream's (default: `--price`). */
export function fallbackPriceOption(): Option {
  return new Option('--fallback-price <sheet|json>', "the fallback upstream's price (default: --price)");
}

/**
 * The prices `--price` and `--fallback-price` give (the fallback's defaults to `--price`); undefined without either.
 * A bad value is `usage(message)`, the message naming its flag.
 */
export function parsePriceFlags(o: { readonly price?: string; readonly fallbackPrice?: string }, usage: (message: string) => Error): ServicePrices | undefined {
  const one = (flag: string, v: string): TokenPrice => {
    try {
      return resolveTokenPrice(v, flag);
    } catch (err) {
      throw usage((err as Error).message);
    }
  };
  if (o.price === undefined && o.fallbackPrice === undefined) return undefined;
  const primary = o.price === undefined ? undefined : one('--price', o.price);
  const fallback = o.fallbackPrice === undefined ? primary : one('--fallback-price', o.fallbackPrice);
  return { ...(primary !== undefined ? { primary } : {}), ...(fallback !== undefined ? { fallback } : {}) };
}
