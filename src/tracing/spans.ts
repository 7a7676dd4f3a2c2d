// Spans for the service's own work: a helper that runs a function inside a span (errors recorded with
// status ERROR), the acting context to carry on objects, and attribute names. With tracing off the API's
// no-op tracer makes all of this nearly free.
import { createRequire } from 'node:module';
import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Link,
  type Span,
} from '@opentelemetry/api';
import { createContextKey } from '@opentelemetry/api';
import { traceAnnotations, type TraceLink } from './carry.ts';
import type { TraceParent } from './traceparent.ts';

export { SpanKind, type Attributes, type Span };

export const TRACER_NAME = 'capi-autopilot';
const TRACER_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/**
 * Attribute keys. Kubernetes ones follow OpenTelemetry's k8s semantic conventions; Cluster API objects and
 * our decisions have no convention, so they live under `capi.` and `capi_autopilot.`.
 */
export const ATTR = {
  cluster: 'k8s.cluster.name',
  namespace: 'k8s.namespace.name',
  node: 'k8s.node.name',
  pod: 'k8s.pod.name',
  machineDeployment: 'capi.machine_deployment.name',
  machineSet: 'capi.machine_set.name',
  machine: 'capi.machine.name',
  machineHealthCheck: 'capi.machine_health_check.name',
  controller: 'capi_autopilot.controller',
  key: 'capi_autopilot.key',
  nodeGroup: 'capi_autopilot.node_group',
  decision: 'capi_autopilot.decision',
  reason: 'capi_autopilot.reason',
  result: 'capi_autopilot.result',
  linkFrom: 'capi_autopilot.link.from',
  parentFrom: 'capi_autopilot.parent.from',
} as const;

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Continue this remote context (e.g. one read from an object's annotation). */
  parent?: TraceParent;
  /** Start a new trace instead of joining whatever context is active. */
  root?: boolean;
  links?: readonly TraceLink[];
  /** When the continued trace started (from the object's annotation); actions in it keep this start. */
  traceStart?: number;
}

/** Start of the trace a span belongs to, when it continues one recorded on an object. */
const TRACE_START = createContextKey('capi-autopilot trace start');

/** Runs `fn` in a new span; a throw is recorded on the span (status ERROR) and rethrown. */
export async function inSpan<T>(name: string, o: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  let parentCtx = o.root || o.parent ? ROOT_CONTEXT : context.active();
  if (o.parent) parentCtx = trace.setSpanContext(ROOT_CONTEXT, { ...o.parent, isRemote: true });
  const links: Link[] | undefined = o.links?.map((l) => ({
    context: { ...l.context, isRemote: true },
    attributes: { [ATTR.linkFrom]: l.from },
  }));
  const span = trace
    .getTracer(TRACER_NAME, TRACER_VERSION)
    .startSpan(name, { kind: o.kind ?? SpanKind.INTERNAL, attributes: o.attributes, links }, parentCtx);
  let ctx = trace.setSpan(parentCtx, span);
  if (o.traceStart !== undefined) ctx = ctx.setValue(TRACE_START, o.traceStart);
  return context.with(ctx, async () => {
    try {
      return await fn(span);
    } catch (e) {
      recordError(span, e);
      throw e;
    } finally {
      span.end();
    }
  });
}

export function recordError(span: Span, e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e));
  span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
}

/** The active span, when it records (sampled, tracing on); callers skip extra spans otherwise. */
export function recordingSpan(): Span | undefined {
  const s = trace.getActiveSpan();
  return s?.isRecording() ? s : undefined;
}

/** The active span's context as a traceparent to write on objects this work acts on; none when off. */
export function currentTraceParent(): TraceParent | undefined {
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !isSpanContextValid(sc)) return undefined;
  return { traceId: sc.traceId, spanId: sc.spanId, traceFlags: sc.traceFlags };
}

/**
 * Annotations to write with an action taken now: the acting span's traceparent and the start of its
 * trace (inherited when this work continues a recorded trace, so one trace cannot grow for ever). Empty
 * when tracing is off.
 */
export function actionAnnotations(now: Date): Record<string, string> {
  const start = context.active().getValue(TRACE_START);
  return traceAnnotations(currentTraceParent(), typeof start === 'number' ? new Date(start) : now);
}

/** Records a decision and its reason code on the active span (the reconcile's, or a step's). */
export function recordDecision(decision: string, reason: string, attributes: Attributes = {}): void {
  trace.getActiveSpan()?.setAttributes({ [ATTR.decision]: decision, [ATTR.reason]: reason, ...attributes });
}

/** Trace and span ids of the active span for log lines (OpenTelemetry's log correlation field names). */
export function logCorrelation(): { trace_id?: string; span_id?: string } {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
}
