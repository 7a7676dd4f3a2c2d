// How long draining takes against what the PDBs and the eviction rate limit allow, and whether any PDB
// was ever violated. 1,000 pods (50 Deployments x 20, each with a PDB maxUnavailable 2) on 50 hollow
// nodes of the sandbox are drained at once onto 50 spare nodes. The floor is the larger of the rate
// limit's ((pods - burst) / qps) and the PDBs' (10 waves per Deployment, each as long as one measured
// "evict two pods → replacements Ready → PDB allows two again" round). A sampler lists the pods every
// 200 ms and counts any Deployment below 18 Ready as a violation.
// Writes bench/results/drain.json.   npm run bench:drain [-- evictionQps]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Writable } from 'node:stream';
import { Drainer } from '../src/drain/drainer.ts';
import { SCALE_DOWN_POLICY } from '../src/drain/filters.ts';
import { KubeClient } from '../src/kube/client.ts';
import { discoverGroup, evictionVersion } from '../src/kube/discovery.ts';
import { Informer, type KubeObject } from '../src/kube/informer.ts';
import { createLimiter } from '../src/kube/limiter.ts';
import { HttpsTransport, kubeConfigFrom } from '../src/kube/transport.ts';
import { createLogger } from '../src/runtime/log.ts';
import { CapiSimulator } from '../src/sandbox/capi-sim/simulator.ts';
import { startCluster } from '../src/sandbox/cluster.ts';
import { installCrds } from '../src/sandbox/crds.ts';
import { RestClient } from '../src/sandbox/rest.ts';
import { machineDeployment, preparePool, waitFor } from './support.ts';

const QPS = Number(process.argv[2] ?? 50);
const BURST = QPS;
const DEPLOYMENTS = 50;
const REPLICAS = 20;
const MAX_UNAVAILABLE = 2;
const OLD_NODES = 50;
const SPARE_NODES = 50;
const RETRY_MS = 1000;
const NS = 'bench-drain';

interface Pod extends KubeObject {
  spec: { nodeName?: string };
  status?: { conditions?: Array<{ type: string; status: string }> };
}
const podReady = (p: Pod) =>
  !p.metadata.deletionTimestamp &&
  (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const log = (m: string) => process.stderr.write(`[bench:drain] ${m}\n`);

const cluster = await startCluster({ name: `bench-drain-${process.pid}`, quiet: true });
const api = RestClient.fromKubeconfig(cluster.kubeconfigPath);
const stop = new AbortController();
try {
  await installCrds(api, 'v1beta2');
  const sim = await CapiSimulator.start({
    management: api,
    version: 'v1beta2',
    provisioningDelayMs: 0,
    joinDelayMs: 0,
    podTerminationScale: 0.2,
    workers: 16,
  });
  const capi = (r: string) => `/apis/cluster.x-k8s.io/v1beta2/namespaces/${NS}/${r}`;
  await preparePool(api, NS, { cpu: '8', memory: '32Gi', maxPods: 110 });
  await api.ok('POST', capi('machinedeployments'), machineDeployment(OLD_NODES + SPARE_NODES));
  const nodeNames = async () => {
    const l = await api.ok<{
      items: Array<KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>;
    }>('GET', `/api/v1/nodes?labelSelector=bench%3D${NS}`);
    return l.items
      .filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      .map((n) => n.metadata.name!)
      .sort();
  };
  await waitFor('100 Ready nodes', async () => (await nodeNames()).length === OLD_NODES + SPARE_NODES);
  const all = await nodeNames();
  const old = all.slice(0, OLD_NODES);
  const spare = all.slice(OLD_NODES);
  const cordon = (n: string, on: boolean) =>
    api.mergePatch(`/api/v1/nodes/${n}`, { spec: { unschedulable: on ? true : null } });
  for (const n of spare) await cordon(n, true);
  log('nodes ready; creating workloads');

  // One client for the whole benchmark: discovery here, the drain's informers and evictions below.
  const client = new KubeClient(new HttpsTransport(kubeConfigFrom({ kubeconfig: cluster.kubeconfigPath })), {
    qps: 400,
    burst: 400,
    timeoutMs: 30_000,
    maxRetries: 5,
  });
  const policyVersion = evictionVersion(await discoverGroup(client, 'policy'));
  const policy = `policy/${policyVersion}`;
  const deploy = async (name: string) => {
    await api.ok('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, {
      metadata: { name },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            nodeSelector: { bench: NS },
            terminationGracePeriodSeconds: 1,
            containers: [
              { name: 'c', image: 'registry.invalid/pause', resources: { requests: { cpu: '10m' } } },
            ],
          },
        },
      },
    });
    await api.ok('POST', `/apis/${policy}/namespaces/${NS}/poddisruptionbudgets`, {
      metadata: { name },
      spec: { maxUnavailable: MAX_UNAVAILABLE, selector: { matchLabels: { app: name } } },
    });
  };
  const names = Array.from({ length: DEPLOYMENTS }, (_, i) => `app-${i}`);
  for (const n of [...names, 'calib']) await deploy(n);
  const pods = async () => (await api.ok<{ items: Pod[] }>('GET', `/api/v1/namespaces/${NS}/pods`)).items;
  await waitFor(
    'all pods Ready',
    async () => (await pods()).filter(podReady).length === (DEPLOYMENTS + 1) * REPLICAS,
  );
  const pdbAllows = async (name: string) =>
    (
      await api.ok<{ status?: { disruptionsAllowed?: number } }>(
        'GET',
        `/apis/${policy}/namespaces/${NS}/poddisruptionbudgets/${name}`,
      )
    ).status?.disruptionsAllowed ?? 0;
  await waitFor('PDBs settled', async () =>
    (await Promise.all([...names, 'calib'].map(pdbAllows))).every((a) => a === MAX_UNAVAILABLE),
  );
  for (const n of spare) await cordon(n, false);

  // Calibration: how long one PDB wave takes here (evict two, until the PDB allows two again).
  const waves: number[] = [];
  for (let i = 0; i < 3; i++) {
    const victims = (await pods())
      .filter((p) => p.metadata.labels?.app === 'calib' && podReady(p))
      .slice(0, MAX_UNAVAILABLE);
    const t = Date.now();
    for (const v of victims) {
      await api.ok('POST', `/api/v1/namespaces/${NS}/pods/${v.metadata.name}/eviction`, {
        apiVersion: policy,
        kind: 'Eviction',
        metadata: { name: v.metadata.name, namespace: NS },
      });
    }
    await waitFor(
      'calibration wave',
      async () =>
        (await pdbAllows('calib')) === MAX_UNAVAILABLE &&
        (await pods()).filter((p) => p.metadata.labels?.app === 'calib' && podReady(p)).length === REPLICAS,
    );
    waves.push(Date.now() - t);
  }
  const waveMs = [...waves].sort((a, b) => a - b)[1]!;
  log(`one PDB wave: ${waves.join(', ')} ms`);

  // The drain.
  const informer = new Informer<KubeObject>(client, '/api/v1/pods');
  informer.addIndex('node', (p) => ((p as Pod).spec?.nodeName ? [(p as Pod).spec.nodeName!] : []));
  await informer.run(stop.signal).synced;
  const pdbInformer = new Informer<KubeObject>(client, `/apis/${policy}/poddisruptionbudgets`);
  await pdbInformer.run(stop.signal).synced;
  const drainer = new Drainer({
    client,
    cluster: 'bench',
    pods: informer,
    pdbs: pdbInformer,
    policyVersion,
    limiter: createLimiter({
      reservoir: BURST,
      reservoirIncreaseInterval: 100,
      reservoirIncreaseAmount: Math.max(1, QPS / 10),
      reservoirIncreaseMaximum: BURST,
    }),
    perNodeConcurrency: 10,
    log: createLogger({ level: 'error', format: 'json' }, new Writable({ write: (_c, _e, cb) => cb() })),
  });
  let violations = 0;
  let minMargin = Infinity;
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const byApp = new Map<string, number>();
      for (const p of await pods())
        if (podReady(p)) byApp.set(p.metadata.labels!.app!, (byApp.get(p.metadata.labels!.app!) ?? 0) + 1);
      for (const n of names) {
        const margin = (byApp.get(n) ?? 0) - (REPLICAS - MAX_UNAVAILABLE);
        minMargin = Math.min(minMargin, margin);
        if (margin < 0) violations++;
      }
      samples++;
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const onOld = (await pods()).filter((p) => old.includes(p.spec.nodeName ?? '')).length;
  log(`draining ${OLD_NODES} nodes holding ${onOld} pods`);
  const t0 = Date.now();
  const reports = await Promise.all(
    old.map((n) =>
      drainer.drain(n, {
        policy: SCALE_DOWN_POLICY,
        timeoutMs: 0,
        podEvictionTimeoutMs: 600_000,
        gracePeriodSeconds: -1,
        maxGracePeriodSeconds: 600,
        onFailure: 'uncordon',
        retryIntervalMs: RETRY_MS,
      }),
    ),
  );
  const totalMs = Date.now() - t0;
  sampling = false;
  await sampler;
  const rateFloorMs = (Math.max(0, onOld - BURST) / QPS) * 1000;
  const pdbFloorMs = Math.ceil(REPLICAS / MAX_UNAVAILABLE) * waveMs;
  const floorMs = Math.max(rateFloorMs, pdbFloorMs);
  const result = {
    benchmark: 'drain',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model.split(' ').slice(0, 2).join(' ') },
    setup: {
      deployments: DEPLOYMENTS,
      replicas: REPLICAS,
      maxUnavailable: MAX_UNAVAILABLE,
      drainedNodes: OLD_NODES,
      spareNodes: SPARE_NODES,
      evictionQps: QPS,
      evictionBurst: BURST,
      retryIntervalMs: RETRY_MS,
      perNodeConcurrency: 10,
    },
    podsDrained: onOld,
    results: reports.reduce(
      (m, r) => ({ ...m, [r.result]: (m[r.result] ?? 0) + 1 }),
      {} as Record<string, number>,
    ),
    evicted: reports.reduce((s, r) => s + r.evicted, 0),
    totalSeconds: Number((totalMs / 1000).toFixed(1)),
    pdbWaveMs: waves,
    rateLimitFloorSeconds: Number((rateFloorMs / 1000).toFixed(1)),
    pdbFloorSeconds: Number((pdbFloorMs / 1000).toFixed(1)),
    ratioToFloor: Number((totalMs / floorMs).toFixed(2)),
    pdbViolations: violations,
    minReadyMarginOverPdb: minMargin,
    samples,
  };
  console.log(JSON.stringify(result, null, 2));
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/drain.json', `${JSON.stringify(result, null, 2)}\n`);
  await client.close();
  await sim.stop();
} finally {
  stop.abort();
  await cluster.stop();
}
