// MachineHealthCheck evaluation: one table row per CAPI rule (machinehealthcheck_targets.go), both sides
// of every timeout boundary, raw v1beta1/v1beta2 objects through the adapters, and properties.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromObject } from '../../src/capi/adapters/index.ts';
import type { Cluster, Condition, Machine, MachineHealthCheck } from '../../src/capi/types.ts';
import {
  CONTROL_PLANE_LABEL as CP,
  evaluateHealth,
  HEALTH_REASON_CODES,
  type ClusterFacts,
  type HealthInput,
  type NodeFacts,
  type TargetHealth,
} from '../../src/remediation/health.ts';
import { clusterFactsOf, parseKubeTime } from '../../src/remediation/types.ts';

const NS = 'fleet';
const NOW = Date.parse('2026-05-01T12:00:00Z');
/** The RFC 3339 time `s` seconds before NOW. */
const ago = (s: number): string => new Date(NOW - s * 1000).toISOString().replace('.000Z', 'Z');
const OLD = ago(86_400);
const TARGET = { 'cluster.x-k8s.io/cluster-name': 'c1', pool: 'a' };
const REMEDIATE = 'cluster.x-k8s.io/remediate-machine';
const ETCD = 'EtcdMemberHealthy';

interface M {
  name?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  namespace?: string;
  created?: string | null;
  deleting?: boolean;
  nodeRef?: string | null;
  failureReason?: string;
  failureMessage?: string;
  conditions?: Condition[];
  version?: 'v1beta1' | 'v1beta2';
  other?: Condition[];
}
function machine(o: M = {}): Machine {
  const name = o.name ?? 'm-1';
  const nodeRef = o.nodeRef === undefined ? `node-${name}` : o.nodeRef;
  const opt = <T>(k: string, v: T | undefined) => (v === undefined ? {} : { [k]: v });
  return {
    kind: 'Machine',
    version: o.version ?? 'v1beta2',
    meta: {
      name,
      namespace: o.namespace ?? NS,
      uid: `uid-${name}`,
      resourceVersion: '1',
      generation: 1,
      labels: o.labels ?? TARGET,
      annotations: o.annotations ?? {},
      ...opt('creationTimestamp', o.created === null ? undefined : (o.created ?? OLD)),
      ...opt('deletionTimestamp', o.deleting ? ago(5) : undefined),
      ownerReferences: [],
      finalizers: [],
    },
    clusterName: 'c1',
    infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerMachine', name },
    bootstrap: {},
    deletion: {},
    ...opt('nodeRef', nodeRef ?? undefined),
    bootstrapReady: true,
    infrastructureProvisioned: true,
    ...opt('failureReason', o.failureReason),
    ...opt('failureMessage', o.failureMessage),
    conditions: o.conditions ?? [],
    ...opt('otherVersionConditions', o.other),
  };
}

type Status = 'True' | 'False' | 'Unknown';
const check = (type: string, status: Status, timeoutSeconds: number) => ({ type, status, timeoutSeconds });
function mhc(
  o: Partial<MachineHealthCheck> & { annotations?: Record<string, string> } = {},
): MachineHealthCheck {
  const { annotations, ...rest } = o;
  return {
    kind: 'MachineHealthCheck',
    version: 'v1beta2',
    meta: { ...machine().meta, name: 'mhc', uid: 'uid-mhc', labels: {}, annotations: annotations ?? {} },
    clusterName: 'c1',
    selector: { matchLabels: { pool: 'a' } },
    unhealthyNodeConditions: [check('Ready', 'False', 300), check('Ready', 'Unknown', 90)],
    unhealthyMachineConditions: [check(ETCD, 'False', 60)],
    nodeStartupTimeoutSeconds: 600,
    status: {},
    conditions: [],
    ...rest,
  };
}
const READY: ClusterFacts = {
  paused: false,
  controlPlaneInitialized: true,
  controlPlaneInitializedTime: OLD,
  infrastructureReady: true,
  infrastructureReadyTime: OLD,
};
/** A node condition; `a` seconds ago (undefined: no lastTransitionTime, a string: taken as is). */
const nc = (type: string, status: string, a?: number | string, reason?: string) => ({
  type,
  status,
  ...(a === undefined ? {} : { lastTransitionTime: typeof a === 'string' ? a : ago(a) }),
  ...(reason ? { reason } : {}),
});
const node = (name: string, ...conditions: NodeFacts['conditions']): NodeFacts => ({ name, conditions });
const okNode = (name = 'node-m-1') => node(name, nc('Ready', 'True', OLD));
/** Machine condition EtcdMemberHealthy (checked: False for 60 s) since `a` seconds ago. */
const etcd = (status: Status, a: number): Condition => ({ type: ETCD, status, lastTransitionTime: ago(a) });

// Input fragments, so each table row fits on one line.
const mc = (o: M = {}): Partial<HealthInput> => ({ machines: [machine(o)] });
const nd = (...c: NodeFacts['conditions']) => ({ nodes: new Map([['node-m-1', node('node-m-1', ...c)]]) });
const cl = (o: Partial<ClusterFacts>): Partial<HealthInput> => ({ cluster: { ...READY, ...o } });
const ck = (...c: ReturnType<typeof check>[]) => ({ mhc: mhc({ unhealthyNodeConditions: c }) });
const at = (ms: number): Partial<HealthInput> => ({ now: ms });
const noCache: Partial<HealthInput> = { nodeCacheAvailable: false };
const noNode = (o: M = {}) => mc({ nodeRef: null, ...o });

function input(...parts: Partial<HealthInput>[]): HealthInput {
  const base: HealthInput = {
    mhc: mhc(),
    cluster: READY,
    machines: [machine()],
    nodes: new Map([['node-m-1', okNode()]]),
    nodeCacheAvailable: true,
    now: NOW,
  };
  return Object.assign(base, ...parts);
}
function only(x: HealthInput): TargetHealth {
  const r = evaluateHealth(x);
  if (!r.ok) throw new Error(r.message);
  expect(r.targets).toHaveLength(1);
  return r.targets[0] as TargetHealth;
}

type Row = [string, Partial<HealthInput>[], TargetHealth['state'], TargetHealth['code'], number?];
describe('evaluateHealth: one target, by rule', () => {
  // prettier-ignore
  it.each<Row>([
    ['healthy: node Ready, nothing matches', [], 'healthy', 'HealthCheckSucceeded'],
    ['deleting wins over remediate-machine', [mc({ deleting: true, annotations: { [REMEDIATE]: '' } })], 'deleting', 'Deleting'],
    ['remediate-machine (any value), cluster not ready', [mc({ annotations: { [REMEDIATE]: 'false' } }), cl({ controlPlaneInitialized: false, infrastructureReady: false })], 'unhealthy', 'HasRemediateAnnotation'],
    ['failureReason', [mc({ failureReason: 'CreateError' })], 'unhealthy', 'MachineHasFailure'],
    ['failureMessage alone', [mc({ failureMessage: 'quota' })], 'unhealthy', 'MachineHasFailure'],
    ['CP not initialized, worker with Node: unchecked, not counted', [cl({ controlPlaneInitialized: false }), nd(nc('Ready', 'False', OLD))], 'pending', 'ControlPlaneNotInitialized'],
    ['infrastructure not ready, Node present: counted healthy', [cl({ infrastructureReady: false }), nd(nc('Ready', 'False', OLD))], 'healthy', 'ClusterInfrastructureNotReady'],
    ['CP not initialized, worker without Node', [cl({ controlPlaneInitialized: false }), noNode()], 'pending', 'ControlPlaneNotInitialized'],
    ['CP not initialized, control-plane Machine judged', [cl({ controlPlaneInitialized: false }), mc({ labels: { ...TARGET, [CP]: '' } }), nd(nc('Ready', 'False', OLD))], 'unhealthy', 'UnhealthyNode'],
    ['infrastructure not ready gates control-plane too', [cl({ infrastructureReady: false }), noNode({ labels: { ...TARGET, [CP]: '' } })], 'pending', 'ClusterInfrastructureNotReady'],
    ['node condition held exactly its timeout', [nd(nc('Ready', 'False', 300))], 'pending', 'TimeoutRunning', NOW + 1],
    ['node condition held 1 ms past its timeout', [nd(nc('Ready', 'False', 300)), at(NOW + 1)], 'unhealthy', 'UnhealthyNode'],
    ['Ready=Unknown (90 s) 1 s past', [nd(nc('Ready', 'Unknown', 91))], 'unhealthy', 'UnhealthyNode'],
    ['Ready=Unknown (90 s) 1 s before', [nd(nc('Ready', 'Unknown', 89))], 'pending', 'TimeoutRunning', NOW + 1001],
    ['only the first condition of a type counts', [nd(nc('Ready', 'True', OLD), nc('Ready', 'False', OLD))], 'healthy', 'HealthCheckSucceeded'],
    ['timeout 0: transition in the past', [ck(check('DiskPressure', 'True', 0)), nd(nc('DiskPressure', 'True', 1))], 'unhealthy', 'UnhealthyNode'],
    ['timeout 0: transition at now', [ck(check('DiskPressure', 'True', 0)), nd(nc('DiskPressure', 'True', 0))], 'pending', 'TimeoutRunning', NOW + 1],
    ['machine condition 1 s past its timeout', [mc({ conditions: [etcd('False', 61)] })], 'unhealthy', 'UnhealthyMachine'],
    ['machine condition exactly its timeout', [mc({ conditions: [etcd('False', 60)] })], 'pending', 'TimeoutRunning', NOW + 1],
    ['machine condition with another status', [mc({ conditions: [etcd('Unknown', 9999)] })], 'healthy', 'HealthCheckSucceeded'],
    ['machine and node unhealthy: UnhealthyMachine', [mc({ conditions: [etcd('False', 999)] }), nd(nc('Ready', 'False', OLD))], 'unhealthy', 'UnhealthyMachine'],
    ['nodeRef set, Node gone', [{ nodes: new Map() }], 'unhealthy', 'NodeDeleted'],
    ['nodeRef set, node cache unavailable', [{ nodes: new Map() }, noCache], 'unknown', 'NodeCacheUnavailable'],
    ['no nodeRef, node cache unavailable: no startup verdict', [noNode(), noCache], 'unknown', 'NodeCacheUnavailable'],
    ['cache unavailable, machine condition still judged', [mc({ conditions: [etcd('False', 999)] }), noCache], 'unhealthy', 'UnhealthyMachine'],
    ['cache unavailable, machine timeout running', [mc({ conditions: [etcd('False', 30)] }), noCache], 'unknown', 'NodeCacheUnavailable', NOW + 30_001],
    ['matching condition without lastTransitionTime', [nd(nc('Ready', 'False'))], 'unknown', 'Unreadable'],
    ['matching condition on Feb 30', [nd(nc('Ready', 'False', '2026-02-30T00:00:00Z'))], 'unknown', 'Unreadable'],
    ['unreadable time does not hide a finding', [ck(check('Ready', 'False', 1), check('DiskPressure', 'True', 1)), nd(nc('Ready', 'False'), nc('DiskPressure', 'True', OLD))], 'unhealthy', 'UnhealthyNode'],
  ])('%s', (_name, parts, state, code, next) => {
    const t = only(input(...parts));
    expect([t.state, t.code, t.nextCheckAt]).toEqual([state, code, next]);
    expect(t.message).not.toBe('');
  });

  it('messages name the condition, status, reason and timeout', () => {
    const t = only(input(nd(nc('Ready', 'False', OLD, 'KubeletNotReady'))));
    expect(t.message).toBe('Node condition Ready has been False (reason KubeletNotReady) for more than 5m0s');
    const both = only(input(mc({ conditions: [etcd('False', 999)] }), { nodes: new Map() }));
    expect(both.message).toBe(
      'Machine condition EtcdMemberHealthy has been False for more than 1m0s; Node node-m-1 has been deleted',
    );
  });
});

describe('evaluateHealth: node startup timeout (600 s)', () => {
  const infraReady = (a: number): Condition => ({
    type: 'InfrastructureReady',
    status: 'True',
    lastTransitionTime: ago(a),
  });
  // Each row makes another of the four times the latest.
  // prettier-ignore
  it.each<[string, Partial<HealthInput>[], number]>([
    ['machine creation', [noNode({ created: ago(100) })], 100],
    ['control plane initialized', [noNode(), cl({ controlPlaneInitializedTime: ago(200) })], 200],
    ['cluster infrastructure ready', [noNode(), cl({ infrastructureReadyTime: ago(300) })], 300],
    ['machine infrastructure ready', [noNode({ conditions: [infraReady(400)] })], 400],
  ])('counts from %s', (_what, parts, a) => {
    const start = NOW - a * 1000;
    const pending = only(input(...parts, at(start + 600_000)));
    expect([pending.state, pending.code, pending.nextCheckAt]).toEqual(['pending', 'WaitingForNode', start + 600_001]);
    const late = only(input(...parts, at(start + 600_001)));
    expect([late.state, late.code, late.message]).toEqual([
      'unhealthy',
      'NodeStartupTimeout',
      'no Node reported startup within 10m0s',
    ]);
  });

  // prettier-ignore
  it.each<[string, Partial<HealthInput>[], TargetHealth['state'], TargetHealth['code']]>([
    ['disabled with 0: waits forever, no requeue', [{ mhc: mhc({ nodeStartupTimeoutSeconds: 0 }) }], 'pending', 'WaitingForNode'],
    ['an unknown cluster time is left out', [cl({ controlPlaneInitializedTime: undefined })], 'unhealthy', 'NodeStartupTimeout'],
    ['a malformed cluster time is a problem', [cl({ infrastructureReadyTime: 'yesterday' })], 'unknown', 'Unreadable'],
    ['machine InfrastructureReady not True is ignored', [noNode({ conditions: [{ ...infraReady(1), status: 'False' }] })], 'unhealthy', 'NodeStartupTimeout'],
    ['no creationTimestamp', [noNode({ created: null })], 'unknown', 'Unreadable'],
  ])('%s', (_name, parts, state, code) => {
    const t = only(input(noNode(), ...parts));
    expect([t.state, t.code]).toEqual([state, code]);
    if (code === 'WaitingForNode') expect(t.nextCheckAt).toBeUndefined();
  });
});

describe('evaluateHealth: targets and totals', () => {
  it('selects by selector, cluster-name label and namespace; skips paused and skip-remediation', () => {
    const skip = { 'cluster.x-k8s.io/skip-remediation': 'false' };
    const paused = { 'cluster.x-k8s.io/paused': '' };
    const r = evaluateHealth(
      input({
        machines: [
          machine({ name: 'a' }),
          machine({ name: 'other-pool', labels: { ...TARGET, pool: 'b' } }),
          machine({ name: 'other-cluster', labels: { ...TARGET, 'cluster.x-k8s.io/cluster-name': 'c2' } }),
          machine({ name: 'no-cluster-label', labels: { pool: 'a' } }),
          machine({ name: 'other-ns', namespace: 'elsewhere' }),
          machine({ name: 'paused', annotations: paused }),
          machine({ name: 'skip', annotations: skip }),
          machine({ name: 'both', annotations: { ...paused, ...skip } }),
        ],
        nodes: new Map([['node-a', okNode('node-a')]]),
      }),
    );
    if (!r.ok) throw new Error(r.message);
    expect(r.targets.map((t) => t.machine)).toEqual(['a']);
    expect(r.skipped.map((s) => `${s.machine}:${s.code}`).join()).toBe(
      'both:Paused,paused:Paused,skip:SkipRemediation',
    );
    expect([r.expectedMachines, r.currentHealthy, r.unhealthy]).toEqual([1, 1, 0]);
  });

  it('counts as CAPI: only healthy targets are current; pending, unknown and deleting add to unhealthy', () => {
    const names = ['healthy', 'sick', 'pending', 'deleting', 'starting', 'unknown'];
    const nodeRef = (name: string) => (name === 'starting' ? null : undefined);
    const machines = names.map((name) =>
      machine({ name, deleting: name === 'deleting', nodeRef: nodeRef(name), created: ago(10) }),
    );
    const nodes = new Map([
      ['node-healthy', okNode('node-healthy')],
      ['node-sick', node('node-sick', nc('Ready', 'False', 301))],
      ['node-pending', node('node-pending', nc('Ready', 'Unknown', 30))],
      ['node-deleting', okNode('node-deleting')],
      ['node-unknown', node('node-unknown', nc('Ready', 'False', 'not a time'))],
    ]);
    const r = evaluateHealth(input({ machines, nodes }));
    if (!r.ok) throw new Error(r.message);
    expect(r.targets.map((t) => `${t.machine}:${t.state}`).join(' ')).toBe(
      'deleting:deleting healthy:healthy pending:pending sick:unhealthy starting:pending unknown:unknown',
    );
    expect([r.expectedMachines, r.currentHealthy, r.unhealthy]).toEqual([6, 1, 5]);
    expect(r.nextCheckAt).toBe(NOW + 60_001); // Ready=Unknown since 30 s, timeout 90 s
    expect(r.problems).toEqual([
      { machine: 'unknown', node: 'node-unknown', message: expect.stringContaining('"not a time"') },
    ]);
  });

  it.each<[string, Partial<HealthInput>, string]>([
    ['the Cluster', cl({ paused: true }), 'the Cluster is paused (spec.paused)'],
    [
      'the MHC',
      { mhc: mhc({ annotations: { 'cluster.x-k8s.io/paused': '' } }) },
      'the MachineHealthCheck has cluster.x-k8s.io/paused',
    ],
  ])('paused %s: reported, verdicts still listed', (_w, x, why) => {
    const r = evaluateHealth(input(x));
    expect(r.ok && [r.paused, r.targets.length]).toEqual([why, 1]);
  });

  const expr = (operator: string, values?: string[]) => ({
    selector: {
      matchExpressions: [{ key: 'pool', operator: operator as 'In', ...(values ? { values } : {}) }],
    },
  });
  it.each<[string, Partial<MachineHealthCheck>, string]>([
    ['In without values', expr('In', []), 'InvalidSelector'],
    ['NotIn without values', expr('NotIn'), 'InvalidSelector'],
    ['Exists with values', expr('Exists', ['a']), 'InvalidSelector'],
    ['unknown operator', expr('Gt', ['1']), 'InvalidSelector'],
    ['negative timeout', { unhealthyNodeConditions: [check('Ready', 'False', -1)] }, 'InvalidTimeout'],
    ['fractional startup timeout', { nodeStartupTimeoutSeconds: 1.5 }, 'InvalidTimeout'],
  ])('a configuration that cannot be evaluated is an error, never verdicts: %s', (_n, o, code) => {
    expect(evaluateHealth(input({ mhc: mhc(o) }))).toEqual({ ok: false, code, message: expect.any(String) });
  });
});

describe('version-agnostic: raw objects through fromObject', () => {
  const meta = (name: string, labels: object = TARGET) => ({
    name,
    namespace: NS,
    creationTimestamp: OLD,
    labels,
  });
  const selector = { matchLabels: { pool: 'a' } };
  const raw = (v: string, kind: string, name: string, spec: object, status = {}) =>
    fromObject({ apiVersion: `cluster.x-k8s.io/${v}`, kind, metadata: meta(name), spec, status });
  // prettier-ignore
  const rawMhc = {
    v1beta2: raw('v1beta2', 'MachineHealthCheck', 'mhc', { clusterName: 'c1', selector, checks: {
      unhealthyNodeConditions: [{ type: 'Ready', status: 'False', timeoutSeconds: 300 }] } }),
    v1beta1: raw('v1beta1', 'MachineHealthCheck', 'mhc', { clusterName: 'c1', selector, nodeStartupTimeout: '10m',
      unhealthyConditions: [{ type: 'Ready', status: 'False', timeout: '5m0s' }] }),
  };
  // prettier-ignore
  const infra = {
    v1beta2: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerMachine', name: 'dm' },
    v1beta1: { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'DockerMachine', name: 'dm' },
  };
  const rawMachine = (v: 'v1beta1' | 'v1beta2', name: string, nodeRef?: string) => {
    const ref = v === 'v1beta2' ? { name: nodeRef } : { apiVersion: 'v1', kind: 'Node', name: nodeRef };
    const spec = { clusterName: 'c1', bootstrap: { dataSecretName: 's' }, infrastructureRef: infra[v] };
    return raw(v, 'Machine', name, spec, nodeRef ? { nodeRef: ref } : {}) as Machine;
  };
  const nodes = new Map([
    ['n-ok', okNode('n-ok')],
    ['n-bad', node('n-bad', nc('Ready', 'False', 301))],
    ['n-soon', node('n-soon', nc('Ready', 'False', 299))],
  ]);
  // prettier-ignore
  const pairs: [string, string | undefined][] = [['a', 'n-ok'], ['b', 'n-bad'], ['c', 'n-soon'], ['d', 'n-gone'], ['e', undefined]];
  it.each([
    ['v1beta2', 'v1beta2'],
    ['v1beta1', 'v1beta1'],
    ['v1beta1', 'v1beta2'],
  ] as const)('%s MHC, %s Machines: same verdicts', (mv, machineV) => {
    const machines = pairs.map(([n, ref]) => rawMachine(machineV, n, ref));
    const r = evaluateHealth(input({ mhc: rawMhc[mv] as MachineHealthCheck, machines, nodes }));
    expect(r.ok && r.targets.map((t) => [t.machine, t.code, t.nextCheckAt])).toEqual([
      ['a', 'HealthCheckSucceeded', undefined],
      ['b', 'UnhealthyNode', undefined],
      ['c', 'TimeoutRunning', NOW + 1001],
      ['d', 'NodeDeleted', undefined],
      ['e', 'NodeStartupTimeout', undefined],
    ]);
  });

  it('a v1beta1 Machine is judged on its mirrored v1beta2 conditions when it has them', () => {
    const v1 = (conditions: Condition[], other?: Condition[]) =>
      mc({ version: 'v1beta1', conditions, ...(other ? { other } : {}) });
    expect(only(input(v1([etcd('True', 999)], [etcd('False', 999)]))).code).toBe('UnhealthyMachine');
    expect(only(input(v1([etcd('False', 999)], [etcd('True', 999)]))).code).toBe('HealthCheckSucceeded');
    expect(only(input(v1([etcd('False', 999)]))).code).toBe('UnhealthyMachine');
  });

  it('clusterFactsOf reads the conditions, else the status flags', () => {
    const facts = (v: string, status: object) =>
      clusterFactsOf(raw(v, 'Cluster', 'c1', {}, status) as Cluster);
    const conds = [
      { type: 'ControlPlaneInitialized', status: 'True', reason: 'x', lastTransitionTime: ago(50) },
      { type: 'InfrastructureReady', status: 'False', reason: 'x', lastTransitionTime: ago(40) },
    ];
    const want = { paused: false, controlPlaneInitialized: true, infrastructureReady: false };
    const withTime = { ...want, controlPlaneInitializedTime: ago(50) };
    const initialization = { infrastructureProvisioned: true };
    expect(facts('v1beta2', { conditions: conds, initialization })).toEqual(withTime);
    expect(facts('v1beta1', { infrastructureReady: true, v1beta2: { conditions: conds } })).toEqual(withTime);
    const flags = facts('v1beta1', { infrastructureReady: true, controlPlaneReady: true });
    expect(flags).toEqual({ ...want, infrastructureReady: true });
  });

  it.each([
    ['2026-05-01T10:00:00Z', Date.parse('2026-05-01T10:00:00Z')],
    ['2026-05-01T12:00:00+02:00', Date.parse('2026-05-01T10:00:00Z')],
    ['2026-05-01T10:00:00.5Z', Date.parse('2026-05-01T10:00:00.500Z')],
    ['2026-02-30T10:00:00Z', undefined],
    ['2026-05-01T24:00:00Z', undefined],
    ['2026-05-01 10:00:00Z', undefined],
    ['', undefined],
  ])('parseKubeTime(%j)', (text, want) => expect(parseKubeTime(text)).toBe(want));
});

describe('properties', () => {
  const arbMachine = fc.record({
    sel: fc.constantFrom('in', 'in', 'in', 'out', 'paused', 'skip'),
    deleting: fc.boolean(),
    node: fc.constantFrom('none', 'ok', 'gone'),
    ready: fc.constantFrom('True', 'False', 'Unknown'),
    readyAgo: fc.option(fc.integer({ min: -5, max: 1000 }), { nil: undefined, freq: 8 }),
    etcdAgo: fc.option(fc.integer({ min: -5, max: 100 }), { nil: undefined }),
    createdAgo: fc.integer({ min: 0, max: 2000 }),
  });
  const LABELS: Record<string, Record<string, string>> = { out: { ...TARGET, pool: 'b' } };
  const ANN: Record<string, Record<string, string>> = {
    paused: { 'cluster.x-k8s.io/paused': '' },
    skip: { 'cluster.x-k8s.io/skip-remediation': '' },
  };
  type Gen = typeof arbMachine extends fc.Arbitrary<infer T> ? T : never;
  const build = (ms: Gen[], cpAgo: number, cache: boolean): HealthInput => {
    const nodes = new Map<string, NodeFacts>();
    const machines = ms.map((m, i) => {
      const n = `n${i}`;
      if (m.node === 'ok') nodes.set(n, node(n, nc('Ready', m.ready, m.readyAgo)));
      const conditions = m.etcdAgo === undefined ? [] : [etcd('False', m.etcdAgo)];
      const [labels, annotations, created] = [LABELS[m.sel] ?? TARGET, ANN[m.sel] ?? {}, ago(m.createdAgo)];
      const nodeRef = m.node === 'none' ? null : n;
      return machine({
        name: `m${i}`,
        labels,
        annotations,
        deleting: m.deleting,
        nodeRef,
        created,
        conditions,
      });
    });
    const cluster = cl({ controlPlaneInitializedTime: ago(cpAgo) });
    return input({ machines, nodes, nodeCacheAvailable: cache }, cluster);
  };
  const arbCp = fc.integer({ min: 0, max: 2000 });
  const arbInput = fc.tuple(fc.array(arbMachine, { maxLength: 12 }), arbCp, fc.boolean());

  it('totals add up, each selected Machine is listed once, codes are known, requeues lie ahead', () => {
    fc.assert(
      fc.property(arbInput, ([ms, cp, cache]) => {
        const r = evaluateHealth(build(ms, cp, cache));
        if (!r.ok) return false;
        expect(r.currentHealthy + r.unhealthy).toBe(r.expectedMachines);
        // CAPI's currentHealthy: not deleting, has a Node, nothing unhealthy or pending.
        const counted = r.targets.filter((t) => t.state === 'healthy');
        expect(r.currentHealthy).toBe(counted.length);
        for (const t of counted)
          expect(t.node !== undefined && cache && !ms[+t.machine.slice(1)]?.deleting).toBe(true);
        expect(r.targets.length + r.skipped.length).toBe(ms.filter((m) => m.sel !== 'out').length);
        for (const t of r.targets) {
          expect(HEALTH_REASON_CODES).toContain(t.code);
          if (t.nextCheckAt !== undefined) expect(t.nextCheckAt).toBeGreaterThan(NOW);
          if (t.state === 'unhealthy') expect(t.nextCheckAt).toBeUndefined();
        }
        return true;
      }),
    );
  });

  it('requeue is exact: still pending 1 ms before nextCheckAt, unhealthy at it; unhealthy stays so', () => {
    fc.assert(
      fc.property(arbInput, fc.integer({ min: 1, max: 5000 }), ([ms, cp, cache], later) => {
        const x = build(ms, cp, cache);
        const stateAt = (now: number, name: string) => {
          const e = evaluateHealth({ ...x, now });
          return e.ok ? e.targets.find((t) => t.machine === name)?.state : undefined;
        };
        const r = evaluateHealth(x);
        if (!r.ok) return false;
        for (const t of r.targets) {
          if (t.state === 'unhealthy') expect(stateAt(NOW + later, t.machine)).toBe('unhealthy');
          if (t.state !== 'pending' || t.nextCheckAt === undefined) continue;
          expect(stateAt(t.nextCheckAt - 1, t.machine)).toBe('pending');
          expect(stateAt(t.nextCheckAt, t.machine)).toBe('unhealthy');
        }
        return true;
      }),
    );
  });
});
