// The scale-down drain: cluster-autoscaler's three --skip-nodes-with-* switches as a DrainPolicy (and what
// classifyPod then does with each kind of pod), and scaleDownDrain's limits, taken from the autoscaler
// section while the rest comes from the drain section and the Machine.
import { describe, expect, it } from 'vitest';
import { fromObjectOfKind } from '../../src/capi/adapters/index.ts';
import { MACHINE_FINALIZER } from '../../src/capi/types.ts';
import { loadConfig } from '../../src/config/load.ts';
import { DEFAULT_CONFIG, type Config } from '../../src/config/schema.ts';
import { classifyPod, SCALE_DOWN_POLICY, type DrainPolicy, type PodLike } from '../../src/drain/filters.ts';
import {
  drainFor,
  EXCLUDE_NODE_DRAINING_ANNOTATION,
  scaleDownDrain,
  scaleDownPolicy,
} from '../../src/drain/options.ts';
import { controllerRef, metaJson } from './fixtures/capi-common.ts';

const config = (...set: string[]): Config =>
  loadConfig({ argv: set.flatMap((s) => ['--set', s]), env: {}, readFile: () => '' });

const NOW = Date.parse('2026-05-01T12:00:00Z');
const owned = (kind: string, apiVersion = 'apps/v1') => ({
  ownerReferences: [{ apiVersion, kind, name: 'x', controller: true }],
});

/** One pod per rule, each blocked only by that rule under the default (all switches on) policy. */
const PODS: Record<'localStorage' | 'systemPod' | 'customController', PodLike> = {
  localStorage: {
    metadata: { name: 'cache', namespace: 'apps', uid: 'u1', ...owned('ReplicaSet') },
    spec: { volumes: [{ name: 'scratch', emptyDir: {} }] },
    status: { phase: 'Running' },
  },
  systemPod: {
    metadata: { name: 'dns', namespace: 'kube-system', uid: 'u2', ...owned('ReplicaSet') },
    status: { phase: 'Running' },
  },
  customController: {
    metadata: { name: 'app', namespace: 'apps', uid: 'u3', ...owned('Rollout', 'argoproj.io/v1alpha1') },
    status: { phase: 'Running' },
  },
};

const classify = (pod: PodLike, policy: Readonly<DrainPolicy>) =>
  classifyPod(pod, { now: NOW, daemonSetExists: () => true, pdbsInNamespace: [], policy }).action;

describe('scaleDownPolicy: each --skip-nodes-with-* switch maps to its own rule', () => {
  it('the defaults (all true) are SCALE_DOWN_POLICY', () => {
    expect(scaleDownPolicy(DEFAULT_CONFIG.autoscaler)).toEqual(SCALE_DOWN_POLICY);
    expect(Object.isFrozen(scaleDownPolicy(DEFAULT_CONFIG.autoscaler))).toBe(true);
  });

  it.each<[string, boolean, Partial<DrainPolicy>]>([
    ['skipNodesWithLocalStorage', true, { localStorage: 'block' }],
    ['skipNodesWithLocalStorage', false, { localStorage: 'evict' }],
    ['skipNodesWithSystemPods', true, { kubeSystemWithoutPdb: 'block' }],
    ['skipNodesWithSystemPods', false, { kubeSystemWithoutPdb: 'evict' }],
    ['skipNodesWithCustomControllerPods', true, { customControllers: 'block' }],
    ['skipNodesWithCustomControllerPods', false, { customControllers: undefined }],
  ])('%s=%s', (key, value, rule) => {
    const policy = scaleDownPolicy(config(`autoscaler.${key}=${value}`).autoscaler);
    // The switch sets its rule and leaves every other rule as cluster-autoscaler's defaults.
    expect({ ...policy }).toStrictEqual({ ...SCALE_DOWN_POLICY, ...rule });
  });

  it.each<[string, keyof typeof PODS, string]>([
    ['skipNodesWithLocalStorage', 'localStorage', 'local storage'],
    ['skipNodesWithSystemPods', 'systemPod', 'kube-system pod without a PDB'],
    ['skipNodesWithCustomControllerPods', 'customController', 'custom controller pod'],
  ])('%s: true blocks the %s pod (%s), false evicts it; the other switches do not', (key, pod, _what) => {
    expect(classify(PODS[pod], scaleDownPolicy(config(`autoscaler.${key}=true`).autoscaler))).toBe('block');
    expect(classify(PODS[pod], scaleDownPolicy(config(`autoscaler.${key}=false`).autoscaler))).toBe('evict');
    for (const other of Object.keys(PODS) as Array<keyof typeof PODS>)
      if (other !== pod)
        expect(classify(PODS[other], scaleDownPolicy(config(`autoscaler.${key}=false`).autoscaler))).toBe(
          'block',
        );
  });

  it('custom controllers block only when the switch is true: known kinds never do', () => {
    const sts: PodLike = {
      metadata: { name: 'db-0', namespace: 'apps', uid: 'u4', ...owned('StatefulSet') },
      status: { phase: 'Running' },
    };
    for (const v of [true, false])
      expect(
        classify(
          sts,
          scaleDownPolicy(config(`autoscaler.skipNodesWithCustomControllerPods=${v}`).autoscaler),
        ),
      ).toBe('evict');
  });

  it('all switches off: a pod caught by all three rules is evicted', () => {
    const policy = scaleDownPolicy(
      config(
        'autoscaler.skipNodesWithLocalStorage=false',
        'autoscaler.skipNodesWithSystemPods=false',
        'autoscaler.skipNodesWithCustomControllerPods=false',
      ).autoscaler,
    );
    const all: PodLike = {
      metadata: { name: 'op', namespace: 'kube-system', uid: 'u5', ...owned('Operator', 'example.com/v1') },
      spec: { volumes: [{ name: 'host', hostPath: { path: '/var' } }] },
      status: { phase: 'Running' },
    };
    expect(classify(all, SCALE_DOWN_POLICY)).toBe('block');
    expect(classify(all, policy)).toBe('evict');
    // A bare pod still blocks: nothing recreates it, whatever the switches.
    const bare: PodLike = {
      metadata: { name: 'b', namespace: 'apps', uid: 'u6' },
      status: { phase: 'Running' },
    };
    expect(classify(bare, policy)).toBe('block');
  });
});

function machine(o: { annotations?: Record<string, string>; nodeDrainTimeoutSeconds?: number } = {}) {
  return fromObjectOfKind(
    {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Machine',
      metadata: metaJson('m-1', {
        ownerReferences: [controllerRef('MachineSet', 'ms-1')],
        finalizers: [MACHINE_FINALIZER],
        ...(o.annotations ? { annotations: o.annotations } : {}),
      }),
      spec: {
        clusterName: 'prod',
        bootstrap: { dataSecretName: 'boot' },
        infrastructureRef: {
          apiGroup: 'infrastructure.cluster.x-k8s.io',
          kind: 'DockerMachine',
          name: 'm-1',
        },
        ...(o.nodeDrainTimeoutSeconds !== undefined
          ? { deletion: { nodeDrainTimeoutSeconds: o.nodeDrainTimeoutSeconds } }
          : {}),
      },
    },
    'Machine',
  );
}

describe('scaleDownDrain', () => {
  const options = (c: Config, m?: ReturnType<typeof machine>) => {
    const d = scaleDownDrain(c, m);
    if (!d.drain) throw new Error(`expected a drain, got: ${d.reason}`);
    return d.options;
  };

  it('takes cluster-autoscaler’s eviction time and grace cap from the autoscaler section, not the drain one', () => {
    const c = config(
      'autoscaler.maxPodEvictionTime=5m',
      'autoscaler.maxGracefulTerminationSeconds=45',
      'drain.podEvictionTimeout=7m',
      'drain.maxGracefulTerminationSeconds=900',
    );
    expect(options(c)).toMatchObject({ podEvictionTimeoutMs: 300_000, maxGracePeriodSeconds: 45 });
  });

  it('defaults: 2m eviction time, 600 s grace cap, 10m node drain timeout, uncordon on failure', () => {
    expect(options(config())).toMatchObject({
      podEvictionTimeoutMs: 120_000,
      maxGracePeriodSeconds: 600,
      timeoutMs: 600_000,
      onFailure: 'uncordon',
      gracePeriodSeconds: -1,
    });
  });

  it('keeps the drain section for everything else', () => {
    const c = config(
      'drain.nodeDrainTimeout=3m',
      'drain.gracePeriodSeconds=5',
      'drain.onFailure=leave-cordoned',
      'drain.skipWaitForDeleteTimeoutSeconds=20',
    );
    expect(options(c)).toMatchObject({
      timeoutMs: 180_000,
      gracePeriodSeconds: 5,
      onFailure: 'leave-cordoned',
      skipWaitForDeleteTimeoutSeconds: 20,
    });
  });

  it('uses the scale-down policy from the autoscaler switches, not the drain section’s switches', () => {
    const c = config(
      'autoscaler.skipNodesWithLocalStorage=false',
      'drain.deleteEmptyDirData=false',
      'drain.ignoreDaemonSets=false',
    );
    expect(options(c).policy).toEqual({ ...SCALE_DOWN_POLICY, localStorage: 'evict' });
  });

  it.each<[string, number | undefined, string[], number]>([
    ['no Machine value: the drain config', undefined, ['drain.nodeDrainTimeout=4m'], 240_000],
    ["the Machine's nodeDrainTimeoutSeconds wins", 90, ['drain.nodeDrainTimeout=4m'], 90_000],
    ["the Machine's 0: no limit", 0, [], 0],
  ])('node drain timeout: %s', (_, fromMachine, set, expected) => {
    const m = machine(fromMachine !== undefined ? { nodeDrainTimeoutSeconds: fromMachine } : {});
    expect(options(config(...set), m).timeoutMs).toBe(expected);
  });

  it.each(['', 'true'])(
    'a scale-down still drains a Machine with exclude-node-draining=%j (that is for CAPI’s own drain)',
    (v) => {
      const m = machine({ annotations: { [EXCLUDE_NODE_DRAINING_ANNOTATION]: v } });
      const d = scaleDownDrain(config(), m);
      expect(d).toEqual(scaleDownDrain(config(), machine()));
      expect(d.drain).toBe(true);
      // The Machine deletion drain (CAPI's rule) still honours it.
      expect(drainFor('machine-deletion', config().drain, m).drain).toBe(false);
    },
  );

  it('a Machine without the annotation is drained', () => {
    expect(scaleDownDrain(config(), machine()).drain).toBe(true);
  });
});
