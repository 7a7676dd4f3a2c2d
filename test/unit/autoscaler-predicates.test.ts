import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fits,
  hostPortConflicts,
  insufficientResources,
  matchesNodeSelector,
  matchesNodeSelectorTerms,
  NodeUsage,
  REASON_HOST_PORTS,
  REASON_NODE_AFFINITY,
  REASON_TOO_MANY_PODS,
  REASON_UNSCHEDULABLE,
  tolerates,
  toleratesTaint,
  untoleratedTaint,
  type NodeUsed,
} from '../../src/autoscaler/predicates.ts';
import type {
  HostPort,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  SimNode,
  SimPod,
  Taint,
  Toleration,
} from '../../src/autoscaler/types.ts';

function mkPod(o: Partial<SimPod> = {}): SimPod {
  return {
    namespace: 'ns',
    name: 'p',
    uid: 'u',
    requests: {},
    nodeSelector: {},
    tolerations: [],
    hostPorts: [],
    ...o,
  };
}

function mkNode(o: Partial<SimNode> = {}): SimNode {
  return {
    name: 'n1',
    labels: {},
    taints: [],
    allocatable: { cpu: 4000, memory: 8000, pods: 110_000 },
    ...o,
  };
}

const EMPTY: NodeUsed = { requests: {}, pods: 0, hostPorts: [] };

describe('toleratesTaint', () => {
  const gpu: Taint = { key: 'gpu', value: 'present', effect: 'NoSchedule' };
  it.each<[string, Toleration, Taint, boolean]>([
    [
      'Equal, same key/value/effect',
      { key: 'gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' },
      gpu,
      true,
    ],
    ['operator absent means Equal', { key: 'gpu', value: 'present' }, gpu, true],
    ['Equal, other value', { key: 'gpu', value: 'absent' }, gpu, false],
    ['Equal, no value vs a value', { key: 'gpu' }, gpu, false],
    ['Equal, no value vs no value', { key: 'a' }, { key: 'a', effect: 'NoSchedule' }, true],
    ['Equal, empty value vs no value', { key: 'a', value: '' }, { key: 'a', effect: 'NoExecute' }, true],
    ['Exists ignores the value', { key: 'gpu', operator: 'Exists' }, gpu, true],
    ['Exists, other key', { key: 'tpu', operator: 'Exists' }, gpu, false],
    ['Exists with empty key tolerates everything', { operator: 'Exists' }, gpu, true],
    ['Exists with empty key, any effect', { operator: 'Exists' }, { key: 'x', effect: 'NoExecute' }, true],
    ['Exists with empty key, effect restricted', { operator: 'Exists', effect: 'NoExecute' }, gpu, false],
    ['empty effect matches every effect', { key: 'gpu', operator: 'Exists', effect: '' }, gpu, true],
    ['other effect', { key: 'gpu', operator: 'Exists', effect: 'NoExecute' }, gpu, false],
    [
      'PreferNoSchedule toleration vs NoSchedule taint',
      { key: 'gpu', operator: 'Exists', effect: 'PreferNoSchedule' },
      gpu,
      false,
    ],
    ['Equal with empty key compares only the value', { value: 'present' }, gpu, true],
    ['unknown operator tolerates nothing', { key: 'gpu', operator: 'Lt' as 'Exists' }, gpu, false],
  ])('%s', (_name, toleration, taint, want) => {
    expect(toleratesTaint(toleration, taint)).toBe(want);
  });

  it('tolerates: any of several', () => {
    expect(
      tolerates(
        [
          { key: 'a', operator: 'Exists' },
          { key: 'gpu', operator: 'Exists' },
        ],
        gpu,
      ),
    ).toBe(true);
    expect(tolerates([], gpu)).toBe(false);
  });
});

describe('untoleratedTaint', () => {
  const t = (key: string, effect: Taint['effect'], value?: string): Taint => ({
    key,
    effect,
    ...(value ? { value } : {}),
  });
  it.each<[string, Taint[], Toleration[], Taint | undefined]>([
    ['no taints', [], [], undefined],
    ['PreferNoSchedule never blocks', [t('soft', 'PreferNoSchedule')], [], undefined],
    ['NoSchedule blocks', [t('gpu', 'NoSchedule', 'present')], [], t('gpu', 'NoSchedule', 'present')],
    ['NoExecute blocks', [t('dead', 'NoExecute')], [], t('dead', 'NoExecute')],
    ['tolerated', [t('gpu', 'NoSchedule')], [{ key: 'gpu', operator: 'Exists' }], undefined],
    [
      'first untolerated in node order',
      [t('soft', 'PreferNoSchedule'), t('a', 'NoSchedule'), t('b', 'NoExecute'), t('c', 'NoSchedule')],
      [{ key: 'a', operator: 'Exists' }],
      t('b', 'NoExecute'),
    ],
    [
      'NoSchedule-only toleration leaves NoExecute',
      [t('x', 'NoExecute')],
      [{ key: 'x', operator: 'Exists', effect: 'NoSchedule' }],
      t('x', 'NoExecute'),
    ],
  ])('%s', (_name, taints, tolerations, want) => {
    expect(untoleratedTaint(mkPod({ tolerations }), mkNode({ taints }))).toEqual(want);
  });
});

describe('matchesNodeSelector', () => {
  const labels = {
    zone: 'a',
    'node.kubernetes.io/instance-type': 'm5.large',
    gen: '5',
    cores: '16',
    weird: 'x5',
    empty: '',
  };
  const node = mkNode({ name: 'n1', labels });
  const expr = (key: string, operator: string, values?: string[]): NodeSelectorRequirement => ({
    key,
    operator: operator as NodeSelectorRequirement['operator'],
    ...(values ? { values } : {}),
  });
  const one = (...matchExpressions: NodeSelectorRequirement[]): NodeSelectorTerm[] => [{ matchExpressions }];

  it.each<[string, Partial<SimPod>, boolean]>([
    ['nothing required', {}, true],
    ['nodeSelector matches', { nodeSelector: { zone: 'a' } }, true],
    ['nodeSelector other value', { nodeSelector: { zone: 'b' } }, false],
    ['nodeSelector missing label', { nodeSelector: { rack: '1' } }, false],
    ['nodeSelector empty value needs the label', { nodeSelector: { empty: '' } }, true],
    ['nodeSelector empty value, label absent', { nodeSelector: { absent: '' } }, false],
    ['nodeSelector does not see prototype keys', { nodeSelector: { constructor: '' } }, false],
    ['In', { requiredAffinity: one(expr('zone', 'In', ['b', 'a'])) }, true],
    ['In, other values', { requiredAffinity: one(expr('zone', 'In', ['b'])) }, false],
    ['In, label absent', { requiredAffinity: one(expr('rack', 'In', ['1'])) }, false],
    ['In, no values is invalid', { requiredAffinity: one(expr('zone', 'In', [])) }, false],
    ['NotIn', { requiredAffinity: one(expr('zone', 'NotIn', ['b'])) }, true],
    ['NotIn, value listed', { requiredAffinity: one(expr('zone', 'NotIn', ['a'])) }, false],
    ['NotIn, label absent matches', { requiredAffinity: one(expr('rack', 'NotIn', ['1'])) }, true],
    ['NotIn, no values is invalid', { requiredAffinity: one(expr('rack', 'NotIn')) }, false],
    ['Exists', { requiredAffinity: one(expr('zone', 'Exists')) }, true],
    ['Exists, empty label value', { requiredAffinity: one(expr('empty', 'Exists')) }, true],
    ['Exists, absent', { requiredAffinity: one(expr('rack', 'Exists')) }, false],
    ['Exists with values is invalid', { requiredAffinity: one(expr('zone', 'Exists', ['a'])) }, false],
    ['DoesNotExist', { requiredAffinity: one(expr('rack', 'DoesNotExist')) }, true],
    ['DoesNotExist, present', { requiredAffinity: one(expr('zone', 'DoesNotExist')) }, false],
    [
      'DoesNotExist with values is invalid',
      { requiredAffinity: one(expr('rack', 'DoesNotExist', ['x'])) },
      false,
    ],
    ['Gt', { requiredAffinity: one(expr('gen', 'Gt', ['4'])) }, true],
    ['Gt, equal is not greater', { requiredAffinity: one(expr('gen', 'Gt', ['5'])) }, false],
    ['Gt compares as integers, not strings', { requiredAffinity: one(expr('cores', 'Gt', ['9'])) }, true],
    ['Gt, leading zeros parse', { requiredAffinity: one(expr('gen', 'Gt', ['004'])) }, true],
    ['Lt', { requiredAffinity: one(expr('gen', 'Lt', ['6'])) }, true],
    ['Lt, equal is not less', { requiredAffinity: one(expr('gen', 'Lt', ['5'])) }, false],
    [
      'Lt beyond 2^53 compares exactly',
      { requiredAffinity: one(expr('gen', 'Lt', ['9223372036854775807'])) },
      true,
    ],
    [
      'Lt, bound beyond int64 is invalid',
      { requiredAffinity: one(expr('gen', 'Lt', ['9223372036854775808'])) },
      false,
    ],
    ['Gt, non-integer bound is invalid', { requiredAffinity: one(expr('gen', 'Gt', ['4.5'])) }, false],
    ['Gt, word bound is invalid', { requiredAffinity: one(expr('gen', 'Gt', ['four'])) }, false],
    ['Lt, exponent form is not an integer', { requiredAffinity: one(expr('gen', 'Lt', ['1e3'])) }, false],
    [
      'Gt, negative bound is not a valid label value',
      { requiredAffinity: one(expr('gen', 'Gt', ['-1'])) },
      false,
    ],
    ['Gt, two values is invalid', { requiredAffinity: one(expr('gen', 'Gt', ['1', '2'])) }, false],
    ['Gt, no values is invalid', { requiredAffinity: one(expr('gen', 'Gt')) }, false],
    ['Gt, non-integer label does not match', { requiredAffinity: one(expr('weird', 'Gt', ['1'])) }, false],
    ['Lt, non-integer label does not match', { requiredAffinity: one(expr('weird', 'Lt', ['100'])) }, false],
    ['Gt, label absent', { requiredAffinity: one(expr('rack', 'Gt', ['1'])) }, false],
    ['unknown operator is invalid', { requiredAffinity: one(expr('zone', 'Near', ['a'])) }, false],
    ['invalid label key', { requiredAffinity: one(expr('bad key', 'DoesNotExist')) }, false],
    ['invalid key prefix', { requiredAffinity: one(expr('Example.com/a', 'DoesNotExist')) }, false],
    [
      'qualified key',
      { requiredAffinity: one(expr('node.kubernetes.io/instance-type', 'In', ['m5.large'])) },
      true,
    ],
    [
      'invalid value makes NotIn invalid too',
      { requiredAffinity: one(expr('zone', 'NotIn', ['not valid!'])) },
      false,
    ],
    [
      'expressions are ANDed',
      { requiredAffinity: one(expr('zone', 'In', ['a']), expr('gen', 'Gt', ['3'])) },
      true,
    ],
    [
      'expressions are ANDed, one fails',
      { requiredAffinity: one(expr('zone', 'In', ['a']), expr('gen', 'Gt', ['7'])) },
      false,
    ],
    [
      'an invalid requirement sinks its term even after a false one',
      { requiredAffinity: one(expr('zone', 'In', ['b']), expr('zone', 'Bogus')) },
      false,
    ],
    [
      'terms are ORed',
      { requiredAffinity: [...one(expr('zone', 'In', ['b'])), ...one(expr('gen', 'In', ['5']))] },
      true,
    ],
    [
      'an invalid term does not stop later ones',
      { requiredAffinity: [...one(expr('zone', 'In')), ...one(expr('zone', 'Exists'))] },
      true,
    ],
    ['no terms match nothing', { requiredAffinity: [] }, false],
    ['an empty term matches nothing', { requiredAffinity: [{}] }, false],
    [
      'a term with empty lists matches nothing',
      { requiredAffinity: [{ matchExpressions: [], matchFields: [] }] },
      false,
    ],
    ['empty term next to a matching one', { requiredAffinity: [{}, ...one(expr('zone', 'Exists'))] }, true],
    [
      'matchFields In name',
      { requiredAffinity: [{ matchFields: [expr('metadata.name', 'In', ['n1'])] }] },
      true,
    ],
    [
      'matchFields In other name',
      { requiredAffinity: [{ matchFields: [expr('metadata.name', 'In', ['n2'])] }] },
      false,
    ],
    [
      'matchFields NotIn',
      { requiredAffinity: [{ matchFields: [expr('metadata.name', 'NotIn', ['n2'])] }] },
      true,
    ],
    [
      'matchFields NotIn own name',
      { requiredAffinity: [{ matchFields: [expr('metadata.name', 'NotIn', ['n1'])] }] },
      false,
    ],
    [
      'matchFields two values is invalid',
      { requiredAffinity: [{ matchFields: [expr('metadata.name', 'In', ['n1', 'n2'])] }] },
      false,
    ],
    [
      'matchFields other field is invalid',
      { requiredAffinity: [{ matchFields: [expr('metadata.uid', 'NotIn', ['x'])] }] },
      false,
    ],
    [
      'matchFields Exists is invalid',
      { requiredAffinity: [{ matchFields: [expr('metadata.name', 'Exists')] }] },
      false,
    ],
    [
      'matchFields AND matchExpressions',
      {
        requiredAffinity: [
          {
            matchExpressions: [expr('zone', 'In', ['a'])],
            matchFields: [expr('metadata.name', 'In', ['n2'])],
          },
        ],
      },
      false,
    ],
    [
      'nodeSelector AND affinity',
      { nodeSelector: { zone: 'b' }, requiredAffinity: one(expr('zone', 'Exists')) },
      false,
    ],
    [
      'nodeSelector AND affinity, both match',
      { nodeSelector: { zone: 'a' }, requiredAffinity: one(expr('gen', 'Exists')) },
      true,
    ],
  ])('%s', (_name, o, want) => {
    expect(matchesNodeSelector(mkPod(o), node)).toBe(want);
  });

  it('matchFields is skipped for a node without a name, as the scheduler does', () => {
    const terms: NodeSelectorTerm[] = [{ matchFields: [expr('metadata.name', 'In', ['n1'])] }];
    expect(matchesNodeSelectorTerms(terms, mkNode({ name: '' }))).toBe(true);
    const invalid: NodeSelectorTerm[] = [{ matchFields: [expr('metadata.name', 'Exists')] }];
    expect(matchesNodeSelectorTerms(invalid, mkNode({ name: '' }))).toBe(false);
  });
});

describe('hostPortConflicts', () => {
  const p = (port: number, protocol: HostPort['protocol'] = 'TCP', hostIP?: string): HostPort => ({
    port,
    protocol,
    ...(hostIP !== undefined ? { hostIP } : {}),
  });
  it.each<[string, HostPort, HostPort[], boolean]>([
    ['nothing used', p(80), [], false],
    ['same port, protocol, all addresses', p(80), [p(80)], true],
    ['other port', p(80), [p(81)], false],
    ['other protocol', p(53, 'UDP'), [p(53, 'TCP')], false],
    ['SCTP vs SCTP', p(9, 'SCTP'), [p(9, 'SCTP')], true],
    ['same specific IP', p(80, 'TCP', '10.0.0.1'), [p(80, 'TCP', '10.0.0.1')], true],
    ['different specific IPs', p(80, 'TCP', '10.0.0.1'), [p(80, 'TCP', '10.0.0.2')], false],
    ['wanted 0.0.0.0 vs used specific', p(80, 'TCP', '0.0.0.0'), [p(80, 'TCP', '10.0.0.2')], true],
    ['wanted empty IP vs used specific', p(80, 'TCP', ''), [p(80, 'TCP', '10.0.0.2')], true],
    ['wanted specific vs used 0.0.0.0', p(80, 'TCP', '10.0.0.1'), [p(80, 'TCP', '0.0.0.0')], true],
    ['wanted specific vs used unset IP', p(80, 'TCP', '10.0.0.1'), [p(80)], true],
    ['wildcard still needs the same protocol', p(80, 'UDP', '0.0.0.0'), [p(80, 'TCP', '10.0.0.2')], false],
    ['port 0 never conflicts', p(0), [p(0)], false],
    ['empty protocol defaults to TCP', { port: 80, protocol: '' as 'TCP' }, [p(80)], true],
  ])('%s', (_name, wanted, used, want) => {
    expect(hostPortConflicts(wanted, used)).toBe(want);
  });
});

describe('fits', () => {
  const gpuTaint: Taint = { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' };
  it.each<[string, Partial<SimPod>, Partial<SimNode>, NodeUsed, string | null]>([
    ['empty pod on empty node', {}, {}, EMPTY, null],
    ['exactly the allocatable fits', { requests: { cpu: 4000, memory: 8000 } }, {}, EMPTY, null],
    ['cpu short by one milli', { requests: { cpu: 4001 } }, {}, EMPTY, 'Insufficient cpu'],
    [
      'used counts',
      { requests: { cpu: 1001 } },
      {},
      { ...EMPTY, requests: { cpu: 3000 } },
      'Insufficient cpu',
    ],
    ['memory', { requests: { memory: 9000 } }, {}, EMPTY, 'Insufficient memory'],
    [
      'a resource the node lacks is 0',
      { requests: { 'nvidia.com/gpu': 1000 } },
      {},
      EMPTY,
      'Insufficient nvidia.com/gpu',
    ],
    ['a zero request of a missing resource fits', { requests: { 'nvidia.com/gpu': 0 } }, {}, EMPTY, null],
    [
      'extended resource available',
      { requests: { 'nvidia.com/gpu': 1000 } },
      { allocatable: { 'nvidia.com/gpu': 2000, pods: 1000 } },
      EMPTY,
      null,
    ],
    ['cpu reported before memory', { requests: { memory: 9000, cpu: 9000 } }, {}, EMPTY, 'Insufficient cpu'],
    [
      'memory and ephemeral-storage before extended, extended by name',
      { requests: { 'z.io/b': 1, 'a.io/a': 1, 'ephemeral-storage': 1 } },
      {},
      EMPTY,
      'Insufficient ephemeral-storage',
    ],
    ['pod slots', {}, { allocatable: { pods: 2000 } }, { ...EMPTY, pods: 2 }, REASON_TOO_MANY_PODS],
    ['last pod slot', {}, { allocatable: { pods: 2000 } }, { ...EMPTY, pods: 1 }, null],
    ['no pods allocatable means no slot', {}, { allocatable: { cpu: 1000 } }, EMPTY, REASON_TOO_MANY_PODS],
    [
      'too many pods reported before cpu',
      { requests: { cpu: 1e9 } },
      { allocatable: { pods: 0 } },
      EMPTY,
      REASON_TOO_MANY_PODS,
    ],
    [
      'the pod\'s own "pods" request is ignored',
      { requests: { pods: 5000 } },
      { allocatable: { pods: 1000 } },
      EMPTY,
      null,
    ],
    ['cordoned', {}, { unschedulable: true }, EMPTY, REASON_UNSCHEDULABLE],
    [
      'cordoned but tolerating the unschedulable taint',
      {
        tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }],
      },
      { unschedulable: true },
      EMPTY,
      null,
    ],
    [
      'cordoned, tolerating everything',
      { tolerations: [{ operator: 'Exists' }] },
      { unschedulable: true },
      EMPTY,
      null,
    ],
    [
      'untolerated taint',
      {},
      { taints: [gpuTaint] },
      EMPTY,
      'node(s) had untolerated taint {nvidia.com/gpu: present}',
    ],
    [
      'untolerated taint without a value',
      {},
      { taints: [{ key: 'dedicated', effect: 'NoExecute' }] },
      EMPTY,
      'node(s) had untolerated taint {dedicated: }',
    ],
    [
      'tolerated taint',
      { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' }] },
      { taints: [gpuTaint] },
      EMPTY,
      null,
    ],
    ['PreferNoSchedule taint', {}, { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }, EMPTY, null],
    ['selector mismatch', { nodeSelector: { zone: 'a' } }, {}, EMPTY, REASON_NODE_AFFINITY],
    ['affinity with no terms', { requiredAffinity: [] }, {}, EMPTY, REASON_NODE_AFFINITY],
    [
      'host port taken',
      { hostPorts: [{ port: 80, protocol: 'TCP' }] },
      {},
      { ...EMPTY, hostPorts: [{ port: 80, protocol: 'TCP', hostIP: '10.0.0.1' }] },
      REASON_HOST_PORTS,
    ],
    [
      'host port free on another protocol',
      { hostPorts: [{ port: 80, protocol: 'UDP' }] },
      {},
      { ...EMPTY, hostPorts: [{ port: 80, protocol: 'TCP' }] },
      null,
    ],
    [
      'order: unschedulable before taint',
      {},
      { unschedulable: true, taints: [gpuTaint] },
      EMPTY,
      REASON_UNSCHEDULABLE,
    ],
    [
      'order: taint before affinity',
      { nodeSelector: { zone: 'a' } },
      { taints: [gpuTaint] },
      EMPTY,
      'node(s) had untolerated taint {nvidia.com/gpu: present}',
    ],
    [
      'order: affinity before ports',
      { nodeSelector: { zone: 'a' }, hostPorts: [{ port: 80, protocol: 'TCP' }] },
      {},
      { ...EMPTY, hostPorts: [{ port: 80, protocol: 'TCP' }] },
      REASON_NODE_AFFINITY,
    ],
    [
      'order: ports before resources',
      { requests: { cpu: 1e9 }, hostPorts: [{ port: 80, protocol: 'TCP' }] },
      {},
      { ...EMPTY, hostPorts: [{ port: 80, protocol: 'TCP' }] },
      REASON_HOST_PORTS,
    ],
  ])('%s', (_name, pod, node, used, reason) => {
    const got = fits(mkPod(pod), mkNode(node), used);
    expect(got).toEqual(reason === null ? { fits: true } : { fits: false, reason });
  });

  it('insufficientResources lists every shortfall in order', () => {
    const pod = mkPod({ requests: { 'b.io/x': 1, cpu: 5000, memory: 1, 'a.io/y': 1 } });
    expect(insufficientResources(pod, mkNode({ allocatable: { memory: 1 } }), EMPTY)).toEqual([
      'pods',
      'cpu',
      'a.io/y',
      'b.io/x',
    ]);
  });

  it('a fractional pods allocatable rounds up, as Quantity.Value does', () => {
    expect(fits(mkPod(), mkNode({ allocatable: { pods: 1500 } }), { ...EMPTY, pods: 1 })).toEqual({
      fits: true,
    });
  });
});

describe('NodeUsage', () => {
  const a = mkPod({
    name: 'a',
    requests: { cpu: 100, memory: 10 },
    hostPorts: [{ port: 80, protocol: 'TCP' }],
  });
  const b = mkPod({
    name: 'b',
    requests: { cpu: 200, 'x.io/y': 1 },
    hostPorts: [{ port: 80, protocol: 'TCP' }],
  });

  it('adds requests, pod count and host ports', () => {
    const u = NodeUsage.of([a, b]);
    expect(u.requests).toEqual({ cpu: 300, memory: 10, 'x.io/y': 1 });
    expect(u.pods).toBe(2);
    expect(u.hostPorts).toEqual([a.hostPorts[0], b.hostPorts[0]]);
  });

  it('remove undoes add, releasing one instance of a shared port', () => {
    const u = NodeUsage.of([a, b]).remove(a);
    expect(u.requests).toEqual({ cpu: 200, memory: 0, 'x.io/y': 1 });
    expect(u.pods).toBe(1);
    expect(u.hostPorts).toEqual([{ port: 80, protocol: 'TCP' }]);
    expect(hostPortConflicts({ port: 80, protocol: 'TCP' }, u.hostPorts)).toBe(true);
  });

  it('clone is independent', () => {
    const u = NodeUsage.of([a]);
    const c = u.clone().add(b);
    expect(u.pods).toBe(1);
    expect(u.requests).toEqual({ cpu: 100, memory: 10 });
    expect(c.pods).toBe(2);
  });

  it('is accepted by fits as the used totals', () => {
    const node = mkNode({ allocatable: { cpu: 250, pods: 10_000 } });
    const u = NodeUsage.of([a]);
    expect(fits(b, node, u)).toEqual({ fits: false, reason: REASON_HOST_PORTS });
    expect(fits(mkPod({ requests: { cpu: 150 } }), node, u)).toEqual({ fits: true });
    expect(fits(mkPod({ requests: { cpu: 151 } }), node, u)).toEqual({
      fits: false,
      reason: 'Insufficient cpu',
    });
  });
});

describe('properties', () => {
  const NAMES = ['cpu', 'memory', 'ephemeral-storage', 'nvidia.com/gpu'] as const;
  const amounts = fc.dictionary(fc.constantFrom(...NAMES), fc.integer({ min: 0, max: 5_000 }), {
    maxKeys: 4,
  });
  const taint = fc.record({
    key: fc.constantFrom('a', 'b', 'gpu'),
    value: fc.option(fc.constantFrom('x', 'y'), { nil: undefined }),
    effect: fc.constantFrom('NoSchedule', 'PreferNoSchedule', 'NoExecute'),
  }) as fc.Arbitrary<Taint>;
  const toleration = fc.record(
    {
      key: fc.constantFrom('', 'a', 'b', 'gpu'),
      operator: fc.constantFrom('Exists', 'Equal'),
      value: fc.constantFrom('x', 'y'),
      effect: fc.constantFrom('', 'NoSchedule', 'PreferNoSchedule', 'NoExecute'),
    },
    { requiredKeys: [] },
  ) as fc.Arbitrary<Toleration>;
  const hostPort = fc.record({
    port: fc.integer({ min: 0, max: 3 }),
    protocol: fc.constantFrom('TCP', 'UDP'),
    hostIP: fc.constantFrom('', '0.0.0.0', '10.0.0.1', '10.0.0.2'),
  }) as fc.Arbitrary<HostPort>;
  const pod = fc
    .record({
      requests: amounts,
      tolerations: fc.array(toleration, { maxLength: 2 }),
      hostPorts: fc.array(hostPort, { maxLength: 2 }),
      nodeSelector: fc.dictionary(fc.constantFrom('zone', 'tier'), fc.constantFrom('a', 'b'), { maxKeys: 1 }),
    })
    .map((o) => mkPod(o));
  const node = fc
    .record({
      allocatable: amounts,
      slots: fc.integer({ min: 0, max: 6 }),
      taints: fc.array(taint, { maxLength: 2 }),
      labels: fc.dictionary(fc.constantFrom('zone', 'tier'), fc.constantFrom('a', 'b'), { maxKeys: 2 }),
      unschedulable: fc.boolean(),
    })
    .map(({ slots, allocatable, ...o }) =>
      mkNode({ ...o, allocatable: { ...allocatable, pods: slots * 1000 } }),
    );
  const RUNS = { numRuns: 200 };

  it('a pod never fits a node whose free allocatable is below any of its requests', () => {
    fc.assert(
      fc.property(pod, node, amounts, (p, n, usedReq) => {
        const used = { requests: usedReq, pods: 0, hostPorts: [] };
        // A zero request is never short, even on an overcommitted node: the scheduler skips it.
        const short = Object.entries(p.requests).some(
          ([r, v]) => v > 0 && v > (n.allocatable[r] ?? 0) - (usedReq[r] ?? 0),
        );
        if (short) expect(fits(p, n, used).fits).toBe(false);
      }),
      RUNS,
    );
  });

  it('without other constraints, resources alone decide: fits iff nothing is short', () => {
    fc.assert(
      fc.property(
        amounts,
        amounts,
        amounts,
        fc.integer({ min: 0, max: 3 }),
        (req, alloc, usedReq, podsUsed) => {
          const n = mkNode({ allocatable: { ...alloc, pods: 2000 } });
          const short =
            podsUsed + 1 > 2 ||
            Object.entries(req).some(([r, v]) => v > 0 && v > (alloc[r] ?? 0) - (usedReq[r] ?? 0));
          const got = fits(mkPod({ requests: req }), n, { requests: usedReq, pods: podsUsed, hostPorts: [] });
          expect(got.fits).toBe(!short);
          if (!got.fits) expect(got.reason).toMatch(/^(Insufficient |Too many pods$)/);
        },
      ),
      RUNS,
    );
  });

  it('placing only pods that fit never overcommits a node', () => {
    fc.assert(
      fc.property(node, fc.array(pod, { maxLength: 12 }), (n, pods) => {
        const usage = new NodeUsage();
        const placed: SimPod[] = [];
        for (const p of pods) {
          if (!fits(p, n, usage).fits) continue;
          usage.add(p);
          placed.push(p);
        }
        for (const [r, v] of Object.entries(usage.requests)) {
          if (v > 0) expect(v).toBeLessThanOrEqual(n.allocatable[r] ?? 0);
        }
        expect(usage.pods * 1000).toBeLessThanOrEqual(n.allocatable.pods ?? 0);
        // No two placed pods hold conflicting host ports (within one pod, validation forbids duplicates).
        placed.forEach((x, i) =>
          placed
            .slice(i + 1)
            .forEach((y) => expect(x.hostPorts.some((hp) => hostPortConflicts(hp, y.hostPorts))).toBe(false)),
        );
      }),
      RUNS,
    );
  });

  it('fits is deterministic and does not mutate its inputs', () => {
    fc.assert(
      fc.property(pod, node, fc.array(pod, { maxLength: 4 }), (p, n, others) => {
        const used = NodeUsage.of(others);
        const before = JSON.stringify([p, n, used.requests, used.pods, used.hostPorts]);
        const first = fits(p, n, used);
        expect(fits(structuredClone(p), structuredClone(n), used.clone())).toEqual(first);
        expect(JSON.stringify([p, n, used.requests, used.pods, used.hostPorts])).toBe(before);
      }),
      RUNS,
    );
  });

  it('host port conflict is symmetric', () => {
    fc.assert(
      fc.property(hostPort, hostPort, (x, y) => {
        expect(hostPortConflicts(x, [y])).toBe(hostPortConflicts(y, [x]));
      }),
      RUNS,
    );
  });

  it('Exists with an empty key and effect tolerates every taint; an untolerated taint always blocks', () => {
    fc.assert(
      fc.property(pod, node, (p, n) => {
        for (const t of n.taints) expect(tolerates([{ operator: 'Exists' }], t)).toBe(true);
        const blocking = untoleratedTaint(p, n);
        if (
          blocking &&
          !(
            n.unschedulable &&
            !tolerates(p.tolerations, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' })
          )
        )
          expect(fits(p, n, EMPTY)).toEqual({
            fits: false,
            reason: expect.stringContaining('untolerated taint'),
          });
      }),
      RUNS,
    );
  });

  it('add then remove restores the usage', () => {
    fc.assert(
      fc.property(fc.array(pod, { maxLength: 5 }), pod, (others, p) => {
        const u = NodeUsage.of(others);
        const before = { requests: { ...u.requests }, pods: u.pods, hostPorts: [...u.hostPorts] };
        u.add(p).remove(p);
        for (const [k, v] of Object.entries(u.requests)) expect(v).toBe(before.requests[k] ?? 0);
        expect(u.pods).toBe(before.pods);
        expect([...u.hostPorts].sort(cmpPort)).toEqual([...before.hostPorts].sort(cmpPort));
      }),
      RUNS,
    );
  });
});

function cmpPort(x: HostPort, y: HostPort): number {
  return JSON.stringify(x) < JSON.stringify(y) ? -1 : JSON.stringify(x) > JSON.stringify(y) ? 1 : 0;
}
