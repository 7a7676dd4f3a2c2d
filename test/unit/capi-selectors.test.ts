import { describe, expect, it } from 'vitest';
import { matchesSelector, selectorToString } from '../../src/capi/selectors.ts';
import type { LabelSelector } from '../../src/capi/types.ts';

const labels = { app: 'web', tier: 'frontend', empty: '' };

describe('matchesSelector (Kubernetes label selector semantics)', () => {
  it.each<[string, LabelSelector, boolean]>([
    ['empty selector matches everything', {}, true],
    ['empty lists match everything', { matchLabels: {}, matchExpressions: [] }, true],
    ['matchLabels equal', { matchLabels: { app: 'web' } }, true],
    ['matchLabels different value', { matchLabels: { app: 'db' } }, false],
    ['matchLabels missing key', { matchLabels: { zone: 'a' } }, false],
    ['matchLabels empty value matches an empty label', { matchLabels: { empty: '' } }, true],
    ['matchLabels empty value does not match a missing label', { matchLabels: { other: '' } }, false],
    ['all matchLabels are ANDed', { matchLabels: { app: 'web', tier: 'backend' } }, false],
    [
      'In hit',
      { matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend', 'frontend'] }] },
      true,
    ],
    ['In miss', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend'] }] }, false],
    ['In on a missing key', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, false],
    ['NotIn hit', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['frontend'] }] }, false],
    ['NotIn miss', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['backend'] }] }, true],
    [
      'NotIn on a missing key matches',
      { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] },
      true,
    ],
    ['Exists', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
    ['Exists with an empty value', { matchExpressions: [{ key: 'empty', operator: 'Exists' }] }, true],
    ['Exists on a missing key', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, false],
    [
      'DoesNotExist on a missing key',
      { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] },
      true,
    ],
    [
      'DoesNotExist on a present key',
      { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] },
      false,
    ],
    [
      'labels and expressions are ANDed',
      {
        matchLabels: { app: 'web' },
        matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend'] }],
      },
      false,
    ],
    [
      'keys from the prototype are not labels',
      { matchExpressions: [{ key: 'toString', operator: 'Exists' }] },
      false,
    ],
  ])('%s', (_name, selector, expected) => {
    expect(matchesSelector(labels, selector)).toBe(expected);
  });
});

describe('selectorToString (labels.Selector.String form)', () => {
  it.each<[string, LabelSelector, string]>([
    ['empty selector', {}, ''],
    ['one label', { matchLabels: { a: 'b' } }, 'a=b'],
    ['sorted by key', { matchLabels: { z: '1', a: '2' } }, 'a=2,z=1'],
    [
      'the documented example',
      {
        matchLabels: { a: 'b' },
        matchExpressions: [
          { key: 'd', operator: 'DoesNotExist' },
          { key: 'c', operator: 'In', values: ['y', 'x'] },
        ],
      },
      'a=b,c in (x,y),!d',
    ],
    ['NotIn', { matchExpressions: [{ key: 'k', operator: 'NotIn', values: ['b', 'a'] }] }, 'k notin (a,b)'],
    ['In with one value', { matchExpressions: [{ key: 'k', operator: 'In', values: ['v'] }] }, 'k in (v)'],
    ['Exists', { matchExpressions: [{ key: 'k', operator: 'Exists' }] }, 'k'],
    [
      'same key keeps matchLabels first',
      { matchLabels: { k: 'v' }, matchExpressions: [{ key: 'k', operator: 'Exists' }] },
      'k=v,k',
    ],
    [
      'CAPI cluster-name and template hash',
      { matchLabels: { 'cluster.x-k8s.io/cluster-name': 'prod', 'machine-template-hash': '123' } },
      'cluster.x-k8s.io/cluster-name=prod,machine-template-hash=123',
    ],
  ])('%s', (_name, selector, expected) => {
    expect(selectorToString(selector)).toBe(expected);
  });
});
