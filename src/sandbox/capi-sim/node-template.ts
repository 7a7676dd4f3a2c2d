// Builds the Node object a machine of a given instance type joins the cluster as. Pure.
import { isSyncedNodeLabel } from '../../capi/labels.ts';
import { kubeTime } from '../../kube/time.ts';
export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** SandboxMachine spec.instanceType (deploy/crds/infrastructure). Quantities are Kubernetes quantity strings. */
export interface InstanceType {
  name?: string;
  cpu: string;
  memory: string;
  ephemeralStorage?: string;
  maxPods?: number;
  gpu?: { count: number; type?: string };
  architecture?: string;
  operatingSystem?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
}

export const DEFAULT_GPU_RESOURCE = 'nvidia.com/gpu';

/** The capacity a node of this instance type reports (and status.capacity of its template). */
export function capacityOf(t: InstanceType): Record<string, string> {
  const cap: Record<string, string> = {
    cpu: t.cpu,
    memory: t.memory,
    pods: String(t.maxPods ?? 110),
  };
  if (t.ephemeralStorage) cap['ephemeral-storage'] = t.ephemeralStorage;
  if (t.gpu && t.gpu.count > 0) cap[t.gpu.type || DEFAULT_GPU_RESOURCE] = String(t.gpu.count);
  return cap;
}

export { isSyncedNodeLabel } from '../../capi/labels.ts';

export interface NodeSpecInput {
  name: string;
  providerID: string;
  instanceType: InstanceType;
  machine: { name: string; namespace: string; clusterName: string; labels: Readonly<Record<string, string>> };
  owner?: { kind: string; name: string };
  failureDomain?: string;
  /** The simulator instance that runs this node's hollow kubelet. */
  simulator: string;
  now: Date;
}

export const HOLLOW_NODE_LABEL = 'sandbox.capi-autopilot.io/hollow';

export function buildNode(i: NodeSpecInput): Record<string, unknown> {
  const t = i.instanceType;
  const os = t.operatingSystem || 'linux';
  const arch = t.architecture || 'amd64';
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': i.name,
    'kubernetes.io/os': os,
    'kubernetes.io/arch': arch,
    'beta.kubernetes.io/os': os,
    'beta.kubernetes.io/arch': arch,
    [HOLLOW_NODE_LABEL]: i.simulator,
  };
  if (t.name) {
    labels['node.kubernetes.io/instance-type'] = t.name;
    labels['beta.kubernetes.io/instance-type'] = t.name;
  }
  if (i.failureDomain) {
    labels['topology.kubernetes.io/zone'] = i.failureDomain;
    labels['failure-domain.beta.kubernetes.io/zone'] = i.failureDomain;
  }
  for (const [k, v] of Object.entries(i.machine.labels)) if (isSyncedNodeLabel(k)) labels[k] = v;
  Object.assign(labels, t.labels ?? {});
  const annotations: Record<string, string> = {
    'cluster.x-k8s.io/cluster-name': i.machine.clusterName,
    'cluster.x-k8s.io/cluster-namespace': i.machine.namespace,
    'cluster.x-k8s.io/machine': i.machine.name,
  };
  if (i.owner) {
    annotations['cluster.x-k8s.io/owner-kind'] = i.owner.kind;
    annotations['cluster.x-k8s.io/owner-name'] = i.owner.name;
  }
  const cap = capacityOf(t);
  const ts = kubeTime(i.now);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: i.name, labels, annotations },
    spec: {
      providerID: i.providerID,
      ...(t.taints?.length
        ? { taints: t.taints.map((x) => ({ key: x.key, value: x.value, effect: x.effect })) }
        : {}),
    },
    status: {
      capacity: cap,
      allocatable: cap,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'hollow kubelet is posting ready status',
          lastHeartbeatTime: ts,
          lastTransitionTime: ts,
        },
      ],
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: i.name },
      ],
      nodeInfo: {
        architecture: arch,
        operatingSystem: os,
        kubeletVersion: 'v1.20.2',
        kubeProxyVersion: 'v1.20.2',
        containerRuntimeVersion: 'sandbox://1.0',
        osImage: 'capi-autopilot hollow node',
        kernelVersion: '',
        machineID: '',
        systemUUID: '',
        bootID: '',
      },
    },
  };
}

/** Deterministic short hash of a template (FNV-1a over canonical JSON), like CAPI's machine-template-hash. */
export function templateHash(template: unknown): string {
  let h = 0x811c9dc5;
  const s = canonicalJson(template);
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36).padStart(7, '0').slice(-7);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
