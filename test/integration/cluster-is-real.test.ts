// Proves the test cluster runs the real control plane: controllers, scheduler and PDB accounting
// are Kubernetes' own, not something this repository imitates.
import { describe, expect, it } from 'vitest';
import { clusterApi, eventually, readyNode, testNamespace, uniqueName } from './support/kube.ts';

const api = clusterApi();

interface PodList {
  items: Array<{
    metadata: { name: string; ownerReferences?: Array<{ kind: string; name: string }> };
    spec: { nodeName?: string };
    status: { conditions?: Array<{ type: string; status: string }> };
  }>;
}

describe('the cluster is real', () => {
  it('a Deployment gets its pods from the real ReplicaSet controller', async () => {
    const ns = await testNamespace(api, 'deploy');
    const labels = { app: 'web' };
    await api.ok('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          // No scheduler picks these up, so they stay where the controllers put them.
          spec: { schedulerName: 'none', containers: [{ name: 'c', image: 'registry.invalid/pause' }] },
        },
      },
    });
    const rs = await eventually('a ReplicaSet owned by the Deployment', async () => {
      const l = await api.ok<PodList>('GET', `/apis/apps/v1/namespaces/${ns}/replicasets`);
      return l.items.find((r) =>
        r.metadata.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === 'web'),
      );
    });
    const pods = await eventually('3 pods owned by the ReplicaSet', async () => {
      const l = await api.ok<PodList>('GET', `/api/v1/namespaces/${ns}/pods`);
      const owned = l.items.filter((p) =>
        p.metadata.ownerReferences?.some((o) => o.kind === 'ReplicaSet' && o.name === rs.metadata.name),
      );
      return owned.length === 3 && owned;
    });
    expect(pods.map((p) => p.metadata.name.startsWith(`${rs.metadata.name}-`))).toEqual([true, true, true]);

    // Deleting a pod makes the controller replace it: the controller is live, not a one-shot.
    const victim = pods[0]!.metadata.name;
    await api.ok('DELETE', `/api/v1/namespaces/${ns}/pods/${victim}?gracePeriodSeconds=0`);
    await eventually('a replacement pod', async () => {
      const l = await api.ok<PodList>('GET', `/api/v1/namespaces/${ns}/pods`);
      const names = l.items.map((p) => p.metadata.name);
      return names.length === 3 && !names.includes(victim);
    });
  });

  it('the real scheduler binds a pod to a Ready node', async () => {
    const ns = await testNamespace(api, 'sched');
    const marker = uniqueName('pool');
    const node = await readyNode(api, { labels: { 'test.capi-autopilot.io/pool': marker } });
    await api.ok('POST', `/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'p' },
      spec: {
        nodeSelector: { 'test.capi-autopilot.io/pool': marker },
        containers: [{ name: 'c', image: 'registry.invalid/pause', resources: { requests: { cpu: '1' } } }],
      },
    });
    const pod = await eventually('the pod to be bound', async () => {
      const p = await api.ok<PodList['items'][number]>('GET', `/api/v1/namespaces/${ns}/pods/p`);
      return p.spec.nodeName ? p : undefined;
    });
    expect(pod.spec.nodeName).toBe(node);
    expect(pod.status.conditions?.find((c) => c.type === 'PodScheduled')?.status).toBe('True');
  });

  it('a pod that fits no node stays Pending with the scheduler reason', async () => {
    const ns = await testNamespace(api, 'unsched');
    await api.ok('POST', `/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'big' },
      spec: {
        nodeSelector: { 'test.capi-autopilot.io/pool': uniqueName('nowhere') },
        containers: [{ name: 'c', image: 'registry.invalid/pause' }],
      },
    });
    const cond = await eventually('PodScheduled=False', async () => {
      const p = await api.ok<{
        status: { conditions?: Array<{ type: string; status: string; reason?: string }> };
      }>('GET', `/api/v1/namespaces/${ns}/pods/big`);
      return p.status.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
    });
    expect(cond.reason).toBe('Unschedulable');
  });
});
