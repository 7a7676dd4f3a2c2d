// What the informers hold for ONE workload cluster turned into planScaleDown's input (scaledown.ts): each
// node with its Machine, node group and classified pods, and each node group's size, min size, removals
// in flight and options. Pure: raw objects in, nothing thrown for bad input. A node whose Machine or pods
// cannot be read is kept with that reason (never removed on a guess); an unreadable node is left out.
import { fromObjectOfKind } from '../capi/adapters/index.ts';
import { findCondition } from '../capi/conditions.ts';
import { ANNOTATIONS, type Machine, type MachineSet } from '../capi/types.ts';
import {
  classifyPod,
  controllerOf,
  DAEMONSET_POD_ANNOTATION,
  MIRROR_ANNOTATION,
  pdbMatchesPod,
  type DrainPolicy,
  type PdbLike,
  type PodLike,
} from '../drain/filters.ts';
import {
  externalRemediationInProgress,
  whyGroupCannotShrink,
  whyNotDeletable,
} from '../machines/eligibility.ts';
import { fighting, ledgerOf, markOf, pendingCount, REMEDIATION_ANNOTATION } from '../machines/records.ts';
import type { GroupRef } from '../machines/snapshot.ts';
import type { NodeGroup } from './nodegroups.ts';
import { isUnschedulablePod } from './inputs.ts';
import { simNodeFrom, simPodFrom } from './objects.ts';
import type { SimPod } from './types.ts';
import {
  SCALE_DOWN_DISABLED_ANNOTATION,
  type ClassifiedPod,
  type Kept,
  type ScaleDownGroup,
  type ScaleDownNode,
} from './scaledown.ts';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const meta = (o: unknown): Json => obj(obj(o).metadata);

// Reading a pod (quantities above all) is most of an evaluation's cost, and the informers hand out the
// same object until it changes (an update replaces it): each object is read once, keyed by identity, and
// forgotten with it. Still pure: the result depends only on the object, which nobody mutates.
function readOnce<T>(read: (raw: unknown) => T): (raw: unknown) => T {
  const memo = new WeakMap<object, T>();
  return (raw) => {
    if (typeof raw !== 'object' || raw === null) return read(raw);
    if (!memo.has(raw)) memo.set(raw, read(raw));
    return memo.get(raw)!;
  };
}
const podOf = readOnce(simPodFrom);
const machineRead = readOnce((raw): Machine | Error => {
  try {
    return fromObjectOfKind(raw, 'Machine');
  } catch (e) {
    return e as Error;
  }
});
function machineOf(raw: unknown): Machine {
  const r = machineRead(raw);
  if (r instanceof Error) throw r;
  return r;
}

/** Another writer moved spec.replicas twice within this window: the group is not scaled (as scale-up). */
const FIGHT_WINDOW_MS = 10 * 60_000;

export interface ScaleDownSnapshot {
  cluster: { namespace: string; name: string };
  /** The Cluster is paused (spec.paused or the paused annotation). */
  clusterPaused: boolean;
  /** From discoverNodeGroups: this cluster's groups (others are skipped). */
  groups: readonly NodeGroup[];
  /** Management cluster. */
  machineSets: readonly unknown[];
  machines: readonly unknown[];
  /** Workload cluster. */
  nodes: readonly unknown[];
  pods: readonly unknown[];
  pdbs: readonly PdbLike[];
  /** `namespace/name` of each DaemonSet. */
  daemonSets: ReadonlySet<string>;
  policy: Readonly<DrainPolicy>;
  now: Date;
  /** Nodes this service is removing now (before their Machine carries the mark). */
  removing: ReadonlySet<string>;
}

/** The Machine behind a node: what the delete protocol is handed when the node goes. */
export interface NodeMachine {
  namespace: string;
  name: string;
  uid: string;
  group: GroupRef;
  machine: Machine;
}

export interface ScaleDownInputs {
  nodes: ScaleDownNode[];
  groups: Map<string, ScaleDownGroup>;
  /** Node name → its Machine, for nodes in a node group. */
  machines: Map<string, NodeMachine>;
  /** Nodes left out of the plan because they could not be read. */
  unreadable: Kept[];
  /** Pods not bound yet and not found unschedulable: the scheduler is about to place them. */
  pending: SimPod[];
  problems: string[];
}

export function scaleDownInputs(s: ScaleDownSnapshot): ScaleDownInputs {
  const { namespace } = s.cluster;
  const problems: string[] = [];
  const inCluster = (o: unknown) => meta(o).namespace === namespace;

  // ---- node groups ----
  const machineSets = new Map<string, MachineSet>();
  for (const raw of s.machineSets.filter(inCluster)) {
    try {
      const ms = fromObjectOfKind(raw, 'MachineSet');
      machineSets.set(ms.meta.name, ms);
    } catch (e) {
      problems.push(`MachineSet ${namespace}/${String(meta(raw).name)} unreadable: ${(e as Error).message}`);
    }
  }
  const groups = new Map<string, ScaleDownGroup>();
  /** Machines with a pending scale-down entry on their group's ledger, by group key. */
  const registered = new Map<string, Set<string>>();
  const pausedGroups = new Set<string>();
  const groupByObject = new Map<string, string>(); // `<kind>/<name>` → group key
  for (const g of s.groups) {
    if (g.namespace !== namespace || g.clusterName !== s.cluster.name) continue;
    groupByObject.set(`${g.kind}/${g.name}`, g.key);
    const { ledger, error } = ledgerOf(g.object.meta.annotations);
    const sets =
      g.kind === 'MachineSet'
        ? [g.name]
        : [...machineSets.values()]
            .filter((ms) => ms.ownerMachineDeployment === g.name)
            .map((m) => m.meta.name);
    // As the delete protocol counts them (snapshot.ts): MachineSets with replicas wanted or still there.
    const active = sets.filter((n) => {
      const ms = machineSets.get(n);
      return (
        ms !== undefined &&
        !ms.meta.deletionTimestamp &&
        ((ms.replicas ?? 0) > 0 || (ms.status.replicas ?? 0) > 0)
      );
    }).length;
    // As the delete protocol reads it (snapshot.ts): the Cluster, the group or one of its MachineSets.
    const paused =
      s.clusterPaused ||
      ANNOTATIONS.paused in g.object.meta.annotations ||
      sets.some((n) => ANNOTATIONS.paused in (machineSets.get(n)?.meta.annotations ?? {}));
    if (paused) pausedGroups.add(g.key);
    const blocked =
      g.disabled ??
      whyGroupCannotShrink({
        replicas: g.replicas,
        minSize: g.minSize,
        pending: 0,
        ...(error ? { ledgerError: error } : {}),
        paused,
        activeMachineSets: g.kind === 'MachineSet' ? 1 : active,
        checkMinSize: false,
      }) ??
      (fighting(ledger, s.now, FIGHT_WINDOW_MS)
        ? `another writer changed spec.replicas ${ledger?.foreignWrites} times, last at ${ledger?.lastForeignWrite}: not fighting it`
        : undefined);
    registered.set(
      g.key,
      new Set(
        // Any state: once applied, spec.replicas is already lower, so it must not be counted again.
        Object.values(ledger?.ops ?? {})
          .filter((e) => e.purpose === 'scale-down')
          .map((e) => e.machine),
      ),
    );
    groups.set(g.key, {
      minSize: g.minSize ?? 0,
      target: g.replicas ?? 0,
      pendingRemovals: pendingCount(ledger),
      options: g.options ?? OPTIONS_OF_DISABLED,
      ...(blocked !== undefined ? { disabled: blocked } : {}),
    });
  }

  // ---- machines by node ----
  const byProviderID = new Map<string, NodeMachine>();
  const byNodeRef = new Map<string, NodeMachine>();
  const unreadableMachines: string[] = [];
  for (const raw of s.machines.filter(inCluster)) {
    let m: Machine;
    try {
      m = machineOf(raw);
    } catch (e) {
      const name = `${namespace}/${String(meta(raw).name)}`;
      unreadableMachines.push(name);
      problems.push(`Machine ${name} unreadable: ${(e as Error).message}`);
      continue;
    }
    if (m.clusterName !== s.cluster.name) continue;
    const ms = m.ownerMachineSet !== undefined ? machineSets.get(m.ownerMachineSet) : undefined;
    const key =
      (ms?.ownerMachineDeployment !== undefined
        ? groupByObject.get(`MachineDeployment/${ms.ownerMachineDeployment}`)
        : undefined) ?? (ms ? groupByObject.get(`MachineSet/${ms.meta.name}`) : undefined);
    if (key === undefined) continue;
    const [kind, , name] = key.split('/') as [GroupRef['kind'], string, string];
    const nm: NodeMachine = {
      namespace,
      name: m.meta.name,
      uid: m.meta.uid ?? '',
      group: { namespace, kind, name },
      machine: m,
    };
    if (m.providerID !== undefined) byProviderID.set(m.providerID, nm);
    if (m.nodeRef !== undefined) byNodeRef.set(m.nodeRef, nm);
  }

  // ---- pods by node ----
  const podsOn = new Map<string, unknown[]>();
  const pending: SimPod[] = [];
  for (const p of s.pods) {
    const node = str(obj(obj(p).spec).nodeName);
    if (node === undefined) {
      const phase = obj(obj(p).status).phase;
      if (phase === 'Succeeded' || phase === 'Failed' || meta(p).deletionTimestamp != null) continue;
      // Found unschedulable: no node here takes it (scale-up's matter). Otherwise it is about to land.
      if (isUnschedulablePod(p)) continue;
      const sp = podOf(p);
      if ('error' in sp)
        problems.push(`pending pod ${String(meta(p).namespace)}/${String(meta(p).name)}: ${sp.error}`);
      else pending.push(sp.pod);
      continue;
    }
    const list = podsOn.get(node);
    if (list) list.push(p);
    else podsOn.set(node, [p]);
  }
  const ctx = {
    now: s.now.getTime(),
    daemonSetExists: (ns: string, name: string) => s.daemonSets.has(`${ns}/${name}`),
    pdbsInNamespace: s.pdbs,
    policy: s.policy,
  };
  // cluster-autoscaler's PDB rule: a pod whose PDB allows no disruption now blocks its node (its
  // eviction would be refused until the drain times out). A PDB without status counts as allowing none.
  const exhausted = s.pdbs.filter(
    (b) =>
      (((b as { status?: { disruptionsAllowed?: unknown } }).status?.disruptionsAllowed ?? 0) as number) < 1,
  );

  // ---- nodes ----
  const nodes: ScaleDownNode[] = [];
  const machines = new Map<string, NodeMachine>();
  const unreadable: Kept[] = [];
  for (const raw of s.nodes) {
    const r = simNodeFrom(raw);
    if ('error' in r) {
      const name = String(meta(raw).name ?? '<unnamed>');
      unreadable.push({ node: name, code: 'unreadable', reason: `node unreadable: ${r.error}` });
      continue;
    }
    const node = r.node;
    const providerID = str(obj(obj(raw).spec).providerID);
    // By providerID; by name only when neither side has one that could disagree (a reused node name).
    const byRef = byNodeRef.get(node.name);
    const nm =
      (providerID !== undefined ? byProviderID.get(providerID) : undefined) ??
      (byRef && (providerID === undefined || byRef.machine.providerID === undefined) ? byRef : undefined);
    const group = nm?.group ? `${nm.group.kind}/${namespace}/${nm.group.name}` : undefined;
    if (nm) machines.set(node.name, nm);

    const pods: ClassifiedPod[] = [];
    let badPod: string | undefined;
    for (const p of podsOn.get(node.name) ?? []) {
      const sp = podOf(p);
      if ('error' in sp) {
        badPod ??= `pod ${String(meta(p).namespace)}/${String(meta(p).name)} could not be read (${sp.error}); the node is not judged on a guess`;
        continue;
      }
      const c = classifyPod(p as PodLike, ctx);
      const a = obj(meta(p).annotations);
      const pdb = c.action === 'evict' ? exhausted.find((b) => pdbMatchesPod(b, p as PodLike)) : undefined;
      pods.push({
        pod: sp.pod,
        action: pdb ? 'block' : c.action,
        detail: pdb
          ? `PodDisruptionBudget ${pdb.metadata.namespace}/${pdb.metadata.name} allows no disruption now`
          : c.detail,
        daemonSet: controllerOf(p as PodLike)?.kind === 'DaemonSet' || a[DAEMONSET_POD_ANNOTATION] === 'true',
        mirror: a[MIRROR_ANNOTATION] !== undefined,
      });
    }

    const ready = findReady(raw);
    const disabled = obj(meta(raw).annotations)[SCALE_DOWN_DISABLED_ANNOTATION];
    const n: ScaleDownNode = {
      node,
      ...(group !== undefined ? { group } : {}),
      ready: ready.status === 'True',
      ...(ready.status !== 'True' && ready.since !== undefined ? { readyChangedAt: ready.since } : {}),
      scaleDownDisabled: disabled === 'true',
      pods,
    };
    const owner = ownerOf(raw, nm?.machine, s.removing.has(node.name));
    if (owner !== undefined) {
      n.owner = owner;
      // Its pods are (or will be) evicted by a scale-down: they need room on the nodes that stay.
      if (
        s.removing.has(node.name) ||
        (nm && markOf(nm.machine.meta.annotations).mark?.purpose === 'scale-down')
      )
        n.leaving = true;
      // Chosen but not registered on the group's ledger yet: counted here, so the next loop does not
      // count on the same room above the min size (once registered, the ledger counts it).
      const g = group !== undefined ? groups.get(group) : undefined;
      if (g && nm && s.removing.has(node.name) && !registered.get(group!)?.has(nm.name)) g.pendingRemovals++;
    } else if (badPod !== undefined) n.unremovable = { code: 'unreadable', reason: badPod };
    else if (disabled !== undefined && disabled !== 'true' && disabled !== 'false')
      n.unremovable = {
        code: 'unreadable',
        reason: `${SCALE_DOWN_DISABLED_ANNOTATION}=${JSON.stringify(disabled)} is not "true" or "false"; kept until it is`,
      };
    else if (nm && group !== undefined) {
      const why = whyNotDeletable(nm.machine, {
        paused: pausedGroups.has(group),
        purpose: 'scale-down',
      });
      if (why !== undefined)
        n.unremovable = {
          code: 'machine_not_deletable',
          reason: `Machine ${nm.name} may not be deleted: ${why}`,
        };
    } else if (group === undefined && unreadableMachines.length > 0 && groupByObject.size > 0)
      // Its Machine may be one we could not read: it is not in a group as far as we know, so it stays.
      n.unremovable = {
        code: 'unreadable',
        reason: `no readable Machine found for it (unreadable: ${unreadableMachines.join(', ')})`,
      };
    nodes.push(n);
  }
  return { nodes, groups, machines, unreadable, pending, problems };
}

/** Who else is acting on the node or its Machine: its deletion, remediation, another operation. */
function ownerOf(node: unknown, m: Machine | undefined, removing: boolean): string | undefined {
  if (removing) return 'this service (scale-down in progress)';
  if (meta(node).deletionTimestamp != null) return 'its deletion (the Node is being deleted)';
  if (!m) return undefined;
  if (m.meta.deletionTimestamp) return `the deletion of Machine ${m.meta.name}`;
  const a = m.meta.annotations;
  const { mark } = markOf(a);
  if (mark) return `operation ${mark.id} (${mark.purpose}) on Machine ${m.meta.name}`;
  if (REMEDIATION_ANNOTATION in a) return `remediation of Machine ${m.meta.name}`;
  if (ANNOTATIONS.remediateMachine in a)
    return `remediation (${ANNOTATIONS.remediateMachine} on Machine ${m.meta.name})`;
  const cs = [...m.conditions, ...(m.otherVersionConditions ?? [])];
  if (findCondition(cs, 'OwnerRemediated')?.status === 'False')
    return `its owner's remediation (OwnerRemediated=False on Machine ${m.meta.name})`;
  if (externalRemediationInProgress(cs))
    return `an external remediation (ExternallyRemediated=False on Machine ${m.meta.name})`;
  return undefined;
}

function findReady(node: unknown): { status?: string; since?: number } {
  const cs = obj(obj(node).status).conditions;
  const c = (Array.isArray(cs) ? cs : []).map(obj).find((x) => x.type === 'Ready');
  if (!c) return {};
  const t = Date.parse(String(c.lastTransitionTime ?? ''));
  return { status: String(c.status), ...(Number.isFinite(t) ? { since: t } : {}) };
}

/** A disabled group keeps its nodes whatever the options say; these only fill the type. */
const OPTIONS_OF_DISABLED: ScaleDownGroup['options'] = {
  scaleDownUtilizationThreshold: 0,
  scaleDownUnneededTime: Number.MAX_SAFE_INTEGER,
  scaleDownUnreadyTime: Number.MAX_SAFE_INTEGER,
};
