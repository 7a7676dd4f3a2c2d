// The scale-down evaluation as the controller runs it, from raw objects: scaleDownInputs (raw Nodes, Pods,
// PDBs, DaemonSets, Machines, MachineSets and node groups → the planner's input, every pod classified with
// cluster-autoscaler's drain rules) followed by planScaleDown on its output. The cluster has the shape of
// bench/autoscaler-scaledown.ts, as v1beta2 CAPI and core/v1 objects the way the informers hold them
// (each object decoded from JSON on its own): one Cluster, 100 MachineDeployments of 50 replicas (cluster-
// autoscaler min/max annotations, a fifth of them near their min) each with one MachineSet, 5,000 Machines
// and Nodes (four instance shapes, one group in ten GPU and tainted), 150,000 bound pods (three DaemonSet
// pods per node), 300 underutilized nodes with movable pods, 100 empty but for their DaemonSet pods, 200
// underutilized with a safe-to-evict "false" pod, 20 not Ready, 10 whose Machine is being remediated;
// 50 PDBs (disruptionsAllowed 1) selecting some workloads, and 1,000 pending pods, half of them found
// Unschedulable (left to scale-up) and half just created (placed by the plan before any removal).
// Limits and drain policy are the defaults (DEFAULT_CONFIG, scaleDownPolicy); every node has been unneeded
// for an hour, so the whole removal path runs. Node groups come from discoverNodeGroups once, outside the
// timings.
// The same objects are evaluated every run, as the informers hand out the same objects between scans
// while nothing changes: scaleDownInputs reads each pod and Machine once per object (a WeakMap by
// identity), so the first evaluation pays every read (a cold cache, e.g. right after start) and the runs
// after it measure a steady scan.
// Reported: the first (unwarmed) evaluation, then median and max over `runs` evaluations of scaleDownInputs
// alone, of planScaleDown on its output and of both together; the heap growth around one evaluation after a
// forced GC, and heapUsed right after it. Target: 500 ms for both together.
// Writes the `scaleDownFromObjects` key of bench/results/autoscaler.json, keeping the file's other keys.
//   node_modules/node/bin/node --expose-gc bench/autoscaler-scaledown-inputs.ts [runs=9]
//   (or: npm run bench:autoscaler:scaledown-inputs)
import { cpus } from 'node:os';
import { discoverNodeGroups } from '../src/autoscaler/nodegroups.ts';
import {
  scaleDownInputs,
  type ScaleDownInputs,
  type ScaleDownSnapshot,
} from '../src/autoscaler/scaledown-inputs.ts';
import { planScaleDown, type ScaleDownPlan } from '../src/autoscaler/scaledown.ts';
import { ANNOTATIONS, MACHINE_FINALIZER } from '../src/capi/types.ts';
import { DEFAULT_CONFIG } from '../src/config/schema.ts';
import { SAFE_TO_EVICT_ANNOTATION, type PdbLike } from '../src/drain/filters.ts';
import { scaleDownPolicy } from '../src/drain/options.ts';
import { REMEDIATION_ANNOTATION } from '../src/machines/records.ts';
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
const NOW = new Date(NOW_MS);
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const NS = 'fleet';
const CLUSTER = 'prod';
const PER_GROUP = NODES / GROUPS;
const PDBS = 50;
const PENDING = 1000;
const DAEMONSETS = [
  { namespace: 'kube-system', name: 'kube-proxy' },
  { namespace: 'kube-system', name: 'calico-node' },
  { namespace: 'monitoring', name: 'node-exporter' },
];
const DS_CPU = 100; // millicores
const DS_MEM = 205; // MiB (0.2 GiB)
const CAPI = 'cluster.x-k8s.io/v1beta2';

type Raw = Record<string, unknown>;
/** As an informer holds it: decoded from the apiserver's JSON, no structure shared with another object. */
const decoded = (o: Raw): Raw => JSON.parse(JSON.stringify(o)) as Raw;

const meta = (name: string, o: Raw = {}): Raw => ({
  name,
  namespace: NS,
  uid: `uid-${name}`,
  resourceVersion: '4711',
  generation: 3,
  creationTimestamp: ago(30 * 24 * 60 * MIN),
  ...o,
});
const ownerRef = (apiVersion: string, kind: string, name: string) => ({
  apiVersion,
  kind,
  name,
  uid: `uid-${kind}-${name}`,
  controller: true,
  blockOwnerDeletion: true,
});
const capiCondition = (type: string, status = 'True') => ({
  type,
  status,
  reason: status === 'True' ? type : `Not${type}`,
  lastTransitionTime: ago(24 * 60 * MIN),
  observedGeneration: 3,
});

// ---- management cluster: Cluster, MachineDeployments, MachineSets, Machines ----

const mdName = (g: number) => `md-${g}`;
const msName = (g: number) => `md-${g}-7c9f5d`;
const machineName = (i: number) => `${msName(i % GROUPS)}-${String(i).padStart(4, '0')}x`;
const nodeName = (i: number) => `node-${String(i).padStart(4, '0')}`;
const providerID = (i: number) => `aws:///zone-${i % 3}/i-0${(1_000_000 + i).toString(16)}`;

function template(g: number): Raw {
  return {
    metadata: {
      labels: {
        'cluster.x-k8s.io/cluster-name': CLUSTER,
        'cluster.x-k8s.io/deployment-name': mdName(g),
      },
    },
    spec: {
      clusterName: CLUSTER,
      version: 'v1.34.1',
      bootstrap: {
        configRef: { apiGroup: 'bootstrap.cluster.x-k8s.io', kind: 'KubeadmConfigTemplate', name: mdName(g) },
      },
      infrastructureRef: {
        apiGroup: 'infrastructure.cluster.x-k8s.io',
        kind: 'AWSMachineTemplate',
        name: `${mdName(g)}-infra`,
      },
    },
  };
}

const clusterObj: Raw = {
  apiVersion: CAPI,
  kind: 'Cluster',
  metadata: meta(CLUSTER),
  spec: { paused: false },
  status: { initialization: { infrastructureProvisioned: true, controlPlaneInitialized: true } },
};

const machineDeployments: Raw[] = [];
const machineSets: Raw[] = [];
for (let g = 0; g < GROUPS; g++) {
  const selector = { matchLabels: { 'cluster.x-k8s.io/deployment-name': mdName(g) } };
  machineDeployments.push({
    apiVersion: CAPI,
    kind: 'MachineDeployment',
    metadata: meta(mdName(g), {
      labels: { 'cluster.x-k8s.io/cluster-name': CLUSTER },
      annotations: {
        // A fifth of the groups sit near their min (48 of 50).
        [ANNOTATIONS.nodeGroupMinSize]: g % 5 === 0 ? '48' : '1',
        [ANNOTATIONS.nodeGroupMaxSize]: '100',
      },
    }),
    spec: { clusterName: CLUSTER, replicas: PER_GROUP, selector, template: template(g) },
    status: { replicas: PER_GROUP, readyReplicas: PER_GROUP, availableReplicas: PER_GROUP },
  });
  machineSets.push({
    apiVersion: CAPI,
    kind: 'MachineSet',
    metadata: meta(msName(g), {
      labels: {
        'cluster.x-k8s.io/cluster-name': CLUSTER,
        'cluster.x-k8s.io/deployment-name': mdName(g),
      },
      ownerReferences: [ownerRef(CAPI, 'MachineDeployment', mdName(g))],
    }),
    spec: { clusterName: CLUSTER, replicas: PER_GROUP, selector, template: template(g) },
    status: { replicas: PER_GROUP, readyReplicas: PER_GROUP, availableReplicas: PER_GROUP },
  });
}

const machines: Raw[] = [];
for (let i = 0; i < NODES; i++) {
  const g = i % GROUPS;
  const remediated = i % 500 === 3; // 10 Machines this service is remediating
  machines.push({
    apiVersion: CAPI,
    kind: 'Machine',
    metadata: meta(machineName(i), {
      labels: {
        'cluster.x-k8s.io/cluster-name': CLUSTER,
        'cluster.x-k8s.io/deployment-name': mdName(g),
        'cluster.x-k8s.io/set-name': msName(g),
      },
      ...(remediated ? { annotations: { [REMEDIATION_ANNOTATION]: 'reboot' } } : {}),
      ownerReferences: [ownerRef(CAPI, 'MachineSet', msName(g))],
      finalizers: [MACHINE_FINALIZER],
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
      providerID: providerID(i),
      failureDomain: `zone-${i % 3}`,
    },
    status: {
      nodeRef: { name: nodeName(i) },
      phase: 'Running',
      initialization: { bootstrapDataSecretCreated: true, infrastructureProvisioned: true },
      conditions: ['Available', 'Ready', 'UpToDate', 'BootstrapConfigReady', 'InfrastructureReady'].map((t) =>
        capiCondition(t),
      ),
    },
  });
}

// ---- workload cluster: Nodes, Pods, PDBs ----

const kinds = Array.from({ length: NODES }, (_, i) => kindOf(i));
const underPods = 6;
const fixedPods = kinds.filter((k) => k === 'under' || k === 'blocked').length * underPods;
const busyNodes = kinds.filter((k) => k === 'busy').length;
const busyPodsTotal = PODS - NODES * DAEMONSETS.length - fixedPods;

/** The tolerations the apiserver adds to every pod (DefaultTolerationSeconds). */
const DEFAULT_TOLERATIONS = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
];

interface PodSpec {
  name: string;
  namespace: string;
  owner: { apiVersion: string; kind: string; name: string };
  labels: Record<string, string>;
  node?: string;
  cpu: number; // millicores
  mem: number; // MiB
  tolerations?: Raw[];
  gpu?: boolean;
  annotations?: Record<string, string>;
  status?: Raw;
}

function podObj(p: PodSpec): Raw {
  const requests: Record<string, string> = {
    cpu: `${Math.max(1, Math.round(p.cpu))}m`,
    memory: `${Math.max(1, Math.round(p.mem))}Mi`,
    ...(p.gpu ? { [GPU]: '1' } : {}),
  };
  const running = p.node !== undefined;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      uid: `uid-${p.name}`,
      resourceVersion: '81723',
      creationTimestamp: ago(running ? 3 * 24 * 60 * MIN : MIN),
      labels: p.labels,
      ...(p.annotations ? { annotations: p.annotations } : {}),
      ownerReferences: [{ ...ownerRef(p.owner.apiVersion, p.owner.kind, p.owner.name) }],
    },
    spec: {
      ...(running ? { nodeName: p.node } : {}),
      containers: [
        {
          name: 'main',
          image: `registry.example.com/${p.owner.name}:1.4.2`,
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          resources: { requests, limits: { memory: requests.memory } },
          volumeMounts: [
            {
              name: 'kube-api-access',
              mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
              readOnly: true,
            },
          ],
        },
      ],
      volumes: [
        {
          name: 'kube-api-access',
          projected: {
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            ],
          },
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      serviceAccountName: 'default',
      schedulerName: 'default-scheduler',
      priority: 0,
      tolerations: [...(p.tolerations ?? []), ...DEFAULT_TOLERATIONS],
    },
    status: p.status ?? {
      phase: 'Running',
      qosClass: 'Burstable',
      hostIP: '10.0.0.1',
      podIP: '10.1.0.1',
      startTime: ago(3 * 24 * 60 * MIN),
      conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
        type,
        status: 'True',
        lastTransitionTime: ago(3 * 24 * 60 * MIN),
      })),
      containerStatuses: [
        {
          name: 'main',
          ready: true,
          started: true,
          restartCount: 0,
          image: `registry.example.com/${p.owner.name}:1.4.2`,
          imageID: `registry.example.com/${p.owner.name}@sha256:0123456789abcdef`,
          containerID: `containerd://${p.name}`,
          state: { running: { startedAt: ago(3 * 24 * 60 * MIN) } },
          // What the kubelet reports with in-place pod resize (the default since Kubernetes 1.33).
          resources: { requests, limits: { memory: requests.memory } },
        },
      ],
    },
  };
}

let podSeq = 0;
/** A Deployment's pod: namespace team-<n % 13>, ReplicaSet rs-<n % 997> (label app=rs-<n % 997>). */
function appPod(node: string | undefined, cpu: number, mem: number, o: Partial<PodSpec> = {}): Raw {
  const n = podSeq++;
  const rs = `rs-${n % 997}`;
  return podObj({
    name: `app-${n}`,
    namespace: `team-${n % 13}`,
    owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs },
    labels: { app: rs, 'pod-template-hash': '5d8f7c9b4' },
    ...(node !== undefined ? { node } : {}),
    cpu,
    mem,
    ...o,
  });
}

const nodes: Raw[] = [];
const pods: Raw[] = [];
let busySeen = 0;
for (let i = 0; i < NODES; i++) {
  const g = i % GROUPS;
  const shape = SHAPES[g % 4]!;
  const gpu = g % 10 === 9;
  const name = nodeName(i);
  const ready = i % 250 !== 17; // 20 nodes not Ready
  const allocatable: Record<string, string> = {
    cpu: String(shape.cpu),
    memory: `${shape.mem}Gi`,
    pods: '110',
    'ephemeral-storage': '95Gi',
    ...(gpu ? { [GPU]: '4' } : {}),
  };
  nodes.push({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      uid: `uid-${name}`,
      resourceVersion: '90210',
      creationTimestamp: ago(30 * 24 * 60 * MIN),
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node.kubernetes.io/instance-type': `m.${shape.cpu}x`,
        'topology.kubernetes.io/zone': `zone-${i % 3}`,
        'cluster.x-k8s.io/deployment-name': mdName(g),
      },
      annotations: {
        'cluster.x-k8s.io/cluster-name': CLUSTER,
        'cluster.x-k8s.io/cluster-namespace': NS,
        'cluster.x-k8s.io/machine': machineName(i),
        'cluster.x-k8s.io/owner-kind': 'MachineSet',
        'cluster.x-k8s.io/owner-name': msName(g),
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
    },
    spec: {
      providerID: providerID(i),
      ...(gpu ? { taints: [{ key: GPU, value: 'present', effect: 'NoSchedule' }] } : {}),
    },
    status: {
      capacity: { ...allocatable, 'ephemeral-storage': '100Gi' },
      allocatable,
      conditions: [
        ...['MemoryPressure', 'DiskPressure', 'PIDPressure'].map((type) => ({
          type,
          status: 'False',
          reason: `KubeletHasNo${type}`,
          lastHeartbeatTime: ago(MIN),
          lastTransitionTime: ago(30 * 24 * 60 * MIN),
        })),
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason: ready ? 'KubeletReady' : 'KubeletNotReady',
          lastHeartbeatTime: ago(MIN),
          lastTransitionTime: ago(ready ? 30 * 24 * 60 * MIN : 30 * MIN),
        },
      ],
      addresses: [
        { type: 'InternalIP', address: `10.0.${Math.floor(i / 250)}.${i % 250}` },
        { type: 'Hostname', address: name },
      ],
      nodeInfo: {
        kubeletVersion: 'v1.34.1',
        containerRuntimeVersion: 'containerd://2.1.4',
        architecture: 'amd64',
      },
    },
  });

  for (const ds of DAEMONSETS)
    pods.push(
      podObj({
        name: `${ds.name}-${i}`,
        namespace: ds.namespace,
        owner: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: ds.name },
        labels: { 'app.kubernetes.io/name': ds.name, 'controller-revision-hash': '6b7f9c' },
        node: name,
        cpu: DS_CPU,
        mem: DS_MEM,
        tolerations: [{ operator: 'Exists' }],
      }),
    );
  const kind = kinds[i]!;
  const cpu = shape.cpu * 1000 - DAEMONSETS.length * DS_CPU;
  const mem = shape.mem * 1024 - DAEMONSETS.length * DS_MEM;
  const tolerations = gpu ? [{ key: GPU, operator: 'Exists' }] : [];
  const work = (count: number, util: number) => {
    for (let k = 0; k < count; k++) {
      // Busy GPU nodes use 3 of their 4 GPUs: on a GPU node only the GPU share counts.
      const usesGpu = gpu && k < 3 && util > 0.5;
      pods.push(
        appPod(name, (cpu * util) / count, (mem * util * 0.8) / count, { tolerations, gpu: usesGpu }),
      );
    }
  };
  if (kind === 'busy') {
    const count = Math.floor(busyPodsTotal / busyNodes) + (busySeen++ < busyPodsTotal % busyNodes ? 1 : 0);
    work(count, 0.6 + 0.3 * rand());
  } else if (kind === 'under') work(underPods, 0.1 + 0.3 * rand());
  else if (kind === 'blocked') {
    work(underPods - 1, 0.1 + 0.3 * rand());
    pods.push(
      podObj({
        name: `db-${i}`,
        namespace: `team-${i % 13}`,
        owner: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
        labels: { app: 'db' },
        node: name,
        cpu: 100,
        mem: 100,
        annotations: { [SAFE_TO_EVICT_ANNOTATION]: 'false' },
      }),
    );
  }
}
if (pods.length !== PODS) throw new Error(`built ${pods.length} pods, wanted ${PODS}`);

// Pending: half found Unschedulable by the scheduler (scale-up's), half just created (about to land).
for (let k = 0; k < PENDING; k++) {
  const unschedulable = k % 2 === 0;
  pods.push(
    appPod(undefined, 100, 128, {
      status: {
        phase: 'Pending',
        qosClass: 'Burstable',
        ...(unschedulable
          ? {
              conditions: [
                {
                  type: 'PodScheduled',
                  status: 'False',
                  reason: 'Unschedulable',
                  message: '0/5000 nodes are available: 5000 Insufficient cpu.',
                  lastTransitionTime: ago(MIN),
                },
              ],
            }
          : {}),
      },
    }),
  );
}

// PDBs: pdb-k selects app=rs-<20k> in team-<k % 13> (some ten pods each); half by matchExpressions.
const pdbs: Raw[] = Array.from({ length: PDBS }, (_, k) => ({
  apiVersion: 'policy/v1beta1',
  kind: 'PodDisruptionBudget',
  metadata: meta(`pdb-${k}`, { namespace: `team-${k % 13}` }),
  spec: {
    minAvailable: 1,
    selector:
      k % 2 === 0
        ? { matchLabels: { app: `rs-${20 * k}` } }
        : { matchExpressions: [{ key: 'app', operator: 'In', values: [`rs-${20 * k}`] }] },
  },
  status: {
    disruptionsAllowed: 1,
    currentHealthy: 11,
    desiredHealthy: 1,
    expectedPods: 11,
    observedGeneration: 1,
  },
}));

const t0 = performance.now();
const raw = {
  clusters: [decoded(clusterObj)],
  machineDeployments: machineDeployments.map(decoded),
  machineSets: machineSets.map(decoded),
  machines: machines.map(decoded),
  nodes: nodes.map(decoded),
  pods: pods.map(decoded),
  pdbs: pdbs.map(decoded),
};
pods.length = 0;
nodes.length = 0;
machines.length = 0;
const buildMs = performance.now() - t0;

const config = DEFAULT_CONFIG.autoscaler;
const { groups, ignored } = discoverNodeGroups({
  clusters: raw.clusters,
  machineDeployments: raw.machineDeployments,
  machineSets: raw.machineSets,
  discovery: DEFAULT_CONFIG.discovery,
  defaults: config,
});
const enabled = groups.filter((g) => g.disabled === undefined).length;
if (enabled !== GROUPS)
  throw new Error(`${enabled} node groups enabled, wanted ${GROUPS} (ignored: ${ignored.length})`);

const snapshot: ScaleDownSnapshot = {
  cluster: { namespace: NS, name: CLUSTER },
  clusterPaused: false,
  groups,
  machineSets: raw.machineSets,
  machines: raw.machines,
  nodes: raw.nodes,
  pods: raw.pods,
  pdbs: raw.pdbs as unknown as PdbLike[],
  daemonSets: new Set(DAEMONSETS.map((d) => `${d.namespace}/${d.name}`)),
  policy: scaleDownPolicy(config),
  now: NOW,
  removing: new Set(),
};
// Every node unneeded for an hour: a steady state in which every candidate goes down the removal path.
const unneededSince = new Map(
  raw.nodes.map((n) => [String((n.metadata as Raw).name), NOW.getTime() - 60 * MIN]),
);
const limits = {
  maxEmptyBulkDelete: config.maxEmptyBulkDelete,
  maxNonEmptyPerGroup: config.maxScaleDownDrainsPerNodeGroup,
  maxTotal: config.maxScaleDownParallelism,
};

function evaluate(): { inputsMs: number; planMs: number; inputs: ScaleDownInputs; plan: ScaleDownPlan } {
  const a = performance.now();
  const inputs = scaleDownInputs(snapshot);
  const b = performance.now();
  const plan = planScaleDown({
    nodes: inputs.nodes,
    groups: inputs.groups,
    unneededSince,
    now: NOW.getTime(),
    limits,
    pending: inputs.pending,
  });
  return { inputsMs: b - a, planMs: performance.now() - b, inputs, plan };
}

const round = (x: number) => Math.round(x * 10) / 10;
const mib = (bytes: number) => round(bytes / 2 ** 20);
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { msMedian: round(s[Math.floor(s.length / 2)]!), msMax: round(s.at(-1)!) };
};

if (!globalThis.gc) console.warn('no forced GC: run with --expose-gc for the heap figures');
globalThis.gc?.();
const first = evaluate(); // the first evaluation: JIT not warmed up
const unwarmed = {
  scaleDownInputsMs: round(first.inputsMs),
  planScaleDownMs: round(first.planMs),
  totalMs: round(first.inputsMs + first.planMs),
};
const inputsTimes: number[] = [];
const planTimes: number[] = [];
const totalTimes: number[] = [];
let heapGrowth = 0;
let heapBefore = 0;
let heapAfter = 0;
let last = first;
for (let i = 0; i < runs; i++) {
  globalThis.gc?.();
  const h0 = process.memoryUsage().heapUsed;
  last = evaluate();
  const h1 = process.memoryUsage().heapUsed;
  if (h1 - h0 >= heapGrowth) [heapGrowth, heapBefore, heapAfter] = [h1 - h0, h0, h1];
  inputsTimes.push(last.inputsMs);
  planTimes.push(last.planMs);
  totalTimes.push(last.inputsMs + last.planMs);
}

const { inputs, plan } = last;
const actions: Record<string, number> = {};
for (const n of inputs.nodes) for (const p of n.pods) actions[p.action] = (actions[p.action] ?? 0) + 1;
const codes: Record<string, number> = {};
for (const k of plan.kept) codes[k.code] = (codes[k.code] ?? 0) + 1;

const scaleDownFromObjects = {
  at: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  node: process.version,
  nodes: NODES,
  pods: PODS,
  pendingPods: PENDING,
  pdbs: PDBS,
  daemonSets: DAEMONSETS.length,
  machines: NODES,
  nodeGroups: GROUPS,
  runs,
  targetMs: 500,
  unwarmed,
  scaleDownInputs: stats(inputsTimes),
  planScaleDown: stats(planTimes),
  total: stats(totalTimes),
  heapGrowthMiB: mib(heapGrowth),
  heapBeforeMiB: mib(heapBefore),
  heapUsedMiB: mib(heapAfter),
  inputs: {
    nodes: inputs.nodes.length,
    inGroups: inputs.machines.size,
    podActions: actions,
    pendingPlaced: inputs.pending.length,
    unreadable: inputs.unreadable.length,
    problems: inputs.problems.length,
  },
  plan: {
    unneeded: plan.unneededSince.size,
    removeEmpty: plan.remove.filter((r) => r.empty).length,
    removeDrained: plan.remove.filter((r) => !r.empty).length,
    podsMoved: plan.remove.reduce((a, r) => a + r.destinations.length, 0),
    kept: codes,
  },
};

const line = (what: string, s: { msMedian: number; msMax: number }) =>
  `  ${what.padEnd(26)} median ${String(s.msMedian).padStart(7)} ms   max ${String(s.msMax).padStart(7)} ms`;
const over = scaleDownFromObjects.total.msMedian > 500 ? '  ABOVE the 500 ms target' : '';
console.log(
  [
    `scale-down from raw objects: ${NODES} nodes, ${PODS} pods (+${PENDING} pending), ${GROUPS} node groups, ${PDBS} PDBs`,
    `  objects built in ${round(buildMs)} ms; ${runs} runs after one unwarmed (inputs ${unwarmed.scaleDownInputsMs} ms + plan ${unwarmed.planScaleDownMs} ms = ${unwarmed.totalMs} ms)`,
    line('scaleDownInputs', scaleDownFromObjects.scaleDownInputs),
    line('planScaleDown', scaleDownFromObjects.planScaleDown),
    line('both', scaleDownFromObjects.total) + over,
    `  heap: +${scaleDownFromObjects.heapGrowthMiB} MiB around one evaluation (after a forced GC: ${scaleDownFromObjects.heapBeforeMiB} MiB, after: ${scaleDownFromObjects.heapUsedMiB} MiB)`,
    `  inputs: ${JSON.stringify(scaleDownFromObjects.inputs)}`,
    `  plan: ${JSON.stringify(scaleDownFromObjects.plan)}`,
  ].join('\n'),
);
const FILE = 'bench/results/autoscaler.json';
writeResultKey(FILE, 'scaleDownFromObjects', scaleDownFromObjects);
console.log(`written: ${FILE} (scaleDownFromObjects)`);
