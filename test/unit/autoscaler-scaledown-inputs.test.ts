// scaleDownInputs: raw v1beta2 Cluster/MachineDeployment/MachineSet/Machine and core/v1 Node/Pod objects,
// as the informers hold them, turned into planScaleDown's input. Node groups come from discoverNodeGroups
// on the same raw objects, as the scale-down controller gets them.
import { describe, expect, it } from 'vitest';
import {
  discoverNodeGroups,
  OPTION_ANNOTATION_PREFIX,
  type NodeGroup,
} from '../../src/autoscaler/nodegroups.ts';
import { scaleDownInputs, type ScaleDownInputs } from '../../src/autoscaler/scaledown-inputs.ts';
import {
  planScaleDown,
  SCALE_DOWN_DISABLED_ANNOTATION,
  type ScaleDownNode,
} from '../../src/autoscaler/scaledown.ts';
import { ANNOTATIONS, MACHINE_FINALIZER } from '../../src/capi/types.ts';
import { DEFAULT_CONFIG } from '../../src/config/schema.ts';
import {
  DAEMONSET_POD_ANNOTATION,
  MIRROR_ANNOTATION,
  SAFE_TO_EVICT_ANNOTATION,
  type DrainPolicy,
  type PdbLike,
} from '../../src/drain/filters.ts';
import { scaleDownPolicy } from '../../src/drain/options.ts';
import {
  formatLedger,
  formatMark,
  LEDGER_ANNOTATION,
  OPERATION_ANNOTATION,
  REMEDIATION_ANNOTATION,
  type EntryState,
  type Ledger,
  type LedgerEntry,
  type Purpose,
} from '../../src/machines/records.ts';
import { controllerRef, metaJson, NS } from './fixtures/capi-common.ts';
import { bounds, scalable } from './fixtures/node-groups.ts';
import { NOW } from './fixtures/pods.ts';

const MIN = 60_000;
const GIB = 2 ** 30 * 1000; // milli-units
const MIB = 2 ** 20 * 1000;
const GROUP = `MachineDeployment/${NS}/md-a`;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const POLICY = scaleDownPolicy(DEFAULT_CONFIG.autoscaler);

// ---- raw objects ----

type Raw = Record<string, unknown>;

const clusterObj = (name: string): Raw => ({
  apiVersion: 'cluster.x-k8s.io/v1beta2',
  kind: 'Cluster',
  metadata: metaJson(name),
  spec: { paused: false },
});

/** An opted-in MachineDeployment (min 1, max 5, 3 replicas unless told). */
const md = (
  name = 'md-a',
  o: { replicas?: number; annotations?: Record<string, string>; cluster?: string } = {},
) =>
  scalable('MachineDeployment', name, {
    replicas: o.replicas ?? 3,
    annotations: { ...bounds('1', '5'), ...o.annotations },
    ...(o.cluster ? { cluster: o.cluster } : {}),
  });

/** A MachineSet owned by MachineDeployment `owner` (md-a unless told; null: standalone). */
function ms(
  name = 'md-a-1',
  o: {
    owner?: string | null;
    replicas?: number;
    statusReplicas?: number;
    annotations?: Record<string, string>;
  } = {},
): Raw {
  const owner = o.owner === undefined ? 'md-a' : o.owner;
  const raw: Raw = scalable('MachineSet', name, {
    replicas: o.replicas ?? 3,
    annotations: o.annotations ?? {},
    ...(owner !== null ? { owner } : {}),
  });
  return o.statusReplicas === undefined ? raw : { ...raw, status: { replicas: o.statusReplicas } };
}

interface Cond {
  type: string;
  status: string;
}
const cond = (type: string, status: string) => ({ type, status });

interface MachineOpts {
  /** Owning MachineSet; null: none. Default md-a-1. */
  set?: string | null;
  /** Default `docker:///n-<i>` for Machine m-<i>; null: none. */
  providerID?: string | null;
  /** Default n-<i>; null: none. */
  nodeRef?: string | null;
  cluster?: string;
  namespace?: string;
  annotations?: Record<string, string>;
  /** Default: CAPI's finalizer. */
  finalizers?: string[];
  deleting?: boolean;
  conditions?: Cond[];
  /** status.deprecated.v1beta1.conditions. */
  v1beta1Conditions?: Cond[];
}

function machine(name: string, o: MachineOpts = {}): Raw {
  const set = o.set === undefined ? 'md-a-1' : o.set;
  const metadata = metaJson(name, {
    ...(set !== null ? { ownerReferences: [controllerRef('MachineSet', set)] } : {}),
    finalizers: o.finalizers ?? [MACHINE_FINALIZER],
    ...(o.annotations ? { annotations: o.annotations } : {}),
    ...(o.deleting ? { deletionTimestamp: ago(MIN) } : {}),
  });
  if (o.namespace) metadata['namespace'] = o.namespace;
  const nodeName = name.replace(/^m-/, 'n-');
  const providerID = o.providerID === undefined ? `docker:///${nodeName}` : o.providerID;
  const nodeRef = o.nodeRef === undefined ? nodeName : o.nodeRef;
  const v2 = (c: Cond) => ({ ...c, reason: 'R', lastTransitionTime: ago(MIN) });
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Machine',
    metadata,
    spec: {
      clusterName: o.cluster ?? 'prod',
      bootstrap: { dataSecretName: 'boot' },
      infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerMachine', name },
      ...(providerID !== null ? { providerID } : {}),
    },
    status: {
      ...(nodeRef !== null ? { nodeRef: { name: nodeRef } } : {}),
      ...(o.conditions ? { conditions: o.conditions.map(v2) } : {}),
      ...(o.v1beta1Conditions ? { deprecated: { v1beta1: { conditions: o.v1beta1Conditions } } } : {}),
    },
  };
}

interface NodeOpts {
  /** Default `docker:///<name>`; null: none. */
  providerID?: string | null;
  /** Ready condition status; null: no condition. Default True. */
  ready?: string | null;
  readySince?: string;
  annotations?: Record<string, string>;
  deleting?: boolean;
  cpu?: string;
}

function node(name: string, o: NodeOpts = {}): Raw {
  const providerID = o.providerID === undefined ? `docker:///${name}` : o.providerID;
  const ready = o.ready === undefined ? 'True' : o.ready;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      uid: `uid-${name}`,
      labels: { 'kubernetes.io/hostname': name },
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(o.deleting ? { deletionTimestamp: ago(MIN) } : {}),
    },
    spec: providerID !== null ? { providerID } : {},
    status: {
      allocatable: { cpu: o.cpu ?? '4', memory: '8Gi', pods: '110' },
      ...(ready !== null
        ? {
            conditions: [
              { type: 'Ready', status: ready, ...(o.readySince ? { lastTransitionTime: o.readySince } : {}) },
            ],
          }
        : {}),
    },
  };
}

interface PodOpts {
  ns?: string;
  /** Controller kind; null: a bare pod. Default ReplicaSet. */
  owner?: string | null;
  ownerName?: string;
  ownerApi?: string;
  annotations?: Record<string, string>;
  cpu?: string;
  memory?: string;
  phase?: string;
  volumes?: unknown[];
}

function pod(name: string, nodeName: string | undefined, o: PodOpts = {}): Raw {
  const owner = o.owner === undefined ? 'ReplicaSet' : o.owner;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.ns ?? 'apps',
      uid: `uid-${name}`,
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(owner !== null
        ? {
            ownerReferences: [
              {
                apiVersion: o.ownerApi ?? 'apps/v1',
                kind: owner,
                name: o.ownerName ?? `${name}-owner`,
                uid: 'uid-owner',
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      ...(nodeName !== undefined ? { nodeName } : {}),
      containers: [
        { name: 'c', resources: { requests: { cpu: o.cpu ?? '100m', memory: o.memory ?? '128Mi' } } },
      ],
      ...(o.volumes ? { volumes: o.volumes } : {}),
    },
    status: { phase: o.phase ?? 'Running' },
  };
}

// ---- the snapshot ----

interface World {
  clusters?: Raw[];
  mds?: Raw[];
  sets?: Raw[];
  /** Default: discoverNodeGroups on clusters, mds and sets. */
  groups?: NodeGroup[];
  machines?: Raw[];
  nodes?: Raw[];
  pods?: Raw[];
  clusterPaused?: boolean;
  daemonSets?: string[];
  policy?: Readonly<DrainPolicy>;
  removing?: string[];
  pdbs?: Raw[];
}

function discover(w: World = {}): NodeGroup[] {
  return discoverNodeGroups({
    clusters: w.clusters ?? [clusterObj('prod'), clusterObj('dev')],
    machineDeployments: w.mds ?? [md()],
    machineSets: w.sets ?? [ms()],
    discovery: [],
    defaults: DEFAULT_CONFIG.autoscaler,
  }).groups;
}

/** Default: md-a (1..5, 3 replicas) with MachineSet md-a-1 and Machines m-1..m-3 behind nodes n-1..n-3. */
function run(w: World = {}): ScaleDownInputs {
  return scaleDownInputs({
    cluster: { namespace: NS, name: 'prod' },
    clusterPaused: w.clusterPaused ?? false,
    groups: w.groups ?? discover(w),
    machineSets: w.sets ?? [ms()],
    machines: w.machines ?? ['m-1', 'm-2', 'm-3'].map((m) => machine(m)),
    nodes: w.nodes ?? ['n-1', 'n-2', 'n-3'].map((n) => node(n)),
    pods: w.pods ?? [],
    pdbs: (w.pdbs ?? []) as unknown as PdbLike[],
    daemonSets: new Set(w.daemonSets ?? []),
    policy: w.policy ?? POLICY,
    now: NOW,
    removing: new Set(w.removing ?? []),
  });
}

function nodeOf(r: ScaleDownInputs, name: string): ScaleDownNode {
  const n = r.nodes.find((x) => x.node.name === name);
  if (!n) throw new Error(`no node ${name} in ${r.nodes.map((x) => x.node.name).join(', ')}`);
  return n;
}

/** One Machine m-1 and its node n-1. */
const single = (m: MachineOpts | null, n: NodeOpts = {}, w: World = {}) =>
  run({ machines: m === null ? [] : [machine('m-1', m)], nodes: [node('n-1', n)], ...w });

function plan(r: ScaleDownInputs) {
  return planScaleDown({
    nodes: r.nodes,
    groups: r.groups,
    unneededSince: new Map(r.nodes.map((n) => [n.node.name, 0])),
    now: NOW.getTime(),
    limits: { maxEmptyBulkDelete: 10, maxTotal: 10 },
  });
}

/** A ledger entry for Machine `machine` (uid `uid-<machine>`). */
const ledgerEntry = (machine: string, state: EntryState, purpose: Purpose = 'scale-down'): LedgerEntry => ({
  machine,
  uid: `uid-${machine}`,
  purpose,
  state,
  at: ago(MIN),
  ...(state === 'applied' ? { to: 2, generation: 4 } : {}),
});

/** The operation mark a claim writes on a Machine. */
const mark = (purpose: Purpose) => ({
  [OPERATION_ANNOTATION]: formatMark({
    id: 'op1234',
    purpose,
    group: 'MachineDeployment/md-a',
    holder: 'capi-autopilot-0',
    at: ago(MIN),
  }),
});

// ---- tests ----

describe('nodes, their Machines and node groups', () => {
  it.each<[string, MachineOpts | null, NodeOpts, World, string | undefined]>([
    ['by providerID', { nodeRef: null }, {}, {}, GROUP],
    ['by nodeRef: the Machine has no providerID yet', { providerID: null }, {}, {}, GROUP],
    ['by nodeRef: neither has a providerID', { providerID: null }, { providerID: null }, {}, GROUP],
    [
      'no match: another providerID and no nodeRef',
      { providerID: 'docker:///x', nodeRef: null },
      {},
      {},
      undefined,
    ],
    ['no match: another nodeRef and no providerID', { providerID: null, nodeRef: 'n-9' }, {}, {}, undefined],
    ['the Machine is in another cluster', { cluster: 'dev' }, {}, {}, undefined],
    ['the Machine is in another namespace', { namespace: 'team-b' }, {}, {}, undefined],
    ['the Machine has no owning MachineSet', { set: null }, {}, {}, undefined],
    ['its MachineSet is not in the cache', { set: 'md-a-gone' }, {}, {}, undefined],
    [
      'its MachineDeployment is not opted in',
      { set: 'md-b-1' },
      {},
      {
        mds: [md(), scalable('MachineDeployment', 'md-b', { replicas: 1, annotations: {} })],
        sets: [ms(), ms('md-b-1', { owner: 'md-b' })],
      },
      undefined,
    ],
    ['no Machine at all', null, {}, {}, undefined],
  ])('%s', (_, m, n, w, group) => {
    const r = single(m, n, w);
    expect(nodeOf(r, 'n-1').group).toBe(group);
    expect(r.machines.has('n-1')).toBe(group !== undefined);
  });

  it('hands the delete protocol the Machine and its group', () => {
    const r = run();
    expect(r.machines.get('n-2')).toEqual({
      namespace: NS,
      name: 'm-2',
      uid: 'uid-m-2',
      group: { namespace: NS, kind: 'MachineDeployment', name: 'md-a' },
      machine: expect.objectContaining({ kind: 'Machine', providerID: 'docker:///n-2', nodeRef: 'n-2' }),
    });
    expect(r.nodes.map((n) => [n.node.name, n.group])).toEqual([
      ['n-1', GROUP],
      ['n-2', GROUP],
      ['n-3', GROUP],
    ]);
    expect(r.problems).toEqual([]);
  });

  it('a providerID match wins over another Machine’s nodeRef', () => {
    const r = run({
      machines: [machine('m-1', { nodeRef: null }), machine('m-2', { providerID: null, nodeRef: 'n-1' })],
      nodes: [node('n-1')],
    });
    expect(r.machines.get('n-1')!.name).toBe('m-1');
  });

  it('a standalone MachineSet is its own group, keyed MachineSet/<ns>/<name>', () => {
    const solo = ms('solo', { owner: null, replicas: 2, annotations: bounds('0', '4') });
    const r = single({ set: 'solo' }, {}, { mds: [], sets: [solo] });
    expect(nodeOf(r, 'n-1').group).toBe(`MachineSet/${NS}/solo`);
    expect(r.machines.get('n-1')!.group).toEqual({ namespace: NS, kind: 'MachineSet', name: 'solo' });
    expect(r.groups.get(`MachineSet/${NS}/solo`)).toMatchObject({ minSize: 0, target: 2 });
  });

  it('only this cluster’s groups are listed', () => {
    const r = run({
      mds: [md(), md('md-dev', { cluster: 'dev' })],
      sets: [ms(), ms('md-dev-1', { owner: 'md-dev' })],
    });
    expect(discover({ mds: [md(), md('md-dev', { cluster: 'dev' })] }).map((g) => g.key)).toContain(
      `MachineDeployment/${NS}/md-dev`,
    );
    expect([...r.groups.keys()]).toEqual([GROUP]);
  });
});

describe('node groups', () => {
  it('min size from the annotation, target from spec.replicas, options from the defaults', () => {
    expect(run().groups.get(GROUP)).toEqual({
      minSize: 1,
      target: 3,
      pendingRemovals: 0,
      options: {
        scaleDownUtilizationThreshold: 0.5,
        scaleDownUnneededTime: 10 * MIN,
        scaleDownUnreadyTime: 20 * MIN,
        maxNodeProvisionTime: 15 * MIN,
      },
    });
    const r = run({ mds: [md('md-a', { replicas: 4, annotations: bounds('2', '6') })] });
    expect(r.groups.get(GROUP)).toMatchObject({ minSize: 2, target: 4 });
  });

  it('per-group options from the autoscaling-options annotations', () => {
    const a = {
      [`${OPTION_ANNOTATION_PREFIX}scaledownunneededtime`]: '5m',
      [`${OPTION_ANNOTATION_PREFIX}scaledownutilizationthreshold`]: '0.7',
    };
    expect(run({ mds: [md('md-a', { annotations: a })] }).groups.get(GROUP)!.options).toMatchObject({
      scaleDownUnneededTime: 5 * MIN,
      scaleDownUtilizationThreshold: 0.7,
    });
  });

  it('pendingRemovals counts the ledger’s pending scale-down entries only', () => {
    const e = ledgerEntry;
    const ledger: Ledger = {
      replicas: 3,
      ops: {
        aaaaaa: e('m-7', 'pending'),
        bbbbbb: e('m-8', 'pending'),
        cccccc: e('m-9', 'pending', 'remediation'),
        dddddd: e('m-6', 'applied'),
        eeeeee: e('m-5', 'skipped'),
      },
    };
    const r = run({ mds: [md('md-a', { annotations: { [LEDGER_ANNOTATION]: formatLedger(ledger) } })] });
    expect(r.groups.get(GROUP)!.pendingRemovals).toBe(2);
    expect(r.groups.get(GROUP)!.disabled).toBeUndefined();
  });

  // A removal of this service goes: chosen (node in `removing`) → registered (pending ledger entry) →
  // claimed (operation mark on the Machine) → drained → deleted. Counted once at every stage.
  it.each<[string, string[], boolean, boolean, number]>([
    ['no removal', [], false, false, 0],
    ['chosen, not yet registered nor claimed', ['n-1'], false, false, 1],
    ['registered and claimed', ['n-1'], true, true, 1],
    ['registered and claimed, the node no longer in removing', [], true, true, 1],
    ['registered, not yet claimed (the claim comes after the registration)', ['n-1'], true, false, 1],
  ])('pendingRemovals, %s', (_, removing, registered, claimed, pending) => {
    const ledger: Ledger = { replicas: 3, ops: { op1234: ledgerEntry('m-1', 'pending') } };
    const r = run({
      mds: [md('md-a', registered ? { annotations: { [LEDGER_ANNOTATION]: formatLedger(ledger) } } : {})],
      machines: [
        machine('m-1', claimed ? { annotations: mark('scale-down') } : {}),
        machine('m-2'),
        machine('m-3'),
      ],
      removing,
    });
    expect(r.groups.get(GROUP)!.pendingRemovals).toBe(pending);
  });

  it.each<[string, EntryState, number]>([
    // Decremented: spec.replicas is already lower; counting the node again would keep a node at min.
    ['applied', 'applied', 0],
    ['skipped', 'skipped', 0],
  ])('pendingRemovals, removing with its ledger entry %s: %d', (_, state, pending) => {
    const ledger: Ledger = { replicas: 2, ops: { op1234: ledgerEntry('m-1', state) } };
    const r = run({
      mds: [md('md-a', { annotations: { [LEDGER_ANNOTATION]: formatLedger(ledger) } })],
      removing: ['n-1'],
    });
    expect(r.groups.get(GROUP)!.pendingRemovals).toBe(pending);
  });

  const fight: Ledger = { replicas: 3, ops: {}, foreignWrites: 2, lastForeignWrite: ago(2 * MIN) };
  const oldFight: Ledger = { ...fight, lastForeignWrite: ago(60 * MIN) };
  const withLedger = (l: Ledger) => [md('md-a', { annotations: { [LEDGER_ANNOTATION]: formatLedger(l) } })];

  it.each<[string, World, RegExp | undefined]>([
    ['a paused Cluster', { clusterPaused: true }, /^it is paused$/],
    [
      'a paused MachineSet of the group',
      { sets: [ms('md-a-1', { annotations: { [ANNOTATIONS.paused]: '' } })] },
      /^it is paused$/,
    ],
    [
      'an unreadable ledger',
      { mds: [md('md-a', { annotations: { [LEDGER_ANNOTATION]: '{not json' } })] },
      /^its replicas ledger is unreadable \(capi-autopilot\.io\/replicas-ledger is not JSON/,
    ],
    [
      'a rollout: two MachineSets with replicas',
      { sets: [ms('md-a-1', { replicas: 2 }), ms('md-a-2', { replicas: 1 })] },
      /^a rollout is in progress \(2 MachineSets\)/,
    ],
    [
      'another writer fighting over spec.replicas',
      { mds: withLedger(fight) },
      /^another writer changed spec\.replicas 2 times, last at .*: not fighting it$/,
    ],
    [
      'discovery disabled it (a bad option)',
      {
        mds: [md('md-a', { annotations: { [`${OPTION_ANNOTATION_PREFIX}scaledownunneededtime`]: 'soon' } })],
      },
      /autoscaling-options-scaledownunneededtime/,
    ],
    [
      'not disabled: a MachineSet scaled to 0 besides the active one',
      { sets: [ms('md-a-1', { replicas: 3 }), ms('md-a-0', { replicas: 0 })] },
      undefined,
    ],
    ['not disabled: at its max size', { mds: [md('md-a', { replicas: 5 })] }, undefined],
    [
      'not disabled: at its min size (the planner keeps its nodes)',
      { mds: [md('md-a', { replicas: 1 })] },
      undefined,
    ],
    ['not disabled: foreign writes long ago', { mds: withLedger(oldFight) }, undefined],
  ])('%s', (_, w, disabled) => {
    const g = run(w).groups.get(GROUP);
    expect(g).toBeDefined();
    if (disabled === undefined) expect(g!.disabled).toBeUndefined();
    else expect(g!.disabled).toMatch(disabled);
  });

  it('a rollout whose old MachineSet is scaled to 0 but still has machines is still a rollout', () => {
    // whyGroupCannotShrink counts "MachineSets of the group with replicas or machines", and the delete
    // protocol's snapshot (machines/snapshot.ts activeMachineSets) counts spec.replicas > 0 OR
    // status.replicas > 0: there this group is a rollout, and a scale-down decrement would be skipped
    // after the Machine was already drained and deleted (so CAPI replaces it).
    const sets = [ms('md-a-2', { replicas: 3 }), ms('md-a-1', { replicas: 0, statusReplicas: 1 })];
    expect(run({ sets }).groups.get(GROUP)!.disabled).toMatch(/rollout is in progress \(2 MachineSets\)/);
  });

  it('a group annotated paused is not discovered at all; if listed anyway, it is disabled', () => {
    const paused = md('md-a', { annotations: { [ANNOTATIONS.paused]: '' } });
    const r = run({ mds: [paused] });
    expect(r.groups.size).toBe(0);
    expect(nodeOf(r, 'n-1').group).toBeUndefined();
    // The group object as the informer saw it after discovery listed it.
    const [g] = discover();
    const listed = {
      ...g!,
      object: {
        ...g!.object,
        meta: { ...g!.object.meta, annotations: { ...g!.object.meta.annotations, [ANNOTATIONS.paused]: '' } },
      },
    } as NodeGroup;
    expect(run({ groups: [listed] }).groups.get(GROUP)!.disabled).toBe('it is paused');
  });

  it('a disabled group’s nodes stay in the group and are kept group_disabled by the planner', () => {
    const r = run({ sets: [ms('md-a-1', { replicas: 2 }), ms('md-a-2', { replicas: 1 })] });
    expect(nodeOf(r, 'n-1').group).toBe(GROUP);
    expect(plan(r).kept.map((k) => [k.node, k.code])).toEqual([
      ['n-1', 'group_disabled'],
      ['n-2', 'group_disabled'],
      ['n-3', 'group_disabled'],
    ]);
  });

  it('in a paused group each Machine is not deletable either, which the planner reports first', () => {
    const r = run({ clusterPaused: true });
    expect(r.groups.get(GROUP)!.disabled).toBe('it is paused');
    expect(plan(r).kept.map((k) => [k.code, k.reason])).toEqual(
      ['m-1', 'm-2', 'm-3'].map((m) => [
        'machine_not_deletable',
        `Machine ${m} may not be deleted: its cluster or group is paused`,
      ]),
    );
  });

  it('an unreadable MachineSet is a problem, not a crash', () => {
    const broken = { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'MachineSet', metadata: metaJson('bad') };
    const r = run({ sets: [ms(), broken] });
    expect(r.problems).toEqual([expect.stringMatching(/^MachineSet team-a\/bad unreadable: /)]);
    expect(r.groups.get(GROUP)!.disabled).toBeUndefined();
  });
});

describe('node state', () => {
  const T = ago(30 * MIN);
  it.each<[string, NodeOpts, boolean, number | undefined]>([
    ['Ready', { ready: 'True', readySince: T }, true, undefined],
    ['not Ready, since T', { ready: 'False', readySince: T }, false, Date.parse(T)],
    ['Unknown, since T', { ready: 'Unknown', readySince: T }, false, Date.parse(T)],
    ['not Ready, no transition time', { ready: 'False' }, false, undefined],
    ['no Ready condition', { ready: null }, false, undefined],
  ])('%s', (_, o, ready, since) => {
    const n = nodeOf(single({}, o), 'n-1');
    expect(n.ready).toBe(ready);
    expect(n.readyChangedAt).toBe(since);
  });

  it.each<[string | undefined, boolean, boolean]>([
    [undefined, false, false],
    ['true', true, false],
    ['false', false, false],
    ['yes', false, true],
    ['True', false, true],
    ['', false, true],
  ])('scale-down-disabled=%j: disabled %s, unreadable %s', (value, disabled, unreadable) => {
    const annotations = value === undefined ? undefined : { [SCALE_DOWN_DISABLED_ANNOTATION]: value };
    const n = nodeOf(single({}, annotations ? { annotations } : {}), 'n-1');
    expect(n.scaleDownDisabled).toBe(disabled);
    if (unreadable)
      expect(n.unremovable).toEqual({
        code: 'unreadable',
        reason: `${SCALE_DOWN_DISABLED_ANNOTATION}=${JSON.stringify(value)} is not "true" or "false"; kept until it is`,
      });
    else expect(n.unremovable).toBeUndefined();
  });

  it('an unreadable Node is reported unreadable and left out of the plan', () => {
    const unnamed = { apiVersion: 'v1', kind: 'Node', metadata: {} };
    const r = run({ nodes: [node('n-1'), node('n-2', { cpu: 'lots' }), unnamed] });
    expect(r.nodes.map((n) => n.node.name)).toEqual(['n-1']);
    expect(r.unreadable).toEqual([
      {
        node: 'n-2',
        code: 'unreadable',
        reason: expect.stringMatching(/^node unreadable: node n-2: status\.allocatable\["cpu"\]/),
      },
      { node: '<unnamed>', code: 'unreadable', reason: 'node unreadable: node: metadata.name is missing' },
    ]);
    expect(r.unreadable[0]).not.toHaveProperty('group');
  });
});

describe('who else acts on the node: owner and leaving', () => {
  const OWNER_REMEDIATED = "its owner's remediation (OwnerRemediated=False on Machine m-1)";

  it.each<[string, MachineOpts | null, NodeOpts, string[], string | undefined, boolean]>([
    ['nobody', {}, {}, [], undefined, false],
    ['a Machine being deleted', { deleting: true }, {}, [], 'the deletion of Machine m-1', false],
    [
      'another operation’s mark',
      { annotations: mark('remediation') },
      {},
      [],
      'operation op1234 (remediation) on Machine m-1',
      false,
    ],
    [
      'a scale-down mark',
      { annotations: mark('scale-down') },
      {},
      [],
      'operation op1234 (scale-down) on Machine m-1',
      true,
    ],
    [
      'a scale-down mark on a Machine being deleted',
      { annotations: mark('scale-down'), deleting: true },
      {},
      [],
      'the deletion of Machine m-1',
      true,
    ],
    [
      'this service’s remediation',
      { annotations: { [REMEDIATION_ANNOTATION]: 'reboot' } },
      {},
      [],
      'remediation of Machine m-1',
      false,
    ],
    [
      'cluster.x-k8s.io/remediate-machine',
      { annotations: { [ANNOTATIONS.remediateMachine]: '' } },
      {},
      [],
      `remediation (${ANNOTATIONS.remediateMachine} on Machine m-1)`,
      false,
    ],
    [
      'OwnerRemediated=False',
      { conditions: [cond('OwnerRemediated', 'False')] },
      {},
      [],
      OWNER_REMEDIATED,
      false,
    ],
    [
      'OwnerRemediated=False (v1beta1 conditions)',
      { v1beta1Conditions: [cond('OwnerRemediated', 'False')] },
      {},
      [],
      OWNER_REMEDIATED,
      false,
    ],
    ['OwnerRemediated=True', { conditions: [cond('OwnerRemediated', 'True')] }, {}, [], undefined, false],
    [
      'ExternallyRemediated=False',
      { conditions: [cond('ExternallyRemediated', 'False')] },
      {},
      [],
      'an external remediation (ExternallyRemediated=False on Machine m-1)',
      false,
    ],
    [
      'ExternallyRemediated=False left behind on a healthy Machine (CAPI never clears it)',
      { conditions: [cond('ExternallyRemediated', 'False'), cond('HealthCheckSucceeded', 'True')] },
      {},
      [],
      undefined,
      false,
    ],
    ['a Node being deleted', {}, { deleting: true }, [], 'its deletion (the Node is being deleted)', false],
    ['removing', {}, {}, ['n-1'], 'this service (scale-down in progress)', true],
    [
      'removing, over a remediation',
      { annotations: { [REMEDIATION_ANNOTATION]: 'x' } },
      {},
      ['n-1'],
      'this service (scale-down in progress)',
      true,
    ],
    ['removing, no Machine found', null, {}, ['n-1'], 'this service (scale-down in progress)', true],
    ['another node is removing', {}, {}, ['n-2'], undefined, false],
  ])('%s', (_, m, n, removing, owner, leaving) => {
    const x = nodeOf(single(m, n, { removing }), 'n-1');
    expect(x.owner).toBe(owner);
    expect(x.leaving).toBe(leaving ? true : undefined);
    expect(x.unremovable).toBeUndefined();
  });

  it('an owned node is never a removal, and a leaving one’s pods need room', () => {
    const r = run({
      machines: [machine('m-1', { annotations: mark('scale-down') }), machine('m-2'), machine('m-3')],
      pods: [pod('web', 'n-1', { cpu: '1' })],
    });
    expect(nodeOf(r, 'n-1')).toMatchObject({ owner: expect.any(String), leaving: true });
    const p = plan(r);
    expect(p.remove.map((x) => x.node)).not.toContain('n-1');
    // web must go somewhere first: n-1 is no destination, so n-2 (first candidate by name) takes it and
    // stays; n-3 goes.
    expect(p.kept.find((k) => k.node === 'n-2')).toMatchObject({ code: 'received_pods' });
    expect(p.remove.map((x) => x.node)).toEqual(['n-3']);
  });
});

describe('Machines the protocol may not delete', () => {
  it.each<[string, MachineOpts, World, RegExp]>([
    [
      'no CAPI finalizer',
      { finalizers: [] },
      {},
      /CAPI has not taken it over yet \(no machine\.cluster\.x-k8s\.io finalizer\)/,
    ],
    [
      'paused Machine',
      { annotations: { [ANNOTATIONS.paused]: '' } },
      {},
      /it has cluster\.x-k8s\.io\/paused$/,
    ],
    [
      'unreadable operation mark',
      { annotations: { [OPERATION_ANNOTATION]: 'garbage' } },
      {},
      /its operation mark is unreadable/,
    ],
    [
      'delete-machine set by someone else',
      { annotations: { [ANNOTATIONS.deleteMachine]: '' } },
      {},
      /someone else marked it with cluster\.x-k8s\.io\/delete-machine$/,
    ],
    [
      'an in-place update',
      { annotations: { 'in-place-updates.internal.cluster.x-k8s.io/update-in-progress': '' } },
      {},
      /CAPI is updating it in place$/,
    ],
    [
      'a paused group',
      {},
      { sets: [ms('md-a-1', { annotations: { [ANNOTATIONS.paused]: '' } })] },
      /its cluster or group is paused$/,
    ],
  ])('%s → machine_not_deletable', (_, m, w, reason) => {
    const n = nodeOf(single(m, {}, w), 'n-1');
    expect(n.owner).toBeUndefined();
    expect(n.unremovable?.code).toBe('machine_not_deletable');
    expect(n.unremovable?.reason).toMatch(/^Machine m-1 may not be deleted: /);
    expect(n.unremovable?.reason).toMatch(reason);
  });

  it('the planner keeps such a node with that code, and it stays a destination', () => {
    const r = run({
      machines: [machine('m-1', { finalizers: [] }), machine('m-2'), machine('m-3')],
      nodes: [node('n-1'), node('n-2'), node('n-3', { cpu: '1' })],
      pods: [pod('web', 'n-3', { cpu: '300m' })],
    });
    const p = plan(r);
    expect(p.kept.find((k) => k.node === 'n-1')).toMatchObject({
      code: 'machine_not_deletable',
      group: GROUP,
    });
    // n-3's pod goes to n-1 (a non-candidate, tried first), so n-2 may go too: min 1 of 3 leaves two.
    expect(p.remove.map((x) => [x.node, x.destinations.map((d) => d.to)])).toEqual([
      ['n-2', []],
      ['n-3', ['n-1']],
    ]);
  });

  it('a Machine without an owning MachineSet puts its node in no group: not_autoscaled', () => {
    const r = single({ set: null });
    expect(nodeOf(r, 'n-1').unremovable).toBeUndefined();
    expect(plan(r).kept).toEqual([
      { node: 'n-1', code: 'not_autoscaled', reason: 'not in an autoscaled node group' },
    ]);
  });

  it('a node whose Machine may be one that could not be read stays (unreadable)', () => {
    const broken = { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Machine', metadata: metaJson('m-bad') };
    const r = run({ machines: [machine('m-1'), broken], nodes: [node('n-1'), node('n-bad')] });
    expect(nodeOf(r, 'n-1').unremovable).toBeUndefined();
    expect(nodeOf(r, 'n-bad').unremovable).toEqual({
      code: 'unreadable',
      reason: `no readable Machine found for it (unreadable: ${NS}/m-bad)`,
    });
    expect(r.problems).toEqual([expect.stringMatching(/^Machine team-a\/m-bad unreadable: /)]);
  });
});

describe('pods', () => {
  const DS = { ns: 'kube-system', owner: 'DaemonSet', ownerName: 'fluentd' };
  it.each<[string, Raw, { action: string; daemonSet: boolean; mirror: boolean; detail?: RegExp }]>([
    [
      'a ReplicaSet pod',
      pod('web', 'n-1'),
      { action: 'evict', daemonSet: false, mirror: false, detail: /no PDB selects it/ },
    ],
    [
      'a DaemonSet pod',
      pod('ds', 'n-1', DS),
      { action: 'skip', daemonSet: true, mirror: false, detail: /DaemonSet kube-system\/fluentd/ },
    ],
    [
      'a pod of a DaemonSet that is gone',
      pod('ds', 'n-1', { ...DS, ownerName: 'gone' }),
      { action: 'block', daemonSet: true, mirror: false, detail: /no longer exists/ },
    ],
    [
      'a daemonset-pod annotated pod',
      pod('agent', 'n-1', { owner: null, annotations: { [DAEMONSET_POD_ANNOTATION]: 'true' } }),
      { action: 'skip', daemonSet: true, mirror: false },
    ],
    [
      'a mirror pod',
      pod('etcd', 'n-1', {
        ns: 'kube-system',
        owner: 'Node',
        ownerApi: 'v1',
        annotations: { [MIRROR_ANNOTATION]: 'h' },
      }),
      { action: 'skip', daemonSet: false, mirror: true },
    ],
    [
      'safe-to-evict "false"',
      pod('db-0', 'n-1', { owner: 'StatefulSet', annotations: { [SAFE_TO_EVICT_ANNOTATION]: 'false' } }),
      { action: 'block', daemonSet: false, mirror: false, detail: /safe-to-evict=false/ },
    ],
    [
      'a custom controller’s pod (default policy)',
      pod('app', 'n-1', { owner: 'Rollout', ownerApi: 'argoproj.io/v1alpha1' }),
      { action: 'block', daemonSet: false, mirror: false, detail: /custom controller/ },
    ],
    ['a bare pod', pod('bare', 'n-1', { owner: null }), { action: 'block', daemonSet: false, mirror: false }],
    [
      'local storage',
      pod('cache', 'n-1', { volumes: [{ name: 'scratch', emptyDir: {} }] }),
      { action: 'block', daemonSet: false, mirror: false, detail: /scratch/ },
    ],
    [
      'a Succeeded pod',
      pod('job', 'n-1', { owner: 'Job', phase: 'Succeeded' }),
      { action: 'delete', daemonSet: false, mirror: false },
    ],
  ])('%s', (_, p, want) => {
    const pods = nodeOf(single({}, {}, { pods: [p], daemonSets: ['kube-system/fluentd'] }), 'n-1').pods;
    expect(pods).toHaveLength(1);
    const { detail, ...rest } = want;
    expect(pods[0]).toMatchObject(rest);
    if (detail) expect(pods[0]!.detail).toMatch(detail);
  });

  it('a custom controller’s pod is evicted when skipNodesWithCustomControllerPods=false', () => {
    const policy = scaleDownPolicy({
      ...DEFAULT_CONFIG.autoscaler,
      skipNodesWithCustomControllerPods: false,
    });
    const app = pod('app', 'n-1', { owner: 'Rollout', ownerApi: 'argoproj.io/v1alpha1' });
    expect(nodeOf(single({}, {}, { pods: [app], policy }), 'n-1').pods[0]!.action).toBe('evict');
  });

  it('reads requests and puts each pod on its own node; unbound pods and other nodes’ pods are left out', () => {
    const r = run({
      pods: [
        pod('a', 'n-1', { cpu: '250m', memory: '128Mi' }),
        pod('b', 'n-2', { cpu: '1', memory: '1Gi' }),
        pod('pending', undefined),
        pod('elsewhere', 'n-9'),
      ],
    });
    expect(nodeOf(r, 'n-1').pods.map((p) => [p.pod.name, p.pod.requests])).toEqual([
      ['a', { cpu: 250, memory: 128 * MIB }],
    ]);
    expect(nodeOf(r, 'n-2').pods.map((p) => [p.pod.name, p.pod.requests])).toEqual([
      ['b', { cpu: 1000, memory: GIB }],
    ]);
    expect(nodeOf(r, 'n-3').pods).toEqual([]);
  });

  it('a pod that cannot be read makes its node unremovable, naming the pod; the node is never removed', () => {
    const r = run({
      pods: [
        pod('bad', 'n-1', { cpu: 'lots' }),
        pod('good', 'n-1', { owner: 'DaemonSet', ownerName: 'fluentd' }),
      ],
      daemonSets: ['apps/fluentd'],
    });
    const n = nodeOf(r, 'n-1');
    expect(n.pods.map((p) => p.pod.name)).toEqual(['good']);
    expect(n.unremovable).toEqual({
      code: 'unreadable',
      reason: expect.stringMatching(
        /^pod apps\/bad could not be read \(pod apps\/bad: .*"cpu".*\); the node is not judged on a guess$/,
      ),
    });
    // Without it, n-1 would go first (empty, first by name); min 1 of 3 lets two nodes go.
    const p = plan(r);
    expect(p.remove.map((x) => x.node)).toEqual(['n-2', 'n-3']);
    expect(p.kept).toEqual([
      { node: 'n-1', group: GROUP, code: 'unreadable', reason: n.unremovable!.reason },
    ]);
  });
});

describe('end to end: raw objects → scaleDownInputs → planScaleDown', () => {
  it('removes an empty node of a group above its min and keeps one with a safe-to-evict=false pod', () => {
    const r = run({
      pods: [
        pod('db-0', 'n-2', { owner: 'StatefulSet', annotations: { [SAFE_TO_EVICT_ANNOTATION]: 'false' } }),
        pod('busy', 'n-3', { cpu: '3' }),
        pod('fluentd-x', 'n-1', { ns: 'kube-system', owner: 'DaemonSet', ownerName: 'fluentd' }),
      ],
      daemonSets: ['kube-system/fluentd'],
    });
    const p = plan(r);
    expect(p.remove).toEqual([{ node: 'n-1', group: GROUP, empty: true, utilization: 0, destinations: [] }]);
    expect(r.machines.get('n-1')!.name).toBe('m-1');
    expect(p.kept).toEqual([
      {
        node: 'n-2',
        group: GROUP,
        code: 'blocked_by_pod',
        reason: `pod apps/db-0 cannot be moved: ${SAFE_TO_EVICT_ANNOTATION}=false`,
      },
      { node: 'n-3', group: GROUP, code: 'utilization', reason: 'cpu utilization 0.75 ≥ threshold 0.5' },
    ]);
  });

  it('a group at its min size keeps even its empty nodes', () => {
    const p = plan(run({ mds: [md('md-a', { replicas: 3, annotations: bounds('3', '5') })] }));
    expect(p.remove).toEqual([]);
    expect(p.kept.map((k) => k.code)).toEqual(['min_size', 'min_size', 'min_size']);
  });
});

describe('review fixes: PDBs, pending pods, reused node names', () => {
  const labelled = (raw: Raw, labels: Record<string, string>) => {
    (raw as { metadata: Record<string, unknown> }).metadata.labels = labels;
    return raw;
  };
  const pdb = (allowed: number | undefined): Raw => ({
    metadata: { name: 'web', namespace: 'apps' },
    spec: { selector: { matchLabels: { app: 'web' } } },
    ...(allowed === undefined ? {} : { status: { disruptionsAllowed: allowed } }),
  });

  it.each<[string, number | undefined, string]>([
    ['allows one', 1, 'evict'],
    ['allows none now', 0, 'block'],
    ['has no status yet', undefined, 'block'],
  ])('a pod whose PDB %s: %s', (_, allowed, action) => {
    const r = run({ pods: [labelled(pod('web-1', 'n-1'), { app: 'web' })], pdbs: [pdb(allowed)] });
    const p = nodeOf(r, 'n-1').pods[0]!;
    expect(p.action).toBe(action);
    if (action === 'block') expect(p.detail).toBe('PodDisruptionBudget apps/web allows no disruption now');
  });

  it('a PDB that selects other pods changes nothing', () => {
    const r = run({ pods: [labelled(pod('api-1', 'n-1'), { app: 'api' })], pdbs: [pdb(0)] });
    expect(nodeOf(r, 'n-1').pods[0]!.action).toBe('evict');
  });

  it('pending pods: only those the scheduler has not found unschedulable, not terminal, not deleting', () => {
    const fresh = pod('fresh', undefined, { phase: 'Pending' });
    const unschedulable = pod('stuck', undefined, { phase: 'Pending' });
    (unschedulable as { status: Record<string, unknown> }).status.conditions = [
      { type: 'PodScheduled', status: 'False', reason: 'Unschedulable' },
    ];
    const done = pod('done', undefined, { phase: 'Succeeded' });
    const r = run({ pods: [fresh, unschedulable, done] });
    expect(r.pending.map((p) => p.name)).toEqual(['fresh']);
  });

  it.each<[string, string | null, string | null, string | undefined]>([
    ['same providerID', 'docker:///n-1', 'docker:///n-1', GROUP],
    [
      'different providerIDs: a reused name is not the Machine',
      'docker:///other',
      'docker:///n-1',
      undefined,
    ],
    ['the node has none: matched by nodeRef', null, 'docker:///n-1', GROUP],
    ['the Machine has none: matched by nodeRef', 'docker:///n-1', null, GROUP],
  ])('node ↔ Machine, %s', (_, nodeID, machineID, group) => {
    const r = single({ providerID: machineID, nodeRef: 'n-1' }, { providerID: nodeID });
    expect(nodeOf(r, 'n-1').group).toBe(group);
  });
});
