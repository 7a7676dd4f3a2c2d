// The template node of a node group: what a node the group would add looks like to the scheduling
// simulation. Three sources, best first (as cluster-autoscaler's clusterapi provider):
//   1. a live node of the group (chosen by the caller): real labels, taints and allocatable;
//   2. the capacity.cluster-autoscaler.kubernetes.io/* annotations on the MachineDeployment/MachineSet;
//   3. the infrastructure template's status.capacity / status.nodeInfo (CAPI-FACTS §5).
// Annotations override the status per resource; cpu and memory are required to scale from zero.
// Pure: raw objects in, a SimNode (or an error naming what to fix) out.
import { isSyncedNodeLabel } from '../capi/labels.ts';
import type { MachineDeployment, MachineSet } from '../capi/types.ts';
import { parseAmount } from '../kube/quantity.ts';
import { staticFit } from './predicates.ts';
import type { Resources, SimNode, SimPod, Taint, TaintEffect } from './types.ts';

export const CAPACITY_PREFIX = 'capacity.cluster-autoscaler.kubernetes.io/';
export const CAPACITY = {
  cpu: `${CAPACITY_PREFIX}cpu`,
  memory: `${CAPACITY_PREFIX}memory`,
  ephemeralDisk: `${CAPACITY_PREFIX}ephemeral-disk`,
  maxPods: `${CAPACITY_PREFIX}maxPods`,
  gpuCount: `${CAPACITY_PREFIX}gpu-count`,
  gpuType: `${CAPACITY_PREFIX}gpu-type`,
  labels: `${CAPACITY_PREFIX}labels`,
  taints: `${CAPACITY_PREFIX}taints`,
} as const;
export const DEFAULT_MAX_PODS = 110;
export const DEFAULT_GPU_TYPE = 'nvidia.com/gpu';
const DEFAULT_ARCH = 'amd64';
const DEFAULT_OS = 'linux';

const HOSTNAME = 'kubernetes.io/hostname';
// Taints the autoscaler itself puts on nodes it is about to remove; a new node would not carry them.
const AUTOSCALER_TAINTS = new Set(['ToBeDeletedByClusterAutoscaler', 'DeletionCandidateOfClusterAutoscaler']);
const EFFECTS: readonly TaintEffect[] = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

export interface TemplateGroup {
  kind: 'MachineDeployment' | 'MachineSet';
  namespace: string;
  name: string;
  annotations: Readonly<Record<string, string>>;
  /** Machine template labels (spec.template.metadata.labels); CAPI syncs some of them to the Node. */
  templateLabels: Readonly<Record<string, string>>;
  /** spec.template.spec.failureDomain: the zone a new machine lands in. */
  failureDomain?: string;
}

export interface TemplateInput {
  group: TemplateGroup;
  /** Raw v1 Node of the group, already chosen by the caller (Ready, not being deleted). */
  liveNode?: unknown;
  /** Raw infrastructure machine template (e.g. a SandboxMachineTemplate). */
  infrastructureTemplate?: unknown;
}

export type TemplateSource = 'node' | 'annotations' | 'infrastructure';
export type TemplateResult =
  { node: SimNode; source: TemplateSource; warnings: string[] } | { error: string };

export function templateGroupOf(g: MachineDeployment | MachineSet): TemplateGroup {
  return {
    kind: g.kind,
    namespace: g.meta.namespace,
    name: g.meta.name,
    annotations: g.meta.annotations,
    templateLabels: g.template.labels,
    ...(g.template.failureDomain ? { failureDomain: g.template.failureDomain } : {}),
  };
}

export function templateNode(input: TemplateInput): TemplateResult {
  const { group } = input;
  const name = `template-${group.name}`;
  const who = `${group.kind} ${group.namespace}/${group.name}`;
  const parsed = parseCapacityAnnotations(group.annotations);
  const live = asObject(input.liveNode);
  if (live) {
    const warnings: string[] = [];
    // The live node is authoritative, but a broken annotation still matters the day the group is at zero.
    if ('error' in parsed)
      warnings.push(`${who}: ${parsed.error}; ignored while a live node serves as template`);
    return { node: fromLiveNode(name, live, warnings), source: 'node', warnings };
  }
  if ('error' in parsed) return { error: `${who}: ${parsed.error}; the group cannot scale from zero` };

  const warnings: string[] = [...parsed.warnings];
  const infra = asObject(input.infrastructureTemplate);
  const status = asObject(infra?.['status']);
  const allocatable: Record<string, number> = {};
  for (const [res, raw] of Object.entries(asObject(status?.['capacity']) ?? {})) {
    // Like cluster-autoscaler: an unparsable status quantity is skipped, not fatal.
    const v = quantityOf(raw);
    if (v === undefined)
      warnings.push(`${who}: infrastructure status.capacity.${res}=${JSON.stringify(raw)} ignored`);
    else allocatable[res] = v;
  }
  allocatable['pods'] ??= DEFAULT_MAX_PODS * 1000;
  Object.assign(allocatable, parsed.resources);

  const missing = ['cpu', 'memory'].filter((r) => allocatable[r] === undefined);
  if (missing.length > 0)
    return {
      error:
        `${who} cannot scale from zero: no ${missing.join(' or ')} capacity (set the ` +
        `${missing.map((r) => CAPACITY_PREFIX + r).join(' and ')} annotation, or have the infrastructure ` +
        `template publish status.capacity)`,
    };

  const nodeInfo = asObject(status?.['nodeInfo']);
  const labels: Record<string, string> = {
    'kubernetes.io/os': nonEmpty(nodeInfo?.['operatingSystem']) ?? DEFAULT_OS,
    'kubernetes.io/arch': nonEmpty(nodeInfo?.['architecture']) ?? DEFAULT_ARCH,
    [HOSTNAME]: name,
  };
  const instanceType = instanceTypeOf(infra);
  if (instanceType) labels['node.kubernetes.io/instance-type'] = instanceType;
  if (group.failureDomain) labels['topology.kubernetes.io/zone'] = group.failureDomain;
  for (const [k, v] of Object.entries(group.templateLabels)) if (isSyncedNodeLabel(k)) labels[k] = v;
  Object.assign(labels, parsed.labels); // the annotation wins over synced template labels (CAPI-FACTS §5)

  return {
    node: { name, labels, taints: parsed.taints, allocatable },
    source: Object.keys(parsed.resources).length > 0 ? 'annotations' : 'infrastructure',
    warnings,
  };
}

// ---- live node ----

function fromLiveNode(name: string, node: Record<string, unknown>, warnings: string[]): SimNode {
  const meta = asObject(node['metadata']);
  const nodeName = String(meta?.['name'] ?? '?');
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(asObject(meta?.['labels']) ?? {}))
    if (typeof v === 'string') labels[k] = v;
  labels[HOSTNAME] = name;

  const taints: Taint[] = [];
  const rawTaints = asObject(node['spec'])?.['taints'];
  for (const t of Array.isArray(rawTaints) ? rawTaints : []) {
    const o = asObject(t);
    const key = o?.['key'];
    const effect = o?.['effect'];
    if (typeof key !== 'string' || !EFFECTS.includes(effect as TaintEffect)) {
      warnings.push(`node ${nodeName}: taint ${JSON.stringify(t)} ignored`);
      continue;
    }
    if (isTransientTaint(key)) continue;
    const value = o?.['value'];
    taints.push({
      key,
      ...(typeof value === 'string' && value ? { value } : {}),
      effect: effect as TaintEffect,
    });
  }

  const allocatable: Record<string, number> = {};
  for (const [res, raw] of Object.entries(asObject(asObject(node['status'])?.['allocatable']) ?? {})) {
    const v = quantityOf(raw);
    if (v === undefined)
      warnings.push(`node ${nodeName}: status.allocatable.${res}=${JSON.stringify(raw)} ignored`);
    else allocatable[res] = v;
  }
  // spec.unschedulable is dropped on purpose: a fresh node is schedulable even if this one is cordoned.
  return { name, labels, taints, allocatable };
}

/**
 * Taints that say something about this node's moment, not the group: node lifecycle conditions
 * (node.kubernetes.io/not-ready, unreachable, unschedulable, …), the cloud provider's startup taint, and
 * the autoscaler's own scale-down markers.
 */
export function isTransientTaint(key: string): boolean {
  return (
    key.startsWith('node.kubernetes.io/') ||
    key === 'node.cloudprovider.kubernetes.io/uninitialized' ||
    AUTOSCALER_TAINTS.has(key)
  );
}

// ---- capacity annotations ----

interface ParsedAnnotations {
  resources: Record<string, number>;
  labels: Record<string, string>;
  taints: Taint[];
  warnings: string[];
}

function parseCapacityAnnotations(
  ann: Readonly<Record<string, string>>,
): ParsedAnnotations | { error: string } {
  const bad = (key: string, why: string) => ({
    error: `annotation ${key}=${JSON.stringify(ann[key])}: ${why}`,
  });
  const resources: Record<string, number> = {};
  const warnings: string[] = [];
  const quantities: [string, string][] = [
    [CAPACITY.cpu, 'cpu'],
    [CAPACITY.memory, 'memory'],
    [CAPACITY.ephemeralDisk, 'ephemeral-storage'],
  ];
  for (const [key, res] of quantities) {
    const raw = ann[key];
    if (raw === undefined) continue;
    try {
      resources[res] = parseAmount(raw);
    } catch (e) {
      return bad(key, (e as Error).message);
    }
  }
  const maxPods = ann[CAPACITY.maxPods];
  if (maxPods !== undefined) {
    if (!/^\d+$/.test(maxPods)) return bad(CAPACITY.maxPods, 'must be a non-negative integer');
    resources['pods'] = Number(maxPods) * 1000;
  }
  const gpuCount = ann[CAPACITY.gpuCount];
  const gpuType = ann[CAPACITY.gpuType];
  if (gpuCount !== undefined) {
    if (!/^\d+$/.test(gpuCount)) return bad(CAPACITY.gpuCount, 'must be a non-negative integer GPU count');
    const type = gpuType ?? DEFAULT_GPU_TYPE;
    if (!isQualifiedName(type)) return bad(CAPACITY.gpuType, 'is not a resource name (e.g. nvidia.com/gpu)');
    resources[type] = Number(gpuCount) * 1000;
  } else if (gpuType !== undefined) {
    warnings.push(`annotation ${CAPACITY.gpuType} ignored without ${CAPACITY.gpuCount}`);
  }
  let labels: Record<string, string> = {};
  const rawLabels = ann[CAPACITY.labels];
  if (rawLabels !== undefined) {
    const r = parseLabels(rawLabels);
    if ('error' in r) return bad(CAPACITY.labels, r.error);
    labels = r.labels;
  }
  let taints: Taint[] = [];
  const rawTaints = ann[CAPACITY.taints];
  if (rawTaints !== undefined) {
    const r = parseTaints(rawTaints);
    if ('error' in r) return bad(CAPACITY.taints, r.error);
    taints = r.taints;
  }
  return { resources, labels, taints, warnings };
}

/** `k=v,k2=v2` (blank: none). Keys and values must be valid Kubernetes label keys and values. */
export function parseLabels(raw: string): { labels: Record<string, string> } | { error: string } {
  const labels: Record<string, string> = {};
  for (const item of items(raw)) {
    const eq = item.indexOf('=');
    if (eq < 0) return { error: `label "${item}" is not key=value` };
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (!isQualifiedName(key)) return { error: `label key "${key}" is not a valid label key` };
    if (!isLabelValue(value))
      return { error: `label value "${value}" (key ${key}) is not a valid label value` };
    if (key in labels) return { error: `label key "${key}" is repeated` };
    labels[key] = value;
  }
  return { labels };
}

/** `key=value:Effect,key2:Effect` (blank: none); Effect is NoSchedule, PreferNoSchedule or NoExecute. */
export function parseTaints(raw: string): { taints: Taint[] } | { error: string } {
  const taints: Taint[] = [];
  for (const item of items(raw)) {
    const colon = item.lastIndexOf(':');
    if (colon < 0) return { error: `taint "${item}" has no :Effect` };
    const effect = item.slice(colon + 1) as TaintEffect;
    if (!EFFECTS.includes(effect))
      return { error: `taint "${item}": effect "${effect}" is not one of ${EFFECTS.join(', ')}` };
    const kv = item.slice(0, colon);
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    const value = eq < 0 ? '' : kv.slice(eq + 1);
    if (!isQualifiedName(key)) return { error: `taint "${item}": key "${key}" is not a valid taint key` };
    if (!isLabelValue(value))
      return { error: `taint "${item}": value "${value}" is not a valid taint value` };
    // The apiserver rejects two taints with the same key and effect on one node.
    if (taints.some((t) => t.key === key && t.effect === effect))
      return { error: `taint ${key}:${effect} is repeated` };
    taints.push({ key, ...(value ? { value } : {}), effect });
  }
  return { taints };
}

/** Comma-separated entries; whitespace around entries is tolerated, empty entries are not. */
function items(raw: string): string[] {
  if (raw.trim() === '') return [];
  return raw.split(',').map((s) => s.trim());
}

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A label key / taint key / resource name: `[prefix/]name`, prefix a DNS subdomain. */
function isQualifiedName(s: string): boolean {
  const slash = s.indexOf('/');
  const prefix = slash < 0 ? undefined : s.slice(0, slash);
  const name = slash < 0 ? s : s.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && NAME.test(name);
}

function isLabelValue(s: string): boolean {
  return s === '' || (s.length <= 63 && NAME.test(s));
}

// ---- DaemonSet pods ----

/**
 * The DaemonSet pods (templates, one per DaemonSet) that would run on the node: their nodeSelector and
 * required node affinity match it, and they tolerate its NoSchedule and NoExecute taints.
 */
export function daemonSetPodsFor(node: SimNode, daemonSetPods: readonly SimPod[]): SimPod[] {
  return daemonSetPods.filter((p) => landsOn(p, node));
}

/**
 * The node's room for other pods once its DaemonSet pods run: allocatable minus their requests and one pod
 * slot each, floored at zero. `dsPods` may be all DaemonSet pods; those that would not land are skipped.
 */
export function allocatableAfterDaemonSets(node: SimNode, dsPods: readonly SimPod[]): Resources {
  const left: Record<string, number> = { ...node.allocatable };
  const landing = daemonSetPodsFor(node, dsPods);
  const take = (res: string, amount: number) => {
    // A resource the node lacks stays absent: absent already means none.
    if (left[res] !== undefined) left[res] = Math.max(0, left[res] - amount);
  };
  for (const p of landing) {
    for (const [res, amount] of Object.entries(p.requests)) take(res, amount);
    take('pods', 1000);
  }
  return left;
}

/** Where a DaemonSet pod lands: the scheduler's static rules (selector, affinity, taints) on the template. */
function landsOn(pod: SimPod, node: SimNode): boolean {
  return staticFit(pod, node) === undefined;
}

// ---- raw JSON helpers ----

function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function quantityOf(raw: unknown): number | undefined {
  if (typeof raw !== 'string' && typeof raw !== 'number') return undefined;
  try {
    return parseAmount(String(raw));
  } catch {
    return undefined;
  }
}

/**
 * The instance type, where the provider's template names one: spec.template.spec.instanceType as a
 * string (AWS, GCP style) or an object with a name (the sandbox provider).
 */
function instanceTypeOf(infra: Record<string, unknown> | undefined): string | undefined {
  const it = asObject(asObject(asObject(infra?.['spec'])?.['template'])?.['spec'])?.['instanceType'];
  return nonEmpty(it) ?? nonEmpty(asObject(it)?.['name']);
}
