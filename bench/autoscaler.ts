// The scale-up decision's cost: 10,000 pending pods (100 Deployments of 100 replicas, mixed sizes, some
// GPU, some with node selectors) against 200 node groups (4 instance shapes, a quarter tainted for GPUs,
// some at zero with nodes being provisioned), on 1,000 existing nodes that are mostly full. Reported:
// median and max of the decision time over several runs, and the heap used around it. The sandbox
// latency (pod unschedulable → replicas patched) is autoscaler-latency.ts (`npm run bench:autoscaler`
// runs both).
// Writes bench/results/autoscaler.json.   npm run bench:autoscaler [-- runs]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { POD_SLOT } from '../src/autoscaler/estimator.ts';
import { staticFit } from '../src/autoscaler/predicates.ts';
import { planScaleUp, type ExistingNode, type GroupCandidate } from '../src/autoscaler/scaleup.ts';
import type { SimNode, SimPod } from '../src/autoscaler/types.ts';

const runs = Number(process.argv[2] ?? 9);
const GI = 2 ** 30 * 1000;
const GPU = 'nvidia.com/gpu';
const shapes = [
  { cpu: 4, mem: 16 },
  { cpu: 8, mem: 32 },
  { cpu: 16, mem: 64 },
  { cpu: 32, mem: 128 },
];
const node = (name: string, s: { cpu: number; mem: number }, gpu: boolean, zone: string): SimNode => ({
  name,
  labels: { 'topology.kubernetes.io/zone': zone, 'kubernetes.io/os': 'linux' },
  taints: gpu ? [{ key: GPU, value: 'present', effect: 'NoSchedule' }] : [],
  allocatable: {
    cpu: s.cpu * 1000,
    memory: s.mem * GI,
    pods: 110 * POD_SLOT,
    ...(gpu ? { [GPU]: 4000 } : {}),
  },
});

const groups: GroupCandidate[] = Array.from({ length: 200 }, (_, i) => {
  const gpu = i % 4 === 3;
  return {
    id: `MachineDeployment/fleet/md-${i}`,
    minSize: 0,
    maxSize: 50,
    target: i % 5,
    upcoming: i % 7 === 0 ? 1 : 0,
    template: node(`template-md-${i}`, shapes[i % 4]!, gpu, `zone-${i % 3}`),
  };
});
const existing: ExistingNode[] = Array.from({ length: 1000 }, (_, i) => {
  const n = node(`node-${i}`, shapes[i % 4]!, false, `zone-${i % 3}`);
  // Mostly full: a little room left on each.
  return {
    node: n,
    used: { cpu: n.allocatable['cpu']! - 300, memory: n.allocatable['memory']! - GI, pods: 30 * POD_SLOT },
    ports: [],
  };
});
const pending: SimPod[] = [];
for (let d = 0; d < 100; d++) {
  const gpu = d % 10 === 9;
  for (let r = 0; r < 100; r++) {
    pending.push({
      namespace: `team-${d % 7}`,
      name: `app-${d}-${r}`,
      uid: `uid-${d}-${r}`,
      ownerUid: `rs-${d}`,
      requests: {
        cpu: 250 * (1 + (d % 8)),
        memory: (((d % 6) + 1) * GI) / 2,
        ...(gpu ? { [GPU]: 1000 } : {}),
      },
      nodeSelector: d % 4 === 0 ? { 'topology.kubernetes.io/zone': `zone-${d % 3}` } : {},
      tolerations: gpu ? [{ key: GPU, operator: 'Exists' }] : [],
      hostPorts: [],
    });
  }
}

const times: number[] = [];
let heapDelta = 0;
let plan!: ReturnType<typeof planScaleUp>;
for (let i = 0; i < runs; i++) {
  globalThis.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  plan = planScaleUp({
    pending,
    nodes: existing,
    groups,
    limits: {
      maxNodesTotal: 0,
      currentNodes: 1000,
      maxCpuTotal: 0,
      currentCpu: 0,
      maxMemoryTotal: 0,
      currentMemory: 0,
    },
    expander: 'least-waste',
    random: () => 0.5,
    now: 0,
    staticFit,
  });
  times.push(performance.now() - t0);
  heapDelta = Math.max(heapDelta, process.memoryUsage().heapUsed - heap0);
}
times.sort((a, b) => a - b);
const result = {
  at: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  node: process.version,
  pendingPods: pending.length,
  nodeGroups: groups.length,
  existingNodes: existing.length,
  runs,
  decisionMsMedian: Math.round(times[Math.floor(times.length / 2)]! * 10) / 10,
  decisionMsMax: Math.round(times.at(-1)! * 10) / 10,
  heapGrowthMiB: Math.round((heapDelta / 2 ** 20) * 10) / 10,
  heapUsedMiB: Math.round((process.memoryUsage().heapUsed / 2 ** 20) * 10) / 10,
  plan: {
    scaleUps: plan.scaleUps.length,
    newNodes: plan.scaleUps.reduce((a, s) => a + s.to - s.from, 0),
    waiting: plan.waiting.length,
    noScaleUp: plan.noScaleUp.length,
  },
};
console.log(JSON.stringify(result, null, 2));
mkdirSync('bench/results', { recursive: true });
// The latency and scale-down benches add their sections to the same file: keep them.
const FILE = 'bench/results/autoscaler.json';
const previous = existsSync(FILE) ? (JSON.parse(readFileSync(FILE, 'utf8')) as Record<string, unknown>) : {};
const kept = Object.fromEntries(Object.entries(previous).filter(([k]) => !(k in result)));
writeFileSync(FILE, `${JSON.stringify({ ...result, ...kept }, null, 2)}\n`);
