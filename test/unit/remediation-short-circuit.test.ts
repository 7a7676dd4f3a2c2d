// Short-circuiting as CAPI's isAllowedRemediation computes it: default "100%", integers, percentages of
// expected rounded down, unhealthyInRange taking precedence, and malformed values refusing remediation.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromObject } from '../../src/capi/adapters/index.ts';
import type { MachineHealthCheck } from '../../src/capi/types.ts';
import {
  parseUnhealthyLimit,
  parseUnhealthyRange,
  remediationAllowed,
  SHORT_CIRCUIT_REASON_CODES,
} from '../../src/remediation/short-circuit.ts';

type Trigger = Parameters<typeof remediationAllowed>[2];
const v2 = (o: Partial<Trigger> = {}): Trigger => ({ version: 'v1beta2', ...o });
const v1 = (o: Partial<Trigger> = {}): Trigger => ({ version: 'v1beta1', ...o });

describe('remediationAllowed', () => {
  // [name, expected, unhealthy, trigger, allowed, remediationsAllowed]
  // prettier-ignore
  it.each<[string, number, number, Trigger, boolean, number]>([
    ['default 100%: all unhealthy is allowed', 5, 5, v2(), true, 0],
    ['default 100%: none unhealthy', 5, 0, v2(), true, 5],
    ['integer 2: at the limit', 5, 2, v2({ unhealthyLessThanOrEqualTo: 2 }), true, 0],
    ['integer 2: one above', 5, 3, v2({ unhealthyLessThanOrEqualTo: 2 }), false, 0],
    ['integer 0: nothing may be unhealthy', 5, 1, v2({ unhealthyLessThanOrEqualTo: 0 }), false, 0],
    ['integer above expected', 3, 3, v2({ unhealthyLessThanOrEqualTo: 10 }), true, 7],
    ['40% of 5 = 2: two allowed', 5, 2, v2({ unhealthyLessThanOrEqualTo: '40%' }), true, 0],
    ['40% of 5 = 2: three not', 5, 3, v2({ unhealthyLessThanOrEqualTo: '40%' }), false, 0],
    ['40% of 4 = 1.6 rounds down to 1', 4, 2, v2({ unhealthyLessThanOrEqualTo: '40%' }), false, 0],
    ['40% of 4 = 1: one allowed', 4, 1, v2({ unhealthyLessThanOrEqualTo: '40%' }), true, 0],
    ['33% of 10 = 3', 10, 2, v2({ unhealthyLessThanOrEqualTo: '33%' }), true, 1],
    ['0%', 10, 1, v2({ unhealthyLessThanOrEqualTo: '0%' }), false, 0],
    ['150% of 3 = 4', 3, 3, v2({ unhealthyLessThanOrEqualTo: '150%' }), true, 1],
    ['percent of 0 expected', 0, 0, v2({ unhealthyLessThanOrEqualTo: '40%' }), true, 0],
    ['range [1-3]: 0 is below', 5, 0, v2({ unhealthyInRange: '[1-3]' }), false, 0],
    ['range [1-3]: 1 is in, 2 more allowed', 5, 1, v2({ unhealthyInRange: '[1-3]' }), true, 2],
    ['range [1-3]: 3 is in', 5, 3, v2({ unhealthyInRange: '[1-3]' }), true, 0],
    ['range [1-3]: 4 is above', 5, 4, v2({ unhealthyInRange: '[1-3]' }), false, 0],
    ['range [0-0]', 5, 0, v2({ unhealthyInRange: '[0-0]' }), true, 0],
    ['range wins over a stricter limit', 5, 2, v2({ unhealthyLessThanOrEqualTo: 0, unhealthyInRange: '[1-3]' }), true, 1],
    ['range wins over a looser limit', 5, 4, v2({ unhealthyLessThanOrEqualTo: '100%', unhealthyInRange: '[1-3]' }), false, 0],
    ['an empty range is unset, as in CAPI', 5, 4, v2({ unhealthyLessThanOrEqualTo: 4, unhealthyInRange: '' }), true, 0],
    ['leading zeros parse as CAPI', 5, 1, v2({ unhealthyInRange: '[01-02]' }), true, 1],
    ['v1beta1: same arithmetic', 5, 3, v1({ unhealthyLessThanOrEqualTo: '40%' }), false, 0],
  ])('%s', (_name, expected, unhealthy, trigger, allowed, left) => {
    const r = remediationAllowed(expected, unhealthy, trigger);
    expect([r.allowed, r.remediationsAllowed, r.reason]).toEqual([
      allowed,
      left,
      allowed ? 'RemediationAllowed' : 'TooManyUnhealthy',
    ]);
  });

  it('messages carry the counts and the limit as CAPI writes them', () => {
    expect(remediationAllowed(5, 3, v2({ unhealthyLessThanOrEqualTo: '40%' })).message).toBe(
      'Remediation is not allowed, the number of not started or unhealthy machines exceeds maxUnhealthy (total: 5, unhealthy: 3, maxUnhealthy: 40%)',
    );
    expect(remediationAllowed(5, 4, v2({ unhealthyInRange: '[1-3]' })).message).toBe(
      'Remediation is not allowed, the number of not started or unhealthy machines does not fall within the range (total: 5, unhealthy: 4, unhealthyRange: [1-3])',
    );
    expect(remediationAllowed(5, 0, v2()).message).toContain('maxUnhealthy: 100%');
  });

  const LIMIT2 = 'spec.remediation.triggerIf.unhealthyLessThanOrEqualTo';
  const RANGE2 = 'spec.remediation.triggerIf.unhealthyInRange';
  // prettier-ignore
  it.each<[string, Trigger, string, string]>([
    ['string without %', v2({ unhealthyLessThanOrEqualTo: '40' }), LIMIT2, '"40"'],
    ['negative percent', v2({ unhealthyLessThanOrEqualTo: '-1%' }), LIMIT2, '"-1%"'],
    ['fractional percent', v2({ unhealthyLessThanOrEqualTo: '4.5%' }), LIMIT2, '"4.5%"'],
    ['padded percent', v2({ unhealthyLessThanOrEqualTo: ' 40%' }), LIMIT2, '" 40%"'],
    ['empty string', v2({ unhealthyLessThanOrEqualTo: '' }), LIMIT2, '""'],
    ['negative integer', v2({ unhealthyLessThanOrEqualTo: -1 }), LIMIT2, '-1'],
    ['fractional number', v2({ unhealthyLessThanOrEqualTo: 1.5 }), LIMIT2, '1.5'],
    ['v1beta1 names its own field', v1({ unhealthyLessThanOrEqualTo: 'x' }), 'spec.maxUnhealthy', '"x"'],
    ['range min > max', v2({ unhealthyInRange: '[3-1]' }), RANGE2, 'max 1 cannot be less than min 3'],
    ['range without brackets', v2({ unhealthyInRange: '1-3' }), RANGE2, '"1-3"'],
    ['range unclosed', v2({ unhealthyInRange: '[1-3' }), RANGE2, '"[1-3"'],
    ['range with letters', v2({ unhealthyInRange: '[a-b]' }), RANGE2, '"[a-b]"'],
    ['range with spaces', v2({ unhealthyInRange: '[1 - 3]' }), RANGE2, '"[1 - 3]"'],
    ['range beyond uint32', v2({ unhealthyInRange: '[1-4294967296]' }), RANGE2, '4294967295'],
    ['bad range wins even with a valid limit', v2({ unhealthyLessThanOrEqualTo: 5, unhealthyInRange: '[2]' }), RANGE2, '"[2]"'],
    ['v1beta1 range field', v1({ unhealthyInRange: '[3-1]' }), 'spec.unhealthyRange', '[3-1]'],
  ])('malformed %s: never allowed, field and value named', (_name, trigger, field, value) => {
    const r = remediationAllowed(5, 0, trigger);
    expect([r.allowed, r.remediationsAllowed, r.reason, r.field]).toEqual([false, 0, 'InvalidConfiguration', field]);
    expect(r.message).toContain(field);
    expect(r.message).toContain(value);
  });

  it.each([
    [3, 4],
    [-1, 0],
    [5, -1],
    [5.5, 1],
    [5, 0.5],
    [Number.NaN, 0],
  ])('invalid counts (expected %d, unhealthy %d) never allow remediation', (expected, unhealthy) => {
    const r = remediationAllowed(expected, unhealthy, v2());
    expect([r.allowed, r.remediationsAllowed, r.reason]).toEqual([false, 0, 'InvalidCounts']);
  });

  it('reads triggers from raw v1beta1 and v1beta2 objects alike', () => {
    const meta = { name: 'mhc', namespace: 'fleet' };
    const base = { clusterName: 'c1', selector: { matchLabels: { pool: 'a' } } };
    const v1beta1 = fromObject({
      apiVersion: 'cluster.x-k8s.io/v1beta1',
      kind: 'MachineHealthCheck',
      metadata: meta,
      spec: { ...base, maxUnhealthy: '40%', unhealthyRange: '[1-3]' },
    }) as MachineHealthCheck;
    const v1beta2 = fromObject({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'MachineHealthCheck',
      metadata: meta,
      spec: {
        ...base,
        remediation: { triggerIf: { unhealthyLessThanOrEqualTo: '40%', unhealthyInRange: '[1-3]' } },
      },
    }) as MachineHealthCheck;
    for (const u of [0, 1, 2, 3, 4]) {
      const a = remediationAllowed(5, u, v1beta1);
      const b = remediationAllowed(5, u, v1beta2);
      expect([a.allowed, a.remediationsAllowed, a.reason, a.message]).toEqual([
        b.allowed,
        b.remediationsAllowed,
        b.reason,
        b.message,
      ]);
      expect(a.allowed).toBe(u >= 1 && u <= 3); // the range, not 40%, decides
    }
  });
});

describe('parsers', () => {
  it.each<[number | string, number, number]>([
    [3, 100, 3],
    ['0%', 7, 0],
    ['100%', 7, 7],
    ['50%', 7, 3],
    ['29%', 100, 29],
    ['1%', 99, 0],
  ])('parseUnhealthyLimit(%j, expected %d) = %d', (value, expected, want) => {
    expect(parseUnhealthyLimit(value, expected)).toEqual({ ok: true, value: want });
  });

  it('parseUnhealthyRange', () => {
    expect(parseUnhealthyRange('[2-5]')).toEqual({ ok: true, value: { min: 2, max: 5 } });
    expect(parseUnhealthyRange('[5-5]')).toEqual({ ok: true, value: { min: 5, max: 5 } });
    expect(parseUnhealthyRange('[5-2]').ok).toBe(false);
  });
});

describe('properties', () => {
  const arbCounts = fc
    .integer({ min: 0, max: 1000 })
    .chain((e) => fc.tuple(fc.constant(e), fc.integer({ min: 0, max: e })));

  it('a percentage allows exactly up to floor(p × expected / 100), and never a negative budget', () => {
    fc.assert(
      fc.property(arbCounts, fc.integer({ min: 0, max: 200 }), ([e, u], p) => {
        const r = remediationAllowed(e, u, v2({ unhealthyLessThanOrEqualTo: `${p}%` }));
        const limit = Math.floor((p * e) / 100);
        expect(r.allowed).toBe(u <= limit);
        expect(r.remediationsAllowed).toBe(r.allowed ? limit - u : 0);
        expect(SHORT_CIRCUIT_REASON_CODES).toContain(r.reason);
      }),
    );
  });

  it('with a valid range, the limit does not matter', () => {
    const arbRange = fc
      .tuple(fc.nat(50), fc.nat(50))
      .map(([a, b]) => `[${Math.min(a, b)}-${Math.max(a, b)}]`);
    const arbLimit = fc.oneof(
      fc.nat(100),
      fc.nat(200).map((p) => `${p}%`),
    );
    fc.assert(
      fc.property(arbCounts, arbRange, arbLimit, ([e, u], range, limit) => {
        const withLimit = remediationAllowed(
          e,
          u,
          v2({ unhealthyInRange: range, unhealthyLessThanOrEqualTo: limit }),
        );
        expect(withLimit).toEqual(remediationAllowed(e, u, v2({ unhealthyInRange: range })));
      }),
    );
  });
});
