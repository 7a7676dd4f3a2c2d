// Scale-up on the real cluster: the service (its autoscaler controller, on informers) sees pods the real
// scheduler left Unschedulable, plans against each MachineDeployment's template node, and patches
// replicas; the CAPI simulator creates the machines and nodes and the scheduler places the pods there.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAutoscaler } from '../../src/autoscaler/controller.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { startService, type Service } from '../../src/service.ts';
import { createDeployment, useSimulator } from './support/capi.ts';
import { clusterApi, eventually, serviceConfig, testNamespace } from './support/kube.ts';

interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string };
  status?: { phase?: string };
}

const POOL_LABEL = 'test.capi-autopilot.io/pool';
const GPU = 'nvidia.com/gpu';

describe('autoscaler: event-driven scale-up', () => {
  const env = useSimulator('v1beta2');
  const workload = clusterApi();
  let svc: Service;
  const logs: string[] = [];
  const capi = (ns: string, r: string, name = '') =>
    `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/${r}${name ? `/${name}` : ''}`;

  /** A node group of its own: Cluster c1 in a new namespace, md-a at 0, opted in with capacity annotations. */
  async function group(o: { max: number; annotations?: Record<string, string> }) {
    const { ns, pool } = await createDeployment(env.mgmt, {
      replicas: 0,
      prefix: 'as',
    });
    await env.mgmt.api.mergePatch(capi(ns, 'machinedeployments', 'md-a'), {
      metadata: {
        annotations: {
          'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': '0',
          'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': String(o.max),
          'capacity.cluster-autoscaler.kubernetes.io/cpu': '4',
          'capacity.cluster-autoscaler.kubernetes.io/memory': '8Gi',
          'capacity.cluster-autoscaler.kubernetes.io/labels': `${POOL_LABEL}=${pool}`,
          ...o.annotations,
        },
      },
    });
    // The service reaches the workload cluster through the Cluster's kubeconfig Secret, as with real CAPI.
    await env.mgmt.api.ok('POST', `/api/v1/namespaces/${ns}/secrets`, {
      metadata: { name: 'c1-kubeconfig', labels: { 'cluster.x-k8s.io/cluster-name': 'c1' } },
      type: 'cluster.x-k8s.io/secret',
      data: { value: Buffer.from(readFileSync(inject('cluster').kubeconfigPath)).toString('base64') },
    });
    return { ns, pool };
  }

  const replicasSeen = async (ns: string) =>
    (await env.mgmt.api.ok<{ spec: { replicas?: number } }>('GET', capi(ns, 'machinedeployments', 'md-a')))
      .spec.replicas;

  beforeAll(async () => {
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (logs.push(c.toString()), cb()) });
    svc = await startService({
      config: serviceConfig(
        env.mgmt.kubeconfigPath,
        'workloadClusters.mode=secret',
        'autoscaler.scaleUpBatchIdle=500ms',
      ),
      log: createLogger({ level: 'info', format: 'json' }, sink),
      portOverride: 0,
      controllers: (e) => [createAutoscaler(e).controller],
    });
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
      async () => {
        const l = await workload.ok<{
          items: Array<{ reason: string; message: string; involvedObject: { name: string } }>;
        }>('GET', `/api/v1/namespaces/${apps}/events`);
        return l.items.find(
          (e) =>
            e.reason === 'NotTriggerScaleUp' &&
            e.involvedObject.name === 'huge' &&
            e.message.includes(`MachineDeployment/${ns}/md-a`),
        );
      },
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
      async () => {
        const l = await workload.ok<{
          items: Array<{ reason: string; message: string; involvedObject: { name: string } }>;
        }>('GET', `/api/v1/namespaces/${apps}/events`);
        // Every test group is its own Cluster on the same workload apiserver, so each plans this pod.
        return l.items.find(
          (e) =>
            e.reason === 'NotTriggerScaleUp' &&
            e.involvedObject.name === 'wants-bad' &&
            e.message.includes(`MachineDeployment/${bad.ns}/md-a`),
        );
      },
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
