// The wait for a node's volumes to detach, against the real apiserver: Nodes, PersistentVolumes and
// VolumeAttachments are written by the test as a kubelet, a CSI driver and its external-attacher would.
// No one attaches or detaches anything here: the driver is unknown to the cluster (no CSIDriver, no
// external-attacher), so its VolumeAttachments get no finalizer and no status but the test's, and the
// attach/detach controller only manages nodes carrying volumes.kubernetes.io/controller-managed-attach-
// detach, which these do not, so it leaves their status.volumesAttached alone too.
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { waitForVolumeDetach, type VolumeWaitOptions } from '../../src/drain/volume-wait.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { HttpsTransport, type Transport } from '../../src/kube/transport.ts';
import { kubeTime } from '../../src/kube/time.ts';
import { createLogger } from '../../src/runtime/log.ts';
import {
  clusterApi,
  clusterClient,
  eventually,
  readyNode,
  testNamespace,
  uniqueName,
} from './support/kube.ts';

const api = clusterApi();
const DRIVER = 'test.csi.capi-autopilot.io';
const VA_API = '/apis/storage.k8s.io/v1/volumeattachments';

/** A logger that keeps its lines, to assert on what the wait reported. */
function memoryLog() {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = createLogger(
    { level: 'debug', format: 'json' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        cb();
      },
    }),
  );
  return { log, lines };
}

/** A CSI PersistentVolume pre-bound to `ns/claim` (no PVC exists, so the PV controller leaves it Available). */
async function persistentVolume(ns: string, claim: string): Promise<{ name: string; handle: string }> {
  const name = uniqueName('pv');
  const handle = `vol-${name}`;
  await api.ok('POST', '/api/v1/persistentvolumes', {
    metadata: { name },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      csi: { driver: DRIVER, volumeHandle: handle },
      claimRef: { namespace: ns, name: claim },
    },
  });
  onTestFinished(async () => {
    // Not bound to any claim, so pv-protection lets it go at once; a stuck PV would leak into other tests.
    await api.req('DELETE', `/api/v1/persistentvolumes/${name}`);
    await eventually(`PersistentVolume ${name} gone`, async () => {
      return (await api.req('GET', `/api/v1/persistentvolumes/${name}`)).status === 404;
    });
  });
  return { name, handle };
}

/** A VolumeAttachment of `pv` to `node`, reported attached (status only goes through /status). */
async function attach(node: string, pv: string): Promise<string> {
  const name = uniqueName('va');
  await api.ok('POST', VA_API, {
    metadata: { name },
    spec: { attacher: DRIVER, nodeName: node, source: { persistentVolumeName: pv } },
  });
  onTestFinished(async () => {
    await api.req('DELETE', `${VA_API}/${name}`);
  });
  await api.mergePatch(`${VA_API}/${name}/status`, { status: { attached: true } });
  return name;
}

/** A Node with no heartbeats whose Ready condition is Unknown, as the node lifecycle controller leaves it. */
async function unreachableNode(): Promise<string> {
  const name = uniqueName('node');
  await api.ok('POST', '/api/v1/nodes', { metadata: { name, labels: { 'kubernetes.io/hostname': name } } });
  onTestFinished(async () => {
    await api.req('DELETE', `/api/v1/nodes/${name}`);
  });
  const now = kubeTime(new Date());
  await api.mergePatch(`/api/v1/nodes/${name}/status`, {
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'Unknown',
          reason: 'NodeStatusUnknown',
          message: 'Kubelet stopped posting node status.',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
    },
  });
  return name;
}

describe('volume detach wait', () => {
  const client = clusterClient();
  afterAll(() => client.close());
  const opts = (o: Partial<VolumeWaitOptions> = {}): VolumeWaitOptions => ({
    timeoutMs: 60_000,
    ignoredClaims: [],
    pollIntervalMs: 200,
    ...o,
  });

  it('waits while a VolumeAttachment is attached and returns promptly once it is detached, then deleted', async () => {
    const ns = await testNamespace(api, 'vol');
    const node = await readyNode(api);
    const pv1 = await persistentVolume(ns, 'data');
    const pv2 = await persistentVolume(ns, 'logs');
    const va1 = await attach(node, pv1.name);
    const va2 = await attach(node, pv2.name);
    const { log, lines } = memoryLog();
    let settled = false;
    const wait = waitForVolumeDetach({ client, log, cluster: 'test' }, node, opts()).finally(
      () => (settled = true),
    );
    await sleep(2000);
    expect(settled).toBe(false);
    const progress = lines.find((l) => l.msg.startsWith('waiting for volumes to detach'));
    expect(progress?.msg).toContain(`PersistentVolumeClaims ${ns}/data, ${ns}/logs`);

    // The attacher reports one detached (the object stays until its finalizer would go), the other is
    // deleted: both count as gone.
    await api.mergePatch(`${VA_API}/${va1}/status`, { status: { attached: false } });
    await sleep(1000);
    expect(settled).toBe(false);
    const t = Date.now();
    await api.ok('DELETE', `${VA_API}/${va2}`);
    const r = await wait;
    expect(Date.now() - t).toBeLessThan(2000);
    expect(r).toMatchObject({ node, result: 'detached' });
    expect(r.error).toBeUndefined();
    expect(r.waiting.persistentVolumeClaims).toEqual([]);
    expect(r.polls).toBeGreaterThan(5);
  });

  it('times out naming the claims still attached (VolumeAttachment and node status), unless a skipped pod holds them', async () => {
    const ns = await testNamespace(api, 'vol-timeout');
    const node = await readyNode(api);
    const viaVa = await persistentVolume(ns, 'data');
    const viaStatus = await persistentVolume(ns, 'cache');
    await attach(node, viaVa.name);
    // The attach/detach controller's record of the same fact, by the CSI unique volume name.
    await api.mergePatch(`/api/v1/nodes/${node}/status`, {
      status: {
        volumesAttached: [
          { name: `kubernetes.io/csi/${DRIVER}^${viaStatus.handle}`, devicePath: '' },
          { name: 'kubernetes.io/csi/unknown.csi^vol-nowhere', devicePath: '' },
        ],
      },
    });
    const deps = { client, log: memoryLog().log };

    const t0 = Date.now();
    const r = await waitForVolumeDetach(deps, node, opts({ timeoutMs: 1500 }));
    expect(r.result).toBe('timed_out');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(r.waiting).toEqual({
      persistentVolumeClaims: [`${ns}/cache`, `${ns}/data`],
      persistentVolumesWithoutClaim: [],
      nodeStatusVolumesWithoutPv: ['kubernetes.io/csi/unknown.csi^vol-nowhere'],
      attachmentPvsWithoutPv: [],
      attachmentsWithoutPvName: [],
    });

    // Claims of pods the drain left on the node are not waited for; the unmatched name still is.
    const skipped = await waitForVolumeDetach(
      deps,
      node,
      opts({ timeoutMs: 1000, ignoredClaims: [`${ns}/cache`, `${ns}/data`] }),
    );
    expect(skipped.result).toBe('timed_out');
    expect(skipped.waiting.persistentVolumeClaims).toEqual([]);
    expect(skipped.waiting.nodeStatusVolumesWithoutPv).toEqual(['kubernetes.io/csi/unknown.csi^vol-nowhere']);
    await api.mergePatch(`/api/v1/nodes/${node}/status`, { status: { volumesAttached: null } });
    const done = await waitForVolumeDetach(
      deps,
      node,
      opts({ timeoutMs: 10_000, ignoredClaims: [`${ns}/cache`, `${ns}/data`] }),
    );
    expect(done.result).toBe('detached');
    expect(done.polls).toBe(1);
  });

  it('does not wait on an unreachable node or for a missing one', async () => {
    const ns = await testNamespace(api, 'vol-gone');
    const node = await unreachableNode();
    const pv = await persistentVolume(ns, 'data');
    await attach(node, pv.name);
    const deps = { client, log: memoryLog().log };
    const r = await waitForVolumeDetach(deps, node, opts());
    expect(r).toMatchObject({ result: 'skipped-unreachable', polls: 1 });
    expect(r.durationMs).toBeLessThan(2000);

    const missing = await waitForVolumeDetach(deps, uniqueName('node-missing'), opts());
    expect(missing).toMatchObject({ result: 'node-gone', polls: 1 });
  });

  it('retries through API errors, still within its timeout, and stops when aborted', async () => {
    const ns = await testNamespace(api, 'vol-flaky');
    const node = await readyNode(api);
    const pv = await persistentVolume(ns, 'data');
    const va = await attach(node, pv.name);
    // The real apiserver behind a wire that answers 503 while `failing` is set; the client does not retry
    // by itself (maxRetries 0), so each failure reaches the wait.
    const real = client.transport;
    let failing = true;
    const flaky: Transport = {
      server: real.server,
      request: (r) =>
        failing
          ? Promise.resolve({
              status: 503,
              headers: {},
              text: '{"kind":"Status","reason":"ServiceUnavailable"}',
            })
          : real.request(r),
      stream: (...a) => real.stream(...a),
    };
    const flakyClient = new KubeClient(flaky, { qps: 100, burst: 100, timeoutMs: 5000, maxRetries: 0 });
    onTestFinished(() => flakyClient.close());
    const { log, lines } = memoryLog();

    const timedOut = await waitForVolumeDetach({ client: flakyClient, log }, node, opts({ timeoutMs: 1000 }));
    expect(timedOut.result).toBe('timed_out');
    expect(timedOut.error).toContain('503');
    expect(lines.filter((l) => l.msg.includes('poll failed')).length).toBeGreaterThan(1);

    const stop = new AbortController();
    const aborted = waitForVolumeDetach({ client: flakyClient, log }, node, opts({ signal: stop.signal }));
    await sleep(500);
    failing = false;
    await sleep(1000);
    stop.abort();
    const a = await aborted;
    expect(a.result).toBe('aborted');
    expect(a.error).toBeUndefined();
    expect(a.waiting.persistentVolumeClaims).toEqual([`${ns}/data`]);

    const wait = waitForVolumeDetach({ client: flakyClient, log }, node, opts());
    await sleep(500);
    await api.ok('DELETE', `${VA_API}/${va}`);
    expect((await wait).result).toBe('detached');
  });

  it('ends at once (forbidden) when not allowed to read volumes, instead of waiting out its timeout', async () => {
    const node = await readyNode(api);
    await attach(node, uniqueName('pv-x'));
    // A real account allowed to read Nodes only: the real authorizer refuses the VolumeAttachment list.
    const ns = await testNamespace(api, 'volrbac');
    const name = uniqueName('nodes-only');
    await api.ok('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'reader' } });
    await api.ok('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name },
      rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }],
    });
    await api.ok('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
    });
    onTestFinished(async () => {
      await api.req('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${name}`);
      await api.req('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`);
    });
    const { status } = await api.ok<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${ns}/serviceaccounts/reader/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
    );
    const c = inject('cluster');
    const restricted = new KubeClient(
      new HttpsTransport({ server: c.server, ca: c.caPem, token: status.token }),
      {
        qps: 100,
        burst: 100,
        timeoutMs: 5000,
        maxRetries: 0,
      },
    );
    onTestFinished(() => restricted.close());
    // The binding takes effect within a moment; until then the node GET is refused too, same outcome.
    const { log, lines } = memoryLog();
    const t0 = Date.now();
    const r = await waitForVolumeDetach({ client: restricted, log }, node, opts({ timeoutMs: 0 }));
    expect(r.result).toBe('forbidden');
    expect(r.error).toContain('403');
    expect(Date.now() - t0).toBeLessThan(30_000); // timeout 0 would otherwise wait forever
    expect(lines.filter((l) => l.msg.includes('not allowed to read volumes'))).toHaveLength(1);
  });
});
