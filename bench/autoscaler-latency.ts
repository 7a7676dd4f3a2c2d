// Scale-up latency on the real sandbox: from a pod becoming unschedulable to the MachineDeployment's
// spec.replicas being patched by the service's autoscaler, with 1,000 hollow nodes in the cluster.
//
// Setup: kube-apiserver + etcd + scheduler + controller-manager (startCluster), the CAPI simulator in a
// child process (1,000 hollow kubelets' lease renewals stay out of the service's event loop), one Cluster
// `c` (reached through its `c-kubeconfig` Secret) with MachineDeployment `md` of 1,000 Ready nodes (opted
// in at its max) and MachineDeployment `target` at 0 (min 0 / max 1000, capacity annotations cpu 4,
// memory 8Gi, label bench.capi-autopilot.io/pool=target). The test pods (1 CPU) select that label, which
// no fleet node has: the scheduler finds 0/1000 nodes and marks them Unschedulable, and only `target` can
// hold them. Its Machines carry the stall-provisioning fault: they never become nodes, so nothing but the
// replicas patch is measured. The service (startService + the autoscaler controller) runs in this process
// with its informers on the 1,000 nodes, all pods and the 1,000 Machines.
//
// Measured by the bench's own watches (RestClient.watch, not the service's informers): t0 = the pod watch
// shows PodScheduled=False/Unschedulable, t1 = the MachineDeployment watch shows spec.replicas going up.
// One pod at a time (after one warm-up); then a burst of pods (first unschedulable → first patch, and →
// the patch covering them all), one more pod right after it, and the time until the burst's
// TriggeredScaleUp events are written. Also per sample, for diagnosis: when the service's own pod cache
// saw the pod unschedulable, and this process's event-loop delay. Between samples the pods are deleted,
// `target` goes back to 0 and everything settles (no Machine left, the service's cache caught up, 1.3 s
// of quiet so the batch and the sizes-only reconcile those changes schedule have run, the controller
// idle). Two service configurations: (a) defaults (scaleUpBatchIdle 1s: latency >= 1 s by construction),
// (b) scaleUpBatchIdle=100ms. Both set scanIntervalSeconds=3600 so the rescan a scale-up schedules never
// lands inside a later sample: only the event-driven path is measured. "Decision" is the service's own
// capi_autopilot_reconcile_duration_seconds{controller="autoscaler"} (read, plan, patch).
// Writes bench/results/autoscaler-latency.json.
//   node_modules/node/bin/node --expose-gc bench/autoscaler-latency.ts [samples=30] [nodes=1000] [burst=200]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAutoscaler } from '../src/autoscaler/controller.ts';
import { loadConfig } from '../src/config/load.ts';
import { createLogger } from '../src/runtime/log.ts';
import { startCluster } from '../src/sandbox/cluster.ts';
import { installCrds } from '../src/sandbox/crds.ts';
import { startProcess } from '../src/sandbox/processes.ts';
import { RestClient } from '../src/sandbox/rest.ts';
import { startService, type Service } from '../src/service.ts';
import { capiPath, machineDeployment, preparePool, waitFor } from './support.ts';

const arg = (i: number, d: number) => Number(process.argv[i] ?? d);
const [SAMPLES, NODES, BURST] = [arg(2, 30), arg(3, 1000), arg(4, 200)];
const NS = 'lat';
const PODS = '/api/v1/namespaces/lat-pods/pods';
const POOL = 'bench.capi-autopilot.io/pool';
const INFRA = 'infrastructure.sandbox.capi-autopilot.io/v1alpha1';
const CLUSTER = `${NS}/c`;

interface Obj {
  metadata: { name: string; resourceVersion: string; labels?: Record<string, string> };
  spec?: { replicas?: number };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string; reason?: string }> };
}
const cond = (o: Obj, type: string) => o.status?.conditions?.find((c) => c.type === type);
const until = (what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 60_000, every = 5) =>
  waitFor(what, async () => fn(), timeoutMs, every);
const round = (x: number) => Math.round(x * 10) / 10;
/** Nearest rank: with 30 samples p99 is the maximum. */
const pct = (xs: number[], q: number) =>
  round([...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(q * xs.length) - 1)]!);
const stats = (xs: number[]) => ({ p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: pct(xs, 1) });
const size = (min: number, max: number) => ({
  'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': String(min),
  'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': String(max),
});
const pod = (name: string) => ({
  metadata: { name, labels: { bench: 'latency' } },
  spec: {
    nodeSelector: { [POOL]: 'target' },
    containers: [{ name: 'c', image: 'pause', resources: { requests: { cpu: '1', memory: '512Mi' } } }],
  },
});

const wallStart = performance.now();
const loadBefore = loadavg().map(round);
const cluster = await startCluster({ name: `bench-latency-${process.pid}`, quiet: true });
const api = RestClient.fromKubeconfig(cluster.kubeconfigPath);
const stopWatches = new AbortController();
let svc: Service | undefined;
try {
  await installCrds(api, 'v1beta2');
  const mod = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
  const simLog = join(cluster.dir, 'capi-simulator.log');
  const simCode = `import { CapiSimulator } from ${mod('../src/sandbox/capi-sim/simulator.ts')};
    import { RestClient } from ${mod('../src/sandbox/rest.ts')};
    const management = RestClient.fromKubeconfig(${JSON.stringify(cluster.kubeconfigPath)});
    const sim = await CapiSimulator.start({ management, version: 'v1beta2', provisioningDelayMs: 0,
      joinDelayMs: 0, workers: 16, log: (m) => console.log(m) });
    setInterval(() => console.log('stats ' + JSON.stringify(sim.ctx.kubelet.stats)), 60_000);`;
  const args = ['--input-type=module', '-e', simCode];
  const simOpts = { name: 'capi-simulator', exe: process.execPath, args, logFile: simLog, attached: true };
  await cluster.adopt(startProcess(simOpts));

  // ---- the fleet (1,000 Ready nodes, at its max) and the empty target group ----
  await preparePool(api, NS, { cpu: '2', memory: '4Gi' });
  const instanceType = { name: 'big', cpu: '4', memory: '8Gi', labels: { [POOL]: 'target' } };
  await api.ok('POST', `/apis/${INFRA}/namespaces/${NS}/sandboxmachinetemplates`, {
    apiVersion: INFRA,
    kind: 'SandboxMachineTemplate',
    metadata: { name: 't-target' },
    spec: { template: { spec: { instanceType } } },
  });
  await api.ok('POST', `/api/v1/namespaces/${NS}/secrets`, {
    metadata: { name: 'c-kubeconfig', labels: { 'cluster.x-k8s.io/cluster-name': 'c' } },
    type: 'cluster.x-k8s.io/secret',
    data: { value: readFileSync(cluster.kubeconfigPath).toString('base64') },
  });
  await api.ok('POST', '/api/v1/namespaces', { metadata: { name: 'lat-pods' } });
  const fleet = machineDeployment(NODES);
  Object.assign(fleet.metadata, { annotations: size(1, NODES) });
  const tUp = performance.now();
  await api.ok('POST', capiPath(NS, 'machinedeployments'), fleet);
  const list = async (path: string) => (await api.ok<{ items: Obj[] }>('GET', path)).items;
  await waitFor(
    `${NODES} Running machines and Ready nodes`,
    async () => {
      const ms = await list(capiPath(NS, 'machines?labelSelector=md%3Dmd'));
      if (ms.length !== NODES || !ms.every((m) => m.status?.phase === 'Running')) return false;
      const nodes = await list(`/api/v1/nodes?labelSelector=bench%3D${NS}`);
      return nodes.length === NODES && nodes.every((n) => cond(n, 'Ready')?.status === 'True');
    },
    1_800_000,
    2000,
  );
  const fleetUpSeconds = round((performance.now() - tUp) / 1000);
  console.log(`${NODES} nodes Ready in ${fleetUpSeconds} s`);
  const target = machineDeployment(0);
  target.metadata.name = 'target';
  target.spec.selector.matchLabels.md = target.spec.template.metadata.labels.md = 'target';
  target.spec.template.spec.infrastructureRef.name = 't-target';
  Object.assign(target.spec.template.metadata, {
    annotations: { 'sandbox.capi-autopilot.io/fault-stall-provisioning': 'true' },
  });
  const capacity = Object.entries({ cpu: '4', memory: '8Gi', labels: `${POOL}=target` });
  const annotations = capacity.map(([k, v]) => [`capacity.cluster-autoscaler.kubernetes.io/${k}`, v]);
  Object.assign(target.metadata, { annotations: { ...size(0, 1000), ...Object.fromEntries(annotations) } });
  await api.ok('POST', capiPath(NS, 'machinedeployments'), target);
  const sa = '/api/v1/namespaces/lat-pods/serviceaccounts/default';
  await until('default ServiceAccount', async () => (await api.req('GET', sa)).status === 200);

  // ---- the bench's own watches: when each pod turned unschedulable, when spec.replicas went up ----
  const unsched = new Map<string, number>();
  const gone = new Set<string>();
  const patches: Array<{ at: number; to: number }> = [];
  const md = { replicas: 0, rv: '', at: 0 };
  const follow = async (path: string, on: (type: string, o: Obj) => void) => {
    while (!stopWatches.signal.aborted) {
      type List = { items: Obj[]; metadata: { resourceVersion: string } };
      const l = await api.ok<List>('GET', path).catch(() => undefined);
      for (const o of l?.items ?? []) on('ADDED', o);
      let rv = l?.metadata.resourceVersion;
      while (rv && !stopWatches.signal.aborted) {
        const t = performance.now();
        const onEvent = (e: { type: string; object: Obj }) => {
          if (e.type === 'ERROR') return void (rv = undefined); // expired: list again
          rv = e.object.metadata.resourceVersion;
          if (e.type !== 'BOOKMARK') on(e.type, e.object);
        };
        await api.watch<Obj>(path, rv, onEvent, stopWatches.signal).catch(() => void (rv = undefined));
        if (performance.now() - t < 1000) await sleep(200);
      }
    }
  };
  void follow(PODS, (type, o) => {
    const at = performance.now();
    if (type === 'DELETED') gone.add(o.metadata.name);
    const c = cond(o, 'PodScheduled');
    if (c?.status === 'False' && c.reason === 'Unschedulable' && !unsched.has(o.metadata.name))
      unsched.set(o.metadata.name, at);
  });
  void follow(capiPath(NS, 'machinedeployments?fieldSelector=metadata.name%3Dtarget'), (_t, o) => {
    const at = performance.now();
    const r = o.spec?.replicas ?? 0;
    if (md.rv && r > md.replicas) patches.push({ at, to: r });
    Object.assign(md, { replicas: r, rv: o.metadata.resourceVersion, at });
  });
  const nodeUpdates = { count: 0, at: performance.now() };
  void follow('/api/v1/nodes', (type) => {
    if (type === 'MODIFIED')
      Object.assign(nodeUpdates, { count: nodeUpdates.count + 1, at: performance.now() });
  });
  await until('watches started', () => md.rv !== '');

  // ---- helpers on the running service ----
  const decisions = async () => {
    const vs = (await svc!.metrics.reconcileSeconds.get()).values;
    const v = (s: string) => vs.find((x) => x.metricName?.endsWith(s) && !('le' in x.labels))?.value ?? 0;
    return { sum: v('_sum'), count: v('_count') };
  };
  /** When the service's own pod cache saw each pod unschedulable (diagnosis only, not the measurement). */
  const serviceSaw = new Map<string, number>();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const inTarget = (ms: Obj[]) => ms.filter((m) => m.metadata.labels?.md === 'target').length;
  const settle = async (names: string[], quietMs: number) => {
    await api.req('DELETE', `${PODS}?labelSelector=bench%3Dlatency&gracePeriodSeconds=0`);
    await until('pods gone', () => names.every((n) => gone.has(n)));
    const mdPath = capiPath(NS, 'machinedeployments/target');
    if (md.replicas !== 0) await api.mergePatch(mdPath, { spec: { replicas: 0 } });
    const cached = () => svc!.informers.get('management/machinedeployments')?.get(`${NS}/target`);
    await until(
      'target back at 0, its machines gone, the service caught up',
      async () =>
        md.replicas === 0 &&
        performance.now() - md.at > quietMs &&
        cached()?.metadata.resourceVersion === md.rv &&
        inTarget(svc!.informers.get('management/machines')!.list() as Obj[]) === 0 &&
        inTarget(await list(capiPath(NS, 'machines?labelSelector=md%3Dtarget'))) === 0,
      300_000,
      100,
    );
    // The batch the deletions opened and the sizes-only look (1 s after group/Machine changes) run first.
    await sleep(quietMs);
    await until('autoscaler idle', () => svc!.controllers.every((c) => c.idle), 60_000, 20);
  };
  /** One pod: unschedulable → patch, with the service's reconcile time(s) meanwhile. */
  const single = async (name: string) => {
    const [n0, h0, tc] = [patches.length, await decisions(), performance.now()];
    loopDelay.reset();
    await api.ok('POST', PODS, pod(name));
    await until(`${name} unschedulable and a patch`, () => unsched.has(name) && patches.length > n0, 120_000);
    const loopDelayMaxMs = loopDelay.max / 1e6;
    await until('reconcile recorded', async () => (await decisions()).count > h0.count, 5000).catch(() => {});
    const [h1, t0] = [await decisions(), unsched.get(name)!];
    return {
      latencyMs: patches[n0]!.at - t0,
      toUnschedulableMs: t0 - tc,
      serviceSawMs: (serviceSaw.get(name) ?? NaN) - t0,
      decisionMs: (h1.sum - h0.sum) * 1000,
      reconciles: h1.count - h0.count,
      loopDelayMaxMs,
    };
  };

  const configs = [
    { name: 'defaults', tag: 'a', batchIdleMs: 1000, sets: [] as string[] },
    { name: 'batchIdle100ms', tag: 'b', batchIdleMs: 100, sets: ['autoscaler.scaleUpBatchIdle=100ms'] },
  ];
  type Stats = ReturnType<typeof stats>;
  const results: Record<string, { batchIdleMs: number; latencyMs: Stats; serviceDecisionMs: Stats }> = {};
  const table: string[] = [];
  for (const cfg of configs) {
    const lines: string[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
    const sets = ['leaderElection.namespace=default', 'server.bindAddress=127.0.0.1'];
    sets.push('workloadClusters.mode=secret', 'autoscaler.scanIntervalSeconds=3600', ...cfg.sets);
    const argv = ['--kubeconfig', cluster.kubeconfigPath, ...sets.flatMap((s) => ['--set', s])];
    const config = loadConfig({ argv, env: {}, readFile: (p) => readFileSync(p, 'utf8') });
    // kube-controller-manager goes on updating new nodes' taints for a minute or two after they are Ready,
    // and Node changes open autoscaler batches of their own: samples start on a quiet fleet.
    await until('no Node update for 15 s', () => performance.now() - nodeUpdates.at > 15_000, 900_000, 500);
    const nodeUpdates0 = nodeUpdates.count;
    const tStart = performance.now();
    svc = await startService({
      config,
      log: createLogger({ level: 'info', format: 'json' }, sink),
      portOverride: 0,
      controllers: (e) => [createAutoscaler(e).controller],
    });
    const synced = () => ['nodes', 'pods'].every((r) => svc!.informers.get(`${CLUSTER}/${r}`)?.hasSynced());
    await until('workload informers synced', synced, 300_000, 20);
    const syncMs = round(performance.now() - tStart);
    svc.informers.get(`${CLUSTER}/pods`)!.onChange((_t, o) => {
      const c = cond(o as Obj, 'PodScheduled');
      if (c?.reason === 'Unschedulable' && !serviceSaw.has(o.metadata.name))
        serviceSaw.set(o.metadata.name, performance.now());
    });
    await until('controller active', () => lines.some((l) => l.includes('"controller active"')), 120_000, 20);
    const quietMs = Math.max(cfg.batchIdleMs, 1000) + 300;
    globalThis.gc?.();
    const samples = [];
    // i = -1: a warm-up (the first discovery and template reads), not counted.
    for (let i = -1; i < SAMPLES; i++) {
      samples.push(await single(`p-${cfg.tag}-${i + 1}`));
      await settle([`p-${cfg.tag}-${i + 1}`], quietMs);
    }
    samples.shift();

    // ---- burst: BURST pods at once (25 creates in flight) until `target` covers them all (1-CPU pods on
    // 4-CPU nodes: BURST/4), one more pod right then, and until the TriggeredScaleUp events are written ----
    const names = Array.from({ length: BURST }, (_, i) => `b-${cfg.tag}-${i}`);
    const [n0, tc, want] = [patches.length, performance.now(), Math.ceil(BURST / 4)];
    let next = 0;
    const creator = async () => {
      while (next < names.length) await api.ok('POST', PODS, pod(names[next++]!));
    };
    await Promise.all(Array.from({ length: 25 }, creator));
    const createMs = round(performance.now() - tc);
    const covered = () => names.every((n) => unsched.has(n)) && md.replicas >= want;
    await until(`burst: all unschedulable, target at ${want}`, covered, 300_000);
    const ts = names.map((n) => unsched.get(n)!);
    const [first, last, mine] = [Math.min(...ts), Math.max(...ts), patches.slice(n0)];
    const nextPod = await single(`a-${cfg.tag}`);
    type Ev = { involvedObject: { name: string } };
    const events = `/api/v1/namespaces/lat-pods/events?fieldSelector=reason%3DTriggeredScaleUp`;
    const written = async () =>
      (await api.ok<{ items: Ev[] }>('GET', events)).items.filter((e) =>
        names.includes(e.involvedObject.name),
      ).length === BURST;
    await until('TriggeredScaleUp events of the burst written', written, 300_000, 250);
    const burst = {
      pods: BURST,
      createMs,
      unschedulableSpreadMs: round(last - first),
      firstUnschedulableToFirstPatchMs: round(mine[0]!.at - first),
      lastUnschedulableToFirstPatchMs: round(mine[0]!.at - last),
      firstUnschedulableToAllCoveredMs: round(mine.find((p) => p.to >= want)!.at - first),
      patches: mine.map((p) => ({ afterFirstUnschedulableMs: round(p.at - first), replicas: p.to })),
      eventsWrittenAfterFirstPatchMs: round(performance.now() - mine[0]!.at),
      nextPodRightAfter: Object.fromEntries(Object.entries(nextPod).map(([k, v]) => [k, round(v)])),
    };
    await settle([...names, `a-${cfg.tag}`], quietMs);
    const lat = samples.map((s) => s.latencyMs);
    type Line = { level: number; msg: string; err?: string };
    const r = {
      batchIdleMs: cfg.batchIdleMs,
      serviceStartToWorkloadInformersSyncedMs: syncMs,
      latencyMs: stats(lat),
      latencyMinusBatchIdleMs: stats(lat.map((x) => x - cfg.batchIdleMs)),
      podCreateToUnschedulableMs: stats(samples.map((s) => s.toUnschedulableMs)),
      serviceCacheSawUnschedulableMs: stats(samples.map((s) => s.serviceSawMs)),
      serviceDecisionMs: stats(samples.map((s) => s.decisionMs)),
      reconcilesPerSample: stats(samples.map((s) => s.reconciles)),
      eventLoopDelayMaxMs: stats(samples.map((s) => s.loopDelayMaxMs)),
      burst,
      nodeUpdatesDuringRun: nodeUpdates.count - nodeUpdates0,
      informers: (svc.status() as { informers: unknown }).informers,
      serviceLogWarnOrWorse: lines
        .map((l) => JSON.parse(l) as Line)
        .filter((l) => l.level >= 40)
        .map((l) => `${l.msg}${l.err ? `: ${l.err}` : ''}`),
      samples: samples.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round(v)]))),
    };
    results[cfg.name] = r;
    console.log(`${cfg.name}: ${JSON.stringify({ ...r.latencyMs, decision: r.serviceDecisionMs, burst })}`);
    const { p50, p99, max } = r.latencyMs;
    const cols = [p50, p99, max, r.latencyMinusBatchIdleMs.p50, r.latencyMinusBatchIdleMs.p99];
    cols.push(r.serviceDecisionMs.p50, burst.firstUnschedulableToAllCoveredMs, nextPod.latencyMs);
    table.push(cfg.name.padEnd(15) + cols.map((c) => String(round(c)).padStart(11)).join(''));
    await svc.stop();
    svc = undefined;
  }
  const simLines = readFileSync(simLog, 'utf8').trim().split('\n');
  const out = {
    benchmark: 'autoscaler-latency',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model },
    node: process.version,
    nodes: NODES,
    samples: SAMPLES,
    fleetUpSeconds,
    loadAverage: { before: loadBefore, after: loadavg().map(round) },
    wallSeconds: round((performance.now() - wallStart) / 1000),
    simulatorLog: { lines: simLines.length, lastStats: simLines.filter((l) => l.startsWith('stats')).at(-1) },
    nodesReadyAtEnd: (await list('/api/v1/nodes')).filter((n) => cond(n, 'Ready')?.status === 'True').length,
    results,
  };
  console.log(`\n${NODES} nodes, ${SAMPLES} samples (ms)`);
  const head = ['p50', 'p99', 'max', 'p50-batch', 'p99-batch', 'decision50', 'burst→all', 'nextPod'];
  console.log('config'.padEnd(15) + head.map((h) => h.padStart(11)).join(''));
  for (const l of table) console.log(l);
  console.log(`wall ${out.wallSeconds} s, load ${loadBefore.join(' ')} → ${out.loadAverage.after.join(' ')}`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/autoscaler-latency.json', `${JSON.stringify(out, null, 2)}\n`);
  // The summary also goes next to the decision bench's numbers.
  const FILE = 'bench/results/autoscaler.json';
  const decision: unknown = existsSync(FILE) ? JSON.parse(readFileSync(FILE, 'utf8')) : {};
  const sandboxLatency = {
    at: out.date,
    nodes: NODES,
    samples: SAMPLES,
    details: 'bench/results/autoscaler-latency.json',
    ...Object.fromEntries(
      Object.entries(results).map(([k, r]) => [
        k,
        { batchIdleMs: r.batchIdleMs, latencyMs: r.latencyMs, serviceDecisionMs: r.serviceDecisionMs },
      ]),
    ),
  };
  writeFileSync(FILE, `${JSON.stringify({ ...(decision as object), sandboxLatency }, null, 2)}\n`);
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  stopWatches.abort();
  await svc?.stop().catch(() => {});
  await cluster.stop(); // stops the simulator process, the control plane and etcd
}
