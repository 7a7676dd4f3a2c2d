// Small raw client for integration tests: explicit paths and verbs, so a test states exactly which
// API it exercises (and which version), independent of the client library the service uses.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject, onTestFinished } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { KubeClient, type KubeClientOptions } from '../../../src/kube/client.ts';
import { kubeMicroTime, kubeTime } from '../../../src/kube/time.ts';
import { HttpsTransport, kubeConfigFrom } from '../../../src/kube/transport.ts';
import { RestClient } from '../../../src/sandbox/rest.ts';
import { httpGet } from '../../../src/sandbox/wait.ts';

export { RestClient as Api } from '../../../src/sandbox/rest.ts';

export function clusterApi(): RestClient {
  const c = inject('cluster');
  return new RestClient(c.server, c.caPem, c.token);
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** Polls fn until it returns a value other than undefined/false; fails with the last value seen. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${String(last)}`);
}

/** A namespace of the test's own, deleted when the test ends; ready once its default ServiceAccount exists. */
export async function testNamespace(api: RestClient, prefix = 't'): Promise<string> {
  const name = uniqueName(prefix);
  await api.ok('POST', '/api/v1/namespaces', { metadata: { name } });
  onTestFinished(async () => {
    await api.req('DELETE', `/api/v1/namespaces/${name}`);
  });
  // Until 1.24 the ServiceAccount admission plugin refuses pods until the token controller has also
  // created the account's token Secret; later releases create no such Secret.
  const needsSecret = (await serverMinor(api)) < 24;
  await eventually(`default ServiceAccount in ${name}`, async () => {
    const r = await api.req<{ secrets?: unknown[] }>(
      'GET',
      `/api/v1/namespaces/${name}/serviceaccounts/default`,
    );
    return r.status === 200 && (!needsSecret || (r.body.secrets?.length ?? 0) > 0);
  });
  return name;
}

let minor: number | undefined;
export async function serverMinor(api: RestClient): Promise<number> {
  minor ??= parseInt((await api.ok<{ minor: string }>('GET', '/version')).minor, 10);
  return minor;
}

/**
 * A Node with no kubelet behind it that stays Ready while the test runs: it renews its Lease in
 * kube-node-lease and its Ready condition, as a kubelet would. Deleted when the test ends.
 */
export async function readyNode(
  api: RestClient,
  opts: { labels?: Record<string, string>; cpu?: string; memory?: string; pods?: string } = {},
): Promise<string> {
  const name = uniqueName('node');
  const capacity = { cpu: opts.cpu ?? '4', memory: opts.memory ?? '8Gi', pods: opts.pods ?? '110' };
  await api.ok('POST', '/api/v1/nodes', {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...opts.labels } },
    spec: {},
  });
  const beat = async (): Promise<void> => {
    const now = kubeTime(new Date());
    await api.mergePatch(`/api/v1/nodes/${name}/status`, {
      status: {
        capacity,
        allocatable: capacity,
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ],
      },
    });
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: 'kube-node-lease' },
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: kubeMicroTime(new Date()) },
    };
    const put = await api.req(
      'PUT',
      `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`,
      lease,
    );
    if (put.status === 404)
      await api.ok('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease);
  };
  await beat();
  const timer = setInterval(() => void beat().catch(() => {}), 10_000);
  timer.unref();
  onTestFinished(async () => {
    clearInterval(timer);
    await api.req('DELETE', `/api/v1/nodes/${name}`);
    await api.req('DELETE', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`);
  });
  return name;
}

/** Our own client (src/kube) on the test cluster, for code under test that takes a KubeClient. */
export function clusterClient(extra: Partial<KubeClientOptions> = {}): KubeClient {
  const t = new HttpsTransport(kubeConfigFrom({ kubeconfig: inject('cluster').kubeconfigPath }));
  return new KubeClient(t, { qps: 100, burst: 100, timeoutMs: 10_000, maxRetries: 3, ...extra });
}

/** The service's configuration for tests: the given management kubeconfig, leases in `default`, loopback only. */
export function serviceConfig(kubeconfig: string, ...sets: string[]) {
  return loadConfig({
    argv: [
      '--kubeconfig',
      kubeconfig,
      '--set',
      'leaderElection.namespace=default',
      '--set',
      'server.bindAddress=127.0.0.1',
      ...sets.flatMap((x) => ['--set', x]),
    ],
    env: {},
    readFile: (p) => readFileSync(p, 'utf8'),
  });
}

/** Resolves once the service process listening on `port` (loopback) leads. */
export function untilLeading(port: number, timeoutMs = 60_000) {
  return eventually(
    'the service to lead',
    async () => {
      const r = await httpGet(`http://127.0.0.1:${port}/status`).catch(() => undefined);
      return r?.status === 200 && (JSON.parse(r.body) as { leader: { leading: boolean } }).leader.leading;
    },
    timeoutMs,
  );
}

/** Runs `bin` with `stdin` piped in; resolves with its exit code and stdout+stderr. */
export function runPiped(bin: string, args: string[], stdin = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
    p.stdin.end(stdin);
  });
}
