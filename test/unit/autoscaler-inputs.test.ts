import { describe, expect, it } from 'vitest';
import { ago, MIN, NOW, pod } from './fixtures/pods.ts';
import {
  clusterTotals,
  daemonSetPods,
  existingNodes,
  failedProvisioning,
  groupCandidates,
  pendingPods,
  type GroupCandidatesInput,
} from '../../src/autoscaler/inputs.ts';
import { discoverNodeGroups } from '../../src/autoscaler/nodegroups.ts';
import type { GroupCandidate } from '../../src/autoscaler/scaleup.ts';
import { CAPACITY } from '../../src/autoscaler/template.ts';
import { DEFAULT_CONFIG } from '../../src/config/schema.ts';
import { controllerRef, metaJson, NS } from './fixtures/capi-common.ts';
import { bounds, scalable, type ScalableOptions } from './fixtures/node-groups.ts';

const MiB = 2 ** 20 * 1000; // milli-units
const GiB = 1024 * MiB;

// ---- core/v1 objects ----

interface NodeOpts {
  ready?: string | null;
  deleting?: boolean;
  unschedulable?: boolean;
  providerID?: string;
  labels?: Record<string, string>;
  cpu?: string;
}

function node(name: string, o: NodeOpts = {}) {
  const ready = o.ready === undefined ? 'True' : o.ready;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: o.labels ?? { 'kubernetes.io/hostname': name },
      ...(o.deleting ? { deletionTimestamp: ago(0) } : {}),
    },
    spec: {
      ...(o.providerID ? { providerID: o.providerID } : {}),
      ...(o.unschedulable ? { unschedulable: true } : {}),
    },
    status: {
      allocatable: { cpu: o.cpu ?? '4', memory: '16Gi', pods: '110' },
      ...(ready ? { conditions: [{ type: 'Ready', status: ready }] } : {}),
    },
  };
}

function daemonSet(name: string, spec: Record<string, unknown>, o: { deleting?: boolean } = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: {
      name,
      namespace: 'kube-system',
      uid: name,
      ...(o.deleting ? { deletionTimestamp: ago(0) } : {}),
    },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'c', resources: { requests: { cpu: '100m', memory: '128Mi' } } }],
          ...spec,
        },
      },
    },
  };
}

// ---- v1beta2 CAPI objects ----

const md = (name: string, o?: ScalableOptions) => scalable('MachineDeployment', name, o);
const ms = (name: string, o?: ScalableOptions) => scalable('MachineSet', name, o);

function machine(
  name: string,
  set: string,
  o: { providerID?: string; nodeRef?: string; created?: string; deleting?: boolean; ns?: string } = {},
) {
  const metadata = metaJson(name, {
    ownerReferences: [controllerRef('MachineSet', set)],
    ...(o.deleting ? { deletionTimestamp: ago(0), finalizers: ['machine.cluster.x-k8s.io'] } : {}),
  });
  metadata['creationTimestamp'] = o.created ?? ago(60 * MIN);
  if (o.ns) metadata['namespace'] = o.ns;
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

const cluster = (name: string) => ({
  apiVersion: 'cluster.x-k8s.io/v1beta2',
  kind: 'Cluster',
  metadata: metaJson(name),
  spec: {},
});

function groupsOf(machineDeployments: unknown[], machineSets: unknown[] = []) {
  const r = discoverNodeGroups({
    clusters: [cluster('prod'), cluster('dev')],
    machineDeployments,
    machineSets,
    discovery: [],
    defaults: DEFAULT_CONFIG.autoscaler,
  });
  return r.groups;
}

function candidates(i: Partial<GroupCandidatesInput> & Pick<GroupCandidatesInput, 'groups'>) {
  return groupCandidates({
    cluster: { namespace: NS, name: 'prod' },
    machineSets: [],
    machines: [],
    nodes: [],
    infraTemplates: new Map(),
    daemonSets: [],
    now: NOW,
    backoff: new Map(),
    ...i,
  });
}

function one(groups: GroupCandidate[], id: string): GroupCandidate {
  const g = groups.find((x) => x.id === id);
  if (!g) throw new Error(`no candidate ${id} in ${groups.map((x) => x.id).join(', ')}`);
  return g;
}

const mdKey = (name: string) => `MachineDeployment/${NS}/${name}`;
const capacity = { [CAPACITY.cpu]: '2', [CAPACITY.memory]: '8Gi' };

// ---- tests ----

describe('pendingPods', () => {
  const cases: Array<[string, ReturnType<typeof pod>, boolean]> = [
    ['unschedulable', pod('p'), true],
    ['bound to a node', pod('p', { node: 'n1' }), false],
    ['not yet tried by the scheduler', pod('p', { scheduled: null }), false],
    ['scheduling gated', pod('p', { scheduled: { status: 'False', reason: 'SchedulingGated' } }), false],
    ['scheduled=True', pod('p', { scheduled: { status: 'True' } }), false],
    ['nominated by preemption', pod('p', { nominated: 'n1' }), false],
    ['younger than the delay', pod('p', { created: ago(29_000) }), false],
    ['exactly as old as the delay', pod('p', { created: ago(30_000) }), true],
    ['being deleted', pod('p', { deleting: true }), false],
    ['a DaemonSet pod', pod('p', { owner: 'DaemonSet' }), false],
    ['a ReplicaSet pod', pod('p', { owner: 'ReplicaSet' }), true],
    ['not Pending', pod('p', { phase: 'Failed' }), false],
  ];
  it.each(cases)('%s', (_, p, expected) => {
    const r = pendingPods([p], NOW, 30_000);
    expect(r.problems).toEqual([]);
    expect(r.pending.map((x) => x.name)).toEqual(expected ? ['p'] : []);
  });

  it('converts requests and reports pods it cannot read', () => {
    const r = pendingPods([pod('good', { cpu: '250m' }), pod('bad', { cpu: 'lots' })], NOW, 0);
    expect(r.pending).toHaveLength(1);
    expect(r.pending[0]!.requests).toEqual({ cpu: 250, memory: GiB });
    expect(r.problems).toEqual([expect.stringContaining('pod default/bad')]);
  });
});

describe('existingNodes', () => {
  const nodes = [
    node('ready', { providerID: 'p://ready' }),
    node('cordoned', { unschedulable: true }),
    node('not-ready', { ready: 'False' }),
    node('unknown', { ready: 'Unknown' }),
    node('no-conditions', { ready: null }),
    node('deleting', { deleting: true }),
  ];
  const pods = [
    pod('a', { node: 'ready', phase: 'Running', cpu: '1', hostPort: 8080 }),
    pod('b', { node: 'ready', phase: 'Pending', cpu: '500m', memory: '512Mi' }),
    pod('terminating', { node: 'ready', phase: 'Running', cpu: '100m', memory: '0', deleting: true }),
    pod('done', { node: 'ready', phase: 'Succeeded', cpu: '3' }),
    pod('failed', { node: 'ready', phase: 'Failed', cpu: '3' }),
    pod('elsewhere', { node: 'not-ready', phase: 'Running', cpu: '3' }),
    pod('pending', {}),
  ];

  it('keeps Ready nodes not being deleted, cordoned ones included', () => {
    const r = existingNodes(nodes, pods);
    expect(r.problems).toEqual([]);
    expect(r.nodes.map((n) => n.node.name)).toEqual(['ready', 'cordoned']);
    expect(r.nodes[1]!.node.unschedulable).toBe(true);
  });

  it('sums requests, pod slots and host ports of pods still running there', () => {
    const ready = existingNodes(nodes, pods).nodes[0]!;
    expect(ready.used).toEqual({ cpu: 1600, memory: GiB + 512 * MiB, pods: 3000 });
    expect(ready.ports).toEqual([{ port: 8080, protocol: 'TCP' }]);
    const cordoned = existingNodes(nodes, pods).nodes[1]!;
    expect(cordoned.used).toEqual({ pods: 0 });
    expect(cordoned.ports).toEqual([]);
  });

  it('reports nodes and pods it cannot read', () => {
    const badNode = { ...node('bad'), status: { ...node('bad').status, allocatable: { cpu: 'x' } } };
    const r = existingNodes(
      [node('ok'), badNode],
      [pod('bad-pod', { node: 'ok', phase: 'Running', cpu: '?' })],
    );
    expect(r.nodes.map((n) => n.node.name)).toEqual(['ok']);
    expect(r.nodes[0]!.used).toEqual({ pods: 0 });
    expect(r.problems).toEqual([
      expect.stringContaining('node bad'),
      expect.stringMatching(/pod default\/bad-pod.*on node ok/),
    ]);
  });

  it('clusterTotals sums allocatable', () => {
    const r = existingNodes([node('a', { cpu: '4' }), node('b', { cpu: '2500m' })], []);
    expect(clusterTotals(r.nodes)).toEqual({ nodes: 2, cpu: 6500, memory: 32 * GiB });
    expect(clusterTotals([])).toEqual({ nodes: 0, cpu: 0, memory: 0 });
  });
});

describe('groupCandidates: machines, live nodes and upcoming', () => {
  // md-a: replicas 4; its current MachineSet md-a-new and an old one md-a-old.
  const groups = groupsOf(
    [md('md-a', { replicas: 4 })],
    [ms('md-a-old', { owner: 'md-a' }), ms('md-a-new', { owner: 'md-a' })],
  );
  const machineSets = [ms('md-a-old', { owner: 'md-a' }), ms('md-a-new', { owner: 'md-a' })];
  const machines = [
    machine('old-ready', 'md-a-old', { providerID: 'p://old', created: ago(120 * MIN) }),
    machine('new-ready', 'md-a-new', { nodeRef: 'n-new', created: ago(30 * MIN) }),
    machine('not-ready', 'md-a-new', { providerID: 'p://nr' }),
    machine('no-node', 'md-a-new'),
    machine('deleting', 'md-a-new', { providerID: 'p://del', deleting: true, created: ago(MIN) }),
    machine('foreign', 'other-set', { providerID: 'p://foreign' }),
  ];
  const nodes = [
    node('n-old', { providerID: 'p://old', cpu: '8' }),
    node('n-new', { labels: { size: 'new' } }),
    node('n-nr', { providerID: 'p://nr', ready: 'False' }),
    node('n-del', { providerID: 'p://del' }),
    node('n-foreign', { providerID: 'p://foreign' }),
  ];

  it('counts Ready nodes of live machines; the rest of the target, less deleting machines, is upcoming', () => {
    const r = candidates({ groups, machineSets, machines, nodes });
    const g = one(r.groups, mdKey('md-a'));
    // 4 replicas: 2 Ready, 1 deleting (it still counts in spec.replicas but no node comes from it): 1 upcoming.
    expect(g).toMatchObject({ minSize: 0, maxSize: 10, target: 4, upcoming: 1 });
    expect(r.machineNames.get(mdKey('md-a'))?.sort()).toEqual([
      'deleting',
      'new-ready',
      'no-node',
      'not-ready',
      'old-ready',
    ]);
    expect(r.notes).toContain(`${mdKey('md-a')}: 1 of 4 replica(s) without a Ready node yet`);
  });

  it('takes the template from the newest machine with a Ready, schedulable node (nodeRef match)', () => {
    const r = candidates({ groups, machineSets, machines, nodes });
    const g = one(r.groups, mdKey('md-a'));
    expect(g.template?.labels['size']).toBe('new');
    expect(g.templateError).toBeUndefined();
    expect(r.notes).toContain(`${mdKey('md-a')}: template from node n-new`);
  });

  it('falls back to an older machine (providerID match) when the newest node is cordoned', () => {
    const cordoned = nodes.map((n) =>
      n.metadata.name === 'n-new' ? node('n-new', { unschedulable: true }) : n,
    );
    const r = candidates({ groups, machineSets, machines, nodes: cordoned });
    const g = one(r.groups, mdKey('md-a'));
    expect(g.template?.allocatable['cpu']).toBe(8000);
    expect(g.upcoming).toBe(1); // a cordoned Ready node is not upcoming capacity either
  });

  it('upcoming is never negative', () => {
    const small = groupsOf([md('md-a', { replicas: 1 })]);
    const g = one(candidates({ groups: small, machineSets, machines, nodes }).groups, mdKey('md-a'));
    expect(g.upcoming).toBe(0);
  });

  it('a standalone MachineSet group owns the Machines it controls', () => {
    const solo = groupsOf([], [ms('solo', { replicas: 2 })]);
    const r = candidates({
      groups: solo,
      machines: [machine('s1', 'solo', { providerID: 'p://s1' }), machine('s2', 'solo')],
      nodes: [node('n-s1', { providerID: 'p://s1' })],
    });
    expect(one(r.groups, `MachineSet/${NS}/solo`)).toMatchObject({ target: 2, upcoming: 1 });
    expect(r.machineNames.get(`MachineSet/${NS}/solo`)).toEqual(['s1', 's2']);
  });

  it('skips groups of other clusters and reports unreadable Machines of its namespace', () => {
    const mixed = groupsOf([md('md-a', { replicas: 1 }), md('md-dev', { cluster: 'dev' })]);
    const broken = { ...machine('broken', 'md-a-new'), spec: {} };
    const r = candidates({
      groups: mixed,
      machines: [broken, { ...broken, metadata: { name: 'x', namespace: 'other' } }],
    });
    expect(r.groups.map((g) => g.id)).toEqual([mdKey('md-a')]);
    expect(r.notes.filter((n) => n.includes('ignored'))).toEqual([
      expect.stringMatching(new RegExp(`^Machine ${NS}/broken ignored`)),
    ]);
  });
});

describe('groupCandidates: templates at zero', () => {
  const infra = (cpu: string) => ({
    apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1',
    kind: 'DockerMachineTemplate',
    metadata: { name: 'md-infra-infra', namespace: NS },
    status: { capacity: { cpu, memory: '4Gi' } },
  });
  const groups = groupsOf([
    md('md-ann', { annotations: { ...bounds('0', '5'), ...capacity } }),
    md('md-infra'),
    md('md-none'),
  ]);
  const r = candidates({
    groups,
    infraTemplates: new Map([[`${NS}/DockerMachineTemplate/md-infra-infra`, infra('3')]]),
  });

  it('from capacity annotations', () => {
    const g = one(r.groups, mdKey('md-ann'));
    expect(g.template?.allocatable).toEqual({ cpu: 2000, memory: 8 * GiB, pods: 110_000 });
    expect(g.upcoming).toBe(0);
    expect(r.notes).toContain(`${mdKey('md-ann')}: template from capacity annotations`);
  });

  it('from the infrastructure template the caller fetched', () => {
    const g = one(r.groups, mdKey('md-infra'));
    expect(g.template?.allocatable).toEqual({ cpu: 3000, memory: 4 * GiB, pods: 110_000 });
    expect(r.notes).toContain(
      `${mdKey('md-infra')}: template from infrastructure template ${NS}/DockerMachineTemplate/md-infra-infra`,
    );
  });

  it('nothing to build from: templateError and a note naming the missing template', () => {
    const g = one(r.groups, mdKey('md-none'));
    expect(g.template).toBeUndefined();
    expect(g.templateError).toMatch(/cannot scale from zero/);
    expect(r.notes).toContain(
      `${mdKey('md-none')}: infrastructure template ${NS}/DockerMachineTemplate/md-none-infra not available`,
    );
  });
});

describe('groupCandidates: DaemonSet pods on the template', () => {
  const tainted = { ...bounds('0', '5'), ...capacity, [CAPACITY.taints]: 'dedicated=gpu:NoSchedule' };
  const groups = groupsOf([
    md('plain', { annotations: { ...bounds('0', '5'), ...capacity } }),
    md('tainted', { annotations: tainted }),
  ]);
  const dss = [
    daemonSet('everywhere', { tolerations: [{ operator: 'Exists' }] }),
    daemonSet('untolerant', {}),
    daemonSet('gpu-only', { nodeSelector: { gpu: 'true' }, tolerations: [{ operator: 'Exists' }] }),
    daemonSet('going-away', { tolerations: [{ operator: 'Exists' }] }, { deleting: true }),
  ];
  const r = candidates({ groups, daemonSets: dss });
  const alloc = (n: number) => ({
    cpu: 2000 - 100 * n,
    memory: 8 * GiB - 128 * MiB * n,
    pods: 110_000 - 1000 * n,
  });

  it('reduce allocatable only where they tolerate the taints and match the selector', () => {
    expect(one(r.groups, mdKey('plain')).template?.allocatable).toEqual(alloc(2));
    expect(one(r.groups, mdKey('tainted')).template?.allocatable).toEqual(alloc(1));
    expect(r.notes).toContain(`${mdKey('plain')}: room for 2 DaemonSet pod(s) reserved on the template`);
  });

  it('are built from spec.template and marked daemonSet', () => {
    const { pods, problems } = daemonSetPods(dss);
    expect(problems).toEqual([]);
    expect(pods.map((p) => [p.namespace, p.name, p.uid, p.daemonSet])).toEqual([
      ['kube-system', 'everywhere-template', 'ds-everywhere', true],
      ['kube-system', 'untolerant-template', 'ds-untolerant', true],
      ['kube-system', 'gpu-only-template', 'ds-gpu-only', true],
    ]);
  });

  it('an unreadable DaemonSet is reported and reserves nothing', () => {
    const bad = daemonSet('bad', { containers: [{ name: 'c', resources: { requests: { cpu: 'x' } } }] });
    const r2 = candidates({ groups, daemonSets: [bad] });
    expect(one(r2.groups, mdKey('plain')).template?.allocatable).toEqual(alloc(0));
    expect(r2.notes).toContainEqual(expect.stringMatching(/^DaemonSet kube-system\/bad: .*not reserved/));
  });
});

describe('groupCandidates: disabled groups and back-off', () => {
  const groups = groupsOf([
    md('off', { annotations: { ...bounds('0', '0'), ...capacity }, replicas: 1 }),
    md('bad', { annotations: { ...bounds('x', '3'), ...capacity } }),
    md('cooling', { annotations: { ...bounds('0', '5'), ...capacity } }),
    md('expired', { annotations: { ...bounds('0', '5'), ...capacity } }),
  ]);
  const future = NOW.getTime() + 5 * MIN;
  const past = NOW.getTime() - MIN;
  const r = candidates({
    groups,
    backoff: new Map([
      [mdKey('cooling'), future],
      [mdKey('expired'), past],
    ]),
  });

  it('pass the disabled reason through, with what bounds could be read', () => {
    expect(one(r.groups, mdKey('off'))).toMatchObject({
      disabled: 'max-size is 0',
      minSize: 0,
      maxSize: 0,
      target: 1,
    });
    const bad = one(r.groups, mdKey('bad'));
    expect(bad.disabled).toMatch(/min-size "x" is not an integer/);
    expect(bad).toMatchObject({ minSize: 0, maxSize: 3 });
    expect(bad.template).toBeDefined(); // still explained, and its upcoming room still counts
  });

  it('pass back-off deadlines through; only a running one is noted', () => {
    expect(one(r.groups, mdKey('cooling')).backoffUntil).toBe(future);
    expect(one(r.groups, mdKey('expired')).backoffUntil).toBe(past);
    expect(one(r.groups, mdKey('off')).backoffUntil).toBeUndefined();
    expect(r.notes).toContain(`${mdKey('cooling')}: in back-off until ${new Date(future).toISOString()}`);
    expect(r.notes.some((n) => n.startsWith(`${mdKey('expired')}: in back-off`))).toBe(false);
  });
});

describe('failedProvisioning', () => {
  const LIMIT = 15 * MIN;
  const machines = [
    machine('stuck', 'ms', { created: ago(16 * MIN) }),
    machine('stuck-with-id', 'ms', { created: ago(20 * MIN), providerID: 'p://x' }),
    machine('young', 'ms', { created: ago(14 * MIN) }),
    machine('on-time', 'ms', { created: ago(15 * MIN) }),
    machine('joined', 'ms', { created: ago(60 * MIN), nodeRef: 'n1' }),
    machine('leaving', 'ms', { created: ago(60 * MIN), deleting: true }),
    machine('other-group', 'ms2', { created: ago(60 * MIN) }),
    machine('stuck', 'ms', { created: ago(60 * MIN), ns: 'elsewhere' }),
  ];
  const names = ['stuck', 'stuck-with-id', 'young', 'on-time', 'joined', 'leaving'];

  it('lists Machines past maxNodeProvisionTime without a node, not being deleted', () => {
    expect(failedProvisioning(machines, names, NOW, LIMIT, NS)).toEqual(['stuck', 'stuck-with-id']);
  });

  it('without a namespace, a same-named Machine elsewhere matches too', () => {
    expect(failedProvisioning(machines, new Set(names), NOW, LIMIT)).toEqual([
      'stuck',
      'stuck',
      'stuck-with-id',
    ]);
  });

  it('nothing when the group has no such Machines', () => {
    expect(failedProvisioning(machines, [], NOW, LIMIT)).toEqual([]);
  });
});

describe('groupCandidates: counts', () => {
  const machineSets = [ms('md-a-old', { owner: 'md-a' }), ms('md-a-new', { owner: 'md-a' })];
  const groups = groupsOf(
    [md('md-a', { replicas: 5 }), md('md-empty', { replicas: 2 }), md('md-dev', { cluster: 'dev' })],
    [...machineSets, ms('solo', { replicas: 2 })],
  );
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
  const r = candidates({ groups, machineSets, machines, nodes });

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
