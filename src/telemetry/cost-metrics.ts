/**
 * What the service was billed, as metrics by upstream model and tenant: `engine_billed_tokens_total{model,tenant,
 * kind}` (kind `input` at the input price, `cached_input`, `output`: every call that ran, retries and resumes
 * included; src/engine/billed-usage.ts) and, with prices (`serve --price`), `engine_cost_usd_total{model,tenant}`.
 * `model` is the engine's upstream (`primary`, `fallback`), as in `engine_attempts_total`; with a fleet upstream,
 * `deployment` names the deployment that served the call, whose price (`--fleet` file) applies; a deployment without
 * one adds no dollars (unpriced, as in virtual mode).
 */
import type { Counter, Meter } from '@opentelemetry/api';
import { billUsd } from '../lib/token-price.js';
import { priceOfCall, type ServicePrices } from '../engine/billed-usage.js';
import type { EngineResult } from '../engine/engine-types.js';

export class CostMetrics {
  private readonly tokens: Counter;
  private readonly usd: Counter;

  constructor(meter: Meter, private readonly prices: ServicePrices = {}) {
    this.tokens = meter.createCounter('engine_billed_tokens', { description: 'Tokens billed by the upstreams over every call that ran, by model, tenant and kind' });
    this.usd = meter.createCounter('engine_cost_usd', { description: 'What the upstream calls cost at the service prices (USD), by model and tenant', unit: 'USD' });
  }

  /** Counts the bills of one finished request of `tenant`. */
  record(result: EngineResult, tenant: string): void {
    for (const c of result.billed?.calls ?? []) {
      const base = c.deployment === undefined ? { model: c.model, tenant } : { model: c.model, tenant, deployment: c.deployment };
      this.tokens.add(c.inputTokens - c.cachedInputTokens, { ...base, kind: 'input' });
      this.tokens.add(c.cachedInputTokens, { ...base, kind: 'cached_input' });
      this.tokens.add(c.outputTokens, { ...base, kind: 'output' });
      const price = priceOfCall(c, this.prices);
      if (price !== undefined) this.usd.add(billUsd(c, price), base);
    }
  }
}
