// One pod's eviction against the real apiserver and disruption controller: allowed, refused by a PDB
// until the timeout (the PDB named), covered by two PDBs (reported, not retried), already gone, and a
// same-named replacement that the UID precondition protects.
import { describe, expect, it } from 'vitest';
import { evictPod, pollUntilGone, type EvictablePod, type EvictOptions } from '../../src/drain/eviction.ts';
import { discoverGroup, evictionVersion } from '../../src/kube/discovery.ts';
import { kubeTime } from '../../src/kube/time.ts';
import { clusterApi, clusterClient, eventually, testNamespace } from './support/kube.ts';

const api = clusterApi();
const client = clusterClient();

async function readyPod(ns: string, name: string, labels: Record<string, string>): Promise<EvictablePod> {
  const pod = await api.ok<EvictablePod>('POST', `/api/v1/namespaces/${ns}/pods`, {
    metadata: { name, labels },
    spec: { schedulerName: 'none', containers: [{ name: 'c', image: 'registry.invalid/pause' }] },
  });
  // No kubelet runs these, so the test reports them Running and Ready as one would.
  await api.mergePatch(`/api/v1/namespaces/${ns}/pods/${name}/status`, {
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: kubeTime(new Date()) }],
    },
  });
  return pod;
}

async function pdb(
  policy: string,
  ns: string,
  name: string,
  minAvailable: number,
  labels: Record<string, string>,
) {
  await api.ok('POST', `/apis/${policy}/namespaces/${ns}/poddisruptionbudgets`, {
    metadata: { name },
    spec: { minAvailable, selector: { matchLabels: labels } },
  });
  await eventually(`PDB ${name} status`, async () => {
    const p = await api.ok<{
      metadata: { generation: number };
      status?: { observedGeneration?: number; expectedPods?: number };
    }>('GET', `/apis/${policy}/namespaces/${ns}/poddisruptionbudgets/${name}`);
    return p.status?.observedGeneration === p.metadata.generation && (p.status?.expectedPods ?? 0) > 0;
  });
}

async function options(extra: Partial<EvictOptions> = {}): Promise<EvictOptions> {
  const version = evictionVersion(await discoverGroup(client, 'policy'));
  return {
    policyVersion: version,
    evictionTimeoutMs: 3000,
    deletionTimeoutMs: 10_000,
    gracePeriodSeconds: -1,
    maxGracePeriodSeconds: 600,
    retryIntervalMs: 300,
    waitGone: (p, deadline, signal) => pollUntilGone(client, p, deadline, signal, 200),
    ...extra,
  };
}

describe('evictPod', () => {
  it('evicts when the PDB allows it and waits until the pod is gone', async () => {
    const ns = await testNamespace(api, 'ev-ok');
    const o = await options();
    const labels = { app: 'a' };
    const pod = await readyPod(ns, 'a-0', labels);
    await readyPod(ns, 'a-1', labels);
    await pdb(`policy/${o.policyVersion}`, ns, 'a', 1, labels);
    await eventually('one disruption allowed', async () => {
      const p = await api.ok<{ status?: { disruptionsAllowed?: number } }>(
        'GET',
        `/apis/policy/${o.policyVersion}/namespaces/${ns}/poddisruptionbudgets/a`,
      );
      return p.status?.disruptionsAllowed === 1;
    });
    expect(await evictPod(client, pod, o)).toEqual({ result: 'evicted', attempts: 1 });
    expect((await api.req('GET', `/api/v1/namespaces/${ns}/pods/a-0`)).status).toBe(404);
  });

  it('retries a PDB refusal until the timeout, names the PDB, and leaves the pod', async () => {
    const ns = await testNamespace(api, 'ev-pdb');
    const o = await options();
    const labels = { app: 'b' };
    const pod = await readyPod(ns, 'b-0', labels);
    await pdb(`policy/${o.policyVersion}`, ns, 'b-budget', 1, labels);
    const t0 = Date.now();
    const r = await evictPod(client, pod, o);
    expect(r).toMatchObject({ result: 'blocked_by_pdb', pdb: 'b-budget' });
    expect(r.attempts).toBeGreaterThan(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2500);
    expect((await api.req('GET', `/api/v1/namespaces/${ns}/pods/b-0`)).status).toBe(200);
  });

  it('reports a pod covered by two PDBs after one attempt', async () => {
    const ns = await testNamespace(api, 'ev-two');
    const o = await options();
    const labels = { app: 'c' };
    const pod = await readyPod(ns, 'c-0', labels);
    await readyPod(ns, 'c-1', labels);
    await pdb(`policy/${o.policyVersion}`, ns, 'one', 0, labels);
    await pdb(`policy/${o.policyVersion}`, ns, 'two', 0, labels);
    const r = await evictPod(client, pod, o);
    expect(r).toMatchObject({ result: 'multiple_pdbs', attempts: 1 });
    expect((await api.req('GET', `/api/v1/namespaces/${ns}/pods/c-0`)).status).toBe(200);
  });

  it('a pod already gone is not_found; a same-named replacement is never evicted (UID precondition)', async () => {
    const ns = await testNamespace(api, 'ev-uid');
    const o = await options();
    expect(await evictPod(client, { metadata: { namespace: ns, name: 'nobody', uid: 'x' } }, o)).toEqual({
      result: 'not_found',
      attempts: 1,
    });

    const planned = await readyPod(ns, 'd-0', { app: 'd' });
    await api.ok('DELETE', `/api/v1/namespaces/${ns}/pods/d-0`);
    await eventually(
      'd-0 gone',
      async () => (await api.req('GET', `/api/v1/namespaces/${ns}/pods/d-0`)).status === 404,
    );
    const replacement = await readyPod(ns, 'd-0', { app: 'd' });
    expect(await evictPod(client, planned, o)).toMatchObject({ result: 'not_found' });
    const still = await api.ok<EvictablePod>('GET', `/api/v1/namespaces/${ns}/pods/d-0`);
    expect(still.metadata.uid).toBe(replacement.metadata.uid);
  });

  it('stops at once when aborted', async () => {
    const ns = await testNamespace(api, 'ev-abort');
    const labels = { app: 'e' };
    const pod = await readyPod(ns, 'e-0', labels);
    const o0 = await options({ evictionTimeoutMs: 60_000, retryIntervalMs: 5000 });
    await pdb(`policy/${o0.policyVersion}`, ns, 'e', 1, labels);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 800);
    const t0 = Date.now();
    const r = await evictPod(client, pod, { ...o0, signal: ac.signal });
    expect(r.result).toBe('aborted');
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
