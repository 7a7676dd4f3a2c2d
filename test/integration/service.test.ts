// The service shell end to end: a management apiserver with Cluster API, workload access through each
// Cluster's <name>-kubeconfig Secret, clusters added and removed at runtime, the HTTP endpoints, informers
// that make no LIST in steady state, and the lease released on stop.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Controller } from '../../src/runtime/controller.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { startService, type Service } from '../../src/service.ts';
import { httpGet } from '../../src/sandbox/wait.ts';
import { startManagement, type Management } from './support/capi.ts';
import { eventually, serviceConfig } from './support/kube.ts';

const NS = 'fleet';
const capi = (r: string) => `/apis/cluster.x-k8s.io/v1beta2/namespaces/${NS}/${r}`;

describe('service shell', () => {
  let mgmt: Management;
  let svc: Service;
  const logs: string[] = [];
  const get = (path: string) => httpGet(`http://127.0.0.1:${svc.port}${path}`);
  const status = async () =>
    JSON.parse((await get('/status')).body) as {
      leader: { leading: boolean };
      workloadClusters: {
        connected: Array<{ cluster: string; source: string }>;
        waiting: Array<{ cluster: string; reason: string }>;
      };
      informers: Record<string, { lists: number; synced: boolean; relistsAfterGone?: number }>;
    };
  const addCluster = (name: string) =>
    mgmt.api.ok('POST', capi('clusters'), {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name },
      spec: { paused: false },
    });
  const addSecret = (name: string) =>
    mgmt.api.ok('POST', `/api/v1/namespaces/${NS}/secrets`, {
      metadata: { name: `${name}-kubeconfig`, labels: { 'cluster.x-k8s.io/cluster-name': name } },
      type: 'cluster.x-k8s.io/secret',
      data: { value: Buffer.from(readFileSync(inject('cluster').kubeconfigPath)).toString('base64') },
    });

  const cfg = () => serviceConfig(mgmt.kubeconfigPath, 'workloadClusters.mode=secret');

  beforeAll(async () => {
    mgmt = await startManagement('v1beta2');
    await mgmt.api.ok('POST', '/api/v1/namespaces', { metadata: { name: NS } });
    await addCluster('c1');
    await addSecret('c1');
    const config = cfg();
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (logs.push(c.toString()), cb()) });
    svc = await startService({
      config,
      log: createLogger({ level: 'info', format: 'json' }, sink),
      portOverride: 0,
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await mgmt?.stop();
  });

  it('becomes ready with c1 connected through its kubeconfig Secret and leads', async () => {
    await eventually('/readyz 200', async () => (await get('/readyz')).status === 200);
    const s = await status();
    expect(s.workloadClusters.connected).toEqual([
      expect.objectContaining({ cluster: `${NS}/c1`, source: `Secret ${NS}/c1-kubeconfig` }),
    ]);
    await eventually('leadership', async () => (await status()).leader.leading);
    expect((await get('/healthz')).status).toBe(200);
    // The workload informers see the workload cluster (nodes of the test cluster), not the management one.
    expect(s.informers[`${NS}/c1/nodes`]?.synced).toBe(true);
  });

  it('picks up a Cluster added at runtime, reports it waiting for its Secret, and drops it when deleted', async () => {
    await addCluster('c2');
    await eventually('c2 waiting for its Secret', async () =>
      (await status()).workloadClusters.waiting.some(
        (w) => w.cluster === `${NS}/c2` && w.reason.includes('c2-kubeconfig'),
      ),
    );
    // One workload cluster without credentials does not take the service out of rotation.
    expect((await get('/readyz')).status).toBe(200);
    await addSecret('c2');
    await eventually('c2 connected', async () =>
      (await status()).workloadClusters.connected.some((c) => c.cluster === `${NS}/c2`),
    );
    await mgmt.api.ok('DELETE', capi('clusters/c2'));
    await eventually('c2 gone', async () => {
      const s = await status();
      return (
        !s.workloadClusters.connected.some((c) => c.cluster === `${NS}/c2`) && !s.informers[`${NS}/c2/nodes`]
      );
    });
  });

  it("refuses a kubeconfig Secret that is not CAPI's type or is not self-contained", async () => {
    await addCluster('c3');
    const kc = JSON.parse(readFileSync(inject('cluster').kubeconfigPath, 'utf8')) as {
      users: Array<{ user: Record<string, unknown> }>;
    };
    kc.users[0]!.user = {
      exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: '/bin/sh', args: ['-c', 'id'] },
    };
    await mgmt.api.ok('POST', `/api/v1/namespaces/${NS}/secrets`, {
      metadata: { name: 'c3-kubeconfig', labels: { 'cluster.x-k8s.io/cluster-name': 'c3' } },
      type: 'cluster.x-k8s.io/secret',
      data: { value: Buffer.from(JSON.stringify(kc)).toString('base64') },
    });
    await eventually('c3 refused for its exec plugin', async () =>
      (await status()).workloadClusters.waiting.some(
        (w) => w.cluster === `${NS}/c3` && /not self-contained.*exec/.test(w.reason),
      ),
    );
    await addCluster('c4');
    await mgmt.api.ok('POST', `/api/v1/namespaces/${NS}/secrets`, {
      metadata: { name: 'c4-kubeconfig', labels: { 'cluster.x-k8s.io/cluster-name': 'c4' } },
      data: { value: Buffer.from(readFileSync(inject('cluster').kubeconfigPath)).toString('base64') },
    });
    await eventually('c4 refused for its Secret type', async () =>
      (await status()).workloadClusters.waiting.some(
        (w) => w.cluster === `${NS}/c4` && w.reason.includes('not of type cluster.x-k8s.io/secret'),
      ),
    );
    // A Secret named for c5 but labelled for another cluster (with a suffix, `foo-autopilot-kubeconfig`
    // is both `foo` + `-autopilot-kubeconfig` and CAPI's admin Secret of a Cluster `foo-autopilot`).
    await addCluster('c5');
    await mgmt.api.ok('POST', `/api/v1/namespaces/${NS}/secrets`, {
      metadata: { name: 'c5-kubeconfig', labels: { 'cluster.x-k8s.io/cluster-name': 'c5-other' } },
      type: 'cluster.x-k8s.io/secret',
      data: { value: Buffer.from(readFileSync(inject('cluster').kubeconfigPath)).toString('base64') },
    });
    await eventually('c5 refused for its label', async () =>
      (await status()).workloadClusters.waiting.some(
        (w) =>
          w.cluster === `${NS}/c5` && w.reason.includes('labelled cluster.x-k8s.io/cluster-name=c5-other'),
      ),
    );
    const connected = (await status()).workloadClusters.connected.map((c) => c.cluster);
    expect(connected).not.toContain(`${NS}/c3`);
    expect(connected).not.toContain(`${NS}/c5`);
    for (const c of ['c3', 'c4', 'c5']) await mgmt.api.ok('DELETE', capi(`clusters/${c}`));
  });

  it('serves Prometheus metrics, and its informers make no LIST in steady state', async () => {
    const before = await status();
    await new Promise((r) => setTimeout(r, 3000));
    const after = await status();
    for (const [k, i] of Object.entries(after.informers))
      expect({ k, lists: i.lists }).toEqual({ k, lists: before.informers[k]?.lists ?? i.lists });
    // Each informer listed once, plus once per 410 Gone (a watch cache that started after the list's
    // resourceVersion, as for a CRD just installed, answers so); the whole entry shows on failure.
    expect(
      Object.entries(after.informers).filter(([, i]) => i.lists !== 1 + (i.relistsAfterGone ?? 0)),
    ).toEqual([]);
    // None outlives its cluster: fleet/c1 is the only workload cluster connected now.
    expect(Object.keys(after.informers).filter((k) => !/^(management|fleet\/c1)\//.test(k))).toEqual([]);
    const m = (await get('/metrics')).body;
    expect(m).toMatch(
      /^capi_autopilot_kube_requests_total\{cluster="management",verb="GET",resource="[a-z./]+",code="200"\} \d+/m,
    );
    expect(m).toMatch(/^capi_autopilot_informer_list_calls\{cluster="fleet\/c1",resource="pods"\} 1$/m);
    expect(m).toMatch(/^capi_autopilot_leader 1$/m);
    expect(m).toMatch(/^process_cpu_user_seconds_total /m);
  });

  it('runs controllers only on the leader; a standby takes over the queued work when the leader stops', async () => {
    const ran: string[] = [];
    const standbyLogs = new Writable({ write: (_c: Buffer, _e, cb) => cb() });
    const standby = await startService({
      config: cfg(),
      log: createLogger({ level: 'info', format: 'json' }, standbyLogs),
      portOverride: 0,
      controllers: ({ log }) => [
        new Controller({ name: 'probe', workers: 1, log, reconcile: async (k) => void ran.push(k) }),
      ],
    });
    try {
      standby.controllers[0]!.enqueue('queued-on-standby');
      await new Promise((r) => setTimeout(r, 1500));
      expect(standby.leader?.isLeader()).toBe(false);
      expect(ran).toEqual([]);
      // The first service leads; once it stops (releasing the lease) the standby leads and runs the key.
      await svc.stop();
      svc = undefined as unknown as Service;
      await eventually(
        'the standby to lead and reconcile',
        async () => ran.includes('queued-on-standby'),
        30_000,
      );
      expect(standby.leader?.isLeader()).toBe(true);
    } finally {
      await standby.stop();
    }
  });

  it('releases the lease on stop', async () => {
    svc = await startService({
      config: cfg(),
      log: createLogger(
        { level: 'info', format: 'json' },
        new Writable({ write: (c: Buffer, _e, cb) => (logs.push(c.toString()), cb()) }),
      ),
      portOverride: 0,
    });
    await eventually('leadership', async () => svc.leader?.isLeader() === true, 30_000);
    await svc.stop();
    const lease = await mgmt.api.ok<{ spec: { holderIdentity?: string } }>(
      'GET',
      '/apis/coordination.k8s.io/v1/namespaces/default/leases/capi-autopilot',
    );
    expect(lease.spec.holderIdentity ?? '').toBe('');
    expect(logs.join('')).toContain('"msg":"stopped"');
    svc = undefined as unknown as Service;
  });
});
