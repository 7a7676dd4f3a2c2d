// The kube layer against the real apiserver: informers that sync, index, resume watches without
// listing, relist exactly once on 410 Gone; and the write path's rate limit and preconditions.
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { KubeClient, type RequestEvent } from '../../src/kube/client.ts';
import { isConflict } from '../../src/kube/errors.ts';
import { Informer, type KubeObject } from '../../src/kube/informer.ts';
import { HttpsTransport, kubeConfigFrom, type Transport } from '../../src/kube/transport.ts';
import { RestClient } from '../../src/sandbox/rest.ts';
import { startExtraApiserver } from './support/capi.ts';
import { clusterApi, eventually, testNamespace } from './support/kube.ts';

const api = clusterApi();

function kubeClient(extra: Partial<ConstructorParameters<typeof KubeClient>[1]> = {}, transport?: Transport) {
  const t = transport ?? new HttpsTransport(kubeConfigFrom({ kubeconfig: inject('cluster').kubeconfigPath }));
  return new KubeClient(t, { qps: 1000, burst: 1000, timeoutMs: 10_000, maxRetries: 3, ...extra });
}

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

describe('informer', () => {
  it('syncs, indexes, follows changes, and resumes ended watches without listing again', async () => {
    const ns = await testNamespace(api, 'inf');
    for (const [name, team] of [
      ['a', 'red'],
      ['b', 'blue'],
    ]) {
      await api.ok('POST', `/api/v1/namespaces/${ns}/configmaps`, {
        metadata: { name, labels: { team: team! } },
      });
    }
    const inf = new Informer<ConfigMap>(kubeClient(), `/api/v1/namespaces/${ns}/configmaps`, {
      watchTimeoutSeconds: 1,
    });
    inf.addIndex('team', (o) => (o.metadata.labels?.team ? [o.metadata.labels.team] : []));
    const events: string[] = [];
    inf.onChange((type, o) => events.push(`${type} ${o.metadata.name}`));
    const abort = new AbortController();
    const run = inf.run(abort.signal);
    try {
      await run.synced;
      expect(inf.hasSynced()).toBe(true);
      expect(inf.byIndex('team', 'red').map((o) => o.metadata.name)).toEqual(['a']);
      await api.mergePatch(`/api/v1/namespaces/${ns}/configmaps/a`, {
        metadata: { labels: { team: 'blue' } },
      });
      await api.ok('DELETE', `/api/v1/namespaces/${ns}/configmaps/b`);
      await eventually(
        'the cache to follow',
        async () =>
          inf
            .byIndex('team', 'blue')
            .map((o) => o.metadata.name)
            .join() === 'a' && !inf.get(`${ns}/b`),
      );
      expect(inf.byIndex('team', 'red')).toEqual([]);
      // Let several 1-second watches end and resume.
      await new Promise((r) => setTimeout(r, 3500));
      await api.ok('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'c' } });
      await eventually('the new object after resumed watches', async () => !!inf.get(`${ns}/c`));
      expect(inf.stats.watches).toBeGreaterThanOrEqual(3);
      expect(inf.stats.lists).toBe(1);
      expect(events).toEqual(expect.arrayContaining([`ADDED a`, `MODIFIED a`, `DELETED b`, `ADDED c`]));
    } finally {
      abort.abort();
      await run.done;
    }
  });

  it('relists exactly once when the watch answers 410 Gone, and converges', async () => {
    // An apiserver of our own that watches etcd directly and compacts every second: a watch resumed from
    // a compacted resourceVersion gets the real 410, as after an apiserver or etcd hiccup in production.
    const apiserver = await startExtraApiserver('compacting', [
      '--watch-cache=false',
      '--etcd-compaction-interval=1s',
    ]);
    onTestFinished(() => apiserver.stop());
    const direct = new RestClient(apiserver.server, apiserver.caPem, apiserver.token);
    // Hold the second watch back until etcd has compacted past the informer's resourceVersion.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = new HttpsTransport(kubeConfigFrom({ kubeconfig: apiserver.kubeconfigPath }));
    let streams = 0;
    const gated: Transport = {
      server: real.server,
      request: (r) => real.request(r),
      stream: async (path, onLine, signal) => {
        if (++streams === 2) await gate;
        return real.stream(path, onLine, signal);
      },
    };
    const path = '/api/v1/namespaces/default/configmaps';
    const inf = new Informer<ConfigMap>(kubeClient({}, gated), path, { watchTimeoutSeconds: 1 });
    const abort = new AbortController();
    const run = inf.run(abort.signal);
    try {
      await run.synced;
      const before = inf.list().length;
      await eventually('the first watch to end', async () => streams >= 2, 10_000, 50);
      // Changes the informer can only learn about from the relist.
      for (let i = 0; i < 20; i++) await direct.ok('POST', path, { metadata: { name: `cm-${i}` } });
      await new Promise((r) => setTimeout(r, 3000)); // a few compaction intervals
      release();
      await eventually(
        'the 20 new objects in the cache',
        async () => inf.list().length === before + 20,
        30_000,
      );
      expect(inf.stats.relistsAfterGone).toBe(1);
      expect(inf.stats.lists).toBe(2);
    } finally {
      abort.abort();
      await run.done;
    }
  });
});

describe('write path', () => {
  it('spreads a burst of 500 writes by QPS and burst', async () => {
    const ns = await testNamespace(api, 'rate');
    const qps = 200;
    const burst = 20;
    const sent: number[] = [];
    // When each request went out (its response time minus its duration), not when it came back.
    const c = kubeClient({
      qps,
      burst,
      onRequest: (e: RequestEvent) => void sent.push(performance.now() - e.durationMs),
    });
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        c.create(`/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: `w-${i}` } }),
      ),
    );
    const elapsed = (performance.now() - t0) / 1000;
    await c.close();
    // 500 writes at 200/s after a burst of 20 cannot take less than (500 - 20) / 200 s.
    expect(elapsed).toBeGreaterThanOrEqual((500 - burst) / qps - 0.25);
    // In no one-second window more than qps + burst requests went out, plus one refill: the bucket is
    // refilled in 50 ms steps of qps/20 tokens, and a closed one-second window can hold 21 of them.
    sent.sort((a, b) => a - b);
    let maxInWindow = 0;
    for (let i = 0, j = 0; i < sent.length; i++) {
      while (sent[i]! - sent[j]! > 1000) j++;
      maxInWindow = Math.max(maxInWindow, i - j + 1);
    }
    expect(maxInWindow).toBeLessThanOrEqual(qps + burst + qps / 20);
    const l = await api.ok<{ items: unknown[] }>('GET', `/api/v1/namespaces/${ns}/configmaps?labelSelector=`);
    expect(l.items.length).toBeGreaterThanOrEqual(500);
  });

  it('a patch with a stale resourceVersion is a Conflict and changes nothing', async () => {
    const ns = await testNamespace(api, 'rv');
    const c = kubeClient();
    const cm = await c.create<ConfigMap>(`/api/v1/namespaces/${ns}/configmaps`, {
      metadata: { name: 'x' },
      data: { v: '1' },
    });
    await c.mergePatch(
      `/api/v1/namespaces/${ns}/configmaps/x`,
      { data: { v: '2' } },
      cm.metadata.resourceVersion,
    );
    const err = await c
      .mergePatch(`/api/v1/namespaces/${ns}/configmaps/x`, { data: { v: '3' } }, cm.metadata.resourceVersion)
      .catch((e: unknown) => e);
    expect(isConflict(err)).toBe(true);
    expect((await c.get<ConfigMap>(`/api/v1/namespaces/${ns}/configmaps/x`)).data).toEqual({ v: '2' });
    await c.close();
  });
});
