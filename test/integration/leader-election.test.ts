// Leader election against the real apiserver, with short timings (lease 3 s, renew deadline 2 s,
// retry 0.5 s) so each case takes seconds. The guarantees are client-go's.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { KubeClient } from '../../src/kube/client.ts';
import { LeaderElector, type LeaderElectionOptions } from '../../src/kube/leader.ts';
import { HttpsTransport, kubeConfigFrom, type Transport } from '../../src/kube/transport.ts';
import { clusterApi, eventually, testNamespace, uniqueName } from './support/kube.ts';

const api = clusterApi();
const TIMINGS = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };

function transport(): HttpsTransport {
  return new HttpsTransport(kubeConfigFrom({ kubeconfig: inject('cluster').kubeconfigPath }));
}
function client(t: Transport = transport(), writeGuard?: () => string | null): KubeClient {
  return new KubeClient(t, { qps: 100, burst: 100, timeoutMs: 5000, maxRetries: 0, writeGuard });
}
function elector(
  ns: string,
  name: string,
  identity: string,
  t?: Transport,
  extra: Partial<LeaderElectionOptions> = {},
) {
  const e = new LeaderElector(client(t), { namespace: ns, name, identity, ...TIMINGS, ...extra });
  const running = e.run();
  onTestFinished(async () => {
    await e.stop();
    await running;
  });
  return e;
}

describe('leader election', () => {
  it('exactly one of two replicas leads; a clean stop hands over at once', async () => {
    const ns = await testNamespace(api, 'le');
    const a = elector(ns, 'svc', 'a');
    const b = elector(ns, 'svc', 'b');
    await eventually('a leader', async () => a.isLeader() || b.isLeader());
    for (let i = 0; i < 6; i++) {
      expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 250));
    }
    const [leader, standby] = a.isLeader() ? [a, b] : [b, a];
    const t0 = performance.now();
    await leader.stop();
    await eventually('the standby to lead', async () => standby.isLeader(), 5000, 50);
    // Released, so well before a lease duration.
    expect(performance.now() - t0).toBeLessThan(TIMINGS.leaseDurationMs);
    const lease = await api.ok<{ spec: { holderIdentity: string; leaseTransitions: number } }>(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/svc`,
    );
    expect(lease.spec.holderIdentity).toBe(standby === a ? 'a' : 'b');
  });

  it('a leader that cannot renew stops writing before anyone else may lead', async () => {
    const ns = await testNamespace(api, 'stall');
    // A's lease traffic can be cut (a partition between A and the apiserver, for the lease only).
    let cut = false;
    const real = transport();
    const flaky: Transport = {
      server: real.server,
      request: (r) =>
        cut && r.path.includes('/leases/') ? Promise.reject(new Error('partitioned')) : real.request(r),
      stream: (p, l, s) => real.stream(p, l, s),
    };
    const a = elector(ns, 'svc', 'a', flaky);
    await eventually('a to lead', async () => a.isLeader());
    let bLeadsAt = Infinity;
    const b = elector(ns, 'svc', 'b', undefined, { onStartedLeading: () => (bLeadsAt = performance.now()) });
    // A keeps writing through a client guarded by its leadership, as the controllers do.
    const work = client(real, () => (a.isLeader() ? null : 'not the leader'));
    await work.create(`/api/v1/namespaces/${ns}/configmaps`, {
      metadata: { name: 'progress' },
      data: { n: '0' },
    });
    let lastWriteAt = 0;
    let refused = 0;
    const writer = (async () => {
      for (let n = 1; n < 200 && bLeadsAt === Infinity; n++) {
        try {
          await work.mergePatch(`/api/v1/namespaces/${ns}/configmaps/progress`, { data: { n: String(n) } });
          lastWriteAt = performance.now();
        } catch {
          refused++;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    cut = true;
    await eventually('b to lead', async () => b.isLeader(), 10_000, 50);
    await writer;
    expect(a.isLeader()).toBe(false);
    expect(refused).toBeGreaterThan(0);
    // The last write of the old leader landed before the new leader started.
    expect(lastWriteAt).toBeGreaterThan(0);
    expect(lastWriteAt).toBeLessThan(bLeadsAt);
  });

  it('kill -9 of the leader: the standby leads within the lease duration', async () => {
    const ns = await testNamespace(api, 'kill');
    const c = inject('cluster');
    const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
    const script = `
      import { KubeClient } from ${url('../../src/kube/client.ts')};
      import { LeaderElector } from ${url('../../src/kube/leader.ts')};
      import { HttpsTransport, kubeConfigFrom } from ${url('../../src/kube/transport.ts')};
      const t = new HttpsTransport(kubeConfigFrom({ kubeconfig: ${JSON.stringify(c.kubeconfigPath)} }));
      const e = new LeaderElector(new KubeClient(t, { qps: 100, burst: 100, timeoutMs: 5000, maxRetries: 0 }), {
        namespace: ${JSON.stringify(ns)}, name: 'svc', identity: 'child', ...${JSON.stringify(TIMINGS)},
        onStartedLeading: () => console.log('leading'),
      });
      void e.run();
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    onTestFinished(() => void child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (l) => l === 'leading' && resolve());
      child.once('exit', (code) => reject(new Error(`child exited (${code})`)));
    });
    const standby = elector(ns, 'svc', uniqueName('standby'));
    await new Promise((r) => setTimeout(r, 1000));
    expect(standby.isLeader()).toBe(false);
    child.kill('SIGKILL');
    const t0 = performance.now();
    await eventually('the standby to lead', async () => standby.isLeader(), 10_000, 50);
    // It waits out the lease it last saw renewed, then takes it at its next retry.
    expect(performance.now() - t0).toBeLessThan(
      TIMINGS.leaseDurationMs + 2 * TIMINGS.retryPeriodMs * 1.2 + 500,
    );
  });
});
