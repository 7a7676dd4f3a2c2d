// The MachineHealthCheck evaluation as the standalone controller runs it per reconcile
// (src/remediation/mhc-controller.ts reconcile), pure, without the API calls: the MachineHealthCheck, its
// Cluster and every Machine of the namespace read from raw v1beta2 objects through the adapters
// (fromObjectOfKind, clusterFactsOf), the workload Nodes reduced to NodeFacts as nodesOf does, then
// evaluateHealth and planMhc on the result.
// Shape: one MHC (Ready=False and Ready=Unknown for 300 s, unhealthyLessThanOrEqualTo "40%", an
// AutopilotRemediationTemplate) selecting 5,000 Machines (v1beta2, 100 MachineSets as controller owners, a
// nodeRef each, HealthCheckSucceeded=True in both condition vocabularies) and 5,000 Nodes (Ready and the
// three pressure conditions); 2 % of the Nodes Ready=False for 10 minutes (unhealthy), 1 % Ready=Unknown
// for 2 minutes (timeout still running), picked with the seeded random source of scaledown-shape.ts.
// Two reconciles are measured on the same objects:
//   first:  the MHC has no status yet and the 100 failing Machines still say HealthCheckSucceeded=True:
//           the plan writes the MHC status, the 100 Machines' conditions and creates 100 requests;
//   steady: the first plan's writes merged into the raw objects once (the patches apply() would send,
//           JSON merge patch) and its requests existing: the plan writes nothing (checked).
// Reported per reconcile: the first (unwarmed) run, then median and max over `runs` runs of each step —
// adapters (MHC + Cluster + 5,000 Machines), node facts, evaluateHealth, planMhc — and of the whole; the
// largest heap growth around one reconcile after a forced GC.
// Writes the `mhcEvaluation` key of bench/results/remediation.json, keeping the file's other keys.
//   node_modules/node/bin/node --expose-gc bench/remediation-health.ts [runs=9]
//   (or: npm run bench:remediation)
import { cpus } from 'node:os';
import { conditionsPatch, fromObjectOfKind, mhcStatusPatch } from '../src/capi/adapters/index.ts';
import { conditionsJson } from '../src/capi/adapters/patches.ts';
import type { Machine } from '../src/capi/types.ts';
import { TEMPLATE_KIND, REMEDIATION_API_VERSION } from '../src/remediation/contract.ts';
import { evaluateHealth, type HealthEvaluation } from '../src/remediation/health.ts';
import { planMhc, type MhcPlan } from '../src/remediation/mhc-plan.ts';
import { clusterFactsOf, type NodeFacts } from '../src/remediation/types.ts';
import { MIN, NOW_MS, seededRandom, writeResultKey } from './scaledown-shape.ts';

const runs = Number(process.argv[2] ?? 9);
const rand = seededRandom();
const NOW = new Date(NOW_MS);
const ago = (ms: number) => new Date(NOW_MS - ms).toISOString().replace('.000Z', 'Z');
const NS = 'fleet';
const CLUSTER = 'prod';
const MACHINES = 5000;
const SETS = 100;
const UNHEALTHY = MACHINES * 0.02; // Ready=False for 10 min: past the 300 s timeout
const RUNNING = MACHINES * 0.01; // Ready=Unknown for 2 min: the timeout still runs
const TIMEOUT_S = 300;
const CAPI = 'cluster.x-k8s.io/v1beta2';
const DAY = 24 * 60 * MIN;

type Raw = Record<string, unknown>;
/** As an informer holds it: decoded from the apiserver's JSON, no structure shared with another object. */
const decoded = (o: Raw): Raw => JSON.parse(JSON.stringify(o)) as Raw;

const meta = (name: string, o: Raw = {}): Raw => ({
  name,
  namespace: NS,
  uid: `uid-${name}`,
  resourceVersion: '4711',
  generation: 3,
  creationTimestamp: ago(30 * DAY),
  ...o,
});
const v2cond = (type: string, status = 'True', reason = type) => ({
  type,
  status,
  reason,
  message: '',
  lastTransitionTime: ago(DAY),
  observedGeneration: 3,
});
const v1cond = (type: string) => ({ type, status: 'True', lastTransitionTime: ago(DAY) });

const msName = (g: number) => `md-${g}-7c9f5d`;
const machineName = (i: number) => `${msName(i % SETS)}-${String(i).padStart(4, '0')}x`;
const nodeName = (i: number) => `node-${String(i).padStart(4, '0')}`;

// Which Nodes fail: a seeded shuffle, the first 2 % unhealthy, the next 1 % with a timeout running.
const order = Array.from({ length: MACHINES }, (_, i) => i);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [order[i], order[j]] = [order[j]!, order[i]!];
}
const state = new Map<number, 'unhealthy' | 'running'>();
order.slice(0, UNHEALTHY).forEach((i) => state.set(i, 'unhealthy'));
order.slice(UNHEALTHY, UNHEALTHY + RUNNING).forEach((i) => state.set(i, 'running'));

const clusterObj: Raw = {
  apiVersion: CAPI,
  kind: 'Cluster',
  metadata: meta(CLUSTER),
  spec: { paused: false },
  status: {
    initialization: { infrastructureProvisioned: true, controlPlaneInitialized: true },
    conditions: ['Available', 'ControlPlaneInitialized', 'InfrastructureReady'].map((t) => v2cond(t, 'True')),
  },
};

const mhcObj: Raw = {
  apiVersion: CAPI,
  kind: 'MachineHealthCheck',
  metadata: meta('workers'),
  spec: {
    clusterName: CLUSTER,
    selector: { matchExpressions: [{ key: 'cluster.x-k8s.io/deployment-name', operator: 'Exists' }] },
    checks: {
      nodeStartupTimeoutSeconds: 600,
      unhealthyNodeConditions: [
        { type: 'Ready', status: 'False', timeoutSeconds: TIMEOUT_S },
        { type: 'Ready', status: 'Unknown', timeoutSeconds: TIMEOUT_S },
      ],
    },
    remediation: {
      triggerIf: { unhealthyLessThanOrEqualTo: '40%' },
      templateRef: { apiVersion: REMEDIATION_API_VERSION, kind: TEMPLATE_KIND, name: 'reboot-then-replace' },
    },
  },
};

const machineObjs: Raw[] = [];
const nodeObjs: Raw[] = [];
for (let i = 0; i < MACHINES; i++) {
  const g = i % SETS;
  machineObjs.push({
    apiVersion: CAPI,
    kind: 'Machine',
    metadata: meta(machineName(i), {
      labels: {
        'cluster.x-k8s.io/cluster-name': CLUSTER,
        'cluster.x-k8s.io/deployment-name': `md-${g}`,
        'cluster.x-k8s.io/set-name': msName(g),
      },
      ownerReferences: [
        {
          apiVersion: CAPI,
          kind: 'MachineSet',
          name: msName(g),
          uid: `uid-${msName(g)}`,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      finalizers: ['machine.cluster.x-k8s.io'],
    }),
    spec: {
      clusterName: CLUSTER,
      version: 'v1.34.1',
      bootstrap: { dataSecretName: `${machineName(i)}-bootstrap` },
      infrastructureRef: {
        apiGroup: 'infrastructure.cluster.x-k8s.io',
        kind: 'AWSMachine',
        name: machineName(i),
      },
      providerID: `aws:///zone-${i % 3}/i-0${(1_000_000 + i).toString(16)}`,
      failureDomain: `zone-${i % 3}`,
    },
    status: {
      nodeRef: { name: nodeName(i) },
      phase: 'Running',
      initialization: { bootstrapDataSecretCreated: true, infrastructureProvisioned: true },
      conditions: [
        ...['Available', 'Ready', 'UpToDate', 'BootstrapConfigReady', 'InfrastructureReady', 'NodeReady'].map(
          (t) => v2cond(t),
        ),
        v2cond('HealthCheckSucceeded'),
      ],
      deprecated: {
        v1beta1: {
          conditions: [
            'Ready',
            'BootstrapReady',
            'InfrastructureReady',
            'NodeHealthy',
            'HealthCheckSucceeded',
          ].map(v1cond),
        },
      },
    },
  });
  const s = state.get(i);
  const since = 30 * DAY - Math.floor(rand() * 10 * DAY);
  nodeObjs.push({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: nodeName(i),
      uid: `uid-${nodeName(i)}`,
      resourceVersion: '90210',
      creationTimestamp: ago(30 * DAY),
      labels: { 'kubernetes.io/hostname': nodeName(i), 'topology.kubernetes.io/zone': `zone-${i % 3}` },
    },
    spec: { providerID: `aws:///zone-${i % 3}/i-0${(1_000_000 + i).toString(16)}` },
    status: {
      conditions: [
        ...['MemoryPressure', 'DiskPressure', 'PIDPressure'].map((type) => ({
          type,
          status: 'False',
          reason: `KubeletHasNo${type}`,
          lastHeartbeatTime: ago(MIN),
          lastTransitionTime: ago(since),
        })),
        s === 'unhealthy'
          ? {
              type: 'Ready',
              status: 'False',
              reason: 'KubeletNotReady',
              message: 'container runtime network not ready',
              lastHeartbeatTime: ago(MIN),
              lastTransitionTime: ago(10 * MIN),
            }
          : s === 'running'
            ? {
                type: 'Ready',
                status: 'Unknown',
                reason: 'NodeStatusUnknown',
                message: 'Kubelet stopped posting node status.',
                lastHeartbeatTime: ago(3 * MIN),
                lastTransitionTime: ago(2 * MIN),
              }
            : {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                lastHeartbeatTime: ago(MIN),
                lastTransitionTime: ago(since),
              },
      ],
    },
  });
}

const t0 = performance.now();
const raw = {
  cluster: decoded(clusterObj),
  mhc: decoded(mhcObj),
  machines: machineObjs.map(decoded),
  nodes: nodeObjs.map(decoded),
};
const buildMs = performance.now() - t0;

interface Reconcile {
  adaptersMs: number;
  nodeFactsMs: number;
  evaluateMs: number;
  planMs: number;
  totalMs: number;
  machines: Machine[];
  evaluation: HealthEvaluation;
  plan: MhcPlan;
}

/** One reconcile's pure part, as mhc-controller.ts runs it (requests: the cache's, by name). */
function reconcile(requests: ReadonlyMap<string, { deleting: boolean }>): Reconcile {
  const a = performance.now();
  const mhc = fromObjectOfKind(raw.mhc, 'MachineHealthCheck');
  const cluster = fromObjectOfKind(raw.cluster, 'Cluster');
  const machines: Machine[] = [];
  for (const o of raw.machines) {
    if ((o.metadata as Raw).namespace !== NS) continue;
    machines.push(fromObjectOfKind(o, 'Machine'));
  }
  const b = performance.now();
  const nodes = new Map<string, NodeFacts>();
  for (const n of raw.nodes) {
    const m = n.metadata as { name: string; deletionTimestamp?: string };
    const st = (n as { status?: { conditions?: NodeFacts['conditions'] } }).status;
    nodes.set(m.name, {
      name: m.name,
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
      conditions: Array.isArray(st?.conditions) ? st.conditions : [],
    });
  }
  const c = performance.now();
  const evaluation = evaluateHealth({
    mhc,
    cluster: clusterFactsOf(cluster),
    machines,
    nodes,
    nodeCacheAvailable: true,
    now: NOW.getTime(),
  });
  const d = performance.now();
  const plan = planMhc({ mhc, evaluation, machines, requests, now: NOW });
  const e = performance.now();
  return {
    adaptersMs: b - a,
    nodeFactsMs: c - b,
    evaluateMs: d - c,
    planMs: e - d,
    totalMs: e - a,
    machines,
    evaluation,
    plan,
  };
}

/** RFC 7386 JSON merge patch, in place: what the apiserver does with apply()'s merge patches. */
function mergePatch(target: Raw, patch: Raw): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === 'object' && !Array.isArray(v)) {
      const t = target[k];
      if (typeof t !== 'object' || t === null || Array.isArray(t)) target[k] = {};
      mergePatch(target[k] as Raw, v as Raw);
    } else target[k] = JSON.parse(JSON.stringify(v));
  }
}
let rv = 5000;
const bump = (o: Raw) => ((o.metadata as Raw).resourceVersion = String(++rv));

/** Writes the plan's patches into the raw objects (as apply() would, the apiserver merging them). */
function feedBack(r: Reconcile): void {
  const byName = new Map(raw.machines.map((o) => [String((o.metadata as Raw).name), o]));
  const adapted = new Map(r.machines.map((m) => [m.meta.name, m]));
  for (const mc of r.plan.machineConditions) {
    const m = adapted.get(mc.machine)!;
    const p = conditionsPatch(m.version, mc.conditions, {
      otherVersion: mc.otherVersionConditions,
      ...(mc.resourceVersion ? { resourceVersion: mc.resourceVersion } : {}),
    });
    const o = byName.get(mc.machine)!;
    mergePatch(o, p.body as Raw);
    bump(o);
  }
  if (r.plan.status) {
    const { otherVersionConditions, ...u } = r.plan.status;
    const p = mhcStatusPatch('v1beta2', u);
    (p.body.status as Raw)['deprecated'] = {
      v1beta1: { conditions: conditionsJson('v1beta1', otherVersionConditions) },
    };
    mergePatch(raw.mhc, p.body as Raw);
    bump(raw.mhc);
  }
}

const round = (x: number) => Math.round(x * 10) / 10;
const mib = (bytes: number) => round(bytes / 2 ** 20);
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { msMedian: round(s[Math.floor(s.length / 2)]!), msMax: round(s.at(-1)!) };
};
const writes = (p: MhcPlan) => ({
  mhcStatus: p.status !== undefined,
  machineConditions: p.machineConditions.length,
  createRequests: p.createRequests.length,
  deleteRequests: p.deleteRequests.length,
  events: p.events.length,
});
const counts = (e: HealthEvaluation) => {
  if (!e.ok) throw new Error(`evaluation failed: ${e.code}: ${e.message}`);
  const codes: Record<string, number> = {};
  for (const t of e.targets) codes[t.code] = (codes[t.code] ?? 0) + 1;
  return {
    expectedMachines: e.expectedMachines,
    currentHealthy: e.currentHealthy,
    codes,
    nextCheckAt: e.nextCheckAt === undefined ? undefined : new Date(e.nextCheckAt).toISOString(),
  };
};

/** `runs` reconciles after a forced GC each: per-step stats and the largest heap growth around one. */
function measure(requests: ReadonlyMap<string, { deleting: boolean }>) {
  const steps = { adapters: [], nodeFacts: [], evaluateHealth: [], planMhc: [], total: [] } as Record<
    'adapters' | 'nodeFacts' | 'evaluateHealth' | 'planMhc' | 'total',
    number[]
  >;
  let heapGrowth = 0;
  let heapBefore = 0;
  let heapAfter = 0;
  let last: Reconcile | undefined;
  for (let i = 0; i < runs; i++) {
    globalThis.gc?.();
    const h0 = process.memoryUsage().heapUsed;
    last = reconcile(requests);
    const h1 = process.memoryUsage().heapUsed;
    if (h1 - h0 >= heapGrowth) [heapGrowth, heapBefore, heapAfter] = [h1 - h0, h0, h1];
    steps.adapters.push(last.adaptersMs);
    steps.nodeFacts.push(last.nodeFactsMs);
    steps.evaluateHealth.push(last.evaluateMs);
    steps.planMhc.push(last.planMs);
    steps.total.push(last.totalMs);
  }
  return {
    last: last!,
    result: {
      adapters: stats(steps.adapters),
      nodeFacts: stats(steps.nodeFacts),
      evaluateHealth: stats(steps.evaluateHealth),
      planMhc: stats(steps.planMhc),
      total: stats(steps.total),
      heapGrowthMiB: mib(heapGrowth),
      heapBeforeMiB: mib(heapBefore),
      heapUsedMiB: mib(heapAfter),
    },
  };
}

if (!globalThis.gc) console.warn('no forced GC: run with --expose-gc for the heap figures');
globalThis.gc?.();
const noRequests = new Map<string, { deleting: boolean }>();
const cold = reconcile(noRequests); // the first reconcile after start: JIT not warmed up
const unwarmed = {
  adaptersMs: round(cold.adaptersMs),
  nodeFactsMs: round(cold.nodeFactsMs),
  evaluateHealthMs: round(cold.evaluateMs),
  planMhcMs: round(cold.planMs),
  totalMs: round(cold.totalMs),
};
const first = measure(noRequests);

feedBack(first.last);
const requests = new Map(first.last.plan.createRequests.map((n) => [n, { deleting: false }]));
const steady = measure(requests);
const steadyWrites = writes(steady.last.plan);
if (Object.values(steadyWrites).some((v) => v !== false && v !== 0))
  throw new Error(`the steady reconcile still writes: ${JSON.stringify(steadyWrites)}`);

const mhcEvaluation = {
  at: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  node: process.version,
  machines: MACHINES,
  nodes: MACHINES,
  machineSets: SETS,
  unhealthyNodes: UNHEALTHY,
  timeoutRunningNodes: RUNNING,
  unhealthyLessThanOrEqualTo: '40%',
  runs,
  objectsBuiltMs: round(buildMs),
  unwarmed,
  first: {
    ...first.result,
    evaluation: counts(first.last.evaluation),
    writes: writes(first.last.plan),
    allowed: first.last.plan.allowed,
  },
  steady: { ...steady.result, evaluation: counts(steady.last.evaluation), writes: steadyWrites },
};

const line = (what: string, s: { msMedian: number; msMax: number }) =>
  `    ${what.padEnd(16)} median ${String(s.msMedian).padStart(7)} ms   max ${String(s.msMax).padStart(7)} ms`;
const block = (title: string, r: typeof first.result) =>
  [
    `  ${title}`,
    line('adapters', r.adapters),
    line('node facts', r.nodeFacts),
    line('evaluateHealth', r.evaluateHealth),
    line('planMhc', r.planMhc),
    line('total', r.total),
    `    heap: +${r.heapGrowthMiB} MiB around one reconcile (after a forced GC: ${r.heapBeforeMiB} MiB, after: ${r.heapUsedMiB} MiB)`,
  ].join('\n');
console.log(
  [
    `MachineHealthCheck evaluation from raw objects: ${MACHINES} Machines/Nodes, ${UNHEALTHY} unhealthy, ${RUNNING} timeouts running`,
    `  objects built in ${round(buildMs)} ms; unwarmed first reconcile: ${JSON.stringify(unwarmed)}`,
    block(
      `first reconcile (${runs} runs), writes ${JSON.stringify(mhcEvaluation.first.writes)}`,
      first.result,
    ),
    `    evaluation: ${JSON.stringify(mhcEvaluation.first.evaluation)}`,
    block(`steady reconcile (${runs} runs), writes ${JSON.stringify(steadyWrites)}`, steady.result),
  ].join('\n'),
);
const FILE = 'bench/results/remediation.json';
writeResultKey(FILE, 'mhcEvaluation', mhcEvaluation);
console.log(`written: ${FILE} (mhcEvaluation)`);
