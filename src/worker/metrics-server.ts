/**
 * The worker's `/metrics` listener (`--metrics-port`): a bare node:http server, since a worker has no API of
 * its own. GET /metrics is the Prometheus text of the worker's telemetry; GET /healthz answers 200; anything
 * else is a 404.
 */
import { createServer, type Server } from 'node:http';
import type { Telemetry } from '../telemetry/setup.js';

/** A listening metrics server. */
export interface MetricsServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on `host:port` (port 0: any free port). */
export async function serveMetrics(telemetry: Telemetry, port: number, host = '127.0.0.1'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      const text = telemetry.prometheusText();
      if (text === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`metrics: expected the prometheus exporter, got ${telemetry.exporter}\n`);
        return;
      }
      text.then(
        (t) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(t),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics: ${e instanceof Error ? e.message : String(e)}\n`),
      );
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`route: expected GET /metrics or /healthz, got ${req.method ?? '?'} ${path ?? ''}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address();
  return {
    port: typeof a === 'object' && a !== null ? a.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
