import { describe, expect, it } from 'vitest';
import { formatTraceParent, parseTraceParent } from '../../src/tracing/traceparent.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('parseTraceParent', () => {
  it.each([
    ['sampled', `00-${TRACE}-${SPAN}-01`, 1],
    ['unsampled', `00-${TRACE}-${SPAN}-00`, 0],
    ['other flag bits kept', `00-${TRACE}-${SPAN}-ff`, 0xff],
  ])('accepts version 00, %s', (_, text, traceFlags) => {
    expect(parseTraceParent(text)).toEqual({ ok: true, value: { traceId: TRACE, spanId: SPAN, traceFlags } });
  });

  it('accepts a future version with extra fields, ignoring them', () => {
    expect(parseTraceParent(`01-${TRACE}-${SPAN}-01-extra`)).toEqual({
      ok: true,
      value: { traceId: TRACE, spanId: SPAN, traceFlags: 1 },
    });
  });

  it('accepts a future version with exactly four fields', () => {
    expect(parseTraceParent(`cc-${TRACE}-${SPAN}-00`)).toMatchObject({ ok: true });
  });

  it.each([
    ['uppercase trace id', `00-${TRACE.toUpperCase()}-${SPAN}-01`, /trace id/],
    ['uppercase span id', `00-${TRACE}-${SPAN.toUpperCase()}-01`, /parent id/],
    ['uppercase version', `0A-${TRACE}-${SPAN}-01`, /version/],
    ['uppercase flags', `00-${TRACE}-${SPAN}-0A`, /flags/],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`, /trace id must not be all zeros/],
    ['all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`, /parent id must not be all zeros/],
    ['version ff', `ff-${TRACE}-${SPAN}-01`, /version ff/],
    ['one-digit version', `0-${TRACE}-${SPAN}-01`, /version/],
    ['three-digit version', `000-${TRACE}-${SPAN}-01`, /version/],
    ['short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`, /trace id/],
    ['long trace id', `00-${TRACE}0-${SPAN}-01`, /trace id/],
    ['short span id', `00-${TRACE}-${SPAN.slice(1)}-01`, /parent id/],
    ['long span id', `00-${TRACE}-${SPAN}0-01`, /parent id/],
    ['one-digit flags', `00-${TRACE}-${SPAN}-1`, /flags/],
    ['three-digit flags', `00-${TRACE}-${SPAN}-001`, /flags/],
    ['non-hex trace id', `00-${TRACE.slice(1)}g-${SPAN}-01`, /trace id/],
    ['version 00 with an extra field', `00-${TRACE}-${SPAN}-01-extra`, /exactly four fields/],
    ['version 00 with a trailing dash', `00-${TRACE}-${SPAN}-01-`, /exactly four fields/],
    ['too few fields', `00-${TRACE}-${SPAN}`, /version-traceid-parentid-flags/],
    ['empty string', '', /version-traceid-parentid-flags/],
    ['future version with glued extra', `01-${TRACE}-${SPAN}-01extra`, /flags/],
  ])('rejects %s', (_, text, error) => {
    const r = parseTraceParent(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it.each([[undefined], [null], [42], [{}], [[`00-${TRACE}-${SPAN}-01`]]])(
    'rejects non-string %j',
    (input) => {
      expect(parseTraceParent(input)).toEqual({ ok: false, error: 'not a string' });
    },
  );

  it('rejects input longer than 512 characters', () => {
    const text = `01-${TRACE}-${SPAN}-01-${'a'.repeat(512)}`;
    expect(parseTraceParent(text)).toEqual({ ok: false, error: 'longer than 512 characters' });
  });

  it('accepts a future version of exactly 512 characters', () => {
    const head = `01-${TRACE}-${SPAN}-01-`;
    expect(parseTraceParent(head + 'a'.repeat(512 - head.length))).toMatchObject({ ok: true });
  });
});

describe('formatTraceParent', () => {
  it.each([`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-00`, `00-${TRACE}-${SPAN}-0f`])(
    'round-trips %s',
    (text) => {
      const r = parseTraceParent(text);
      if (!r.ok) throw new Error(r.error);
      expect(formatTraceParent(r.value)).toBe(text);
    },
  );

  it('writes version 00 and two-digit lowercase flags', () => {
    expect(formatTraceParent({ traceId: TRACE, spanId: SPAN, traceFlags: 0x1b })).toBe(
      `00-${TRACE}-${SPAN}-1b`,
    );
  });

  it('formats a future version as 00 without its extra fields', () => {
    const r = parseTraceParent(`01-${TRACE}-${SPAN}-01-extra`);
    if (!r.ok) throw new Error(r.error);
    expect(formatTraceParent(r.value)).toBe(`00-${TRACE}-${SPAN}-01`);
  });
});
