/**
 * OpenTelemetry setup: a tracer and a meter, exported through Prometheus (scraped from the app's own `/metrics`,
 * no second port), OTLP over HTTP, or not at all. `createTelemetry` builds isolated providers (tests, several
 * servers in one process); `startNodeSdk` does the same through `@opentelemetry/sdk-node`, registering them
 * globally for the process (the service entry), so instrumentation libraries see them too.
 */
import { metrics, ProxyTracerProvider, trace, type Meter, type Tracer } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ValidationError } from '../errors.js';

/** Where telemetry goes. */
export const EXPORTER_KINDS = ['prometheus', 'otlp', 'none'] as const;
export type ExporterKind = (typeof EXPORTER_KINDS)[number];

/** Options of {@link createTelemetry} and {@link startNodeSdk}. */
export interface TelemetryOptions {
  /** `prometheus`: metrics served by the app's `/metrics`; `otlp`: traces and metrics pushed over HTTP. @default 'prometheus' */
  readonly exporter?: ExporterKind;
  /** `service.name` of the resource. @default 'ai-engine' */
  readonly serviceName?: string;
  /** OTLP base URL (`/v1/traces` and `/v1/metrics` are appended). @default the exporters' own default (OTEL_EXPORTER_OTLP_ENDPOINT or http://localhost:4318) */
  readonly otlpEndpoint?: string;
  /** OTLP metric push interval. @default 10_000 */
  readonly otlpMetricIntervalMs?: number;
  /** Extra span processors, whatever the exporter (tests pass a SimpleSpanProcessor over an InMemorySpanExporter). @default [] */
  readonly spanProcessors?: readonly SpanProcessor[];
}

/** A tracer, a meter, and the Prometheus text when that is the exporter. */
export interface Telemetry {
  readonly exporter: ExporterKind;
  /** Spans go somewhere (a span processor exists); when false, `tracer` is a no-op and callers may skip tracing. */
  readonly tracing: boolean;
  readonly tracer: Tracer;
  readonly meter: Meter;
  /** The current metrics in Prometheus text format; undefined unless the exporter is `prometheus`. */
  prometheusText(): Promise<string> | undefined;
  /** Flushes pending spans and metrics (for tests and shutdown). */
  flush(): Promise<void>;
  /** Flushes and shuts the providers down. Idempotent. */
  shutdown(): Promise<void>;
}

const NAME = 'ai-engine';

/**
 * With no span processor the spans would go nowhere: hand out a no-op tracer instead (its spans are not
 * recording, and RequestTracer keeps no state for them), so an unexported trace costs no per-request work.
 */
function tracerOr(spanProcessors: readonly SpanProcessor[], make: () => Tracer): Tracer {
  return spanProcessors.length > 0 ? make() : new ProxyTracerProvider().getTracer(NAME);
}

interface Parts {
  readonly exporter: ExporterKind;
  readonly readers: IMetricReader[];
  readonly spanProcessors: SpanProcessor[];
  readonly prometheus: PrometheusExporter | undefined;
}

function parts(o: TelemetryOptions): Parts {
  const exporter = o.exporter ?? 'prometheus';
  if (!(EXPORTER_KINDS as readonly string[]).includes(exporter)) {
    throw new ValidationError('exporter', EXPORTER_KINDS.map((k) => JSON.stringify(k)).join(' | '), exporter);
  }
  const readers: IMetricReader[] = [];
  const spanProcessors: SpanProcessor[] = [...(o.spanProcessors ?? [])];
  let prometheus: PrometheusExporter | undefined;
  if (exporter === 'prometheus') {
    // No server of its own: the app serves the text on its /metrics route.
    prometheus = new PrometheusExporter({ preventServerStart: true });
    readers.push(prometheus);
  } else if (exporter === 'otlp') {
    const base = o.otlpEndpoint?.replace(/\/+$/, '');
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter(base === undefined ? {} : { url: `${base}/v1/metrics` }),
        exportIntervalMillis: o.otlpMetricIntervalMs ?? 10_000,
      }),
    );
    spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter(base === undefined ? {} : { url: `${base}/v1/traces` })));
  }
  return { exporter, readers, spanProcessors, prometheus };
}

function prometheusText(exporter: PrometheusExporter | undefined, serializer: PrometheusSerializer): () => Promise<string> | undefined {
  return () => exporter?.collect().then(({ resourceMetrics }) => serializer.serialize(resourceMetrics));
}

/** Isolated providers: nothing is registered globally, so several apps can live in one process. */
export function createTelemetry(o: TelemetryOptions = {}): Telemetry {
  const p = parts(o);
  const resource = resourceFromAttributes({ 'service.name': o.serviceName ?? NAME });
  const meterProvider = new MeterProvider({ resource, readers: p.readers });
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: p.spanProcessors });
  let down: Promise<void> | undefined;
  return {
    exporter: p.exporter,
    tracing: p.spanProcessors.length > 0,
    tracer: tracerOr(p.spanProcessors, () => tracerProvider.getTracer(NAME)),
    meter: meterProvider.getMeter(NAME),
    prometheusText: prometheusText(p.prometheus, new PrometheusSerializer()),
    flush: async () => {
      await Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
    },
    shutdown: () =>
      (down ??= Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]).then(() => undefined)),
  };
}

/**
 * The process-wide setup through `@opentelemetry/sdk-node`: the same exporters, registered as the global
 * providers. No auto-instrumentation and no environment-chosen exporters (logs are off): what is exported is
 * what the options say.
 */
export function startNodeSdk(o: TelemetryOptions = {}): Telemetry {
  const p = parts(o);
  const sdk = new NodeSDK({
    serviceName: o.serviceName ?? NAME,
    autoDetectResources: false,
    resource: resourceFromAttributes({}),
    instrumentations: [],
    spanProcessors: p.spanProcessors,
    metricReaders: p.readers,
    logRecordProcessors: [],
  });
  sdk.start();
  let down: Promise<void> | undefined;
  return {
    exporter: p.exporter,
    tracing: p.spanProcessors.length > 0,
    tracer: tracerOr(p.spanProcessors, () => trace.getTracer(NAME)),
    meter: metrics.getMeter(NAME),
    prometheusText: prometheusText(p.prometheus, new PrometheusSerializer()),
    flush: async () => {
      await Promise.all([...p.spanProcessors.map((s) => s.forceFlush()), ...p.readers.map((r) => r.forceFlush())]);
    },
    shutdown: () => (down ??= sdk.shutdown().then(() => {
      trace.disable();
      metrics.disable();
    })),
  };
}
