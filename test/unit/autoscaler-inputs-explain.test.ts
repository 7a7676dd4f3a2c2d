// What explain and the controller's triggers need from inputs.ts: why a pod is not planned (exactly the
// pods pendingPods leaves out) and which node events matter. Group counts are in autoscaler-inputs.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ago, NOW, pod, type PodOpts } from './fixtures/pods.ts';
import {
  existingNodes,
  nodeFitChanged,
  nodeUsable,
  pendingPods,
  whyNotPlanned,
} from '../../src/autoscaler/inputs.ts';

const DELAY = 30_000;

// ---- core/v1 objects (as autoscaler-inputs.test.ts) ----

const planned = (p: unknown, delay = DELAY) => pendingPods([p], NOW, delay).pending.length === 1;

describe('whyNotPlanned', () => {
  const cases: Array<[string, ReturnType<typeof pod>, string | undefined]> = [
    ['unschedulable and old enough', pod('p'), undefined],
    ['exactly as old as the delay', pod('p', { created: ago(DELAY) }), undefined],
    ['without a creationTimestamp', pod('p', { created: null }), undefined],
    ['with an unreadable creationTimestamp', pod('p', { created: 'yesterday' }), undefined],
    ['owned by a ReplicaSet', pod('p', { owner: 'ReplicaSet' }), undefined],
    ['bound and running', pod('p', { node: 'n1', phase: 'Running' }), 'bound to node n1: nothing to do'],
    ['bound, still Pending', pod('p', { node: 'n1' }), 'bound to node n1: nothing to do'],
    ['bound and being deleted', pod('p', { node: 'n1', deleting: true }), 'bound to node n1: nothing to do'],
    ['Succeeded', pod('p', { phase: 'Succeeded' }), 'phase Succeeded, not Pending'],
    ['Failed', pod('p', { phase: 'Failed' }), 'phase Failed, not Pending'],
    ['Running, unbound', pod('p', { phase: 'Running' }), 'phase Running, not Pending'],
    ['without a phase', pod('p', { phase: null }), 'phase unknown, not Pending'],
    ['being deleted', pod('p', { deleting: true }), 'being deleted'],
    ['being deleted, a DaemonSet’s', pod('p', { deleting: true, owner: 'DaemonSet' }), 'being deleted'],
    ['a DaemonSet’s', pod('p', { owner: 'DaemonSet' }), "a DaemonSet's pod: its controller places it"],
    [
      'a DaemonSet’s, nominated',
      pod('p', { owner: 'DaemonSet', nominated: 'n2' }),
      "a DaemonSet's pod: its controller places it",
    ],
    ['nominated', pod('p', { nominated: 'n2' }), 'nominated to node n2: preemption will place it'],
    [
      'nominated and too young',
      pod('p', { nominated: 'n2', created: ago(0) }),
      'nominated to node n2: preemption will place it',
    ],
    [
      'no PodScheduled condition',
      pod('p', { scheduled: null }),
      'the scheduler has not reported it Unschedulable (yet)',
    ],
    [
      'scheduling gated',
      pod('p', { scheduled: { status: 'False', reason: 'SchedulingGated' } }),
      'the scheduler has not reported it Unschedulable (yet)',
    ],
    [
      'PodScheduled=True but unbound',
      pod('p', { scheduled: { status: 'True' } }),
      'the scheduler has not reported it Unschedulable (yet)',
    ],
    [
      'too young',
      pod('p', { created: ago(DELAY - 1000) }),
      'younger than autoscaler.newPodScaleUpDelay (30 s)',
    ],
    ['just created', pod('p', { created: ago(0) }), 'younger than autoscaler.newPodScaleUpDelay (30 s)'],
  ];

  it.each(cases)('%s', (_, p, expected) => {
    expect(whyNotPlanned(p, NOW, DELAY)).toBe(expected);
    // Exactly the pods pendingPods plans have no reason.
    expect(planned(p)).toBe(expected === undefined);
  });

  it('the delay is printed in seconds as configured', () => {
    expect(whyNotPlanned(pod('p', { created: ago(1000) }), NOW, 1500)).toBe(
      'younger than autoscaler.newPodScaleUpDelay (1.5 s)',
    );
    expect(whyNotPlanned(pod('p', { created: ago(0) }), NOW, 0)).toBeUndefined();
  });

  it('odd objects are not planned and say why', () => {
    expect(whyNotPlanned(undefined, NOW, DELAY)).toBe('phase unknown, not Pending');
    expect(whyNotPlanned({ spec: { nodeName: 7 }, status: { phase: 'Pending' } }, NOW, DELAY)).toBe(
      'the scheduler has not reported it Unschedulable (yet)',
    );
  });

  it('property: undefined exactly when pendingPods plans the pod', () => {
    const arbOpts = fc.record(
      {
        node: fc.constantFrom('n1', ''),
        phase: fc.constantFrom('Pending', 'Pending', 'Running', 'Succeeded', 'Failed', null),
        scheduled: fc.constantFrom(
          { status: 'False', reason: 'Unschedulable' },
          { status: 'False', reason: 'SchedulingGated' },
          { status: 'True' },
          null,
        ),
        nominated: fc.constantFrom('n2', ''),
        created: fc.oneof(
          fc.integer({ min: 0, max: 2 * DELAY }).map(ago),
          fc.constant(null),
          fc.constant('not a time'),
        ),
        deleting: fc.boolean(),
        owner: fc.constantFrom('DaemonSet', 'ReplicaSet', 'Job', ''),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(arbOpts, fc.constantFrom(0, 1000, DELAY), (o, delay) => {
        const p = pod('p', o as PodOpts);
        const why = whyNotPlanned(p, NOW, delay);
        expect(why === undefined).toBe(planned(p, delay));
        if (why !== undefined) expect(why).not.toBe('');
      }),
      { numRuns: 1000 },
    );
  });
});

describe('nodeFitChanged: only node events that can change where pods fit', () => {
  const node = (
    o: {
      ready?: boolean;
      taints?: unknown[];
      labels?: Record<string, string>;
      cpu?: string;
      heartbeat?: string;
      unschedulable?: boolean;
      deleting?: boolean;
    } = {},
  ) => ({
    metadata: {
      name: 'n1',
      labels: o.labels ?? { a: '1' },
      ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: { taints: o.taints ?? [], ...(o.unschedulable ? { unschedulable: true } : {}) },
    status: {
      allocatable: { cpu: o.cpu ?? '4', memory: '8Gi' },
      conditions: [
        {
          type: 'Ready',
          status: o.ready === false ? 'False' : 'True',
          lastHeartbeatTime: o.heartbeat ?? 't0',
        },
      ],
      images: [],
    },
  });
  it.each([
    ['added', 'ADDED', node(), undefined, true],
    ['deleted', 'DELETED', node(), node(), true],
    ['a heartbeat only', 'MODIFIED', node({ heartbeat: 't1' }), node(), false],
    ['the same object again (resync)', 'MODIFIED', node(), node(), false],
    ['became NotReady', 'MODIFIED', node({ ready: false }), node(), true],
    ['became Ready', 'MODIFIED', node(), node({ ready: false }), true],
    ['cordoned', 'MODIFIED', node({ unschedulable: true }), node(), true],
    ['tainted', 'MODIFIED', node({ taints: [{ key: 'k', effect: 'NoSchedule' }] }), node(), true],
    ['relabelled', 'MODIFIED', node({ labels: { a: '2' } }), node(), true],
    ['allocatable changed', 'MODIFIED', node({ cpu: '8' }), node(), true],
    ['being deleted', 'MODIFIED', node({ deleting: true }), node(), true],
    ['a modification without the old object', 'MODIFIED', node(), undefined, true],
  ] as const)('%s → %s', (_what, type, now, old, expected) => {
    expect(nodeFitChanged(type, now, old)).toBe(expected);
  });
});

describe('nodeUsable: Ready and without a startup taint', () => {
  const n = (ready: string, taints: Array<{ key: string; effect: string }> = []) => ({
    metadata: { name: 'n' },
    spec: { taints },
    status: { conditions: [{ type: 'Ready', status: ready }] },
  });
  it.each([
    ['Ready, no taints', n('True'), true],
    ['Ready, an ordinary taint', n('True', [{ key: 'gpu', effect: 'NoSchedule' }]), true],
    ['NotReady', n('False'), false],
    [
      'Ready but still not-ready-tainted',
      n('True', [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }]),
      false,
    ],
    [
      'Ready but unreachable-tainted',
      n('True', [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]),
      false,
    ],
    [
      'uninitialized by the cloud node manager',
      n('True', [{ key: 'node.cloudprovider.kubernetes.io/uninitialized', effect: 'NoSchedule' }]),
      false,
    ],
    [
      'a cluster-autoscaler startup taint',
      n('True', [{ key: 'startup-taint.cluster-autoscaler.kubernetes.io/cni', effect: 'NoSchedule' }]),
      false,
    ],
  ] as const)('%s → %s', (_w, node, usable) => {
    expect(nodeUsable(node)).toBe(usable);
  });

  it('a group node that is Ready but not-ready-tainted is still coming: its pods wait, no second scale-up', () => {
    const tainted = {
      metadata: { name: 'n1', labels: {} },
      spec: { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] },
      status: {
        allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    };
    expect(existingNodes([tainted], []).nodes).toEqual([]);
  });
});
