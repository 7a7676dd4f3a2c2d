// What explain needs from inputs.ts: why a pod is not planned (exactly the pods pendingPods leaves out),
// and each group's machine counts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupCandidates, nodeFitChanged, pendingPods, whyNotPlanned } from '../../src/autoscaler/inputs.ts';
import { discoverNodeGroups } from '../../src/autoscaler/nodegroups.ts';
import { ANNOTATIONS } from '../../src/capi/types.ts';
import { DEFAULT_CONFIG } from '../../src/config/schema.ts';
import { controllerRef, metaJson, NS } from './fixtures/capi-common.ts';

const NOW = new Date('2026-05-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const MIN = 60_000;
const DELAY = 30_000;

// ---- core/v1 objects (as autoscaler-inputs.test.ts) ----

interface PodOpts {
  node?: string;
  phase?: string | null;
  scheduled?: { status: string; reason?: string } | null;
  nominated?: string;
  created?: string | null;
  deleting?: boolean;
  owner?: string;
}

function pod(name: string, o: PodOpts = {}) {
  const scheduled = o.scheduled === undefined ? { status: 'False', reason: 'Unschedulable' } : o.scheduled;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      ...(o.created === null ? {} : { creationTimestamp: o.created ?? ago(10 * MIN) }),
      ...(o.deleting ? { deletionTimestamp: ago(0) } : {}),
      ...(o.owner
        ? {
            ownerReferences: [
              { apiVersion: 'apps/v1', kind: o.owner, name: 'x', uid: 'o', controller: true },
            ],
          }
        : {}),
    },
    spec: {
      ...(o.node ? { nodeName: o.node } : {}),
      containers: [{ name: 'c', resources: { requests: { cpu: '500m', memory: '1Gi' } } }],
    },
    status: {
      ...(o.phase === null ? {} : { phase: o.phase ?? 'Pending' }),
      ...(o.nominated ? { nominatedNodeName: o.nominated } : {}),
      ...(scheduled ? { conditions: [{ type: 'PodScheduled', ...scheduled }] } : {}),
    },
  };
}

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

// ---- groupCandidates counts (fixtures as autoscaler-inputs.test.ts) ----

const bounds = (min: string, max: string) => ({
  [ANNOTATIONS.nodeGroupMinSize]: min,
  [ANNOTATIONS.nodeGroupMaxSize]: max,
});

function scalable(
  kind: 'MachineDeployment' | 'MachineSet',
  name: string,
  o: { replicas?: number; cluster?: string; owner?: string } = {},
) {
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind,
    metadata: metaJson(name, {
      annotations: bounds('0', '10'),
      ...(o.owner ? { ownerReferences: [controllerRef('MachineDeployment', o.owner)] } : {}),
    }),
    spec: {
      clusterName: o.cluster ?? 'prod',
      replicas: o.replicas ?? 0,
      selector: { matchLabels: { pool: name } },
      template: {
        metadata: { labels: { pool: name } },
        spec: {
          clusterName: o.cluster ?? 'prod',
          bootstrap: { dataSecretName: 'boot' },
          infrastructureRef: {
            apiGroup: 'infrastructure.cluster.x-k8s.io',
            kind: 'DockerMachineTemplate',
            name: `${name}-infra`,
          },
        },
      },
    },
  };
}

function machine(
  name: string,
  set: string,
  o: { providerID?: string; nodeRef?: string; deleting?: boolean } = {},
) {
  const metadata = metaJson(name, {
    ownerReferences: [controllerRef('MachineSet', set)],
    ...(o.deleting ? { deletionTimestamp: ago(0), finalizers: ['machine.cluster.x-k8s.io'] } : {}),
  });
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Machine',
    metadata,
    spec: {
      clusterName: 'prod',
      bootstrap: { dataSecretName: 'boot' },
      infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerMachine', name },
      ...(o.providerID ? { providerID: o.providerID } : {}),
    },
    status: o.nodeRef ? { nodeRef: { name: o.nodeRef } } : {},
  };
}

function node(name: string, o: { ready?: string | null; providerID?: string; deleting?: boolean } = {}) {
  const ready = o.ready === undefined ? 'True' : o.ready;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: {}, ...(o.deleting ? { deletionTimestamp: ago(0) } : {}) },
    spec: o.providerID ? { providerID: o.providerID } : {},
    status: {
      allocatable: { cpu: '4', memory: '16Gi', pods: '110' },
      ...(ready ? { conditions: [{ type: 'Ready', status: ready }] } : {}),
    },
  };
}

describe('groupCandidates: counts', () => {
  const md = (name: string, o?: Parameters<typeof scalable>[2]) => scalable('MachineDeployment', name, o);
  const ms = (name: string, o?: Parameters<typeof scalable>[2]) => scalable('MachineSet', name, o);
  const machineSets = [ms('md-a-old', { owner: 'md-a' }), ms('md-a-new', { owner: 'md-a' })];
  const groups = discoverNodeGroups({
    clusters: [
      { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', metadata: metaJson('prod'), spec: {} },
      { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', metadata: metaJson('dev'), spec: {} },
    ],
    machineDeployments: [
      md('md-a', { replicas: 5 }),
      md('md-empty', { replicas: 2 }),
      md('md-dev', { cluster: 'dev' }),
    ],
    machineSets: [...machineSets, ms('solo', { replicas: 2 })],
    discovery: [],
    defaults: DEFAULT_CONFIG.autoscaler,
  }).groups;
  const machines = [
    machine('old-ready', 'md-a-old', { providerID: 'p://old' }), // Ready through providerID
    machine('new-ready', 'md-a-new', { nodeRef: 'n-new' }), // Ready through nodeRef
    machine('not-ready', 'md-a-new', { providerID: 'p://nr' }), // node not Ready
    machine('unknown', 'md-a-new', { providerID: 'p://unk' }), // node without conditions
    machine('no-node', 'md-a-new'),
    machine('deleting', 'md-a-new', { providerID: 'p://del', deleting: true }), // Ready node, machine leaving
    machine('s1', 'solo', { nodeRef: 'n-s1' }),
    machine('s2', 'solo', { nodeRef: 'n-s2-draining' }), // the node is deleting, but still Ready
    machine('foreign', 'other-set', { providerID: 'p://foreign' }),
  ];
  const nodes = [
    node('n-old', { providerID: 'p://old' }),
    node('n-new'),
    node('n-nr', { providerID: 'p://nr', ready: 'False' }),
    node('n-unk', { providerID: 'p://unk', ready: null }),
    node('n-del', { providerID: 'p://del' }),
    node('n-s1'),
    node('n-s2-draining', { deleting: true }),
    node('n-foreign', { providerID: 'p://foreign' }),
  ];
  const r = groupCandidates({
    cluster: { namespace: NS, name: 'prod' },
    groups,
    machineSets,
    machines,
    nodes,
    infraTemplates: new Map(),
    daemonSets: [],
    now: NOW,
    backoff: new Map(),
  });

  it('machines not being deleted, and those of them with a Ready node, per group of this cluster', () => {
    expect(Object.fromEntries(r.counts)).toEqual({
      [`MachineDeployment/${NS}/md-a`]: { current: 5, ready: 2 },
      [`MachineDeployment/${NS}/md-empty`]: { current: 0, ready: 0 },
      [`MachineSet/${NS}/solo`]: { current: 2, ready: 2 },
    });
  });

  it('counts cover the same groups as the candidates and machine names', () => {
    expect([...r.counts.keys()]).toEqual(r.groups.map((g) => g.id));
    expect([...r.counts.keys()]).toEqual([...r.machineNames.keys()]);
    // the deleting machine is named (failedProvisioning looks at it) but not counted
    expect(r.machineNames.get(`MachineDeployment/${NS}/md-a`)).toHaveLength(6);
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
