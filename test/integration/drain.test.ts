// Node drains on the real cluster: the scheduler places pods on hollow nodes of the CAPI simulator, the
// ReplicaSet controller replaces evicted pods, the hollow kubelet runs and terminates them, and the
// disruption controller keeps the PDB's status, which the Eviction API enforces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { Drainer, type DrainOptions } from '../../src/drain/drainer.ts';
import { MACHINE_DELETION_POLICY, SCALE_DOWN_POLICY } from '../../src/drain/filters.ts';
import { discoverGroup, evictionVersion } from '../../src/kube/discovery.ts';
import { EventRecorder } from '../../src/kube/events.ts';
import { Informer, type KubeObject } from '../../src/kube/informer.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { createLimiter } from '../../src/kube/limiter.ts';
import { HttpsTransport, kubeConfigFrom } from '../../src/kube/transport.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { createDeployment, startManagement, startSimulator, type Management } from './support/capi.ts';
import { clusterApi, clusterClient, eventually, testNamespace } from './support/kube.ts';

const api = clusterApi();
const POOL_LABEL = 'test.capi-autopilot.io/pool';

interface Pod extends KubeObject {
  spec: { nodeName?: string };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}
const ready = (p: Pod) =>
  !p.metadata.deletionTimestamp &&
  (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

describe('drain', () => {
  let mgmt: Management;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let nodes: string[];
  let drainer: Drainer;
  let listingDrainer: Drainer;
  let policyVersion: 'v1' | 'v1beta1';
  const stop = new AbortController();
  const eventErrors: string[] = [];
  const client = clusterClient();
  const cordon = (n: string, on: boolean) =>
    api.mergePatch(`/api/v1/nodes/${n}`, { spec: { unschedulable: on ? true : null } });
  /** The reasons and messages of a Node's events since the given time. */
  const nodeEvents = async (n: string, since: number) =>
    (
      await api.ok<{ items: Array<{ reason: string; message: string; lastTimestamp: string }> }>(
        'GET',
        `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${n}`)}`,
      )
    ).items.filter((e) => Date.parse(e.lastTimestamp) >= Math.floor(since / 1000) * 1000);
  const unschedulable = async (n: string) =>
    (await api.ok<{ spec?: { unschedulable?: boolean } }>('GET', `/api/v1/nodes/${n}`)).spec
      ?.unschedulable === true;
  /** Deletes a Deployment and waits for its pods to go, so the next test's node holds only its own. */
  const removeDeployment = async (ns: string, name: string) => {
    await api.ok('DELETE', `/apis/apps/v1/namespaces/${ns}/deployments/${name}`, {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      propagationPolicy: 'Foreground',
    });
    await eventually(`pods of ${ns}/${name} gone`, async () => {
      const l = await api.ok<{ items: unknown[] }>(
        'GET',
        `/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${name}`,
      );
      return l.items.length === 0;
    });
  };
  const base = (): DrainOptions => ({
    policy: SCALE_DOWN_POLICY,
    timeoutMs: 90_000,
    podEvictionTimeoutMs: 60_000,
    gracePeriodSeconds: -1,
    maxGracePeriodSeconds: 600,
    onFailure: 'uncordon',
    retryIntervalMs: 300,
  });

  beforeAll(async () => {
    mgmt = await startManagement('v1beta2');
    sim = await startSimulator(mgmt, api);
    const { pool } = await createDeployment(mgmt, { replicas: 3, prefix: 'drain' });
    nodes = await eventually('three Ready hollow nodes', async () => {
      const l = await api.ok<{
        items: Array<KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>;
      }>('GET', `/api/v1/nodes?labelSelector=${encodeURIComponent(`${POOL_LABEL}=${pool}`)}`);
      const r = l.items.filter((n) =>
        n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return r.length === 3 ? r.map((n) => n.metadata.name!).sort() : undefined;
    });
    policyVersion = evictionVersion(await discoverGroup(client, 'policy'));
    const pods = new Informer<KubeObject>(client, '/api/v1/pods');
    pods.addIndex('node', (p) => {
      const n = (p as Pod).spec?.nodeName;
      return n ? [n] : [];
    });
    await pods.run(stop.signal).synced;
    const pdbs = new Informer<KubeObject>(client, `/apis/policy/${policyVersion}/poddisruptionbudgets`);
    await pdbs.run(stop.signal).synced;
    const deps = {
      client,
      cluster: 'test',
      pods,
      policyVersion,
      limiter: createLimiter({ reservoir: 20, reservoirRefreshAmount: 20, reservoirRefreshInterval: 1000 }),
      perNodeConcurrency: 10,
      events: new EventRecorder(client, { onError: (e) => eventErrors.push(e.message) }),
      log: createLogger({ level: 'warn', format: 'json' }, new Writable({ write: (_c, _e, cb) => cb() })),
    };
    // The production shape follows PDBs by watch; the filters test runs one that lists them per pass.
    drainer = new Drainer({ ...deps, pdbs });
    listingDrainer = new Drainer(deps);
  });
  afterAll(async () => {
    stop.abort();
    await sim?.stop();
    await mgmt?.stop();
    await client.close();
  });

  it('drains a node under a PDB without ever dropping below what it allows', async () => {
    const ns = await testNamespace(api, 'drain-pdb');
    const [target, ...others] = nodes;
    // All three replicas on the target: the others are cordoned while the pods schedule.
    for (const n of others) await cordon(n!, true);
    await api.ok('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: nodes }] },
                  ],
                },
              },
            },
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'c', image: 'registry.invalid/pause' }],
          },
        },
      },
    });
    const webPods = async () =>
      (await api.ok<{ items: Pod[] }>('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dweb`)).items;
    await eventually('three ready web pods on the target', async () => {
      const p = await webPods();
      return p.filter(ready).filter((x) => x.spec.nodeName === target).length === 3;
    });
    for (const n of others) await cordon(n!, false);
    await api.ok('POST', `/apis/policy/${policyVersion}/namespaces/${ns}/poddisruptionbudgets`, {
      metadata: { name: 'web' },
      spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } },
    });
    await eventually('the PDB allows one disruption', async () => {
      const p = await api.ok<{ status?: { disruptionsAllowed?: number } }>(
        'GET',
        `/apis/policy/${policyVersion}/namespaces/${ns}/poddisruptionbudgets/web`,
      );
      return p.status?.disruptionsAllowed === 1;
    });

    const t0 = Date.now();
    let minReady = 3;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const n = (await webPods()).filter(ready).length;
        minReady = Math.min(minReady, n);
        samples++;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const report = await drainer.drain(target!, base());
    sampling = false;
    await sampler;

    expect(report).toMatchObject({ result: 'succeeded', evicted: 3, cordoned: true, blocking: [] });
    expect(samples).toBeGreaterThan(5);
    expect(minReady).toBeGreaterThanOrEqual(2);
    const after = await webPods();
    expect(after.filter(ready).length).toBe(3);
    expect(after.filter((p) => p.spec.nodeName === target)).toEqual([]);
    expect(await unschedulable(target!)).toBe(true);
    expect(eventErrors).toEqual([]);
    const reasons = (await nodeEvents(target!, t0)).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['DrainStarted', 'DrainSucceeded']));
    await cordon(target!, false);
    await removeDeployment(ns, 'web');
  });

  it('a PDB that never allows: ends at the pod timeout with the pod and PDB named, and uncordons', async () => {
    const ns = await testNamespace(api, 'drain-never');
    const target = nodes[1]!;
    await api.ok('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
      metadata: { name: 'db' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'db' } },
        template: {
          metadata: { labels: { app: 'db' } },
          spec: {
            nodeName: target,
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'c', image: 'registry.invalid/pause' }],
          },
        },
      },
    });
    await api.ok('POST', `/apis/policy/${policyVersion}/namespaces/${ns}/poddisruptionbudgets`, {
      metadata: { name: 'db-budget' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'db' } } },
    });
    await eventually('the PDB sees its healthy pod', async () => {
      const p = await api.ok<{ status?: { currentHealthy?: number } }>(
        'GET',
        `/apis/policy/${policyVersion}/namespaces/${ns}/poddisruptionbudgets/db-budget`,
      );
      return p.status?.currentHealthy === 1;
    });

    // The drain's events also go on a Machine in the management cluster, through its own recorder.
    const machine = (
      await mgmt.api.ok<{ items: KubeObject[] }>('GET', `/apis/cluster.x-k8s.io/v1beta2/machines`)
    ).items[0]!;
    const mgmtClient = new KubeClient(
      new HttpsTransport(kubeConfigFrom({ kubeconfig: mgmt.kubeconfigPath })),
      {
        qps: 50,
        burst: 50,
        timeoutMs: 10_000,
        maxRetries: 3,
      },
    );
    const machineRef = {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Machine',
      namespace: machine.metadata.namespace!,
      name: machine.metadata.name!,
      uid: machine.metadata.uid,
    };
    const t0 = Date.now();
    const failed = await drainer.drain(target, {
      ...base(),
      podEvictionTimeoutMs: 2000,
      eventTargets: [{ recorder: new EventRecorder(mgmtClient), ref: machineRef }],
    });
    expect(failed.result).toBe('failed');
    expect(failed.blocking).toEqual([
      expect.objectContaining({ namespace: ns, reason: 'blocked_by_pdb', pdb: 'db-budget' }),
    ]);
    expect(failed.cordoned).toBe(false);
    expect(await unschedulable(target)).toBe(false);
    const onNode = await nodeEvents(target, t0);
    expect(onNode.find((e) => e.reason === 'EvictionBlocked')?.message).toContain(
      `PodDisruptionBudget ${ns}/db-budget`,
    );
    expect(onNode.find((e) => e.reason === 'DrainFailed')?.message).toContain(
      'PodDisruptionBudget db-budget',
    );
    const onMachine = (
      await mgmt.api.ok<{ items: Array<{ reason: string; involvedObject: { name: string } }> }>(
        'GET',
        `/api/v1/namespaces/${machineRef.namespace}/events`,
      )
    ).items.filter((e) => e.involvedObject.name === machineRef.name);
    expect(onMachine.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['DrainStarted', 'EvictionBlocked', 'DrainFailed']),
    );
    await mgmtClient.close();

    // The drain deadline instead, leaving the node cordoned as configured.
    const timedOut = await drainer.drain(target, { ...base(), timeoutMs: 2000, onFailure: 'leave-cordoned' });
    expect(timedOut.result).toBe('timed_out');
    expect(timedOut.blocking).toEqual([expect.objectContaining({ namespace: ns, pdb: 'db-budget' })]);
    expect((await nodeEvents(target, t0)).map((e) => e.reason)).toContain('DrainTimedOut');
    expect(await unschedulable(target)).toBe(true);
    await cordon(target, false);
    await removeDeployment(ns, 'db');
  });

  it('filters: DaemonSet pods stay, safe-to-evict "false" and bare pods block, terminal pods are deleted', async () => {
    const ns = await testNamespace(api, 'drain-filters');
    const target = nodes[2]!;
    const pod = (name: string, extra: Record<string, unknown> = {}) =>
      api.ok('POST', `/api/v1/namespaces/${ns}/pods`, {
        metadata: { name, ...extra },
        spec: {
          nodeName: target,
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'c', image: 'registry.invalid/pause' }],
        },
      });
    await api.ok('POST', `/apis/apps/v1/namespaces/${ns}/daemonsets`, {
      metadata: { name: 'agent' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: {
          metadata: { labels: { app: 'agent' } },
          spec: {
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    {
                      matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [target] }],
                    },
                  ],
                },
              },
            },
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'c', image: 'registry.invalid/pause' }],
          },
        },
      },
    });
    await pod('bare');
    await pod('pinned', { annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' } });
    await pod('done');
    const pods = async () => (await api.ok<{ items: Pod[] }>('GET', `/api/v1/namespaces/${ns}/pods`)).items;
    await eventually('all four pods running', async () => (await pods()).filter(ready).length === 4);
    await api.mergePatch(`/api/v1/namespaces/${ns}/pods/done/status`, { status: { phase: 'Succeeded' } });
    await eventually('the informer sees the finished pod', async () => {
      const p = await pods();
      return p.find((x) => x.metadata.name === 'done')?.status?.phase === 'Succeeded';
    });

    const blocked = await listingDrainer.drain(target, base());
    expect(blocked.result).toBe('blocked');
    expect((await nodeEvents(target, Date.now() - 5000)).map((e) => e.reason)).toContain('DrainBlocked');
    // cluster-autoscaler's order: "no controller" is found first for both bare pods.
    expect(blocked.blocking.map((b) => [b.name, b.reason]).sort()).toEqual([
      ['bare', 'NotReplicated'],
      ['pinned', 'NotReplicated'],
    ]);
    expect((await pods()).length).toBe(4); // nothing touched: a blocked plan acts on no pod
    // Machine deletion's policy forces bare pods, but safe-to-evict "false" still blocks.
    const o = { ...base(), policy: MACHINE_DELETION_POLICY };
    const pinned = await listingDrainer.drain(target, o);
    expect(pinned.blocking.map((b) => [b.name, b.reason])).toEqual([['pinned', 'NotSafeToEvict']]);
    expect((await pods()).length).toBe(4);

    await api.ok('DELETE', `/api/v1/namespaces/${ns}/pods/pinned`);
    await eventually('pinned gone', async () => (await pods()).length === 3);
    // Now the bare pod is evicted and the finished one deleted; two calls, one drain.
    const first = listingDrainer.drain(target, o);
    expect(listingDrainer.drain(target, o)).toBe(first);
    const done = await first;
    expect(done).toMatchObject({ result: 'succeeded', evicted: 1, deleted: 1 });
    const left = await pods();
    expect(left.map((p) => p.metadata.name!.replace(/-[a-z0-9]+$/, '-*'))).toEqual(['agent-*']);
    await cordon(target, false);
  });

  it(
    'an unreachable node: evicted pods that its dead kubelet never removes count as gone after the skip wait',
    { timeout: 240_000 },
    async () => {
      const ns = await testNamespace(api, 'drain-lost');
      const target = nodes[0]!;
      for (const name of ['lost-0', 'lost-1']) {
        await api.ok('POST', `/api/v1/namespaces/${ns}/pods`, {
          metadata: { name },
          spec: {
            nodeName: target,
            terminationGracePeriodSeconds: 30,
            containers: [{ name: 'c', image: 'registry.invalid/pause' }],
          },
        });
      }
      const pods = async () => (await api.ok<{ items: Pod[] }>('GET', `/api/v1/namespaces/${ns}/pods`)).items;
      await eventually('both pods running', async () => (await pods()).filter(ready).length === 2);
      await sim.setHeartbeats(target, false);
      try {
        // node-monitor-grace-period is 40 s by default.
        await eventually(
          'Ready=Unknown',
          async () => {
            const n = await api.ok<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
              'GET',
              `/api/v1/nodes/${target}`,
            );
            return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'Unknown');
          },
          150_000,
          1000,
        );
        const report = await listingDrainer.drain(target, {
          ...base(),
          policy: MACHINE_DELETION_POLICY,
          skipWaitForDeleteTimeoutSeconds: 2,
        });
        expect(report).toMatchObject({ result: 'succeeded', evicted: 2, blocking: [] });
        expect(report.passes).toBeGreaterThanOrEqual(2);
        // Still there, Terminating: only the (dead) kubelet could finish them; the drain did not wait for it.
        const left = await pods();
        expect(left).toHaveLength(2);
        for (const p of left) expect(p.metadata.deletionTimestamp).toBeDefined();
      } finally {
        await sim.setHeartbeats(target, true);
        await cordon(target, false);
      }
      await eventually(
        'the resumed kubelet finishes the deletions',
        async () => (await pods()).length === 0,
        60_000,
      );
    },
  );
});
