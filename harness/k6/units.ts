/**
 * k6's units: duration strings (`'2s'`, `'1500ms'`) and integer rates. k6 takes iterations per `timeUnit` as
 * integers (`rate`, `startRate`, stage `target`), so a fractional rate per second needs a longer time unit.
 */

/** A k6 duration string for `ms` milliseconds: whole seconds as `'60s'`, anything else as `'1500ms'`. */
export function k6Duration(ms: number): string {
  const rounded = Math.max(0, Math.round(ms));
  return rounded % 1000 === 0 ? `${rounded / 1000}s` : `${rounded}ms`;
}

/** Time units tried, shortest first, when turning rates per second into integer rates. */
const UNITS_SEC = [1, 10, 60, 600, 3600] as const;

/** Integer rates in one shared `timeUnit`, and the largest error (arrivals per second) the rounding made. */
export interface IntegerRates {
  readonly timeUnit: string;
  readonly unitMs: number;
  /** The rates, in iterations per `timeUnit`, in the order given. */
  readonly rates: readonly number[];
  /** Largest |rounded − exact| in arrivals per second; 0 when every rate was exact. */
  readonly maxErrorPerSec: number;
}

/**
 * Expresses `ratesPerSec` as integers per one common time unit: the shortest of 1s, 10s, 1m, 10m, 1h in which
 * every rate is a whole number, else 1h with rounding (an error below 1/3600 per second).
 */
export function integerRates(ratesPerSec: readonly number[]): IntegerRates {
  for (const unit of UNITS_SEC) {
    const scaled = ratesPerSec.map((r) => r * unit);
    if (scaled.every((x) => Math.abs(x - Math.round(x)) < 1e-9)) {
      return { timeUnit: k6Duration(unit * 1000), unitMs: unit * 1000, rates: scaled.map((x) => Math.round(x)), maxErrorPerSec: 0 };
    }
  }
  const unit = UNITS_SEC[UNITS_SEC.length - 1] as number;
  const rates = ratesPerSec.map((r) => Math.round(r * unit));
  const maxErrorPerSec = Math.max(0, ...ratesPerSec.map((r, i) => Math.abs((rates[i] as number) / unit - r)));
  return { timeUnit: k6Duration(unit * 1000), unitMs: unit * 1000, rates, maxErrorPerSec };
}
