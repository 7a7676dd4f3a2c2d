// Admission of new remediations: one row per refusal, in the documented order (storm, cooldown, cluster,
// group, rate), with both sides of each time boundary and of each count limit.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  admit,
  ADMISSION_CODES,
  stormState,
  type AdmitInput,
  type StormState,
} from '../../src/remediation/storm.ts';

const T0 = Date.UTC(2025, 0, 1);
const MIN = 60_000;
const base = (o: Partial<AdmitInput> = {}): AdmitInput => ({
  cluster: 'c1',
  group: 'md-a',
  inFlight: [],
  limits: {},
  recentStarts: [],
  now: T0,
  ...o,
});
const inFlight = (n: number, cluster = 'c1', group?: string) =>
  Array.from({ length: n }, () => (group === undefined ? { cluster } : { cluster, group }));
const storm = (o: Partial<NonNullable<AdmitInput['storm']>> = {}): NonNullable<AdmitInput['storm']> => ({
  unhealthyFraction: 0.1,
  threshold: 0.4,
  cooldownMs: 10 * MIN,
  ...o,
});
const rate = { max: 2, perMs: MIN };

type Row = [string, Partial<AdmitInput>, { code?: string; retryAt?: number }];

describe('admit', () => {
  // prettier-ignore
  it.each<Row>([
    ['nothing configured', {}, {}],
    // Storm: at or above the threshold.
    ['below the storm threshold', { storm: storm({ unhealthyFraction: 0.39 }) }, {}],
    ['at the storm threshold', { storm: storm({ unhealthyFraction: 0.4 }) }, { code: 'Storm' }],
    ['above the storm threshold', { storm: storm({ unhealthyFraction: 1 }) }, { code: 'Storm' }],
    // Cooldown: [end, end + cooldown).
    ['cooldown, 1 ms before it ends', { storm: storm({ lastStormEndedAt: T0 - 10 * MIN + 1 }) }, { code: 'StormCooldown', retryAt: T0 + 1 }],
    ['cooldown ends exactly at end + cooldown', { storm: storm({ lastStormEndedAt: T0 - 10 * MIN }) }, {}],
    ['storm ended just now', { storm: storm({ lastStormEndedAt: T0 }) }, { code: 'StormCooldown', retryAt: T0 + 10 * MIN }],
    ['zero cooldown', { storm: storm({ cooldownMs: 0, lastStormEndedAt: T0 }) }, {}],
    // Per cluster: in-flight in this cluster only.
    ['cluster: one below the limit', { limits: { maxPerCluster: 3 }, inFlight: inFlight(2) }, {}],
    ['cluster: at the limit', { limits: { maxPerCluster: 3 }, inFlight: inFlight(3) }, { code: 'MaxPerCluster' }],
    ['cluster: other clusters do not count', { limits: { maxPerCluster: 3 }, inFlight: [...inFlight(2), ...inFlight(5, 'c2')] }, {}],
    ['cluster: limit 0 allows nothing', { limits: { maxPerCluster: 0 } }, { code: 'MaxPerCluster' }],
    // Per group: same cluster and group.
    ['group: one below', { limits: { maxPerGroup: 2 }, inFlight: inFlight(1, 'c1', 'md-a') }, {}],
    ['group: at the limit', { limits: { maxPerGroup: 2 }, inFlight: inFlight(2, 'c1', 'md-a') }, { code: 'MaxPerGroup' }],
    ['group: other groups do not count', { limits: { maxPerGroup: 2 }, inFlight: [...inFlight(1, 'c1', 'md-a'), ...inFlight(3, 'c1', 'md-b'), ...inFlight(3, 'c1')] }, {}],
    ['group: the same name in another cluster does not count', { limits: { maxPerGroup: 1 }, inFlight: inFlight(3, 'c2', 'md-a') }, {}],
    ['group: a Machine without a group has no group limit', { group: undefined, limits: { maxPerGroup: 0 } }, {}],
    // Rate: sliding window (now - perMs, now].
    ['rate: one below', { rate, recentStarts: [T0 - 1000] }, {}],
    ['rate: at the limit', { rate, recentStarts: [T0 - 30_000, T0 - 1000] }, { code: 'RateLimited', retryAt: T0 + 30_000 }],
    ['rate: the oldest leaves exactly perMs after it started', { rate, recentStarts: [T0 - MIN, T0 - 1000] }, {}],
    ['rate: the oldest 1 ms inside the window', { rate, recentStarts: [T0 - MIN + 1, T0 - 1000] }, { code: 'RateLimited', retryAt: T0 + 1 }],
    ['rate: unsorted input', { rate, recentStarts: [T0 - 1000, T0 - 5 * MIN, T0 - 30_000] }, { code: 'RateLimited', retryAt: T0 + 30_000 }],
    ['rate: over the limit waits for enough to leave', { rate, recentStarts: [T0 - 50_000, T0 - 40_000, T0 - 30_000] }, { code: 'RateLimited', retryAt: T0 + 20_000 }],
    ['rate: a start in the future (skew) counts', { rate, recentStarts: [T0 + 5000, T0 - 1000] }, { code: 'RateLimited', retryAt: T0 + MIN - 1000 }],
    ['rate: max 0 never allows, no retry time', { rate: { max: 0, perMs: MIN } }, { code: 'RateLimited' }],
    // Order: storm, cooldown, cluster, group, rate.
    ['storm before everything', { storm: storm({ unhealthyFraction: 0.5, lastStormEndedAt: T0 }), limits: { maxPerCluster: 0, maxPerGroup: 0 }, rate: { max: 0, perMs: MIN } }, { code: 'Storm' }],
    ['cooldown before limits', { storm: storm({ lastStormEndedAt: T0 }), limits: { maxPerCluster: 0, maxPerGroup: 0 }, rate: { max: 0, perMs: MIN } }, { code: 'StormCooldown', retryAt: T0 + 10 * MIN }],
    ['cluster before group', { limits: { maxPerCluster: 0, maxPerGroup: 0 }, rate: { max: 0, perMs: MIN } }, { code: 'MaxPerCluster' }],
    ['group before rate', { limits: { maxPerGroup: 0 }, rate: { max: 0, perMs: MIN } }, { code: 'MaxPerGroup' }],
    // Unreadable input refuses (fail closed), with the field named.
    ['fraction NaN', { storm: storm({ unhealthyFraction: NaN }) }, { code: 'InvalidInput' }],
    ['fraction above 1', { storm: storm({ unhealthyFraction: 1.5 }) }, { code: 'InvalidInput' }],
    ['threshold 0', { storm: storm({ threshold: 0 }) }, { code: 'InvalidInput' }],
    ['negative cooldown', { storm: storm({ cooldownMs: -1 }) }, { code: 'InvalidInput' }],
    ['fractional limit', { limits: { maxPerCluster: 1.5 } }, { code: 'InvalidInput' }],
    ['negative group limit', { limits: { maxPerGroup: -1 } }, { code: 'InvalidInput' }],
    ['rate window 0', { rate: { max: 1, perMs: 0 } }, { code: 'InvalidInput' }],
    ['a start time that is not a number', { rate, recentStarts: [NaN] }, { code: 'InvalidInput' }],
  ])('%s', (_name, o, expected) => {
    const r = admit(base(o));
    if (expected.code === undefined) {
      expect(r).toEqual({ allowed: true });
      return;
    }
    expect(r.allowed).toBe(false);
    if (r.allowed) return;
    expect({ code: r.code, retryAt: r.retryAt }).toEqual({ code: expected.code, retryAt: expected.retryAt });
    expect(ADMISSION_CODES).toContain(r.code);
    expect(r.message.length).toBeGreaterThan(0);
  });

  it('messages say what limit was hit and until when', () => {
    const m = (o: Partial<AdmitInput>) => {
      const r = admit(base(o));
      return r.allowed ? '' : r.message;
    };
    expect(m({ storm: storm({ unhealthyFraction: 0.5 }) })).toBe(
      'remediation storm: 50% of the Machines in cluster c1 are unhealthy (threshold 40%); no new remediation starts',
    );
    expect(m({ storm: storm({ lastStormEndedAt: T0 - MIN }) })).toBe(
      'cooling down after a remediation storm in cluster c1 until 2025-01-01T00:09:00.000Z',
    );
    expect(m({ limits: { maxPerCluster: 2 }, inFlight: inFlight(2) })).toBe(
      '2 remediations in flight in cluster c1 (max 2)',
    );
    expect(m({ limits: { maxPerGroup: 1 }, inFlight: inFlight(1, 'c1', 'md-a') })).toBe(
      '1 remediation in flight in group md-a of cluster c1 (max 1)',
    );
    expect(m({ rate, recentStarts: [T0 - 1, T0 - 2] })).toBe(
      '2 remediations started in the last 1m (max 2); next at 2025-01-01T00:00:59.998Z',
    );
    expect(m({ limits: { maxPerCluster: -1 } })).toBe('limits.maxPerCluster must be an integer >= 0, got -1');
  });

  it('property: allowed only when every configured check passes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.integer({ min: -2 * MIN, max: 0 }), { maxLength: 5 }),
        fc.array(fc.constantFrom('a', 'b'), { maxLength: 6 }),
        (maxC, maxG, starts, groups) => {
          const x = base({
            limits: { maxPerCluster: maxC, maxPerGroup: maxG },
            rate: { max: 3, perMs: MIN },
            recentStarts: starts.map((s) => T0 + s),
            inFlight: groups.map((g) => ({ cluster: 'c1', group: g })),
            group: 'a',
          });
          const inWindow = starts.filter((s) => s > -MIN).length;
          const inGroup = groups.filter((g) => g === 'a').length;
          const ok = groups.length < maxC && inGroup < maxG && inWindow < 3;
          const r = admit(x);
          expect(r.allowed).toBe(ok);
          // A retry time, when given, is in the future and the rate check passes then.
          if (!r.allowed && r.retryAt !== undefined) {
            expect(r.retryAt).toBeGreaterThan(T0);
            const later = admit({ ...x, limits: {}, now: r.retryAt });
            expect(later.allowed).toBe(true);
          }
        },
      ),
    );
  });
});

describe('stormState', () => {
  it.each<[string, StormState, number, StormState]>([
    ['calm stays calm', { inStorm: false }, 0.1, { inStorm: false }],
    [
      'calm keeps the last end',
      { inStorm: false, endedAt: T0 - MIN },
      0.1,
      { inStorm: false, endedAt: T0 - MIN },
    ],
    ['reaching the threshold starts a storm', { inStorm: false, endedAt: T0 - MIN }, 0.4, { inStorm: true }],
    ['a storm goes on above it', { inStorm: true }, 0.9, { inStorm: true }],
    ['dropping below it ends the storm now', { inStorm: true }, 0.39, { inStorm: false, endedAt: T0 }],
  ])('%s', (_name, prev, fraction, next) => {
    expect(stormState(prev, fraction, 0.4, T0)).toEqual(next);
  });

  it('an unreadable fraction keeps the previous state', () => {
    const prev = { inStorm: true };
    expect(stormState(prev, NaN, 0.4, T0)).toBe(prev);
  });

  it('feeds admit: a storm that ended blocks for the cooldown, then admits', () => {
    let s: StormState = { inStorm: false };
    s = stormState(s, 0.5, 0.4, T0);
    s = stormState(s, 0.2, 0.4, T0 + MIN);
    const at = (now: number) =>
      admit(base({ now, storm: storm({ unhealthyFraction: 0.2, lastStormEndedAt: s.endedAt }) }));
    expect(at(T0 + MIN + 10 * MIN - 1)).toMatchObject({
      allowed: false,
      code: 'StormCooldown',
      retryAt: T0 + 11 * MIN,
    });
    expect(at(T0 + 11 * MIN)).toEqual({ allowed: true });
  });
});
