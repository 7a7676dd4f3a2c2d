import { describe, expect, it } from 'vitest';
import { planRollout, resolveIntOrPercent } from '../../src/sandbox/capi-sim/machinedeployment.ts';
import {
  buildNode,
  capacityOf,
  isSyncedNodeLabel,
  templateHash,
} from '../../src/sandbox/capi-sim/node-template.ts';
import { terminationDelayMs, type PodObject } from '../../src/sandbox/capi-sim/hollow-kubelet.ts';
import { templateStatus } from '../../src/sandbox/capi-sim/infra-template.ts';
import { WorkQueue } from '../../src/runtime/queue.ts';

describe('rollout planning', () => {
  it.each([
    // desired, surge, unavailable, current {replicas, available}, old, expected
    [
      'no old MachineSets: the new one takes all',
      3,
      1,
      0,
      { replicas: 0, available: 0 },
      [],
      { newReplicas: 3, old: [] },
    ],
    [
      'surge one while old ones keep availability',
      3,
      1,
      0,
      { replicas: 0, available: 0 },
      [{ name: 'a', replicas: 3, available: 3 }],
      { newReplicas: 1, old: [{ name: 'a', replicas: 3 }] },
    ],
    [
      'new replica available: one old goes',
      3,
      1,
      0,
      { replicas: 1, available: 1 },
      [{ name: 'a', replicas: 3, available: 3 }],
      { newReplicas: 1, old: [{ name: 'a', replicas: 2 }] },
    ],
    [
      'unavailable old replicas go first at no cost',
      3,
      1,
      0,
      { replicas: 1, available: 0 },
      [{ name: 'a', replicas: 3, available: 2 }],
      { newReplicas: 1, old: [{ name: 'a', replicas: 2 }] },
    ],
    [
      'maxUnavailable lets old ones shrink ahead',
      2,
      0,
      1,
      { replicas: 0, available: 0 },
      [{ name: 'a', replicas: 2, available: 2 }],
      { newReplicas: 0, old: [{ name: 'a', replicas: 1 }] },
    ],
    [
      'oldest first across several',
      2,
      1,
      0,
      { replicas: 2, available: 2 },
      [
        { name: 'a', replicas: 1, available: 1 },
        { name: 'b', replicas: 1, available: 1 },
      ],
      {
        newReplicas: 2,
        old: [
          { name: 'a', replicas: 0 },
          { name: 'b', replicas: 0 },
        ],
      },
    ],
  ] as const)('%s', (_n, desired, surge, unavailable, current, old, expected) => {
    expect(planRollout(desired, surge, unavailable, current, old)).toEqual(expected);
  });

  it.each([
    [undefined, 10, true, 1, 1],
    [2, 10, true, 1, 2],
    ['25%', 10, true, 0, 3],
    ['25%', 10, false, 0, 2],
    ['0%', 10, true, 1, 0],
  ] as const)('resolveIntOrPercent(%j of %i, up=%s, default %i) = %i', (v, total, up, dflt, want) => {
    expect(resolveIntOrPercent(v, total, up, dflt)).toBe(want);
  });
});

describe('nodes of an instance type', () => {
  const gpu = {
    name: 'g',
    cpu: '8',
    memory: '32Gi',
    maxPods: 58,
    gpu: { count: 2, type: 'nvidia.com/gpu' },
    ephemeralStorage: '100Gi',
  };
  it('capacity includes pods, ephemeral storage and GPUs by resource name', () => {
    expect(capacityOf(gpu)).toEqual({
      cpu: '8',
      memory: '32Gi',
      pods: '58',
      'ephemeral-storage': '100Gi',
      'nvidia.com/gpu': '2',
    });
    expect(capacityOf({ cpu: '1', memory: '1Gi' })).toEqual({ cpu: '1', memory: '1Gi', pods: '110' });
  });
  it('template status follows the autoscaling-from-zero contract', () => {
    expect(templateStatus({ cpu: '2', memory: '4Gi', architecture: 'arm64' })).toEqual({
      capacity: { cpu: '2', memory: '4Gi', pods: '110' },
      nodeInfo: { architecture: 'arm64', operatingSystem: 'linux' },
    });
  });
  it.each([
    ['node-role.kubernetes.io/worker', true],
    ['node-restriction.kubernetes.io/pool', true],
    ['team.node-restriction.kubernetes.io/x', true],
    ['node.cluster.x-k8s.io/pool', true],
    ['a.node.cluster.x-k8s.io/pool', true],
    ['cluster.x-k8s.io/deployment-name', false],
    ['app', false],
    ['evilnode.cluster.x-k8s.io/x', false],
  ] as const)('label %s is copied to the node: %s', (k, want) => {
    expect(isSyncedNodeLabel(k)).toBe(want);
  });
  it('a node carries providerID, well-known labels, CAPI annotations, taints and Ready', () => {
    const n = buildNode({
      name: 'm1',
      providerID: 'sandbox://ns/m1',
      instanceType: {
        ...gpu,
        labels: { pool: 'gpu' },
        taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }],
      },
      machine: {
        name: 'm1',
        namespace: 'ns',
        clusterName: 'c',
        labels: { 'node-role.kubernetes.io/gpu': '', app: 'x' },
      },
      owner: { kind: 'MachineSet', name: 'ms' },
      failureDomain: 'zone-a',
      simulator: 'sim1',
      now: new Date('2026-01-01T00:00:00Z'),
    }) as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: { providerID: string; taints: unknown[] };
      status: { conditions: Array<{ type: string; status: string }> };
    };
    expect(n.spec.providerID).toBe('sandbox://ns/m1');
    expect(n.metadata.labels).toMatchObject({
      'kubernetes.io/hostname': 'm1',
      'kubernetes.io/arch': 'amd64',
      'node.kubernetes.io/instance-type': 'g',
      'topology.kubernetes.io/zone': 'zone-a',
      'node-role.kubernetes.io/gpu': '',
      pool: 'gpu',
      'sandbox.capi-autopilot.io/hollow': 'sim1',
    });
    expect(n.metadata.labels).not.toHaveProperty('app');
    expect(n.metadata.annotations).toEqual({
      'cluster.x-k8s.io/cluster-name': 'c',
      'cluster.x-k8s.io/cluster-namespace': 'ns',
      'cluster.x-k8s.io/machine': 'm1',
      'cluster.x-k8s.io/owner-kind': 'MachineSet',
      'cluster.x-k8s.io/owner-name': 'ms',
    });
    expect(n.spec.taints).toEqual([{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }]);
    expect(n.status.conditions).toEqual([expect.objectContaining({ type: 'Ready', status: 'True' })]);
  });
  it('template hash is stable under key order and changes with content', () => {
    expect(templateHash({ a: 1, b: { c: 2 } })).toBe(templateHash({ b: { c: 2 }, a: 1 }));
    expect(templateHash({ a: 1 })).not.toBe(templateHash({ a: 2 }));
    expect(templateHash({ a: 1 })).toMatch(/^[0-9a-z]{7}$/);
  });
});

describe('termination delay fault', () => {
  const pod = (v?: string): PodObject => {
    const annotations: Record<string, string> = {};
    if (v !== undefined) annotations['sandbox.capi-autopilot.io/fault-termination-delay-seconds'] = v;
    return { metadata: { name: 'p', annotations }, spec: { containers: [] } };
  };
  it.each([
    [undefined, 0],
    ['5', 5000],
    ['never', Infinity],
    ['-1', 0],
    ['soon', 0],
  ] as const)('%j -> %d ms', (v, ms) => {
    expect(terminationDelayMs(pod(v))).toBe(ms);
  });
});

describe('work queue', () => {
  const tick = () => new Promise((r) => setTimeout(r, 5));
  it('runs nothing before start, then each key once however often it was added', async () => {
    const seen: string[] = [];
    const q = new WorkQueue(async (k) => void seen.push(k));
    q.add('a');
    q.add('a');
    q.add('b');
    await tick();
    expect(seen).toEqual([]);
    q.start();
    await tick();
    expect(seen).toEqual(['a', 'b']);
    q.stop();
  });
  it('never runs a key twice at once; an add during a run reruns it after', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue(
      async () => {
        running++;
        runs++;
        maxRunning = Math.max(maxRunning, running);
        if (runs === 1) await gate;
        running--;
      },
      { workers: 4 },
    );
    q.start();
    q.add('k');
    await tick();
    q.add('k');
    q.add('k');
    await tick();
    expect(runs).toBe(1);
    release();
    await tick();
    expect(runs).toBe(2);
    expect(maxRunning).toBe(1);
    q.stop();
  });
  it('retries a failing key with backoff and reports the error', async () => {
    const errors: string[] = [];
    let n = 0;
    const q = new WorkQueue(
      async () => {
        if (++n < 3) throw new Error(`fail ${n}`);
      },
      { onError: (_k, e) => errors.push((e as Error).message) },
    );
    q.start();
    q.add('k');
    await new Promise((r) => setTimeout(r, 400));
    expect(errors).toEqual(['fail 1', 'fail 2']);
    expect(n).toBe(3);
    q.stop();
  });
});
