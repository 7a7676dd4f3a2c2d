// How fast the sandbox brings up N machines (Running, with Ready hollow nodes) and what that costs the
// apiserver, at 100 and 1,000 nodes; then a steady-state hold checking that no node leaves Ready.
// Writes bench/results/sandbox.json.   npm run bench:sandbox [-- 100,1000 [holdSeconds]]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { CapiSimulator } from '../src/sandbox/capi-sim/simulator.ts';
import { startCluster } from '../src/sandbox/cluster.ts';
import { installCrds } from '../src/sandbox/crds.ts';
import { RestClient } from '../src/sandbox/rest.ts';
import { machineDeployment, preparePool, waitFor } from './support.ts';

const sizes = (process.argv[2] ?? '100,1000').split(',').map(Number);
const holdSeconds = Number(process.argv[3] ?? 60);

async function requestTotal(api: RestClient): Promise<number> {
  const r = await api.req('GET', '/metrics');
  let total = 0;
  for (const line of r.text.split('\n')) {
    if (line.startsWith('apiserver_request_total{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

interface Item {
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}
const ready = (n: Item) =>
  n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

const cluster = await startCluster({ name: `bench-sandbox-${process.pid}`, quiet: true });
const api = RestClient.fromKubeconfig(cluster.kubeconfigPath);
const results: unknown[] = [];
try {
  await installCrds(api, 'v1beta2');
  const sim = await CapiSimulator.start({
    management: api,
    version: 'v1beta2',
    provisioningDelayMs: 0,
    joinDelayMs: 0,
    workers: 16,
  });
  for (const n of sizes) {
    const ns = `bench-${n}`;
    const capi = (r: string) => `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/${r}`;
    await preparePool(api, ns, { cpu: '2', memory: '4Gi' });
    const before = await requestTotal(api);
    const t0 = performance.now();
    await api.ok('POST', capi('machinedeployments'), machineDeployment(n));
    await waitFor(
      `${n} Running machines and Ready nodes`,
      async () => {
        const ms = (await api.ok<{ items: Item[] }>('GET', capi('machines'))).items;
        if (ms.length !== n || !ms.every((m) => m.status?.phase === 'Running')) return false;
        const nodes = (await api.ok<{ items: Item[] }>('GET', `/api/v1/nodes?labelSelector=bench%3D${ns}`))
          .items;
        return nodes.length === n && nodes.every(ready);
      },
      1_800_000,
    );
    const upSeconds = (performance.now() - t0) / 1000;
    const afterUp = await requestTotal(api);
    // Steady state: only heartbeats should be talking to the apiserver.
    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, holdSeconds * 1000));
    const afterHold = await requestTotal(api);
    const holdElapsed = (performance.now() - t1) / 1000;
    const nodes = (await api.ok<{ items: Item[] }>('GET', `/api/v1/nodes?labelSelector=bench%3D${ns}`)).items;
    const r = {
      nodes: n,
      secondsToAllRunningAndReady: Number(upSeconds.toFixed(1)),
      apiserverRequestsDuringScaleUp: afterUp - before,
      apiserverRequestsPerSecondDuringScaleUp: Number(((afterUp - before) / upSeconds).toFixed(1)),
      apiserverRequestsPerSecondSteadyState: Number(((afterHold - afterUp) / holdElapsed).toFixed(1)),
      holdSeconds,
      nodesReadyAfterHold: nodes.filter(ready).length,
      leaseErrors: sim.ctx.kubelet.stats.leaseErrors,
      lastHeartbeatRoundMs: Math.round(sim.ctx.kubelet.stats.lastRoundMs),
    };
    console.log(JSON.stringify(r));
    results.push(r);
    await api.mergePatch(capi('machinedeployments/md') + '/scale', { spec: { replicas: 0 } });
    await waitFor(
      'scale to zero',
      async () => (await api.ok<{ items: Item[] }>('GET', capi('machines'))).items.length === 0,
      1_800_000,
    );
  }
  await sim.stop();
} finally {
  await cluster.stop();
}
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/sandbox.json',
  JSON.stringify(
    {
      benchmark: 'sandbox',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model },
      results,
    },
    null,
    2,
  ) + '\n',
);
