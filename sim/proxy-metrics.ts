/**
 * The chaos proxy's own Prometheus series, beside the mock's (`mock:faults_injected_total`,
 * `mock:requests_rejected_total`, the latency histograms): what it relayed and what it answered itself.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ProxyFaults } from './proxy-faults.js';

/** Registers the `mock:proxy_*` series on `registry`, read from the proxy's counters at scrape time. */
export function registerProxyMetrics(registry: Registry, faults: ProxyFaults): void {
  const c = faults.counters;
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect(this: Counter) {
        this.reset();
        this.inc(read());
      },
    });
  };
  counter('mock:proxy_requests_total', 'Requests the chaos proxy received on relayed routes.', () => c.requests);
  counter('mock:proxy_upstream_requests_total', 'Requests sent to the upstream (once each; the proxy never retries).', () => c.upstreamRequests);
  counter('mock:proxy_upstream_errors_total', 'Upstream requests that failed or broke without a fault of the proxy.', () => c.upstreamErrors);
  counter('mock:proxy_injected_total', 'Requests the proxy answered itself (injected status, cold start, refusal).', () => c.injected);
  counter('mock:proxy_faulted_total', 'Relayed answers the proxy cut with a disconnect fault.', () => c.faulted);
  counter('mock:proxy_cancelled_total', 'Upstream requests cancelled because the client left.', () => c.cancelled);
  counter('mock:proxy_bytes_relayed_total', 'Body bytes relayed from the upstream to clients.', () => c.bytesRelayed);
  counter('mock:proxy_tokens_relayed_total', 'Token events relayed on streams the proxy parsed (faulted streams only).', () => c.tokensRelayed);
  new Counter({
    name: 'mock:proxy_relayed_total',
    help: 'Upstream answers relayed to the end, by HTTP status.',
    labelNames: ['status'] as const,
    registers: [registry],
    collect(this: Counter<'status'>) {
      this.reset();
      for (const [status, n] of Object.entries(c.relayedByStatus)) this.inc({ status }, n);
    },
  });
  new Gauge({
    name: 'mock:proxy_open_relays',
    help: 'Relays in flight.',
    registers: [registry],
    collect(this: Gauge) {
      this.set(faults.open.size);
    },
  });
}
