// Starts OpenTelemetry on @opentelemetry/sdk-node with the exporters the settings name. We build the
// exporters ourselves: sdk-node no longer maps OTEL_TRACES_EXPORTER=jaeger, and wiring all of them here
// keeps one validated source of truth (settings.ts). Exports are counted and failures logged (rate
// limited), so a wrong endpoint shows up in /metrics and the log instead of vanishing.
import { context, propagation, trace } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { JaegerExporter } from '@opentelemetry/exporter-jaeger';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { hostDetector, processDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ExporterName, TracingSettings } from './settings.ts';

export interface TracingHooks {
  /** After every export attempt: which exporter, whether it was accepted, how many spans. */
  onExport?: (exporter: ExporterName, ok: boolean, spans: number, error?: Error) => void;
  /** Batch settings; tests shorten the delay so spans arrive promptly. */
  batch?: { scheduledDelayMillis?: number; maxExportBatchSize?: number; maxQueueSize?: number };
  serviceVersion?: string;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Where spans go, one line per exporter, for the start-up log. */
  readonly destinations: string[];
  forceFlush(): Promise<void>;
  /** Flushes, stops the SDK and unregisters the global tracer, context manager and propagator. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = {
  enabled: false,
  destinations: [],
  forceFlush: async () => {},
  shutdown: async () => {},
};

/** The SDK registers process-wide globals; a second concurrent start would silently share the first's. */
let running = false;

export function startTracing(s: TracingSettings, hooks: TracingHooks = {}): Tracing {
  if (s.exporters.length === 0) return OFF;
  if (running)
    throw new Error('tracing is already started in this process (one tracer provider per process)');
  running = true;
  const processors: SpanProcessor[] = [];
  const destinations: string[] = [];
  for (const name of s.exporters) {
    const { exporter, destination } = buildExporter(name, s);
    const observed = observe(exporter, name, hooks.onExport);
    destinations.push(destination);
    processors.push(
      name === 'console'
        ? new SimpleSpanProcessor(observed)
        : new BatchSpanProcessor(observed, { ...definedOnly(s.batch), ...hooks.batch }),
    );
  }
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      ...s.resourceAttributes,
      'service.name': s.serviceName,
      ...(hooks.serviceVersion ? { 'service.version': hooks.serviceVersion } : {}),
    }),
    // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME are already in the resource (settings.ts parsed them).
    resourceDetectors: [processDetector, hostDetector],
    spanProcessors: processors,
    sampler: sampler(s.sampler),
    // Metrics are Prometheus (prom-client) and logs are pino: keep the SDK from starting OTLP pipelines
    // for either, which it would do by default.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  running = true;
  let stopped = false;
  return {
    enabled: true,
    destinations,
    async forceFlush() {
      await Promise.all(processors.map((p) => p.forceFlush()));
    },
    async shutdown() {
      if (stopped) return;
      stopped = true;
      try {
        // Bounded: an unreachable collector must not eat the process's shutdown deadline.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          sdk.shutdown(),
          new Promise<void>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error('trace export did not finish within 5 s')),
              SHUTDOWN_MS,
            );
          }),
        ]).finally(() => clearTimeout(timer));
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
        running = false;
      }
    },
  };
}

function buildExporter(
  name: ExporterName,
  s: TracingSettings,
): { exporter: SpanExporter; destination: string } {
  switch (name) {
    case 'otlp':
      return {
        exporter:
          s.otlp.protocol === 'http/json'
            ? new OtlpJsonExporter({ url: s.otlp.url })
            : new OtlpProtoExporter({ url: s.otlp.url }),
        destination: `otlp ${s.otlp.protocol} ${redact(s.otlp.url)}`,
      };
    case 'jaeger': {
      const j = s.jaeger;
      return {
        exporter: new JaegerExporter({
          endpoint: j.endpoint,
          host: j.agentHost,
          port: j.agentPort,
          username: j.user,
          password: j.password,
        }),
        destination: j.endpoint
          ? `jaeger thrift/http ${redact(j.endpoint)}`
          : `jaeger thrift/udp ${j.agentHost}:${j.agentPort}`,
      };
    }
    case 'console':
      return { exporter: new ConsoleSpanExporter(), destination: 'console (stdout)' };
  }
}

function sampler(o: TracingSettings['sampler']): Sampler {
  switch (o.name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(o.ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(o.ratio) });
  }
}

function observe(inner: SpanExporter, name: ExporterName, onExport: TracingHooks['onExport']): SpanExporter {
  if (!onExport) return inner;
  return {
    export(spans: ReadableSpan[], done: (r: ExportResult) => void) {
      inner.export(spans, (r) => {
        try {
          onExport(name, r.code === ExportResultCode.SUCCESS, spans.length, r.error);
        } finally {
          done(r);
        }
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: inner.forceFlush ? () => inner.forceFlush!() : undefined,
  };
}

const SHUTDOWN_MS = 5000;

/** A URL for logs and /status: no user, password or query (they may hold credentials). */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
