// Trace context carried on Kubernetes objects. When the service acts on an object it writes the acting
// span's W3C traceparent and the time into annotations; a later reconcile of that object, or of an object
// the action created (a Machine after its MachineDeployment was scaled), continues the same trace. Pure:
// annotations and timestamps in, a parent and links out; malformed values become problems, not errors.
import { parseTraceParent, formatTraceParent, type TraceParent } from './traceparent.ts';

/** The key we write: the one KEP-5915 proposes, so tools that follow the KEP read ours. */
export const TRACEPARENT_ANNOTATION = 'tracing.k8s.io/traceparent';
/** Also read: the key of the tracing proof of concept other tools may still write. */
export const LEGACY_TRACEPARENT_ANNOTATIONS: readonly string[] = ['trace.kubernetes.io/traceparent'];
/**
 * When the traceparent was written (RFC 3339). A traceparent alone cannot say whether it is the cause of
 * the work at hand or of an action hours ago; this decides between parenting and a mere link.
 */
export const TRACED_AT_ANNOTATION = 'capi-autopilot.io/traced-at';

/** Annotations that record an action of the span `ctx` at `now`. */
export function traceAnnotations(ctx: TraceParent | undefined, now: Date): Record<string, string> {
  if (!ctx) return {};
  return {
    [TRACEPARENT_ANNOTATION]: formatTraceParent(ctx),
    [TRACED_AT_ANNOTATION]: new Date(Math.floor(now.getTime() / 1000) * 1000)
      .toISOString()
      .replace('.000Z', 'Z'),
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
  tracedAt?: number;
  role: TraceSource['role'];
  subjectCreatedAt?: number;
}

/**
 * Parent: the most recent action recorded within `followWindowMs` of `now` (on the object itself, or on
 * its cause when the object was created after that action). Older or undated contexts are links only.
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
    let tracedAt: number | undefined;
    const at = a[TRACED_AT_ANNOTATION];
    if (at !== undefined) {
      tracedAt = parseRfc3339(at);
      if (tracedAt === undefined) {
        problems.push(`${from}: annotation ${TRACED_AT_ANNOTATION}: not an RFC 3339 time`);
        tracedAt = undefined;
      }
    }
    found.push({ context: parsed.value, from, tracedAt, role: s.role, subjectCreatedAt: s.subjectCreatedAt });
  }

  const relevant = found.filter(
    (c) =>
      c.role === 'self' ||
      // A cause counts only for objects created at or after its action (second precision on both sides).
      (c.tracedAt !== undefined && c.subjectCreatedAt !== undefined && c.subjectCreatedAt >= c.tracedAt),
  );
  const fresh = relevant.filter(
    (c) =>
      c.tracedAt !== undefined && now - c.tracedAt <= followWindowMs && c.tracedAt - now <= followWindowMs,
  );
  fresh.sort((x, y) => y.tracedAt! - x.tracedAt!);
  const parent = fresh[0];

  const links: TraceLink[] = [];
  const seen = new Set<string>(parent ? [`${parent.context.traceId}/${parent.context.spanId}`] : []);
  for (const c of relevant) {
    const id = `${c.context.traceId}/${c.context.spanId}`;
    if (seen.has(id)) continue;
    seen.add(id);
    links.push({ context: c.context, from: c.from });
  }
  return { parent: parent && { context: parent.context, from: parent.from }, links, problems };
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
