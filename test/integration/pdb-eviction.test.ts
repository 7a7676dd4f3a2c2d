// PodDisruptionBudget status comes from the real disruption controller, and the Eviction API enforces it.
import { describe, expect, it } from 'vitest';
import { clusterApi, eventually, testNamespace, type Api } from './support/kube.ts';
import { kubeTime } from '../../src/kube/time.ts';

const api = clusterApi();

interface Pdb {
  metadata: { generation: number };
  status?: {
    disruptionsAllowed?: number;
    currentHealthy?: number;
    expectedPods?: number;
    observedGeneration?: number;
  };
}

async function readyPod(ns: string, name: string, labels: Record<string, string>): Promise<void> {
  await api.ok('POST', `/api/v1/namespaces/${ns}/pods`, {
    metadata: { name, labels },
    spec: { schedulerName: 'none', containers: [{ name: 'c', image: 'registry.invalid/pause' }] },
  });
  // No kubelet runs here, so the test reports the pod Running and Ready as one would.
  const now = kubeTime(new Date());
  await api.mergePatch(`/api/v1/namespaces/${ns}/pods/${name}/status`, {
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
    },
  });
}

async function evict(a: Api, policy: string, ns: string, name: string): Promise<number> {
  const r = await a.req('POST', `/api/v1/namespaces/${ns}/pods/${name}/eviction`, {
    apiVersion: policy,
    kind: 'Eviction',
    metadata: { name, namespace: ns },
  });
  return r.status;
}

describe('PodDisruptionBudget and eviction', () => {
  it('status is computed by the disruption controller and evictions honour it', async () => {
    const ns = await testNamespace(api, 'pdb');
    // Discover, never assume: 1.20 serves PDB and Eviction only as policy/v1beta1, newer releases policy/v1.
    const policy = (await api.preferredVersion('policy')) ?? 'policy group not served';
    expect(['policy/v1', 'policy/v1beta1']).toContain(policy);
    const labels = { app: 'db' };
    await readyPod(ns, 'db-0', labels);
    await readyPod(ns, 'db-1', labels);
    await api.ok('POST', `/apis/${policy}/namespaces/${ns}/poddisruptionbudgets`, {
      metadata: { name: 'db' },
      spec: { minAvailable: 2, selector: { matchLabels: labels } },
    });
    const pdbPath = `/apis/${policy}/namespaces/${ns}/poddisruptionbudgets/db`;

    const tight = await eventually('PDB status for minAvailable=2', async () => {
      const p = await api.ok<Pdb>('GET', pdbPath);
      return p.status?.observedGeneration === p.metadata.generation && p.status?.currentHealthy === 2 && p;
    });
    expect(tight.status).toMatchObject({ disruptionsAllowed: 0, currentHealthy: 2, expectedPods: 2 });
    expect(await evict(api, policy, ns, 'db-0')).toBe(429);
    expect((await api.req('GET', `/api/v1/namespaces/${ns}/pods/db-0`)).status).toBe(200);

    await api.mergePatch(pdbPath, { spec: { minAvailable: 1 } });
    await eventually('PDB to allow one disruption', async () => {
      const p = await api.ok<Pdb>('GET', pdbPath);
      return p.status?.observedGeneration === p.metadata.generation && p.status?.disruptionsAllowed === 1;
    });
    expect(await evict(api, policy, ns, 'db-0')).toBe(201);
    await eventually('the evicted pod to be gone', async () => {
      return (await api.req('GET', `/api/v1/namespaces/${ns}/pods/db-0`)).status === 404;
    });

    // The budget is now spent: one healthy pod left and one required.
    await eventually('PDB to allow no disruption again', async () => {
      const p = await api.ok<Pdb>('GET', pdbPath);
      return p.status?.currentHealthy === 1 && p.status?.disruptionsAllowed === 0;
    });
    expect(await evict(api, policy, ns, 'db-1')).toBe(429);
  });
});
