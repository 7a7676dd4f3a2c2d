// The scale-up decision, pure: pending pods that fit nowhere today are packed onto existing nodes' free
// room, then onto nodes already being provisioned (no double counting), then, group by group, onto new
// nodes of each group's template; the expander picks among the groups that could take them, limits
// (group max, total nodes, total cores and memory) cap it, and every pod left behind gets a reason per
// group, which is what `NotTriggerScaleUp` events and `explain` print.
import { estimate, openNode, place, podClasses, roomFor, type OpenNode } from './estimator.ts';
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
  let pending = [...input.pending];

  // 1–2. Room that exists or is on its way: real nodes first, then upcoming nodes of each group.
  const rooms: Array<{ open: OpenNode; label: string }> = input.nodes
    .filter((n) => !n.node.unschedulable)
    .map((n) => ({ open: openNode(n.node, n.used, n.ports), label: `node ${n.node.name}` }));
  for (const g of input.groups)
    if (g.template)
      for (let i = 0; i < g.upcoming; i++)
        rooms.push({ open: openNode(g.template), label: `a node of ${g.id} being provisioned` });
  pending = pending.filter((p) => {
    const r = rooms.find((x) => !input.staticFit(p, x.open.node) && roomFor(p, x.open) > 0);
    if (!r) return true;
    place(p, r.open, 1);
    waiting.push({ pod: p, on: r.label });
    return false;
  });

  // 3. New nodes, one group at a time, until no group can take any of what is left.
  const limits = { ...input.limits };
  const targets = new Map(input.groups.map((g) => [g.id, g.target]));
  const scaleUps: ScaleUp[] = [];
  const reasons = new Map<string, Record<string, string>>(); // pod uid → group id → reason
  const why = (p: SimPod, id: string, reason: string) => {
    const r = reasons.get(p.uid) ?? {};
    r[id] = reason;
    reasons.set(p.uid, r);
  };
  for (;;) {
    if (pending.length === 0) break;
    const options: Option[] = [];
    const classes = podClasses(pending);
    for (const g of input.groups) {
      const blocked = groupBlock(g, input.now, targets.get(g.id)!);
      if (blocked) {
        for (const p of pending) why(p, g.id, blocked);
        continue;
      }
      const room = newNodeRoom(g, targets.get(g.id)!, limits);
      if (room.max === 0) {
        for (const p of pending) why(p, g.id, room.reason);
        continue;
      }
      const e = estimate(classes, g.template!, room.max, input.staticFit);
      for (const l of e.left)
        for (const p of l.pods)
          why(
            p,
            g.id,
            l.reason === `would need more than ${room.max} new node(s)`
              ? `${l.reason} (${room.reason})`
              : l.reason,
          );
      if (e.nodes > 0) options.push({ id: g.id, nodes: e.nodes, placed: e.placed, template: g.template! });
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
    pending = pending.filter((p) => !done.has(p.uid));
    for (const p of option.placed) reasons.delete(p.uid);
  }
  return {
    scaleUps,
    waiting,
    noScaleUp: pending.map((pod) => ({ pod, reasons: reasons.get(pod.uid) ?? {} })),
  };
}

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
