// The scale-down decision, pure: which nodes are unneeded (cluster-autoscaler's eligibility checks), how
// long they have been, and which of them go in this loop, with a reason for every node that stays. The
// controller builds the input from its informer caches (pods classified by src/drain/filters.ts with
// SCALE_DOWN_POLICY), keeps `unneededSince` between loops, and carries out `remove` (cordon, PDB-aware
// drain, atomic delete). No I/O, no clock: time is `now`.
//
// 1. Candidates (upstream eligibility.Checker): not owned by another operation, not annotated
//    scale-down-disabled, in an enabled node group, Ready and below the group's utilization threshold or
//    not Ready at all (any utilization), and no pod that blocks the drain (safe-to-evict "false", bare
//    pods, local storage, kube-system without PDB: the classification's `block`).
// 2. Unneeded time: candidates keep the time they became one; an unready node counts from when it went
//    not Ready if that is earlier. Removable after the group's unneeded time (unready time when not Ready).
// 3. Removal, unless a cooldown applies: empty nodes first (no pod to evict), then the others by ascending
//    utilization, ties by name; each must keep the group at or above its min size (in-flight removals
//    count) and stay within the limits; a node that is not empty must have a place for each pod it would
//    evict on the nodes that stay (removal simulation, accumulating what earlier removals of this loop
//    moved), and a node that received pods in this loop stays.
import type { NodeGroupOptions } from './nodegroups.ts';
import { formatGoDurationSeconds } from '../capi/duration.ts';
import { cmp, Destinations, podsToMove, type Exclusion } from './scaledown-sim.ts';
import type { SimNode, SimPod } from './types.ts';
import { formatShare, nodeUtilization, type ClassifiedPod, type NodeUtilization } from './utilization.ts';

export type { ClassifiedPod, NodeUtilization } from './utilization.ts';

export const SCALE_DOWN_DISABLED_ANNOTATION = 'cluster-autoscaler.kubernetes.io/scale-down-disabled';

/** Why a node stays: a small fixed set, safe as a metric label. */
export const SCALE_DOWN_REASON_CODES = [
  'owned',
  'unreadable',
  'machine_not_deletable',
  'scale_down_disabled',
  'not_autoscaled',
  'group_disabled',
  'utilization',
  'blocked_by_pod',
  'unneeded_not_long_enough',
  'not_ready_not_long_enough',
  'cooldown',
  'min_size',
  'received_pods',
  'limit',
  'no_place_for_pods',
] as const;
export type ScaleDownReasonCode = (typeof SCALE_DOWN_REASON_CODES)[number];

export interface ScaleDownNode {
  /** Allocatable, labels, taints, cordon: the node as the scheduler sees it. */
  node: SimNode;
  /** Node group id (`MachineDeployment/<ns>/<name>`); absent: not autoscaled. */
  group?: string;
  ready: boolean;
  /** Epoch ms of the Ready condition's lastTransitionTime; read only while not Ready. */
  readyChangedAt?: number;
  /** Annotated cluster-autoscaler.kubernetes.io/scale-down-disabled: "true". */
  scaleDownDisabled: boolean;
  /** Another actor owns the machine ("remediation", a delete in progress, ...): kept, never a destination. */
  owner?: string;
  /**
   * Why the node may not be removed although it stays usable as a destination: its Machine may not be
   * deleted now (paused, not controlled by a MachineSet, ...) or something about it could not be read.
   */
  unremovable?: { code: 'unreadable' | 'machine_not_deletable'; reason: string };
  /**
   * A removal in progress drains it (with `owner` set): its pods to evict will need room on the nodes
   * that stay, so the simulation places them first, before any removal of this loop.
   */
  leaving?: boolean;
  /** Every pod bound to the node, classified for a scale-down drain. */
  pods: readonly ClassifiedPod[];
}

export interface ScaleDownGroup {
  minSize: number;
  /** spec.replicas. */
  target: number;
  /** Deletes already in flight: they count against min size and against limits.maxTotal. */
  pendingRemovals: number;
  /** Effective options (EnabledNodeGroup.options): ms and a 0..1 threshold. */
  options: Pick<
    NodeGroupOptions,
    'scaleDownUtilizationThreshold' | 'scaleDownUnneededTime' | 'scaleDownUnreadyTime'
  >;
  /** Why the group must not be scaled (DisabledNodeGroup.disabled): its nodes stay. */
  disabled?: string;
}

export interface ScaleDownLimits {
  /** Empty nodes removed per loop (--max-empty-bulk-delete). */
  maxEmptyBulkDelete: number;
  /** Nodes that need a drain, per group at a time (drains in progress count); default 1. */
  maxNonEmptyPerGroup?: number;
  /** Removals in parallel (--max-scale-down-parallelism): the groups' pendingRemovals use it up first. */
  maxTotal: number;
}

export interface ScaleDownInput {
  nodes: readonly ScaleDownNode[];
  groups: ReadonlyMap<string, ScaleDownGroup>;
  /** The previous plan's map: node name → epoch ms since it is unneeded. */
  unneededSince: ReadonlyMap<string, number>;
  now: number;
  /** Set while a scale-down delay applies (after add/delete/failure): nothing is removed, tracking runs. */
  cooldown?: string;
  limits: ScaleDownLimits;
  /**
   * Pods not bound yet that the scheduler has not found unschedulable (new pods, replacements of evicted
   * ones): it will place them on the nodes there are, so the room they take is not there for removals
   * (cluster-autoscaler's filterOutSchedulable). Placed first; a node that takes one stays.
   */
  pending?: readonly SimPod[];
}

export interface Removal {
  node: string;
  group: string;
  /** No pod to evict: no drain beyond DaemonSet, mirror and terminal pods. */
  empty: boolean;
  utilization: number;
  /** Where the simulation placed each pod the drain will evict (`namespace/name`). */
  destinations: Array<{ pod: string; to: string }>;
}

export interface Kept {
  node: string;
  group?: string;
  code: ScaleDownReasonCode;
  reason: string;
}

export interface ScaleDownPlan {
  /** Keep it for the next loop. */
  unneededSince: Map<string, number>;
  /** In decision order: empty nodes first. */
  remove: Removal[];
  /** Every other node, by name. */
  kept: Kept[];
  /** Every node's utilization, by name. */
  utilization: Map<string, NodeUtilization>;
}

interface Candidate {
  i: number;
  name: string;
  groupId: string;
  group: ScaleDownGroup;
  ready: boolean;
  since: number;
  empty: boolean;
  util: NodeUtilization;
}

const podName = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;
/** The source index of pending pods in the simulation (they come from no node). */
const PENDING = -1;

/** "45s", "3m", "2m30s", "1h", "1h5m": Go's Duration.String without its trailing zero units. */
export function formatDuration(ms: number): string {
  const text = formatGoDurationSeconds(Math.max(0, Math.floor(ms / 1000)));
  return text.replace(/([hm])0s$/, '$1').replace(/h0m$/, 'h');
}

/** Step 1: why the node is no candidate, or its group when it is one. */
function eligibility(
  n: ScaleDownNode,
  u: NodeUtilization,
  groups: ScaleDownInput['groups'],
): { code: ScaleDownReasonCode; reason: string } | { id: string; group: ScaleDownGroup } {
  const no = (code: ScaleDownReasonCode, reason: string) => ({ code, reason });
  // Upstream's order: being deleted, the annotation, the node group, utilization, then the drain.
  if (n.owner !== undefined) return no('owned', `owned by ${n.owner}`);
  if (n.unremovable !== undefined) return no(n.unremovable.code, n.unremovable.reason);
  if (n.scaleDownDisabled)
    return no('scale_down_disabled', `annotated ${SCALE_DOWN_DISABLED_ANNOTATION}=true`);
  if (n.group === undefined) return no('not_autoscaled', 'not in an autoscaled node group');
  const group = groups.get(n.group);
  if (!group) return no('not_autoscaled', `node group ${n.group} is not autoscaled`);
  if (group.disabled !== undefined)
    return no('group_disabled', `node group ${n.group} is disabled: ${group.disabled}`);
  const threshold = group.options.scaleDownUtilizationThreshold;
  if (n.ready && !(u.value < threshold))
    return no('utilization', `${formatShare(u.resource, u.value)} ≥ threshold ${threshold}`);
  const first = n.pods.find((p) => p.action === 'block');
  if (first) {
    const others = n.pods.filter((p) => p.action === 'block').length - 1;
    const more = others > 0 ? ` (and ${others} more pod(s))` : '';
    return no('blocked_by_pod', `pod ${podName(first.pod)} cannot be moved: ${first.detail}${more}`);
  }
  return { id: n.group, group };
}

export function planScaleDown(input: ScaleDownInput): ScaleDownPlan {
  const { nodes, now } = input;
  const utilization = new Map<string, NodeUtilization>();
  const kept: Kept[] = [];
  const keep = (n: ScaleDownNode, code: ScaleDownReasonCode, reason: string) =>
    kept.push({ node: n.node.name, ...(n.group !== undefined ? { group: n.group } : {}), code, reason });

  // 1–2. Candidates and how long each has been one.
  const unneededSince = new Map<string, number>();
  const utils: NodeUtilization[] = [];
  const candidates: Candidate[] = [];
  nodes.forEach((n, i) => {
    const u = nodeUtilization(n.node, n.pods);
    utils.push(u);
    utilization.set(n.node.name, u);
    const e = eligibility(n, u, input.groups);
    if ('code' in e) return void keep(n, e.code, e.reason);
    let since = Math.min(input.unneededSince.get(n.node.name) ?? now, now);
    if (!n.ready && n.readyChangedAt !== undefined) since = Math.min(since, n.readyChangedAt);
    unneededSince.set(n.node.name, since);
    const empty = !n.pods.some((p) => p.action === 'evict');
    candidates.push({
      i,
      name: n.node.name,
      groupId: e.id,
      group: e.group,
      ready: n.ready,
      since,
      empty,
      util: u,
    });
  });

  const removable: Candidate[] = [];
  for (const c of candidates) {
    const wait = c.ready ? c.group.options.scaleDownUnneededTime : c.group.options.scaleDownUnreadyTime;
    const elapsed = now - c.since;
    if (elapsed >= wait) {
      removable.push(c);
      continue;
    }
    const of = `${formatDuration(elapsed)} of ${formatDuration(wait)}`;
    const threshold = c.group.options.scaleDownUtilizationThreshold;
    const what = c.empty
      ? 'no pods to move'
      : `${formatShare(c.util.resource, c.util.value)} < threshold ${threshold}`;
    if (c.ready) keep(nodes[c.i]!, 'unneeded_not_long_enough', `unneeded for ${of} (${what})`);
    else keep(nodes[c.i]!, 'not_ready_not_long_enough', `unneeded (not Ready) for ${of}`);
  }

  const remove: Removal[] = [];
  if (input.cooldown !== undefined) {
    for (const c of removable)
      keep(nodes[c.i]!, 'cooldown', `unneeded long enough, but scale-down is paused: ${input.cooldown}`);
  } else if (removable.length > 0) {
    choose(input, removable, utils, candidates, remove, keep);
  }
  kept.sort((a, b) => cmp(a.node, b.node));
  return { unneededSince, remove, kept, utilization };
}

/** Step 3: the removals of this loop, in order, within min sizes and limits. */
function choose(
  input: ScaleDownInput,
  removable: Candidate[],
  utils: readonly NodeUtilization[],
  candidates: readonly Candidate[],
  remove: Removal[],
  keep: (n: ScaleDownNode, code: ScaleDownReasonCode, reason: string) => void,
): void {
  const { nodes, limits } = input;
  removable.sort(
    (a, b) => Number(b.empty) - Number(a.empty) || a.util.value - b.util.value || cmp(a.name, b.name),
  );
  const leaving = nodes.flatMap((n, i) => (n.leaving && n.pods.some((p) => p.action === 'evict') ? [i] : []));
  const pending = input.pending ?? [];
  const dest =
    removable.some((c) => !c.empty) || leaving.length > 0 || pending.length > 0
      ? destinations(nodes, utils, candidates)
      : undefined;
  // Pods about to be scheduled, then pods of removals in progress, go first: the room they take is not
  // there for this loop's removals. One pod at a time, best effort: a pod with no place is the
  // scheduler's or the running drain's matter, not this loop's.
  for (const pod of pending) dest!.place(PENDING, [pod]);
  leaving.sort((a, b) => cmp(nodes[a]!.node.name, nodes[b]!.node.name));
  for (const i of leaving) for (const pod of podsToMove(nodes[i]!.pods)) dest!.place(i, [pod]);
  // Drains in progress count against the per-group limit: one group is not drained many nodes at once.
  const draining = new Map<string, string[]>();
  for (const i of leaving) {
    const g = nodes[i]!.group;
    if (g !== undefined) draining.set(g, [...(draining.get(g) ?? []), nodes[i]!.node.name]);
  }
  let inFlight = 0;
  for (const g of input.groups.values()) inFlight += g.pendingRemovals;
  const perGroup = limits.maxNonEmptyPerGroup ?? 1;
  const chosen = new Map<string, { all: number; drained: string[] }>();
  let total = 0;
  let empties = 0;
  for (const c of removable) {
    const n = nodes[c.i]!;
    const g = c.group;
    const mine = chosen.get(c.groupId) ?? { all: 0, drained: [] };
    const received = dest?.receivedFrom(c.i);
    if (g.target - g.pendingRemovals - mine.all - 1 < g.minSize) {
      keep(
        n,
        'min_size',
        `node group ${c.groupId} is at its min size ${g.minSize} (target ${g.target}, ` +
          `${g.pendingRemovals} removal(s) in flight, ${mine.all} chosen in this loop)`,
      );
    } else if (received) {
      const from = [...received].filter((j) => j !== PENDING).map((j) => nodes[j]!.node.name);
      const what = [
        ...(received.has(PENDING) ? ['pending pods the scheduler will place'] : []),
        ...(from.length ? [`pods of ${from.sort().join(', ')}, being removed`] : []),
      ];
      keep(n, 'received_pods', `takes ${what.join(' and ')}`);
    } else if (total >= limits.maxTotal - inFlight) {
      keep(
        n,
        'limit',
        `max ${limits.maxTotal} node removals in parallel reached ` +
          `(${inFlight} in flight, ${total} chosen in this loop)`,
      );
    } else if (c.empty && empties >= limits.maxEmptyBulkDelete) {
      keep(n, 'limit', `max ${limits.maxEmptyBulkDelete} empty node removals per loop reached`);
    } else if (!c.empty && mine.drained.length + (draining.get(c.groupId)?.length ?? 0) >= perGroup) {
      const busy = [...(draining.get(c.groupId) ?? []), ...mine.drained];
      keep(
        n,
        'limit',
        `max ${perGroup} non-empty node removal(s) per node group at a time reached ` +
          `(${busy.join(', ')} in ${c.groupId})`,
      );
    } else {
      let destinations: Removal['destinations'] = [];
      if (!c.empty) {
        const placed = dest!.place(c.i, podsToMove(n.pods));
        if (!placed.ok) {
          keep(n, 'no_place_for_pods', `pod ${podName(placed.pod)} cannot move: ${placed.why}`);
          continue;
        }
        destinations = placed.moves.map((m) => ({ pod: podName(m.pod), to: nodes[m.to]!.node.name }));
        mine.drained.push(c.name);
      } else empties++;
      dest?.exclude(c.i, 'removed');
      mine.all++;
      chosen.set(c.groupId, mine);
      total++;
      remove.push({
        node: c.name,
        group: c.groupId,
        empty: c.empty,
        utilization: c.util.value,
        destinations,
      });
    }
  }
}

/**
 * Where evicted pods may go: every node but those not Ready, owned by another operation or not fully
 * readable (cordoned ones are left to fits()). Tried fullest first, so pods pack onto busy nodes, with this loop's candidates
 * last, so moving pods spoils as few other removals as possible; ties by name.
 */
function destinations(
  nodes: readonly ScaleDownNode[],
  utils: readonly NodeUtilization[],
  candidates: readonly Candidate[],
): Destinations {
  const candidate = new Uint8Array(nodes.length);
  for (const c of candidates) candidate[c.i] = 1;
  // A node with an unreadable pod: the room that pod takes is unknown, so none is counted on.
  const excluded = nodes.map((n): Exclusion | undefined =>
    n.owner !== undefined
      ? 'owned'
      : n.unremovable?.code === 'unreadable'
        ? 'unreadable'
        : n.ready
          ? undefined
          : 'not-ready',
  );
  const order = [...nodes.keys()].sort(
    (a, b) =>
      candidate[a]! - candidate[b]! ||
      utils[b]!.value - utils[a]!.value ||
      cmp(nodes[a]!.node.name, nodes[b]!.node.name),
  );
  return new Destinations(nodes, Int32Array.from(order), excluded);
}
