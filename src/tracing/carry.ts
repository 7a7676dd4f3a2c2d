// Trace context carried on Kubernetes objects. When the service acts on an object it writes the acting
// span's W3C traceparent and when its trace started into annotations; a later reconcile of that object, or
// of an object the action created (a Machine after its MachineDeployment was scaled), continues the same
// trace. Pure: annotations and timestamps in, a parent and links out; malformed values become problems.
import { kubeTime } from '../kube/time.ts';
import { parseTraceParent, formatTraceParent, type TraceParent } from './traceparent.ts';

/** The key we write: the one KEP-5915 proposes, so tools that follow the KEP read ours. */
export const TRACEPARENT_ANNOTATION = 'tracing.k8s.io/traceparent';
/** Also read: the key of the tracing proof of concept other tools may still write. */
export const LEGACY_TRACEPARENT_ANNOTATIONS: readonly string[] = ['trace.kubernetes.io/traceparent'];
/**
 * `<RFC 3339 time> <span id>`: when the trace of the traceparent next to it started (its first recorded
 * action), and which traceparent that is. A traceparent alone cannot say whether it caused the work at
 * hand or an action hours ago; this decides between parenting and a mere link, bounds how long one trace
 * grows, and is ignored when someone else has since rewritten the traceparent (the span ids differ).
 */
export const TRACE_START_ANNOTATION = 'capi-autopilot.io/trace-start';

/** How far in the future a recorded start may lie (clock skew between replicas) before it is ignored. */
export const FUTURE_SKEW_MS = 60_000;

/** Annotations that record an action of the span `ctx` in a trace that started at `traceStart`. */
export function traceAnnotations(ctx: TraceParent | undefined, traceStart: Date): Record<string, string> {
  if (!ctx) return {};
  const at = kubeTime(traceStart);
  return {
    [TRACEPARENT_ANNOTATION]: formatTraceParent(ctx),
    [TRACE_START_ANNOTATION]: `${at} ${ctx.spanId}`,
  };
}

/** An object whose annotations may hold the context this reconcile continues. */
export interface TraceSource {
  /**
   * `self`: the object being reconciled; `cause`: an object whose recorded action may have created or
   * changed the reconciled one (its owner), honoured only when the reconciled object is newer than it.
   */
  role: 'self' | 'cause';
  kind: string;
  name: string;
  annotations?: Readonly<Record<string, string>>;
  /** For `cause`: creation time of the reconciled object, ms since the epoch. */
  subjectCreatedAt?: number;
}

export interface TraceLink {
  context: TraceParent;
  /** Which object carried it (kind/name), for the link's attributes. */
  from: string;
  /** When its trace started (ms since the epoch), if recorded: actions continuing it keep this start. */
  startedAt?: number;
}

export interface TraceOrigin {
  /** The recent action this reconcile follows up: its span becomes the reconcile's parent. */
  parent?: TraceLink;
  /** Every other valid context found: links survive where parenting would mislead. */
  links: TraceLink[];
  /** Malformed annotations, one line each, for a span event and a debug log. */
  problems: string[];
}

interface Candidate extends TraceLink {
  role: TraceSource['role'];
  subjectCreatedAt?: number;
}

/**
 * Parent: the recorded trace that started most recently, within `followWindowMs` of `now`, on the object
 * itself or on its cause when the object was created at or after that start. Other contexts on the object
 * itself are links; a cause whose trace is undated, stale or newer than the object is not related at all.
 */
export function traceOrigin(
  sources: readonly TraceSource[],
  now: number,
  followWindowMs: number,
): TraceOrigin {
  const problems: string[] = [];
  const found: Candidate[] = [];
  for (const s of sources) {
    const a = s.annotations ?? {};
    const from = `${s.kind}/${s.name}`;
    const key = [TRACEPARENT_ANNOTATION, ...LEGACY_TRACEPARENT_ANNOTATIONS].find((k) => a[k] !== undefined);
    if (key === undefined) continue;
    const parsed = parseTraceParent(a[key]);
    if (!parsed.ok) {
      problems.push(`${from}: annotation ${key}: ${parsed.error}`);
      continue;
    }
    let startedAt: number | undefined;
    const start = a[TRACE_START_ANNOTATION];
    if (start !== undefined) {
      const r = parseTraceStart(start);
      if (!r.ok) problems.push(`${from}: annotation ${TRACE_START_ANNOTATION}: ${r.error}`);
      else if (r.spanId !== parsed.value.spanId) {
        problems.push(
          `${from}: annotation ${TRACE_START_ANNOTATION} belongs to span ${r.spanId}, not to the traceparent's ${parsed.value.spanId} (rewritten by someone else): link only`,
        );
      } else startedAt = r.at;
    }
    found.push({
      context: parsed.value,
      from,
      startedAt,
      role: s.role,
      subjectCreatedAt: s.subjectCreatedAt,
    });
  }

  const inWindow = (c: Candidate) =>
    c.startedAt !== undefined && now - c.startedAt <= followWindowMs && c.startedAt - now <= FUTURE_SKEW_MS;
  const relevant = found.filter(
    (c) =>
      c.role === 'self' ||
      // A cause counts only while fresh, and only for objects created at or after its trace started
      // (both second precision; the creation time is the apiserver's clock, the start ours).
      (inWindow(c) && c.subjectCreatedAt !== undefined && c.subjectCreatedAt >= c.startedAt!),
  );
  const parent = relevant.filter(inWindow).sort((x, y) => y.startedAt! - x.startedAt!)[0];

  const links: TraceLink[] = [];
  const seen = new Set<string>(parent ? [`${parent.context.traceId}/${parent.context.spanId}`] : []);
  for (const c of relevant) {
    const id = `${c.context.traceId}/${c.context.spanId}`;
    if (seen.has(id)) continue;
    seen.add(id);
    links.push({ context: c.context, from: c.from });
  }
  return {
    parent: parent && { context: parent.context, from: parent.from, startedAt: parent.startedAt },
    links,
    problems,
  };
}

function parseTraceStart(
  text: unknown,
): { ok: true; at: number; spanId: string } | { ok: false; error: string } {
  if (typeof text !== 'string') return { ok: false, error: 'not a string' };
  const [time, spanId, ...rest] = text.trim().split(' ');
  const at = parseRfc3339(time);
  if (at === undefined) return { ok: false, error: 'expected "<RFC 3339 time> <span id>": bad time' };
  if (rest.length || !spanId || !/^[0-9a-f]{16}$/.test(spanId)) {
    return { ok: false, error: 'expected "<RFC 3339 time> <span id>": bad span id' };
  }
  return { ok: true, at, spanId };
}

const RFC3339 = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

/** Milliseconds since the epoch for a full RFC 3339 time (offset required, real calendar date), else undefined. */
function parseRfc3339(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d || h > 23 || mi > 59 || s > 60) return undefined;
  const t = Date.parse(text);
  return Number.isFinite(t) ? t : undefined;
}

interface WithMeta {
  metadata: { name?: string; annotations?: Readonly<Record<string, string>>; creationTimestamp?: string };
}

/** The reconciled object itself as a trace source. */
export function selfSource(kind: string, obj: WithMeta): TraceSource {
  return { role: 'self', kind, name: obj.metadata.name ?? '', annotations: obj.metadata.annotations };
}

/** `cause` (e.g. the owning MachineDeployment) as a source for `subject` (a Machine it created); [] if none. */
export function causeSources(kind: string, cause: WithMeta | undefined, subject: WithMeta): TraceSource[] {
  if (!cause) return [];
  const created = Date.parse(subject.metadata.creationTimestamp ?? '');
  return [
    {
      role: 'cause',
      kind,
      name: cause.metadata.name ?? '',
      annotations: cause.metadata.annotations,
      subjectCreatedAt: Number.isFinite(created) ? created : undefined,
    },
  ];
}
