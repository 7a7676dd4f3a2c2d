// Scale-up on the real cluster: the service (its autoscaler controller, on informers) sees pods the real
// scheduler left Unschedulable, plans against each MachineDeployment's template node, and patches
// replicas; the CAPI simulator creates the machines and nodes and the scheduler places the pods there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../../src/service.ts';
import { autoscalerService, autoscalerSuite, capiPath as capi, POOL_LABEL } from './support/autoscaler.ts';
import { useSimulator } from './support/capi.ts';
import { clusterApi, eventually, testNamespace } from './support/kube.ts';

interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string };
  status?: { phase?: string };
}

const GPU = 'nvidia.com/gpu';

describe('autoscaler: event-driven scale-up', () => {
  const env = useSimulator('v1beta2');
  const workload = clusterApi();
  let svc: Service;
  const logs: string[] = [];
  const suite = autoscalerSuite(env, 'scale-up');
  const group = suite.group;
  const replicasSeen = (ns: string) => suite.replicas(ns);

  beforeAll(async () => {
    svc = await autoscalerService(env, [suite.discovery], { logs });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('scales a group from zero to the estimated count in one decision, and the pods run on the new nodes', async () => {
    const { ns, pool } = await group({ max: 5 });
    const seen: number[] = [];
    const watch = setInterval(() => {
      void replicasSeen(ns).then((r) => {
        if (r !== undefined && seen.at(-1) !== r) seen.push(r);
      });
    }, 100);
    const apps = await testNamespace(workload, 'as-apps');
    await workload.ok('POST', `/apis/apps/v1/namespaces/${apps}/deployments`, {
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            nodeSelector: { [POOL_LABEL]: pool },
            containers: [
              { name: 'c', image: 'registry.invalid/pause', resources: { requests: { cpu: '2' } } },
            ],
          },
        },
      },
    });
    try {
      // 3 pods × 2 CPU on 4-CPU template nodes: 2 nodes, in one write.
      await eventually('md-a to be scaled', async () => (await replicasSeen(ns)) === 2, 60_000);
      const pods = await eventually(
        'the 3 pods Running on the new nodes',
        async () => {
          const l = (await workload.ok<{ items: Pod[] }>('GET', `/api/v1/namespaces/${apps}/pods`)).items;
          return l.length === 3 && l.every((p) => p.status?.phase === 'Running') && l;
        },
        90_000,
      );
      const nodes = (
        await workload.ok<{ items: Array<{ metadata: { name: string } }> }>(
          'GET',
          `/api/v1/nodes?labelSelector=${encodeURIComponent(`${POOL_LABEL}=${pool}`)}`,
        )
      ).items.map((n) => n.metadata.name);
      expect(nodes).toHaveLength(2);
      for (const p of pods) expect(nodes).toContain(p.spec.nodeName);
      expect(seen).toEqual([0, 2]);
      const ev = await workload.ok<{ items: Array<{ reason: string; message: string }> }>(
        'GET',
        `/api/v1/namespaces/${apps}/events`,
      );
      expect(ev.items.filter((e) => e.reason === 'TriggeredScaleUp').map((e) => e.message)).toContainEqual(
        expect.stringMatching(/MachineDeployment\/as-[a-z0-9-]+\/md-a 0->2 \(max: 5\)/),
      );
    } finally {
      clearInterval(watch);
    }
  });

  const podsIn = async (ns: string) =>
    (await workload.ok<{ items: Pod[] }>('GET', `/api/v1/namespaces/${ns}/pods`)).items;
  const eventsFor = async (ns: string, pod: string, reason: string) =>
    (
      await workload.ok<{
        items: Array<{ reason: string; message: string; involvedObject: { name: string } }>;
      }>('GET', `/api/v1/namespaces/${ns}/events`)
    ).items.filter((e) => e.reason === reason && e.involvedObject.name === pod);
  const gpuPod = (name: string, pool: string, tolerate: boolean) => ({
    metadata: { name },
    spec: {
      nodeSelector: { [POOL_LABEL]: pool },
      tolerations: tolerate ? [{ key: GPU, operator: 'Exists', effect: 'NoSchedule' }] : [],
      containers: [
        {
          name: 'c',
          image: 'registry.invalid/pause',
          resources: { requests: { cpu: '1', [GPU]: '1' }, limits: { [GPU]: '1' } },
        },
      ],
    },
  });

  it('GPU pods land only on the tainted GPU group; a GPU pod without the toleration never triggers it', async () => {
    const { ns, pool } = await group({
      max: 2,
      annotations: {
        'capacity.cluster-autoscaler.kubernetes.io/gpu-count': '1',
        'capacity.cluster-autoscaler.kubernetes.io/gpu-type': GPU,
        'capacity.cluster-autoscaler.kubernetes.io/taints': `${GPU}=present:NoSchedule`,
      },
    });
    // The instances really have the GPU and the taint, so the scheduler agrees with the template.
    await env.mgmt.api.mergePatch(
      `/apis/infrastructure.sandbox.capi-autopilot.io/v1alpha1/namespaces/${ns}/sandboxmachinetemplates/md-a-tmpl`,
      {
        spec: {
          template: {
            spec: {
              instanceType: {
                gpu: { count: 1 },
                taints: [{ key: GPU, value: 'present', effect: 'NoSchedule' }],
              },
            },
          },
        },
      },
    );
    const apps = await testNamespace(workload, 'as-gpu');
    await workload.ok('POST', `/api/v1/namespaces/${apps}/pods`, gpuPod('trainer', pool, true));
    await workload.ok('POST', `/api/v1/namespaces/${apps}/pods`, gpuPod('intruder', pool, false));
    await eventually('the GPU group to grow by one', async () => (await replicasSeen(ns)) === 1, 60_000);
    const trainer = await eventually(
      'the tolerating pod Running',
      async () =>
        (await podsIn(apps)).find((p) => p.metadata.name === 'trainer' && p.status?.phase === 'Running'),
      90_000,
    );
    expect(trainer.spec.nodeName).toMatch(/^md-a-/);
    const refused = await eventually(
      'NotTriggerScaleUp for the pod without the toleration',
      async () =>
        (await eventsFor(apps, 'intruder', 'NotTriggerScaleUp')).find((e) =>
          e.message.includes(`MachineDeployment/${ns}/md-a`),
        ),
      60_000,
    );
    expect(refused.message).toContain(
      `MachineDeployment/${ns}/md-a: node(s) had untolerated taint {nvidia.com/gpu: present}`,
    );
    // Two scan intervals later it still has not grown for the intruder.
    await new Promise((r) => setTimeout(r, 4500));
    expect(await replicasSeen(ns)).toBe(1);
    expect((await podsIn(apps)).find((p) => p.metadata.name === 'intruder')?.spec.nodeName).toBeUndefined();
  });

  it('a group whose machines never join backs off and the pods are placed through another group', async () => {
    // md-a: 4-CPU machines that never become nodes, preferred by least-waste; md-b: 8-CPU machines that do.
    const { ns, pool } = await group({
      max: 3,
      annotations: { 'cluster.x-k8s.io/autoscaling-options-maxnodeprovisiontime': '4s' },
    });
    await env.mgmt.api.mergePatch(capi(ns, 'machinedeployments', 'md-a'), {
      spec: {
        template: { metadata: { annotations: { 'sandbox.capi-autopilot.io/fault-never-join': 'true' } } },
      },
    });
    await suite.another(ns, pool, { md: 'md-b', max: 3, cpu: '8' });
    const apps = await testNamespace(workload, 'as-backoff');
    await workload.ok('POST', `/api/v1/namespaces/${apps}/pods`, {
      metadata: { name: 'patient' },
      spec: {
        nodeSelector: { [POOL_LABEL]: pool },
        containers: [{ name: 'c', image: 'registry.invalid/pause', resources: { requests: { cpu: '2' } } }],
      },
    });
    await eventually('md-a to be tried first', async () => (await replicasSeen(ns)) === 1, 60_000);
    const mdB = () => suite.replicas(ns, 'md-b');
    await eventually('md-b to scale once md-a backs off', async () => (await mdB()) === 1, 60_000);
    const pod = await eventually(
      'the pod Running on an md-b node',
      async () => (await podsIn(apps)).find((p) => p.status?.phase === 'Running'),
      90_000,
    );
    expect(pod.spec.nodeName).toMatch(/^md-b-/);
    const mdEvents = await env.mgmt.api.ok<{
      items: Array<{ reason: string; involvedObject: { name: string } }>;
    }>('GET', `/api/v1/namespaces/${ns}/events`);
    expect(mdEvents.items.some((e) => e.reason === 'FailedScaleUp' && e.involvedObject.name === 'md-a')).toBe(
      true,
    );
  });

  it("a pod no group can hold triggers nothing and gets NotTriggerScaleUp naming each group's reason", async () => {
    const { ns, pool } = await group({ max: 3 });
    const apps = await testNamespace(workload, 'as-big');
    await workload.ok('POST', `/api/v1/namespaces/${apps}/pods`, {
      metadata: { name: 'huge' },
      spec: {
        nodeSelector: { [POOL_LABEL]: pool },
        containers: [
          {
            name: 'c',
            image: 'registry.invalid/pause',
            resources: { requests: { cpu: '16', [GPU]: '1' }, limits: { [GPU]: '1' } },
          },
        ],
      },
    });
    const ev = await eventually(
      'a NotTriggerScaleUp event',
      // Every test group is its own Cluster on the same workload apiserver, so each plans this pod.
      async () =>
        (await eventsFor(apps, 'huge', 'NotTriggerScaleUp')).find((e) =>
          e.message.includes(`MachineDeployment/${ns}/md-a`),
        ),
      60_000,
    );
    expect(ev.message).toMatch(new RegExp(`MachineDeployment/${ns}/md-a: Insufficient cpu, nvidia.com/gpu`));
    expect(await replicasSeen(ns)).toBe(0);
  });

  it('a group with a malformed max-size annotation is skipped, with the reason, while another group scales', async () => {
    const bad = await group({
      max: 3,
      annotations: { 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': 'three' },
    });
    const apps = await testNamespace(workload, 'as-bad');
    await workload.ok('POST', `/api/v1/namespaces/${apps}/pods`, {
      metadata: { name: 'wants-bad' },
      spec: {
        nodeSelector: { [POOL_LABEL]: bad.pool },
        containers: [{ name: 'c', image: 'registry.invalid/pause', resources: { requests: { cpu: '1' } } }],
      },
    });
    const ev = await eventually(
      'NotTriggerScaleUp for the pod of the malformed group',
      // Every test group is its own Cluster on the same workload apiserver, so each plans this pod.
      async () =>
        (await eventsFor(apps, 'wants-bad', 'NotTriggerScaleUp')).find((e) =>
          e.message.includes(`MachineDeployment/${bad.ns}/md-a`),
        ),
      60_000,
    );
    expect(ev.message).toMatch(
      new RegExp(`MachineDeployment/${bad.ns}/md-a: [^;]*max-size "three" is not an integer`),
    );
    expect(await replicasSeen(bad.ns)).toBe(0);
    // Meanwhile a valid group keeps scaling.
    const good = await group({ max: 3 });
    await workload.ok('POST', `/api/v1/namespaces/${apps}/pods`, {
      metadata: { name: 'wants-good' },
      spec: {
        nodeSelector: { [POOL_LABEL]: good.pool },
        containers: [{ name: 'c', image: 'registry.invalid/pause', resources: { requests: { cpu: '1' } } }],
      },
    });
    await eventually('the valid group to scale', async () => (await replicasSeen(good.ns)) === 1, 60_000);
    expect(await replicasSeen(bad.ns)).toBe(0);
  });
});
