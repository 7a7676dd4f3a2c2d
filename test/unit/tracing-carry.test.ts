import { describe, expect, it } from 'vitest';
import {
  TRACE_START_ANNOTATION,
  TRACEPARENT_ANNOTATION,
  traceAnnotations,
  traceOrigin,
  type TraceSource,
} from '../../src/tracing/carry.ts';
import type { TraceParent } from '../../src/tracing/traceparent.ts';

const LEGACY = 'trace.kubernetes.io/traceparent';
const NOW = Date.parse('2025-06-01T12:00:00Z');
const WINDOW = 10 * 60_000;
const MIN = 60_000;

const ctx = (n: number): TraceParent => ({
  traceId: n.toString(16).padStart(32, 'a'),
  spanId: n.toString(16).padStart(16, 'b'),
  traceFlags: 1,
});
const tp = (n: number) => `00-${ctx(n).traceId}-${ctx(n).spanId}-01`;
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
/** The trace-start annotation value for context n started at ms. */
const start = (n: number, ms: number) => `${iso(ms)} ${ctx(n).spanId}`;

function self(n: number, tracedAt?: number, key = TRACEPARENT_ANNOTATION): TraceSource {
  return {
    role: 'self',
    kind: 'Machine',
    name: 'm1',
    annotations: {
      [key]: tp(n),
      ...(tracedAt === undefined ? {} : { [TRACE_START_ANNOTATION]: start(n, tracedAt) }),
    },
  };
}
function cause(n: number, tracedAt: number, subjectCreatedAt: number): TraceSource {
  return {
    role: 'cause',
    kind: 'MachineDeployment',
    name: 'md1',
    annotations: { [TRACEPARENT_ANNOTATION]: tp(n), [TRACE_START_ANNOTATION]: start(n, tracedAt) },
    subjectCreatedAt,
  };
}
/** traceOrigin without the parent's startedAt (asserted on its own below). */
const origin = (...sources: TraceSource[]) => {
  const o = traceOrigin(sources, NOW, WINDOW);
  if (o.parent) delete o.parent.startedAt;
  return o;
};

describe('traceAnnotations', () => {
  it('is empty without a context', () => {
    expect(traceAnnotations(undefined, new Date(NOW))).toEqual({});
  });

  it('records the traceparent and a second-precision RFC 3339 time', () => {
    expect(traceAnnotations(ctx(1), new Date('2025-06-01T12:34:56.789Z'))).toEqual({
      [TRACEPARENT_ANNOTATION]: tp(1),
      [TRACE_START_ANNOTATION]: `2025-06-01T12:34:56Z ${ctx(1).spanId}`,
    });
  });

  it('writes what traceOrigin reads back as a parent', () => {
    const annotations = traceAnnotations(ctx(3), new Date(NOW - MIN));
    const o = origin({ role: 'self', kind: 'Machine', name: 'm1', annotations });
    expect(o.parent).toEqual({ context: ctx(3), from: 'Machine/m1' });
  });
});

describe('traceOrigin', () => {
  it('finds nothing without sources or annotations', () => {
    expect(origin()).toEqual({ links: [], problems: [] });
    expect(origin({ role: 'self', kind: 'Machine', name: 'm1' })).toEqual({ links: [], problems: [] });
    expect(origin({ role: 'self', kind: 'Machine', name: 'm1', annotations: { other: 'x' } })).toEqual({
      links: [],
      problems: [],
    });
  });

  it.each([
    ['recent', NOW - MIN],
    ['at the window edge', NOW - WINDOW],
    ['slightly in the future', NOW + MIN],
  ])('makes a self annotation %s the parent', (_, at) => {
    expect(origin(self(1, at))).toEqual({
      parent: { context: ctx(1), from: 'Machine/m1' },
      links: [],
      problems: [],
    });
  });

  it.each([
    ['older than the window', NOW - WINDOW - 1000],
    ['far in the future', NOW + WINDOW + 1000],
    ['undated', undefined],
  ])('makes a self annotation %s a link only', (_, at) => {
    expect(origin(self(1, at))).toEqual({ links: [{ context: ctx(1), from: 'Machine/m1' }], problems: [] });
  });

  it('reads the legacy annotation key', () => {
    expect(origin(self(2, NOW - MIN, LEGACY)).parent).toEqual({ context: ctx(2), from: 'Machine/m1' });
  });

  it('prefers the current key over the legacy one', () => {
    const s: TraceSource = {
      role: 'self',
      kind: 'Machine',
      name: 'm1',
      annotations: {
        [LEGACY]: tp(2),
        [TRACEPARENT_ANNOTATION]: tp(1),
        [TRACE_START_ANNOTATION]: start(1, NOW - MIN),
      },
    };
    expect(origin(s)).toEqual({ parent: { context: ctx(1), from: 'Machine/m1' }, links: [], problems: [] });
  });

  it.each([
    ['after', NOW - MIN],
    ['in the same second as', NOW - 2 * MIN],
  ])('parents on a cause when the subject was created %s its action', (_, created) => {
    expect(origin(cause(1, NOW - 2 * MIN, created))).toEqual({
      parent: { context: ctx(1), from: 'MachineDeployment/md1' },
      links: [],
      problems: [],
    });
  });

  it('ignores a cause whose action came after the subject was created', () => {
    expect(origin(cause(1, NOW - MIN, NOW - 2 * MIN))).toEqual({ links: [], problems: [] });
  });

  it('ignores an undated cause', () => {
    const c: TraceSource = { ...cause(1, NOW - MIN, NOW), annotations: { [TRACEPARENT_ANNOTATION]: tp(1) } };
    expect(origin(c)).toEqual({ links: [], problems: [] });
  });

  it('ignores a cause whose trace started before the window (a later object was not its doing)', () => {
    expect(origin(cause(1, NOW - WINDOW - MIN, NOW - MIN))).toEqual({ links: [], problems: [] });
  });

  it.each([
    ['self newer', NOW - MIN, NOW - 2 * MIN, 1, 2],
    ['cause newer', NOW - 3 * MIN, NOW - 2 * MIN, 2, 1],
  ])('parents on the most recent when both are fresh: %s', (_, selfAt, causeAt, parentN, linkN) => {
    const o = origin(self(1, selfAt), cause(2, causeAt, NOW - 30_000));
    expect(o.parent?.context).toEqual(ctx(parentN));
    expect(o.links.map((l) => l.context)).toEqual([ctx(linkN)]);
    expect(o.problems).toEqual([]);
  });

  it('does not repeat the parent among the links', () => {
    const o = origin(self(1, NOW - MIN), cause(1, NOW - 5 * MIN, NOW - 2 * MIN));
    expect(o.parent?.context).toEqual(ctx(1));
    expect(o.links).toEqual([]);
  });

  it('deduplicates links', () => {
    const o = origin(
      self(1),
      cause(1, NOW - WINDOW - MIN, NOW),
      self(2),
      cause(2, NOW - WINDOW - 2 * MIN, NOW),
    );
    expect(o.parent).toBeUndefined();
    expect(o.links).toEqual([
      { context: ctx(1), from: 'Machine/m1' },
      { context: ctx(2), from: 'Machine/m1' },
    ]);
  });

  it.each([
    ['current', TRACEPARENT_ANNOTATION],
    ['legacy', LEGACY],
  ])('reports a malformed %s traceparent and skips it', (_, key) => {
    const bad: TraceSource = { role: 'self', kind: 'Machine', name: 'm9', annotations: { [key]: 'garbage' } };
    const o = origin(bad, self(1, NOW - MIN));
    expect(o.parent?.context).toEqual(ctx(1));
    expect(o.links).toEqual([]);
    expect(o.problems).toHaveLength(1);
    expect(o.problems[0]).toContain('Machine/m9');
    expect(o.problems[0]).toContain(key);
  });

  it.each(['yesterday', '12:00:00', '', 'June 1, 2025 12:00:00', '2025-13-01T00:00:00Z'])(
    'reports a malformed trace start %j and treats the context as undated',
    (at) => {
      const s: TraceSource = {
        role: 'self',
        kind: 'Machine',
        name: 'm1',
        annotations: { [TRACEPARENT_ANNOTATION]: tp(1), [TRACE_START_ANNOTATION]: `${at} ${ctx(1).spanId}` },
      };
      const o = origin(s);
      expect(o.parent).toBeUndefined();
      expect(o.links).toEqual([{ context: ctx(1), from: 'Machine/m1' }]);
      expect(o.problems).toHaveLength(1);
      expect(o.problems[0]).toContain('Machine/m1');
      expect(o.problems[0]).toContain(TRACE_START_ANNOTATION);
    },
  );

  it('never throws on odd annotation values', () => {
    const odd = { [TRACEPARENT_ANNOTATION]: 42, [TRACE_START_ANNOTATION]: null } as unknown as Record<
      string,
      string
    >;
    const run = () => origin({ role: 'self', kind: 'Machine', name: 'm1', annotations: odd });
    expect(run).not.toThrow();
    expect(run().problems).toEqual([expect.stringContaining(TRACEPARENT_ANNOTATION)]);
  });
});

/** The origin of a Machine whose traceparent is context 1 and whose trace-start annotation is `value`. */
const originWithStart = (value: string) =>
  traceOrigin(
    [
      {
        role: 'self',
        kind: 'Machine',
        name: 'm1',
        annotations: { [TRACEPARENT_ANNOTATION]: tp(1), [TRACE_START_ANNOTATION]: value },
      },
    ],
    NOW,
    WINDOW,
  );

describe('the trace start must be a full RFC 3339 time', () => {
  it.each([
    '2025-06-01T11:59:00',
    '2025-06-01T11:59Z',
    '2024-02-30T00:00:00Z',
    '2025-06-01 11:59:00Z',
    'yesterday',
  ])('%s is a problem and the context only a link', (at) => {
    const o = originWithStart(`${at} ${ctx(1).spanId}`);
    expect(o.problems).toHaveLength(1);
    expect(o.problems[0]).toContain(TRACE_START_ANNOTATION);
    expect(o.parent).toBeUndefined();
    expect(o.links.map((l) => l.context)).toEqual([ctx(1)]);
  });
  it.each(['2025-06-01T11:59:00Z', '2025-06-01T13:59:00+02:00', '2025-06-01T11:59:00.123Z'])(
    '%s is accepted',
    (at) => {
      const o = originWithStart(`${at} ${ctx(1).spanId}`);
      expect(o.problems).toEqual([]);
      expect(o.parent?.context).toEqual(ctx(1));
    },
  );
});

describe('the trace start belongs to one traceparent', () => {
  it('returns when the parent trace started, so actions continuing it keep that start', () => {
    const o = traceOrigin([self(1, NOW - 3 * MIN)], NOW, WINDOW);
    expect(o.parent?.startedAt).toBe(Math.floor((NOW - 3 * MIN) / 1000) * 1000);
  });

  it('is ignored when someone rewrote the traceparent since (span ids differ): link only', () => {
    const s: TraceSource = {
      role: 'self',
      kind: 'Machine',
      name: 'm1',
      annotations: { [TRACEPARENT_ANNOTATION]: tp(2), [TRACE_START_ANNOTATION]: start(1, NOW - MIN) },
    };
    const o = traceOrigin([s], NOW, WINDOW);
    expect(o.parent).toBeUndefined();
    expect(o.links.map((l) => l.context)).toEqual([ctx(2)]);
    expect(o.problems).toEqual([expect.stringContaining('rewritten by someone else')]);
  });

  it.each(['2025-06-01T11:59:00Z', `2025-06-01T11:59:00Z ${'x'.repeat(16)}`, `2025-06-01T11:59:00Z bb bb`])(
    '%j without a valid span id is a problem',
    (value) => {
      const o = originWithStart(value);
      expect(o.parent).toBeUndefined();
      expect(o.problems).toHaveLength(1);
    },
  );

  it('a start more than a minute in the future (a skewed clock) is not a parent', () => {
    expect(traceOrigin([self(1, NOW + 2 * MIN)], NOW, WINDOW).parent).toBeUndefined();
  });
});
