import { describe, expect, it, vi } from 'vitest';
import {
  classifyPod,
  drainPlan,
  MACHINE_DELETION_POLICY,
  pdbMatchesPod,
  SCALE_DOWN_POLICY,
  type ClassifyContext,
  type PdbLike,
  type PodAction,
  type PodLike,
  type PodReason,
  type VolumeLike,
} from '../../src/drain/filters.ts';

const NOW = Date.parse('2025-01-01T00:10:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();

type PodOpts = {
  name?: string;
  ns?: string;
  owner?: string | null; // controller kind; null = bare pod
  ownerName?: string;
  labels?: Record<string, string>;
  ann?: Record<string, string>;
  phase?: string;
  deletedAgo?: number;
  grace?: number;
  deletionGrace?: number;
  volumes?: VolumeLike[];
};

function pod(o: PodOpts = {}): PodLike {
  const name = o.name ?? 'p';
  const kind = o.owner === undefined ? 'ReplicaSet' : o.owner;
  return {
    metadata: {
      name,
      namespace: o.ns ?? 'default',
      uid: `uid-${name}`,
      labels: o.labels ?? { app: 'web' },
      annotations: o.ann,
      ownerReferences: kind === null ? [] : [{ kind, name: o.ownerName ?? 'owner', controller: true }],
      deletionTimestamp: o.deletedAgo === undefined ? undefined : ago(o.deletedAgo),
      deletionGracePeriodSeconds: o.deletionGrace,
    },
    spec: { volumes: o.volumes, terminationGracePeriodSeconds: o.grace, nodeName: 'n1' },
    status: { phase: o.phase ?? 'Running' },
  };
}

const pdb = (name: string, ns: string, selector: PdbLike['spec']['selector']): PdbLike => ({
  metadata: { name, namespace: ns },
  spec: { selector },
});

function ctx(o: Partial<ClassifyContext> = {}): ClassifyContext {
  return {
    now: NOW,
    daemonSetExists: (_ns, name) => name !== 'gone',
    pdbsInNamespace: [],
    policy: SCALE_DOWN_POLICY,
    ...o,
  };
}

const emptyDir = (name: string, medium?: string) => ({ name, emptyDir: medium ? { medium } : {} });
const STE = 'cluster-autoscaler.kubernetes.io/safe-to-evict';
const STE_VOLS = 'cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes';
const MIRROR = { 'kubernetes.io/config.mirror': 'abc' };
const SAFE = { [STE]: 'true' };
const UNSAFE = { [STE]: 'false' };

type Outcome = `${PodAction}:${PodReason}`;
type Row = [string, PodLike, Outcome];
const outcome = (p: PodLike, c: ClassifyContext): Outcome => {
  const { action, reason } = classifyPod(p, c);
  return `${action}:${reason}`;
};

describe('classifyPod: each rule (scale-down policy)', () => {
  it.each<Row>([
    ['mirror pod', pod({ owner: 'Node', ann: MIRROR }), 'skip:MirrorPod'],
    ['long terminating, default grace 30s + 30s', pod({ deletedAgo: 61 }), 'skip:LongTerminating'],
    ['terminating exactly at the threshold is not yet ignored', pod({ deletedAgo: 60 }), 'evict:Evictable'],
    ['long terminating with grace 0', pod({ deletedAgo: 31, grace: 0 }), 'skip:LongTerminating'],
    ['spec grace 300s keeps it', pod({ deletedAgo: 100, grace: 300, deletionGrace: 0 }), 'evict:Evictable'],
    ['Succeeded', pod({ phase: 'Succeeded', owner: null }), 'delete:Terminal'],
    ['Failed', pod({ phase: 'Failed', owner: null }), 'delete:Terminal'],
    ['Pending is not terminal', pod({ phase: 'Pending', owner: null }), 'block:NotReplicated'],
    ['DaemonSet exists', pod({ owner: 'DaemonSet', ownerName: 'ds' }), 'skip:DaemonSetPod'],
    ['DaemonSet missing', pod({ owner: 'DaemonSet', ownerName: 'gone' }), 'block:DaemonSetNotFound'],
    [
      'daemonset-pod annotation',
      pod({ ann: { 'cluster-autoscaler.kubernetes.io/daemonset-pod': 'true' } }),
      'skip:DaemonSetPod',
    ],
    ['safe-to-evict "true" on a bare pod', pod({ owner: null, ann: SAFE }), 'evict:SafeToEvict'],
    ['bare pod', pod({ owner: null }), 'block:NotReplicated'],
    ['kube-system without PDB', pod({ ns: 'kube-system' }), 'block:KubeSystemWithoutPdb'],
    ['safe-to-evict "false"', pod({ ann: UNSAFE }), 'block:NotSafeToEvict'],
    ['emptyDir', pod({ volumes: [emptyDir('scratch')] }), 'block:LocalStorage'],
    ['hostPath', pod({ volumes: [{ name: 'h', hostPath: { path: '/x' } }] }), 'block:LocalStorage'],
    ['memory emptyDir is not local storage', pod({ volumes: [emptyDir('m', 'Memory')] }), 'evict:Evictable'],
    ['configMap volume', pod({ volumes: [{ name: 'c', configMap: { name: 'c' } }] }), 'evict:Evictable'],
    ['replicated pod', pod(), 'evict:Evictable'],
  ])('%s', (_name, p, expected) => {
    expect(outcome(p, ctx())).toBe(expected);
  });

  it('extra terminating slack is configurable', () => {
    const p = pod({ deletedAgo: 35 });
    expect(classifyPod(p, ctx()).reason).toBe('Evictable');
    expect(classifyPod(p, ctx({ terminatingGraceExtraSeconds: 0 })).reason).toBe('LongTerminating');
  });

  it('looks the DaemonSet up in the pod namespace by owner name', () => {
    const daemonSetExists = vi.fn(() => true);
    classifyPod(pod({ ns: 'mon', owner: 'DaemonSet', ownerName: 'agent' }), ctx({ daemonSetExists }));
    expect(daemonSetExists).toHaveBeenCalledWith('mon', 'agent');
  });

  it('an owner reference without controller: true is not a controller', () => {
    const p = pod({ owner: null });
    p.metadata.ownerReferences = [{ kind: 'ReplicaSet', name: 'rs' }];
    expect(classifyPod(p, ctx()).reason).toBe('NotReplicated');
  });

  it('notes an already terminating pod that is still within its grace period', () => {
    expect(classifyPod(pod({ deletedAgo: 5 }), ctx()).detail).toContain('already terminating');
  });
});

describe('classifyPod: kube-system PDBs', () => {
  const sys = pod({ ns: 'kube-system', labels: { k8s: 'dns' } });
  it.each<[string, PdbLike[], PodReason]>([
    ['matching PDB', [pdb('dns', 'kube-system', { matchLabels: { k8s: 'dns' } })], 'Evictable'],
    [
      'PDB selecting other pods',
      [pdb('x', 'kube-system', { matchLabels: { k8s: 'x' } })],
      'KubeSystemWithoutPdb',
    ],
    ['matching PDB in another namespace', [pdb('dns', 'default', {})], 'KubeSystemWithoutPdb'],
    ['PDB without selector selects nothing', [pdb('none', 'kube-system', undefined)], 'KubeSystemWithoutPdb'],
    ['empty selector selects every pod', [pdb('all', 'kube-system', {})], 'Evictable'],
  ])('%s', (_name, pdbs, reason) => {
    expect(classifyPod(sys, ctx({ pdbsInNamespace: pdbs })).reason).toBe(reason);
  });

  it('names the PDBs that guard an eviction', () => {
    const c = ctx({ pdbsInNamespace: [pdb('dns', 'kube-system', {}), pdb('other', 'default', {})] });
    expect(classifyPod(sys, c).detail).toBe('eviction honours PDB dns');
  });
});

describe('classifyPod: rule order conflicts', () => {
  const bareKitchenSink = { owner: null, ns: 'kube-system', volumes: [emptyDir('d')] };
  it.each<Row>([
    ['mirror beats long terminating', pod({ owner: 'Node', ann: MIRROR, deletedAgo: 999 }), 'skip:MirrorPod'],
    [
      'long terminating beats safe-to-evict false and not replicated',
      pod({ owner: null, ann: UNSAFE, deletedAgo: 999 }),
      'skip:LongTerminating',
    ],
    ['terminal beats safe-to-evict false', pod({ phase: 'Failed', ann: UNSAFE }), 'delete:Terminal'],
    ['terminal DaemonSet pod is deleted', pod({ owner: 'DaemonSet', phase: 'Succeeded' }), 'delete:Terminal'],
    ['DaemonSet beats safe-to-evict false', pod({ owner: 'DaemonSet', ann: UNSAFE }), 'skip:DaemonSetPod'],
    [
      'missing DaemonSet is not lifted by safe-to-evict true',
      pod({ owner: 'DaemonSet', ownerName: 'gone', ann: SAFE }),
      'block:DaemonSetNotFound',
    ],
    [
      'safe-to-evict true overrides not replicated, kube-system and local storage',
      pod({ ...bareKitchenSink, ann: SAFE }),
      'evict:SafeToEvict',
    ],
    ['not replicated is reported before kube-system', pod(bareKitchenSink), 'block:NotReplicated'],
    [
      'not replicated is reported before safe-to-evict false',
      pod({ owner: null, ann: UNSAFE }),
      'block:NotReplicated',
    ],
    [
      'kube-system is reported before local storage',
      pod({ ns: 'kube-system', volumes: [emptyDir('d')] }),
      'block:KubeSystemWithoutPdb',
    ],
    [
      'safe-to-evict false is reported before local storage',
      pod({ ann: UNSAFE, volumes: [emptyDir('d')] }),
      'block:NotSafeToEvict',
    ],
  ])('%s', (_name, p, expected) => {
    expect(outcome(p, ctx())).toBe(expected);
  });

  it.each<Row>([
    [
      'a relaxed check does not hide a later block',
      pod({ owner: null, ann: UNSAFE }),
      'block:NotSafeToEvict',
    ],
    ['the first relaxed check names the reason', pod(bareKitchenSink), 'evict:NotReplicated'],
  ])('machine deletion: %s', (_name, p, expected) => {
    expect(outcome(p, ctx({ policy: MACHINE_DELETION_POLICY }))).toBe(expected);
  });

  it('lists every relaxed finding in the detail', () => {
    const { detail } = classifyPod(pod(bareKitchenSink), ctx({ policy: MACHINE_DELETION_POLICY }));
    expect(detail).toContain('no controller');
    expect(detail).toContain('kube-system');
    expect(detail).toContain('local volumes lost with the node: d');
  });
});

describe('policies', () => {
  it('presets hold the upstream defaults and cannot be mutated', () => {
    expect(SCALE_DOWN_POLICY).toEqual({
      localStorage: 'block',
      notReplicated: 'block',
      kubeSystemWithoutPdb: 'block',
      ignoreDaemonSets: true,
      customControllers: 'block',
    });
    expect(MACHINE_DELETION_POLICY).toEqual({
      localStorage: 'evict',
      notReplicated: 'evict',
      kubeSystemWithoutPdb: 'evict',
      ignoreDaemonSets: true,
    });
    expect(Object.isFrozen(SCALE_DOWN_POLICY) && Object.isFrozen(MACHINE_DELETION_POLICY)).toBe(true);
  });

  it.each<[string, PodLike, Outcome, Outcome]>([
    ['bare pod', pod({ owner: null }), 'block:NotReplicated', 'evict:NotReplicated'],
    ['emptyDir', pod({ volumes: [emptyDir('d')] }), 'block:LocalStorage', 'evict:LocalStorage'],
    ['kube-system', pod({ ns: 'kube-system' }), 'block:KubeSystemWithoutPdb', 'evict:KubeSystemWithoutPdb'],
    ['DaemonSet', pod({ owner: 'DaemonSet' }), 'skip:DaemonSetPod', 'skip:DaemonSetPod'],
    [
      'orphan',
      pod({ owner: 'DaemonSet', ownerName: 'gone' }),
      'block:DaemonSetNotFound',
      'evict:DaemonSetNotFound',
    ],
    ['replicated', pod(), 'evict:Evictable', 'evict:Evictable'],
    ['StatefulSet', pod({ owner: 'StatefulSet' }), 'evict:Evictable', 'evict:Evictable'],
    ['Job', pod({ owner: 'Job' }), 'evict:Evictable', 'evict:Evictable'],
    ['ReplicationController', pod({ owner: 'ReplicationController' }), 'evict:Evictable', 'evict:Evictable'],
    // cluster-autoscaler's --skip-nodes-with-custom-controller-pods (default true): CAPI has no such rule.
    ['custom controller', pod({ owner: 'Rollout' }), 'block:NotReplicated', 'evict:Evictable'],
    [
      'custom controller, safe to evict',
      pod({ owner: 'Rollout', ann: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true' } }),
      'evict:SafeToEvict',
      'evict:SafeToEvict',
    ],
  ])('%s: scale-down vs machine deletion', (_name, p, scaleDown, machine) => {
    expect(outcome(p, ctx({ policy: SCALE_DOWN_POLICY }))).toBe(scaleDown);
    expect(outcome(p, ctx({ policy: MACHINE_DELETION_POLICY }))).toBe(machine);
  });

  it('notReplicated "delete" deletes without eviction', () => {
    const policy = { ...MACHINE_DELETION_POLICY, notReplicated: 'delete' as const };
    const c = classifyPod(pod({ owner: null, volumes: [emptyDir('d')] }), ctx({ policy }));
    expect(c).toMatchObject({ action: 'delete', reason: 'NotReplicated' });
    expect(c.detail).toContain('bypassing PDBs');
  });

  it('ignoreDaemonSets false blocks on DaemonSet pods', () => {
    const policy = { ...SCALE_DOWN_POLICY, ignoreDaemonSets: false };
    expect(outcome(pod({ owner: 'DaemonSet' }), ctx({ policy }))).toBe('block:DaemonSetPod');
  });
});

describe('malformed annotations', () => {
  it.each(['True', 'yes', '', '1', ' true'])('safe-to-evict %j is not permission', (value) => {
    const c = classifyPod(pod({ owner: null, ann: { [STE]: value } }), ctx());
    expect(c).toMatchObject({ action: 'block', reason: 'NotReplicated' });
    expect(c.detail).toContain(`safe-to-evict=${JSON.stringify(value)} is not "true"/"false"; ignored`);
  });

  it.each(['False', 'no'])('safe-to-evict %j does not block either', (value) => {
    const c = classifyPod(pod({ ann: { [STE]: value } }), ctx());
    expect(c).toMatchObject({ action: 'evict', reason: 'Evictable' });
    expect(c.detail).toContain('ignored');
  });

  it.each<[string, string, PodReason]>([
    ['all local volumes listed', 'a,b', 'Evictable'],
    ['one missing', 'a', 'LocalStorage'],
    ['empty value lists nothing', '', 'LocalStorage'],
    ['names are not trimmed', 'a, b', 'LocalStorage'],
    ['empty items are harmless', ',a,,b', 'Evictable'],
  ])('safe-to-evict-local-volumes: %s', (_name, value, reason) => {
    const p = pod({
      ann: { [STE_VOLS]: value },
      volumes: [emptyDir('a'), { name: 'b', hostPath: { path: '/b' } }],
    });
    expect(classifyPod(p, ctx()).reason).toBe(reason);
  });

  it('reports listed names that match no local volume', () => {
    const p = pod({ ann: { [STE_VOLS]: 'a, b' }, volumes: [emptyDir('a'), emptyDir('b')] });
    expect(classifyPod(p, ctx()).detail).toContain(
      'local volumes lost with the node: b (listed but not local: " b")',
    );
  });
});

describe('pdbMatchesPod', () => {
  const p = pod({ labels: { app: 'web', tier: 'fe' } });
  it.each<[string, PdbLike, boolean]>([
    ['no selector', pdb('x', 'default', undefined), false],
    ['null selector', pdb('x', 'default', null), false],
    ['empty selector', pdb('x', 'default', {}), true],
    ['other namespace', pdb('x', 'other', {}), false],
    ['matchLabels', pdb('x', 'default', { matchLabels: { app: 'web' } }), true],
    [
      'In',
      pdb('x', 'default', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe'] }] }),
      true,
    ],
    [
      'NotIn',
      pdb('x', 'default', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['fe'] }] }),
      false,
    ],
    ['Exists', pdb('x', 'default', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }), false],
    [
      'DoesNotExist',
      pdb('x', 'default', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }),
      true,
    ],
  ])('%s', (_name, b, expected) => {
    expect(pdbMatchesPod(b, p)).toBe(expected);
  });
});

describe('drainPlan', () => {
  it('lists every pod in order with its action and reason', () => {
    const pods = [
      pod({ name: 'mirror', owner: 'Node', ann: MIRROR }),
      pod({ name: 'ds', owner: 'DaemonSet' }),
      pod({ name: 'done', phase: 'Succeeded' }),
      pod({ name: 'web' }),
      pod({ name: 'bare', owner: null }),
    ];
    const plan = drainPlan(pods, ctx());
    expect(plan.blocked).toBe(true);
    expect(plan.entries.map((e) => [e.pod, e.action, e.reason])).toEqual([
      [{ namespace: 'default', name: 'mirror', uid: 'uid-mirror' }, 'skip', 'MirrorPod'],
      [{ namespace: 'default', name: 'ds', uid: 'uid-ds' }, 'skip', 'DaemonSetPod'],
      [{ namespace: 'default', name: 'done', uid: 'uid-done' }, 'delete', 'Terminal'],
      [{ namespace: 'default', name: 'web', uid: 'uid-web' }, 'evict', 'Evictable'],
      [{ namespace: 'default', name: 'bare', uid: 'uid-bare' }, 'block', 'NotReplicated'],
    ]);
    expect(plan.entries.every((e) => e.detail.length > 0)).toBe(true);
  });

  it.each<[string, PodLike[], boolean]>([
    ['no pods', [], false],
    ['only movable pods', [pod({ name: 'a' }), pod({ name: 'b', owner: 'DaemonSet' })], false],
    ['one blocker', [pod({ name: 'a' }), pod({ name: 'b', ann: UNSAFE })], true],
  ])('blocked: %s', (_name, pods, blocked) => {
    expect(drainPlan(pods, ctx()).blocked).toBe(blocked);
  });

  it('the machine-deletion plan for the same node is not blocked', () => {
    const pods = [pod({ name: 'bare', owner: null }), pod({ name: 'sys', ns: 'kube-system' })];
    expect(drainPlan(pods, ctx()).blocked).toBe(true);
    expect(drainPlan(pods, ctx({ policy: MACHINE_DELETION_POLICY })).blocked).toBe(false);
  });
});
