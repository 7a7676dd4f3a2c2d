// The scale-down candidate scan's cost: planScaleDown over 5,000 nodes (100 node groups of 50, four
// instance shapes, one group in ten GPU and tainted) and 150,000 pods. Most nodes are well used (60–90 %);
// 300 are underutilized with movable pods, 100 are empty but for their DaemonSet pods, 200 are
// underutilized but hold a pod that blocks the drain (safe-to-evict "false"), 20 are not Ready, 10 belong
// to remediation. Every node runs three DaemonSet pods; every candidate has been unneeded for an hour, so
// the whole removal path runs. Two cases:
// - `scan`: the default limits (10 empty in bulk, 1 non-empty per group, 10 in parallel): the loop as it runs;
// - `simulateAll`: limits lifted, so every removable node is simulated (each a removal that moves its pods);
// - `noPlaceAll`: limits lifted and no place for the underutilized nodes' pods: 300 failed simulations,
//   each with its "0/4999 nodes are available: ..." reason. The worst case of one loop.
// Reported: median and max over several runs, and the heap growth around one plan (after a forced GC).
// Writes the `scaleDown` key of bench/results/autoscaler.json, keeping the file's other keys.
//   node_modules/node/bin/node --expose-gc bench/autoscaler-scaledown.ts [runs=9]
import { cpus } from 'node:os';
import { POD_SLOT } from '../src/autoscaler/packing.ts';
import {
  planScaleDown,
  type ClassifiedPod,
  type ScaleDownGroup,
  type ScaleDownInput,
  type ScaleDownLimits,
  type ScaleDownNode,
} from '../src/autoscaler/scaledown.ts';
import type { SimNode, SimPod } from '../src/autoscaler/types.ts';
import {
  GPU,
  GROUPS,
  kindOf,
  MIN,
  NODES,
  NOW_MS,
  PODS,
  seededRandom,
  SHAPES,
  writeResultKey,
} from './scaledown-shape.ts';

const runs = Number(process.argv[2] ?? 9);
const rand = seededRandom();
const GI = 2 ** 30 * 1000;
const NOW = NOW_MS;
const DS_PODS = 3;

let podSeq = 0;
function pod(node: string, cpu: number, mem: number, o: Partial<SimPod> = {}): SimPod {
  const n = podSeq++;
  return {
    namespace: `team-${n % 13}`,
    name: `app-${n}`,
    uid: `uid-${n}`,
    ownerUid: `rs-${n % 997}`,
    requests: { cpu: Math.round(cpu), memory: Math.round(mem) },
    nodeSelector: {},
    tolerations: [],
    hostPorts: [],
    nodeName: node,
    ...o,
  };
}
const classified = (
  p: SimPod,
  action: ClassifiedPod['action'],
  detail: string,
  ds = false,
): ClassifiedPod => ({
  pod: p,
  action,
  detail,
  daemonSet: ds,
  mirror: false,
});

const kinds = Array.from({ length: NODES }, (_, i) => kindOf(i));
const underPods = 6;
const fixedPods = kinds.filter((k) => k === 'under' || k === 'blocked').length * underPods;
const busyNodes = kinds.filter((k) => k === 'busy').length;
// What is left of 150,000 after the DaemonSet pods and the underutilized nodes' pods, spread over busy nodes.
const busyPodsTotal = PODS - NODES * DS_PODS - fixedPods;

const nodes: ScaleDownNode[] = [];
const groups = new Map<string, ScaleDownGroup>();
const unneededSince = new Map<string, number>();
let busySeen = 0;
for (let g = 0; g < GROUPS; g++) {
  const id = `MachineDeployment/fleet/md-${g}`;
  groups.set(id, {
    minSize: g % 5 === 0 ? 48 : 1, // a fifth of the groups sit near their min
    target: 50,
    pendingRemovals: 0,
    options: {
      scaleDownUtilizationThreshold: 0.5,
      scaleDownUnneededTime: 10 * MIN,
      scaleDownUnreadyTime: 20 * MIN,
    },
  });
}
for (let i = 0; i < NODES; i++) {
  const g = i % GROUPS;
  const shape = SHAPES[g % 4]!;
  const gpu = g % 10 === 9;
  const name = `node-${String(i).padStart(4, '0')}`;
  const node: SimNode = {
    name,
    labels: {
      'kubernetes.io/hostname': name,
      'topology.kubernetes.io/zone': `zone-${i % 3}`,
      'cluster.x-k8s.io/deployment-name': `md-${g}`,
    },
    taints: gpu ? [{ key: GPU, value: 'present', effect: 'NoSchedule' }] : [],
    allocatable: {
      cpu: shape.cpu * 1000,
      memory: shape.mem * GI,
      pods: 110 * POD_SLOT,
      ...(gpu ? { [GPU]: 4000 } : {}),
    },
  };
  const pods: ClassifiedPod[] = [];
  for (let d = 0; d < DS_PODS; d++)
    pods.push(classified(pod(name, 100, 0.2 * GI, { daemonSet: true }), 'skip', 'DaemonSet pod', true));
  const kind = kinds[i]!;
  const cpu = shape.cpu * 1000 - DS_PODS * 100;
  const mem = shape.mem * GI - DS_PODS * 0.2 * GI;
  const tolerations = gpu ? [{ key: GPU, operator: 'Exists' as const }] : [];
  const work = (count: number, util: number) => {
    for (let k = 0; k < count; k++) {
      // Busy GPU nodes use 3 of their 4 GPUs: on a GPU node only the GPU share counts.
      const gpuReq: Record<string, number> = gpu && k < 3 && util > 0.5 ? { [GPU]: 1000 } : {};
      const p = pod(name, (cpu * util) / count, (mem * util * 0.8) / count, { tolerations });
      pods.push(classified({ ...p, requests: { ...p.requests, ...gpuReq } }, 'evict', 'no PDB selects it'));
    }
  };
  if (kind === 'busy') {
    // Spread the remaining pods evenly: the first busy nodes take one more when it does not divide.
    const count = Math.floor(busyPodsTotal / busyNodes) + (busySeen++ < busyPodsTotal % busyNodes ? 1 : 0);
    work(count, 0.6 + 0.3 * rand());
  } else if (kind === 'under') work(underPods, 0.1 + 0.3 * rand());
  else if (kind === 'blocked') {
    work(underPods - 1, 0.1 + 0.3 * rand());
    pods.push(
      classified(
        pod(name, 100, 0.1 * GI, { name: `db-${i}` }),
        'block',
        'cluster-autoscaler.kubernetes.io/safe-to-evict=false',
      ),
    );
  }
  const ready = i % 250 !== 17; // 20 nodes not Ready
  nodes.push({
    node,
    group: `MachineDeployment/fleet/md-${g}`,
    ready,
    ...(ready ? {} : { readyChangedAt: NOW - 30 * MIN }),
    scaleDownDisabled: false,
    ...(i % 500 === 3 ? { owner: 'remediation' } : {}),
    pods,
  });
  unneededSince.set(name, NOW - 60 * MIN);
}
const podCount = nodes.reduce((a, n) => a + n.pods.length, 0);
if (podCount !== PODS) throw new Error(`built ${podCount} pods, wanted ${PODS}`);

function measure(limits: ScaleDownLimits, cluster = nodes) {
  const input: ScaleDownInput = { nodes: cluster, groups, unneededSince, now: NOW, limits };
  const times: number[] = [];
  let heapDelta = 0;
  let plan!: ReturnType<typeof planScaleDown>;
  planScaleDown(input); // warm-up (JIT), not counted
  for (let i = 0; i < runs; i++) {
    globalThis.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    plan = planScaleDown(input);
    times.push(performance.now() - t0);
    heapDelta = Math.max(heapDelta, process.memoryUsage().heapUsed - heap0);
  }
  times.sort((a, b) => a - b);
  const codes: Record<string, number> = {};
  for (const k of plan.kept) codes[k.code] = (codes[k.code] ?? 0) + 1;
  return {
    limits,
    msMedian: Math.round(times[Math.floor(times.length / 2)]! * 10) / 10,
    msMax: Math.round(times.at(-1)! * 10) / 10,
    heapGrowthMiB: Math.round((heapDelta / 2 ** 20) * 10) / 10,
    plan: {
      unneeded: plan.unneededSince.size,
      removeEmpty: plan.remove.filter((r) => r.empty).length,
      removeDrained: plan.remove.filter((r) => !r.empty).length,
      podsMoved: plan.remove.reduce((a, r) => a + r.destinations.length, 0),
      kept: codes,
    },
  };
}

const scan = measure({ maxEmptyBulkDelete: 10, maxNonEmptyPerGroup: 1, maxTotal: 10 });
const unlimited = { maxEmptyBulkDelete: NODES, maxNonEmptyPerGroup: NODES, maxTotal: NODES };
const simulateAll = measure(unlimited);
// The same, but the underutilized nodes' pods select a label no node has: every simulation fails, and
// each failure counts every node's reason for the message.
const pinned = nodes.map((n, i) =>
  kinds[i] !== 'under'
    ? n
    : {
        ...n,
        pods: n.pods.map((p) =>
          p.action === 'evict' ? { ...p, pod: { ...p.pod, nodeSelector: { disk: 'nvme' } } } : p,
        ),
      },
);
const noPlaceAll = measure(unlimited, pinned);
const scaleDown = {
  at: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  node: process.version,
  nodes: NODES,
  pods: PODS,
  nodeGroups: GROUPS,
  runs,
  targetMs: 500,
  scan,
  simulateAll,
  noPlaceAll,
  heapUsedMiB: Math.round((process.memoryUsage().heapUsed / 2 ** 20) * 10) / 10,
};
console.log(JSON.stringify(scaleDown, null, 2));
const FILE = 'bench/results/autoscaler.json';
writeResultKey(FILE, 'scaleDown', scaleDown);
