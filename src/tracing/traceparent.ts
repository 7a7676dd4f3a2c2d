// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header), parsed
// strictly: this value comes from object annotations anyone can write, so a bad one is reported and
// ignored, never thrown into a reconcile.

export interface TraceParent {
  traceId: string;
  spanId: string;
  /** Bit 0: sampled. */
  traceFlags: number;
}

export type ParsedTraceParent = { ok: true; value: TraceParent } | { ok: false; error: string };

const HEX = /^[0-9a-f]+$/;
const MAX_CHARS = 512;

export function parseTraceParent(text: unknown): ParsedTraceParent {
  const bad = (error: string): ParsedTraceParent => ({ ok: false, error });
  if (typeof text !== 'string') return bad('not a string');
  if (text.length > MAX_CHARS) return bad(`longer than ${MAX_CHARS} characters`);
  const parts = text.trim().split('-');
  if (parts.length < 4) return bad('expected version-traceid-parentid-flags');
  const [version, traceId, spanId, flags] = parts as [string, string, string, string];
  if (version.length !== 2 || !HEX.test(version)) return bad('version must be two lowercase hex digits');
  if (version === 'ff') return bad('version ff is invalid');
  // Version 00 has exactly four fields; a later version may append more, which a 00 parser ignores.
  if (version === '00' && parts.length !== 4) return bad('version 00 has exactly four fields');
  if (traceId.length !== 32 || !HEX.test(traceId)) return bad('trace id must be 32 lowercase hex digits');
  if (/^0+$/.test(traceId)) return bad('trace id must not be all zeros');
  if (spanId.length !== 16 || !HEX.test(spanId)) return bad('parent id must be 16 lowercase hex digits');
  if (/^0+$/.test(spanId)) return bad('parent id must not be all zeros');
  if (flags.length !== 2 || !HEX.test(flags)) return bad('flags must be two lowercase hex digits');
  return { ok: true, value: { traceId, spanId, traceFlags: parseInt(flags, 16) } };
}

export function formatTraceParent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${(p.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}
