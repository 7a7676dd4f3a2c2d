// The scale-down decision: utilization, candidates, unneeded time, min size, limits, the removal simulation
// and a reason for every node kept (what `explain --node` and the events print).
import { describe, expect, it } from 'vitest';
import { classifyPod, SCALE_DOWN_POLICY, type PodLike } from '../../src/drain/filters.ts';
import { formatDuration, planScaleDown, type ScaleDownPlan } from '../../src/autoscaler/scaledown.ts';
import {
  blocking,
  daemon,
  entry,
  evict,
  finished,
  group,
  GROUP,
  input,
  longTerminating,
  MIN,
  mirror,
  NOW,
  OTHER,
  simNode,
  simPod,
} from './fixtures/scale-down.ts';

const keptOf = (p: ScaleDownPlan, node: string) => p.kept.find((k) => k.node === node);
const removed = (p: ScaleDownPlan) => p.remove.map((r) => r.node);
/** A node outside any group with `freeCpu` cores left: a destination only. */
const busy = (name: string, freeCpu: number) =>
  entry(simNode(name), [evict(4 - freeCpu, 1)], { group: undefined });

describe('candidates: every node kept has a reason', () => {
  const reasons = (nodes: ReturnType<typeof entry>[], o = {}) =>
    Object.fromEntries(planScaleDown(input(nodes, o)).kept.map((k) => [k.node, [k.code, k.reason]]));

  it.each([
    ['not in a group', { group: undefined }, 'not_autoscaled', 'not in an autoscaled node group'],
    ['unknown group', { group: 'MachineDeployment/x/y' }, 'not_autoscaled', /node group .* not autoscaled/],
    ['annotated', { scaleDownDisabled: true }, 'scale_down_disabled', /scale-down-disabled=true/],
    ['owned', { owner: 'remediation' }, 'owned', 'owned by remediation'],
  ])('%s', (_, o, code, reason) => {
    const [c, r] = reasons([entry(simNode('a'), [], o)])['a']!;
    expect(c).toBe(code);
    expect(r).toMatch(reason);
  });

  it('a disabled group keeps its nodes with the group’s problem', () => {
    const groups = new Map([[GROUP, group({ disabled: 'min-size annotation "x" is not an integer' })]]);
    expect(reasons([entry(simNode('a'))], { groups })['a']).toEqual([
      'group_disabled',
      `node group ${GROUP} is disabled: min-size annotation "x" is not an integer`,
    ]);
  });

  it('a busy node names the resource that decided and the threshold', () => {
    expect(reasons([entry(simNode('a'), [evict(2.88, 1)])])['a']).toEqual([
      'utilization',
      'cpu utilization 0.72 ≥ threshold 0.5',
    ]);
    const groups = new Map([
      [GROUP, group({ options: { ...group().options, scaleDownUtilizationThreshold: 0.8 } })],
    ]);
    // Under a 0.8 threshold it is a candidate; alone, its pods have nowhere to go.
    expect(reasons([entry(simNode('a'), [evict(2.88, 1)])], { groups })['a']).toEqual([
      'no_place_for_pods',
      expect.stringMatching(/cannot move: no other node to move it to$/),
    ]);
  });

  it('a safe-to-evict "false" pod keeps its node, naming the pod and the drain rule', () => {
    const raw: PodLike = {
      metadata: {
        name: 'db-0',
        namespace: 'demo-apps',
        uid: 'u',
        annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' },
        ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }],
      },
      status: { phase: 'Running' },
    };
    const c = classifyPod(raw, {
      now: NOW,
      daemonSetExists: () => true,
      pdbsInNamespace: [],
      policy: SCALE_DOWN_POLICY,
    });
    const pod = { pod: simPod(0.1, 0.1, { name: 'db-0' }), ...c, daemonSet: false, mirror: false };
    const p = planScaleDown(
      input([entry(simNode('a'), [pod, blocking(0.1, 'bare pod', 'x')]), busy('b', 3)]),
    );
    expect(keptOf(p, 'a')).toMatchObject({
      code: 'blocked_by_pod',
      reason:
        'pod demo-apps/db-0 cannot be moved: cluster-autoscaler.kubernetes.io/safe-to-evict=false (and 1 more pod(s))',
    });
    expect(p.unneededSince.has('a')).toBe(false);
  });

  it('DaemonSet, mirror and terminal pods neither count nor need a place: the node is empty', () => {
    const p = planScaleDown(
      input([entry(simNode('a'), [daemon(1), mirror(1), finished(3), longTerminating(1)])]),
    );
    expect(p.remove).toEqual([{ node: 'a', group: GROUP, empty: true, utilization: 0, destinations: [] }]);
  });
});

describe('unneeded time', () => {
  it('starts when a node becomes a candidate and drops when it stops being one', () => {
    const nodes = [entry(simNode('new')), entry(simNode('old')), entry(simNode('busy'), [evict(3, 1)])];
    const since = new Map([
      ['old', NOW - 3 * MIN],
      ['busy', NOW - 30 * MIN],
      ['gone', NOW - 30 * MIN],
    ]);
    const p = planScaleDown(input(nodes, { unneededSince: since }));
    expect([...p.unneededSince]).toEqual([
      ['new', NOW],
      ['old', NOW - 3 * MIN],
    ]);
    expect(keptOf(p, 'old')).toMatchObject({
      code: 'unneeded_not_long_enough',
      reason: 'unneeded for 3m of 10m (no pods to move)',
    });
    expect(keptOf(p, 'new')!.reason).toBe('unneeded for 0s of 10m (no pods to move)');
    expect(p.remove).toEqual([]);
  });

  it('is removable exactly when the unneeded time has passed, per group options', () => {
    const groups = new Map([
      [GROUP, group({ options: { ...group().options, scaleDownUnneededTime: 5 * MIN } })],
    ]);
    const nodes = [entry(simNode('a'), [evict(0.5)]), busy('b', 3)];
    const at = (ms: number) =>
      planScaleDown(input(nodes, { groups, unneededSince: new Map([['a', NOW - ms]]) }));
    expect(keptOf(at(5 * MIN - 1), 'a')).toMatchObject({
      code: 'unneeded_not_long_enough',
      reason: 'unneeded for 4m59s of 5m (cpu utilization 0.13 < threshold 0.5)',
    });
    expect(removed(at(5 * MIN))).toEqual(['a']);
  });

  it('an unready node is a candidate whatever its utilization, removed after the unready time', () => {
    const pods = [evict(3.5, 1)];
    const down = (o: object) => entry(simNode('down'), pods, { ready: false, ...o });
    const nodes = (o: object) => [down(o), busy('b', 3.9)];
    const early = planScaleDown(input(nodes({}), { unneededSince: new Map([['down', NOW - 15 * MIN]]) }));
    expect(keptOf(early, 'down')).toMatchObject({
      code: 'not_ready_not_long_enough',
      reason: 'unneeded (not Ready) for 15m of 20m',
    });
    const late = planScaleDown(input(nodes({}), { unneededSince: new Map([['down', NOW - 20 * MIN]]) }));
    expect(late.remove).toMatchObject([{ node: 'down', empty: false, destinations: [{ to: 'b' }] }]);
    // Not Ready for longer than it has been tracked (a restart lost the map): the condition's time counts.
    const restarted = planScaleDown(
      input(nodes({ readyChangedAt: NOW - 25 * MIN }), { unneededSince: new Map() }),
    );
    expect(removed(restarted)).toEqual(['down']);
    expect(restarted.unneededSince.get('down')).toBe(NOW - 25 * MIN);
  });

  it('cooldown removes nothing but keeps tracking', () => {
    const nodes = [entry(simNode('a')), entry(simNode('b'))];
    const p = planScaleDown(
      input(nodes, {
        cooldown: 'scale-down-delay-after-add: 10m after a scale-up',
        unneededSince: new Map([['a', NOW - 60 * MIN]]),
      }),
    );
    expect(p.remove).toEqual([]);
    expect(keptOf(p, 'a')).toMatchObject({ code: 'cooldown', reason: /paused: scale-down-delay-after-add/ });
    expect(keptOf(p, 'b')!.code).toBe('unneeded_not_long_enough');
    expect([...p.unneededSince]).toEqual([
      ['a', NOW - 60 * MIN],
      ['b', NOW],
    ]);
  });
});

describe('min size', () => {
  it('a group at min keeps its nodes', () => {
    const groups = new Map([[GROUP, group({ minSize: 2, target: 2 })]]);
    const p = planScaleDown(input([entry(simNode('a')), entry(simNode('b'))], { groups }));
    expect(p.remove).toEqual([]);
    expect(keptOf(p, 'a')).toMatchObject({
      code: 'min_size',
      reason: `node group ${GROUP} is at its min size 2 (target 2, 0 removal(s) in flight, 0 chosen in this loop)`,
    });
  });

  it('counts removals in flight and those chosen in this loop', () => {
    const groups = new Map([[GROUP, group({ minSize: 1, target: 4, pendingRemovals: 1 })]]);
    const p = planScaleDown(
      input(
        ['a', 'b', 'c'].map((n) => entry(simNode(n))),
        { groups },
      ),
    );
    expect(removed(p)).toEqual(['a', 'b']);
    expect(keptOf(p, 'c')!.reason).toMatch(/1 removal\(s\) in flight, 2 chosen in this loop/);
  });

  it('min 0 lets the last node go (scale to zero)', () => {
    const groups = new Map([[GROUP, group({ minSize: 0, target: 1 })]]);
    const p = planScaleDown(input([entry(simNode('last'), [daemon(0.2)])], { groups }));
    expect(p.remove).toMatchObject([{ node: 'last', empty: true }]);
  });
});

describe('the removal simulation', () => {
  it('moves every evictable pod to a node that stays, fullest first', () => {
    const a = entry(simNode('a'), [evict(1, 1, { name: 'x' }), evict(0.5, 1, { name: 'y' })]);
    const p = planScaleDown(input([a, busy('roomy', 3.5), busy('tight', 1.2)]));
    expect(p.remove).toEqual([
      {
        node: 'a',
        group: GROUP,
        empty: false,
        utilization: 0.375,
        destinations: [
          { pod: 'demo-apps/x', to: 'tight' },
          { pod: 'demo-apps/y', to: 'roomy' },
        ],
      },
    ]);
  });

  it('two half-empty nodes that could each take the other’s pods do not both go', () => {
    const a = entry(simNode('a'), [evict(1.5, 1)]);
    const b = entry(simNode('b'), [evict(1.5, 1)]);
    const p = planScaleDown(
      input([b, a], { limits: { maxEmptyBulkDelete: 10, maxTotal: 10, maxNonEmptyPerGroup: 5 } }),
    );
    expect(p.remove).toMatchObject([{ node: 'a', destinations: [{ to: 'b' }] }]);
    expect(keptOf(p, 'b')).toMatchObject({
      code: 'received_pods',
      reason: 'takes pods of a, being removed',
    });
  });

  it('a node whose only room is on a node removed in this loop stays', () => {
    // c is fuller than a, so a goes first, to the one busy node with room; c finds none left.
    const a = entry(simNode('a'), [evict(1, 1)]);
    const c = entry(simNode('c'), [evict(1.2, 1)]);
    const p = planScaleDown(
      input([a, c, busy('full', 1.5)], {
        limits: { maxEmptyBulkDelete: 10, maxTotal: 10, maxNonEmptyPerGroup: 5 },
      }),
    );
    expect(p.remove).toMatchObject([{ node: 'a', destinations: [{ to: 'full' }] }]);
    expect(keptOf(p, 'c')).toMatchObject({
      code: 'no_place_for_pods',
      reason:
        /cannot move: 0\/2 nodes are available: 1 Insufficient cpu, 1 node\(s\) being removed in this loop$/,
    });
  });

  it('says which pod found no place and why each node refused it', () => {
    const a = entry(simNode('a'), [
      evict(0.5, 0.5),
      evict(1, 0.5, { name: 'big', nodeSelector: { disk: 'ssd' } }),
    ]);
    const nodes = [
      a,
      busy('b', 3),
      entry(
        simNode('tainted', 4, 8, { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
        [],
        {
          group: undefined,
        },
      ),
      entry(simNode('down'), [], { ready: false, group: undefined }),
      entry(simNode('cordoned', 4, 8, { cordoned: true }), [evict(3, 1)], { group: undefined }),
      entry(simNode('fixing'), [], { owner: 'remediation', group: undefined }),
    ];
    const p = planScaleDown(input(nodes));
    expect(keptOf(p, 'a')!.reason).toBe(
      "pod demo-apps/big cannot move: 0/5 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, " +
        '1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) not Ready, ' +
        '1 node(s) owned by another operation, 1 node(s) were unschedulable',
    );
  });

  it('a failed simulation leaves nothing behind for the next node', () => {
    const a = entry(simNode('a'), [evict(1, 0.5), evict(0.5, 0.5, { nodeSelector: { disk: 'ssd' } })]);
    const b = entry(simNode('b'), [evict(1.9, 0.5)]);
    const p = planScaleDown(
      input([a, b, busy('dest', 2)], {
        limits: { maxEmptyBulkDelete: 10, maxTotal: 10, maxNonEmptyPerGroup: 5 },
      }),
    );
    expect(keptOf(p, 'a')!.code).toBe('no_place_for_pods');
    expect(p.remove).toMatchObject([{ node: 'b', destinations: [{ to: 'dest' }] }]);
  });

  it('a pod pinned to one node by name is placed there, not on a look-alike', () => {
    const hostname = { nodeSelector: { 'kubernetes.io/hostname': 'c' } };
    const fieldRef = {
      requiredAffinity: [{ matchFields: [{ key: 'metadata.name', operator: 'In' as const, values: ['c'] }] }],
    };
    for (const o of [hostname, fieldRef]) {
      const p = planScaleDown(input([entry(simNode('a'), [evict(0.5, 0.5, o)]), busy('b', 3), busy('c', 3)]));
      expect(p.remove).toMatchObject([{ node: 'a', destinations: [{ to: 'c' }] }]);
    }
  });

  it('host ports and the pod slot count, as the scheduler counts them', () => {
    const port = { port: 8080, protocol: 'TCP' as const };
    const a = entry(simNode('a'), [evict(0.1, 0.1, { hostPorts: [port] })]);
    const taken = entry(simNode('taken'), [evict(0.1, 0.1, { hostPorts: [port] })], { group: undefined });
    const full = entry(simNode('full', 4, 8, { pods: 1 }), [evict(0.1, 0.1)], { group: undefined });
    const p = planScaleDown(input([a, taken, full]));
    expect(keptOf(p, 'a')!.reason).toMatch(/1 Too many pods, 1 node\(s\) didn't have free ports/);
  });
});

describe('order and limits', () => {
  const many = { maxEmptyBulkDelete: 10, maxTotal: 10, maxNonEmptyPerGroup: 10 };

  it('empty nodes first, then by ascending utilization, ties by name', () => {
    const nodes = [
      entry(simNode('n2'), [evict(1, 0.5)]),
      entry(simNode('n1'), [evict(1, 0.5)]),
      entry(simNode('low'), [evict(0.5, 0.5)]),
      entry(simNode('zz-empty')),
      busy('sink', 4),
    ];
    const p = planScaleDown(input(nodes, { limits: many }));
    expect(removed(p)).toEqual(['zz-empty', 'low', 'n1', 'n2']);
  });

  it('empty nodes in bulk up to maxEmptyBulkDelete', () => {
    const nodes = ['a', 'b', 'c'].map((n) => entry(simNode(n)));
    const p = planScaleDown(input(nodes, { limits: { maxEmptyBulkDelete: 2, maxTotal: 10 } }));
    expect(removed(p)).toEqual(['a', 'b']);
    expect(keptOf(p, 'c')).toMatchObject({
      code: 'limit',
      reason: 'max 2 empty node removals per loop reached',
    });
  });

  it('one non-empty node per group per loop by default; other groups go on', () => {
    const nodes = [
      entry(simNode('a1'), [evict(0.5)]),
      entry(simNode('a2'), [evict(0.6)]),
      entry(simNode('b1'), [evict(0.7)], { group: OTHER }),
      busy('sink', 4),
    ];
    const p = planScaleDown(input(nodes));
    expect(removed(p)).toEqual(['a1', 'b1']);
    expect(keptOf(p, 'a2')).toMatchObject({
      code: 'limit',
      reason: `max 1 non-empty node removal(s) per node group at a time reached (a1 in ${GROUP})`,
    });
  });

  it('maxTotal caps all removals, less the deletes already in flight', () => {
    const groups = new Map([
      [GROUP, group({ pendingRemovals: 2 })],
      [OTHER, group()],
    ]);
    const nodes = ['a', 'b', 'c', 'd'].map((n) => entry(simNode(n)));
    const p = planScaleDown(input(nodes, { groups, limits: { maxEmptyBulkDelete: 10, maxTotal: 4 } }));
    expect(removed(p)).toEqual(['a', 'b']);
    expect(keptOf(p, 'c')!.reason).toBe(
      'max 4 node removals in parallel reached (2 in flight, 2 chosen in this loop)',
    );
  });

  it('is deterministic and independent of input order', () => {
    const nodes = [
      entry(simNode('a'), [evict(1)]),
      entry(simNode('b'), [evict(1)]),
      entry(simNode('c')),
      busy('d', 2),
    ];
    const p1 = planScaleDown(input(nodes, { limits: many }));
    const p2 = planScaleDown(input([...nodes].reverse(), { limits: many }));
    expect(p2).toEqual(p1);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [45_000, '45s'],
    [3 * MIN, '3m'],
    [150_000, '2m30s'],
    [60 * MIN, '1h'],
    [65 * MIN, '1h5m'],
    [3_661_000, '1h1m1s'],
    [-5, '0s'],
  ])('%d ms → %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});
