// The scale-up decision, pure: pending pods that fit nowhere today are packed onto existing nodes' free
// room, then onto nodes already being provisioned (no double counting), then, group by group, onto new
// nodes of each group's template; the expander picks among the groups that could take them, limits
// (group max, total nodes, total cores and memory) cap it, and every pod left behind gets a reason per
// group, which is what `NotTriggerScaleUp` events and `explain` print.
import {
  estimate,
  openNode,
  place,
  podClasses,
  roomForClass,
  sortedEntries,
  type Estimate,
  type OpenNode,
  type PodClass,
} from './estimator.ts';
import { chooseOption, type ExpanderName, type Option, type Priorities } from './expander.ts';
import type { HostPort, Resources, SimNode, SimPod } from './types.ts';

export interface GroupCandidate {
  /** cluster-autoscaler's id: `MachineDeployment/<namespace>/<name>`. */
  id: string;
  minSize: number;
  maxSize: number;
  /** spec.replicas now. */
  target: number;
  /** Replicas whose nodes are not Ready yet: their room is already on its way. */
  upcoming: number;
  /** Allocatable net of the DaemonSet pods a new node would run. */
  template?: SimNode;
  templateError?: string;
  disabled?: string;
  /** Epoch ms; no scale-up before (a recent failure to provision). */
  backoffUntil?: number;
}

export interface ExistingNode {
  node: SimNode;
  used: Resources;
  ports: HostPort[];
}

export interface Limits {
  /** 0: none. */
  maxNodesTotal: number;
  currentNodes: number;
  /** Millicores; 0: none. */
  maxCpuTotal: number;
  currentCpu: number;
  /** Milli-bytes; 0: none. */
  maxMemoryTotal: number;
  currentMemory: number;
}

export interface PlanInput {
  pending: readonly SimPod[];
  nodes: readonly ExistingNode[];
  groups: readonly GroupCandidate[];
  limits: Limits;
  expander: ExpanderName;
  priorities?: Priorities;
  random: () => number;
  now: number;
  staticFit: (pod: SimPod, node: SimNode) => string | undefined;
}

export interface ScaleUp {
  group: GroupCandidate;
  from: number;
  to: number;
  pods: SimPod[];
  notes: string[];
}

export interface Plan {
  scaleUps: ScaleUp[];
  /** Pods that fit on an existing node, or on one being provisioned: nothing to do for them. */
  waiting: Array<{ pod: SimPod; on: string }>;
  /** Pods no group can take, with each group's reason. */
  noScaleUp: Array<{ pod: SimPod; reasons: Record<string, string> }>;
}

export function planScaleUp(input: PlanInput): Plan {
  const waiting: Plan['waiting'] = [];
  // Everything below works on classes of equivalent pods: 10,000 replicas of 100 Deployments are 100
  // decisions, not 10,000.
  const classes = podClasses(input.pending);
  // Nodes alike in labels, taints and allocatable get one id: static checks and estimates are per id.
  const ids = new Map<string, number>();
  const nodeIds = new Map<SimNode, number>();
  const shapeOf = (n: SimNode): number => {
    let id = nodeIds.get(n);
    if (id === undefined) {
      const labels = sortedEntries(n.labels).filter(([k]) => k !== HOSTNAME);
      const sig = JSON.stringify([labels, n.taints, sortedEntries(n.allocatable), n.unschedulable ?? false]);
      id = ids.get(sig) ?? ids.size;
      ids.set(sig, id);
      nodeIds.set(n, id);
    }
    return id;
  };
  const staticCache = new Map<PodClass, Map<number, string | undefined>>();
  const fitsStatic = (c: PodClass, node: SimNode) => {
    const id = shapeOf(node);
    let m = staticCache.get(c);
    if (!m) staticCache.set(c, (m = new Map()));
    if (!m.has(id)) m.set(id, input.staticFit(c.pod, node));
    return m.get(id);
  };

  // 1–2. Room that exists or is on its way: real nodes first, then upcoming nodes of each group.
  const rooms: Array<{ open: OpenNode; label: string }> = input.nodes
    .filter((n) => !n.node.unschedulable)
    .map((n) => ({
      open: openNode(n.node, n.used, n.ports),
      label: `node ${n.node.name}`,
    }));
  for (const g of input.groups)
    if (g.template)
      for (let i = 0; i < g.upcoming; i++)
        rooms.push({
          open: openNode(g.template),
          label: `a node of ${g.id} being provisioned`,
        });
  for (const c of classes) {
    let i = 0;
    for (const r of rooms) {
      if (i >= c.pods.length) break;
      if (fitsStatic(c, r.open.node) !== undefined) continue;
      const k = Math.min(roomForClass(c, r.open), c.pods.length - i);
      if (k <= 0) continue;
      place(c.pod, r.open, k);
      for (const p of c.pods.slice(i, i + k)) waiting.push({ pod: p, on: r.label });
      i += k;
    }
    c.pods = c.pods.slice(i);
  }

  // 3. New nodes, one group at a time, until no group can take any of what is left.
  const limits = { ...input.limits };
  const targets = new Map(input.groups.map((g) => [g.id, g.target]));
  const scaleUps: ScaleUp[] = [];
  const groupWide = new Map<string, string>(); // group id → why it takes nothing
  // The last estimate of each group that could still grow: where the reasons for what is left come from.
  const last = new Map<string, { est: Estimate; room: { max: number; reason: string } }>();
  const version = new Map<string, number>(classes.map((c) => [c.key, 0]));
  const cache = new Map<string, { est: Estimate; seen: Array<[string, number]> }>();
  for (;;) {
    const live = classes.filter((c) => c.pods.length > 0);
    if (live.length === 0) break;
    const classOf = new Map(live.map((c) => [c.pod, c]));
    const options: Option[] = [];
    for (const g of input.groups) {
      const target = targets.get(g.id)!;
      const blocked = groupBlock(g, input.now, target);
      const room = blocked ? { max: 0, reason: blocked } : newNodeRoom(g, target, limits);
      if (room.max === 0) {
        groupWide.set(g.id, room.reason);
        last.delete(g.id);
        continue;
      }
      groupWide.delete(g.id);
      // The estimate depends only on the template's shape, the node budget and the pods left, so groups
      // that differ by name only (a fleet's usual layout) share one.
      const sig = `${shapeOf(g.template!)}|${room.max}`;
      const hit = cache.get(sig);
      const valid = hit !== undefined && hit.seen.every(([k, v]) => version.get(k) === v);
      const est = valid
        ? hit.est
        : estimate(live, g.template!, room.max, (pod, node) => {
            const c = classOf.get(pod);
            return c ? fitsStatic(c, node) : input.staticFit(pod, node);
          });
      if (!valid) cache.set(sig, { est, seen: est.packed.map((k) => [k, version.get(k)!]) });
      last.set(g.id, { est, room });
      if (est.nodes > 0)
        options.push({
          id: g.id,
          nodes: est.nodes,
          get placed() {
            return est.placed;
          },
          placedCount: est.placedCount,
          requested: est.requested,
          template: g.template!,
        });
    }
    const { option, notes } = chooseOption(input.expander, options, input.random, input.priorities);
    if (!option) break;
    const g = input.groups.find((x) => x.id === option.id)!;
    const from = targets.get(g.id)!;
    scaleUps.push({ group: g, from, to: from + option.nodes, pods: [...option.placed], notes });
    targets.set(g.id, from + option.nodes);
    limits.currentNodes += option.nodes;
    limits.currentCpu += (g.template!.allocatable['cpu'] ?? 0) * option.nodes;
    limits.currentMemory += (g.template!.allocatable['memory'] ?? 0) * option.nodes;
    const done = new Set(option.placed.map((p) => p.uid));
    for (const c of live) {
      if (!done.has(c.pods[0]!.uid) && !done.has(c.pods.at(-1)!.uid)) continue;
      c.pods = c.pods.filter((p) => !done.has(p.uid));
      version.set(c.key, version.get(c.key)! + 1);
    }
  }
  const perClass = new Map<string, Record<string, string>>(); // class key → group id → why not
  for (const [id, { est, room }] of last)
    for (const l of est.left) {
      const r = perClass.get(l.key) ?? {};
      r[id] =
        l.reason === `would need more than ${room.max} new node(s)`
          ? `${l.reason} (${room.reason})`
          : l.reason;
      perClass.set(l.key, r);
    }
  const noScaleUp: Plan['noScaleUp'] = [];
  for (const c of classes) {
    if (c.pods.length === 0) continue;
    const reasons: Record<string, string> = { ...Object.fromEntries(groupWide), ...perClass.get(c.key) };
    for (const pod of c.pods) noScaleUp.push({ pod, reasons: { ...reasons } });
  }
  return { scaleUps, waiting, noScaleUp };
}

// Every node has its own hostname label; pods rarely select on it, so it does not split shapes.
const HOSTNAME = 'kubernetes.io/hostname';

function groupBlock(g: GroupCandidate, now: number, target: number): string | undefined {
  if (g.disabled) return g.disabled;
  if (g.templateError) return g.templateError;
  if (!g.template) return 'no template node';
  if (g.backoffUntil !== undefined && g.backoffUntil > now)
    return `in back-off after a failed scale-up until ${new Date(g.backoffUntil).toISOString()}`;
  if (target >= g.maxSize) return `at its max size ${g.maxSize}`;
  return undefined;
}

/** How many nodes the group may still add, and which limit binds. */
function newNodeRoom(g: GroupCandidate, target: number, l: Limits): { max: number; reason: string } {
  let max = g.maxSize - target;
  let reason = `max size ${g.maxSize}`;
  const cap = (n: number, why: string) => {
    if (n < max) {
      max = Math.max(0, n);
      reason = why;
    }
  };
  if (l.maxNodesTotal > 0)
    cap(l.maxNodesTotal - l.currentNodes, `max nodes total ${l.maxNodesTotal} reached`);
  const cpu = g.template!.allocatable['cpu'] ?? 0;
  const mem = g.template!.allocatable['memory'] ?? 0;
  if (l.maxCpuTotal > 0 && cpu > 0)
    cap(Math.floor((l.maxCpuTotal - l.currentCpu) / cpu), 'max cpu total reached');
  if (l.maxMemoryTotal > 0 && mem > 0)
    cap(Math.floor((l.maxMemoryTotal - l.currentMemory) / mem), 'max memory total reached');
  return { max, reason };
}
