// What the informers hold for ONE workload cluster (a CAPI Cluster) turned into planScaleUp's input
// (scaleup.ts): pending pods, existing nodes with what runs on them, and one GroupCandidate per node
// group. Pure: raw objects in, nothing thrown for bad input; whatever cannot be read is left out and
// reported, never guessed.
import { fromObjectOfKind } from '../capi/adapters/index.ts';
import type { Machine } from '../capi/types.ts';
import { POD_SLOT } from './estimator.ts';
import type { NodeGroup } from './nodegroups.ts';
import { simNodeFrom, simPodFrom } from './objects.ts';
import { NodeUsage } from './predicates.ts';
import type { ExistingNode, GroupCandidate } from './scaleup.ts';
import { allocatableAfterDaemonSets, daemonSetPodsFor, templateGroupOf, templateNode } from './template.ts';
import type { SimNode, SimPod } from './types.ts';

type Json = Record<string, unknown>;

// Lenient readers for the few raw fields looked at before (or instead of) a full conversion.
const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const meta = (o: unknown): Json => obj(obj(o).metadata);
const deleting = (o: unknown): boolean => meta(o).deletionTimestamp != null;

function condition(o: unknown, type: string): Json | undefined {
  const conditions = obj(obj(o).status).conditions;
  return (Array.isArray(conditions) ? conditions : []).map(obj).find((c) => c.type === type);
}

const nodeReady = (node: unknown): boolean => condition(node, 'Ready')?.status === 'True';

/**
 * Taints a node carries while it starts (or stops) being usable: the node lifecycle controller's
 * not-ready/unreachable/network-unavailable, the cloud node manager's uninitialized, and
 * cluster-autoscaler's startup-taint prefix. They come and go on their own, so a node with one is
 * still on its way: its room counts as coming, not as there (or a second scale-up would follow the
 * first while the controller manager catches up).
 */
const STARTUP_TAINTS = [
  'node.kubernetes.io/not-ready',
  'node.kubernetes.io/unreachable',
  'node.kubernetes.io/network-unavailable',
  'node.cloudprovider.kubernetes.io/uninitialized',
];
const STARTUP_TAINT_PREFIX = 'startup-taint.cluster-autoscaler.kubernetes.io/';

/** Ready and without a startup taint: a node pods can be placed on now. */
export function nodeUsable(node: unknown): boolean {
  if (!nodeReady(node)) return false;
  const taints = obj(obj(node).spec).taints;
  return !(Array.isArray(taints) ? taints : []).some((t) => {
    const key = str(obj(t).key) ?? '';
    return STARTUP_TAINTS.includes(key) || key.startsWith(STARTUP_TAINT_PREFIX);
  });
}

function controllerKind(o: unknown): string | undefined {
  const refs = meta(o).ownerReferences;
  return str((Array.isArray(refs) ? refs : []).map(obj).find((r) => r.controller === true)?.kind);
}

// ---- pending pods ----

/**
 * Pods the scheduler gave up on (cluster-autoscaler's unschedulable pod lister plus its filters): Pending,
 * unbound, PodScheduled=False/Unschedulable, not nominated (preemption will place them), not being deleted,
 * not a DaemonSet's (the DaemonSet controller binds those itself) and older than --new-pod-scale-up-delay.
 */
export function pendingPods(
  pods: readonly unknown[],
  now: Date,
  newPodDelayMs: number,
): { pending: SimPod[]; problems: string[] } {
  const pending: SimPod[] = [];
  const problems: string[] = [];
  const cutoff = now.getTime() - newPodDelayMs;
  for (const raw of pods) {
    if (!unschedulable(raw, cutoff)) continue;
    const r = simPodFrom(raw);
    if ('error' in r) problems.push(r.error);
    else pending.push(r.pod);
  }
  return { pending, problems };
}

/** A pod the scheduler gave up on and that only a new node can place, whatever its age. */
export function isUnschedulablePod(raw: unknown): boolean {
  const spec = obj(obj(raw).spec);
  const status = obj(obj(raw).status);
  if (status.phase !== 'Pending' || str(spec.nodeName) || str(status.nominatedNodeName)) return false;
  if (deleting(raw) || controllerKind(raw) === 'DaemonSet') return false;
  const scheduled = condition(raw, 'PodScheduled');
  return scheduled?.status === 'False' && scheduled.reason === 'Unschedulable';
}

/**
 * Why the planner leaves this pod alone (explain --pod): bound, not Pending, not reported unschedulable,
 * nominated, a DaemonSet's, being deleted, or younger than the new-pod delay. Undefined: it is planned.
 */
export function whyNotPlanned(raw: unknown, now: Date, newPodDelayMs: number): string | undefined {
  const spec = obj(obj(raw).spec);
  const status = obj(obj(raw).status);
  if (str(spec.nodeName)) return `bound to node ${String(spec.nodeName)}: nothing to do`;
  if (status.phase !== 'Pending') return `phase ${String(status.phase ?? 'unknown')}, not Pending`;
  if (deleting(raw)) return 'being deleted';
  if (controllerKind(raw) === 'DaemonSet') return "a DaemonSet's pod: its controller places it";
  if (str(status.nominatedNodeName))
    return `nominated to node ${String(status.nominatedNodeName)}: preemption will place it`;
  const scheduled = condition(raw, 'PodScheduled');
  if (scheduled?.status !== 'False' || scheduled.reason !== 'Unschedulable')
    return 'the scheduler has not reported it Unschedulable (yet)';
  if (!unschedulable(raw, now.getTime() - newPodDelayMs))
    return `younger than autoscaler.newPodScaleUpDelay (${newPodDelayMs / 1000} s)`;
  return undefined;
}

function unschedulable(raw: unknown, cutoff: number): boolean {
  if (!isUnschedulablePod(raw)) return false;
  // The apiserver always sets creationTimestamp; without a readable one there is nothing to wait for.
  const created = Date.parse(str(meta(raw).creationTimestamp) ?? '');
  return Number.isNaN(created) || created <= cutoff;
}

// ---- node changes that matter ----

/**
 * Whether a node event can change where pods fit: a node added or removed, or a change of readiness,
 * cordon, taints, labels, allocatable or deletion. Kubelets rewrite node status every few seconds
 * (heartbeats, conditions' timestamps, images); at 1,000 nodes those updates never stop, and reacting to
 * them would keep postponing every batch of pending pods.
 */
export function nodeFitChanged(type: string, node: unknown, old: unknown): boolean {
  if (type !== 'MODIFIED' || old === undefined) return true;
  const view = (n: unknown) => {
    const spec = obj(obj(n).spec);
    return JSON.stringify([
      nodeReady(n),
      deleting(n),
      spec.unschedulable === true,
      spec.taints ?? [],
      meta(n).labels ?? {},
      obj(obj(n).status).allocatable ?? {},
    ]);
  };
  return view(node) !== view(old);
}

// ---- existing nodes ----

/**
 * Ready nodes not being deleted, each with the requests, pod slots (milli-units, as estimator.ts) and host
 * ports of the pods bound to it that still run. Terminating pods count: they hold their room until gone.
 */
export function existingNodes(
  nodes: readonly unknown[],
  pods: readonly unknown[],
): { nodes: ExistingNode[]; problems: string[] } {
  const problems: string[] = [];
  const usage = new Map<string, { node: SimNode; used: NodeUsage }>();
  for (const raw of nodes) {
    if (!nodeUsable(raw) || deleting(raw)) continue;
    const r = simNodeFrom(raw);
    if ('error' in r) problems.push(r.error);
    else usage.set(r.node.name, { node: r.node, used: new NodeUsage() });
  }
  for (const raw of pods) {
    const on = usage.get(str(obj(obj(raw).spec).nodeName) ?? '');
    const phase = obj(obj(raw).status).phase;
    if (on === undefined || phase === 'Succeeded' || phase === 'Failed') continue;
    const r = simPodFrom(raw);
    if ('error' in r) problems.push(`${r.error} (on node ${on.node.name}, not counted)`);
    else on.used.add(r.pod);
  }
  return {
    nodes: [...usage.values()].map(({ node, used }) => ({
      node,
      used: { ...used.requests, pods: used.pods * POD_SLOT },
      ports: [...used.hostPorts],
    })),
    problems,
  };
}

/** Allocatable sums for Limits (cpu in millicores, memory in milli-bytes). */
export function clusterTotals(nodes: readonly ExistingNode[]): {
  nodes: number;
  cpu: number;
  memory: number;
} {
  let cpu = 0;
  let memory = 0;
  for (const n of nodes) {
    cpu += n.node.allocatable['cpu'] ?? 0;
    memory += n.node.allocatable['memory'] ?? 0;
  }
  return { nodes: nodes.length, cpu, memory };
}

// ---- DaemonSet pods ----

/**
 * One pod per DaemonSet, from its spec.template, marked daemonSet: what a new node would run. DaemonSets
 * being deleted are skipped: they start no pods on new nodes.
 */
export function daemonSetPods(daemonSets: readonly unknown[]): { pods: SimPod[]; problems: string[] } {
  const pods: SimPod[] = [];
  const problems: string[] = [];
  for (const ds of daemonSets) {
    if (deleting(ds)) continue;
    const m = meta(ds);
    const name = str(m.name) ?? '<unnamed>';
    const r = simPodFrom({
      metadata: { namespace: m.namespace, name: `${name}-template`, uid: `ds-${String(m.uid ?? '')}` },
      spec: obj(obj(obj(ds).spec).template).spec,
    });
    if ('error' in r) problems.push(`DaemonSet ${String(m.namespace ?? '')}/${name}: ${r.error}`);
    else pods.push({ ...r.pod, daemonSet: true });
  }
  return { pods, problems };
}

// ---- node groups ----

export interface GroupCandidatesInput {
  /** The workload cluster: the CAPI Cluster's namespace and name. */
  cluster: { namespace: string; name: string };
  /** From discoverNodeGroups; groups of other clusters are skipped here. */
  groups: readonly NodeGroup[];
  /** Management cluster. */
  machineSets: readonly unknown[];
  machines: readonly unknown[];
  /** Workload cluster. */
  nodes: readonly unknown[];
  /** Infrastructure machine templates by `<namespace>/<kind>/<name>`. */
  infraTemplates: ReadonlyMap<string, unknown>;
  /** Workload cluster, apps/v1. */
  daemonSets: readonly unknown[];
  now: Date;
  /** Group key → epoch ms until which the group must not scale up. */
  backoff: ReadonlyMap<string, number>;
}

export interface GroupCandidatesResult {
  groups: GroupCandidate[];
  /** Human lines for explain, each starting with the group key (or the object that could not be read). */
  notes: string[];
  /** Group key → names of its Machines (in the group's namespace): what failedProvisioning looks at. */
  machineNames: Map<string, string[]>;
  /** Group key → Machines not being deleted, and those of them with a Ready node (gauges, explain). */
  counts: Map<string, { current: number; ready: number }>;
}

export function groupCandidates(input: GroupCandidatesInput): GroupCandidatesResult {
  const { namespace, name: clusterName } = input.cluster;
  const notes: string[] = [];
  // Unreadable objects of other namespaces belong to other clusters' reports.
  const read = <T>(list: readonly unknown[], kind: string, parse: (raw: unknown) => T): T[] => {
    const out: T[] = [];
    for (const raw of list) {
      if (meta(raw).namespace !== namespace) continue;
      try {
        out.push(parse(raw));
      } catch (e) {
        notes.push(`${kind} ${namespace}/${String(meta(raw).name)} ignored: ${(e as Error).message}`);
      }
    }
    return out;
  };
  const machineSets = read(input.machineSets, 'MachineSet', (o) => fromObjectOfKind(o, 'MachineSet'));
  const machines = read(input.machines, 'Machine', (o) => fromObjectOfKind(o, 'Machine'));
  const ds = daemonSetPods(input.daemonSets);
  notes.push(...ds.problems.map((p) => `${p}; not reserved on templates`));

  // Owner chain, not selectors: exact even when two groups' selectors overlap.
  const setsOfDeployment = new Map<string, string[]>();
  for (const ms of machineSets)
    if (ms.ownerMachineDeployment !== undefined)
      push(setsOfDeployment, ms.ownerMachineDeployment, ms.meta.name);
  const machinesOfSet = new Map<string, Machine[]>();
  for (const m of machines) if (m.ownerMachineSet !== undefined) push(machinesOfSet, m.ownerMachineSet, m);

  const byName = new Map<string, unknown>();
  const byProviderID = new Map<string, unknown>();
  for (const n of input.nodes) {
    const name = str(meta(n).name);
    const providerID = str(obj(obj(n).spec).providerID);
    if (name !== undefined) byName.set(name, n);
    if (providerID !== undefined) byProviderID.set(providerID, n);
  }
  const nodeOf = (m: Machine): unknown =>
    (m.providerID !== undefined ? byProviderID.get(m.providerID) : undefined) ??
    (m.nodeRef !== undefined ? byName.get(m.nodeRef) : undefined);

  const groups: GroupCandidate[] = [];
  const machineNames = new Map<string, string[]>();
  const counts = new Map<string, { current: number; ready: number }>();
  for (const g of input.groups) {
    if (g.namespace !== namespace || g.clusterName !== clusterName) continue;
    const sets = g.kind === 'MachineSet' ? [g.name] : (setsOfDeployment.get(g.name) ?? []);
    const own = sets.flatMap((s) => machinesOfSet.get(s) ?? []);
    machineNames.set(
      g.key,
      own.map((m) => m.meta.name),
    );
    const live = own.filter((m) => m.meta.deletionTimestamp === undefined);
    const target = g.replicas ?? 0;
    const readyCount = live.filter((m) => nodeUsable(nodeOf(m))).length;
    counts.set(g.key, { current: live.length, ready: readyCount });
    // A deleting Machine still counts in spec.replicas (CAPI keeps it until it is gone, and the delete
    // protocol decrements late), but no node will come from it.
    const deletingCount = own.length - live.length;
    const upcoming = Math.max(0, target - deletingCount - readyCount);

    // Newest machine first: after a rollout it is the one built from the group's current template.
    const liveNode = [...live]
      .sort(newestFirst)
      .map(nodeOf)
      .find(
        (n) => n !== undefined && nodeUsable(n) && !deleting(n) && obj(obj(n).spec).unschedulable !== true,
      );
    const ref = g.template.infrastructureRef;
    const infraKey = `${ref.namespace ?? g.namespace}/${ref.kind}/${ref.name}`;
    const infrastructureTemplate = input.infraTemplates.get(infraKey);
    const t = templateNode({ group: templateGroupOf(g.object), liveNode, infrastructureTemplate });

    const note = (line: string) => notes.push(`${g.key}: ${line}`);
    const candidate: GroupCandidate = {
      id: g.key,
      minSize: g.minSize ?? 0,
      maxSize: g.maxSize ?? 0,
      target,
      upcoming,
    };
    if ('error' in t) {
      candidate.templateError = t.error;
      note(`no template node: ${t.error}`);
      if (liveNode === undefined && infrastructureTemplate === undefined)
        note(`infrastructure template ${infraKey} not available`);
    } else {
      candidate.template = { ...t.node, allocatable: allocatableAfterDaemonSets(t.node, ds.pods) };
      note(templateSource(t.source, liveNode, infraKey));
      for (const w of t.warnings) note(w);
      const landing = daemonSetPodsFor(t.node, ds.pods).length;
      if (landing > 0) note(`room for ${landing} DaemonSet pod(s) reserved on the template`);
    }
    if (g.disabled !== undefined) candidate.disabled = g.disabled;
    const until = input.backoff.get(g.key);
    if (until !== undefined) {
      candidate.backoffUntil = until;
      if (until > input.now.getTime()) note(`in back-off until ${new Date(until).toISOString()}`);
    }
    if (upcoming > 0) note(`${upcoming} of ${target} replica(s) without a Ready node yet`);
    groups.push(candidate);
  }
  return { groups, notes, machineNames, counts };
}

function templateSource(source: string, liveNode: unknown, infraKey: string): string {
  if (source === 'node') return `template from node ${String(meta(liveNode).name)}`;
  if (source === 'annotations') return 'template from capacity annotations';
  return `template from infrastructure template ${infraKey}`;
}

function push<V>(m: Map<string, V[]>, key: string, v: V): void {
  const list = m.get(key);
  if (list) list.push(v);
  else m.set(key, [v]);
}

function newestFirst(a: Machine, b: Machine): number {
  // Unreadable timestamps sort last; names break ties for a stable choice.
  const time = (m: Machine) => Date.parse(m.meta.creationTimestamp ?? '') || 0;
  return time(b) - time(a) || (a.meta.name < b.meta.name ? -1 : 1);
}

// ---- failed provisioning ----

/**
 * Machines of a group that have had maxNodeProvisionTime to get a Node and have none (cluster-autoscaler's
 * --max-node-provision-time): the controller backs the group off. Machines being deleted are on their way
 * out already. `namespace`, when given, keeps same-named Machines of other namespaces out.
 */
export function failedProvisioning(
  machines: readonly unknown[],
  groupMachineNames: Iterable<string>,
  now: Date,
  maxNodeProvisionTimeMs: number,
  namespace?: string,
): string[] {
  const names = new Set(groupMachineNames);
  const out: string[] = [];
  for (const raw of machines) {
    const m = meta(raw);
    const name = str(m.name);
    if (name === undefined || !names.has(name)) continue;
    if (namespace !== undefined && m.namespace !== namespace) continue;
    let machine: Machine;
    try {
      machine = fromObjectOfKind(raw, 'Machine');
    } catch {
      continue; // groupCandidates reports unreadable Machines
    }
    if (machine.meta.deletionTimestamp !== undefined || machine.nodeRef !== undefined) continue;
    const created = Date.parse(machine.meta.creationTimestamp ?? '');
    if (!Number.isNaN(created) && now.getTime() - created > maxNodeProvisionTimeMs) out.push(name);
  }
  return out.sort();
}
