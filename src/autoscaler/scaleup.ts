// The scale-up decision, pure: pending pods that fit nowhere today are packed onto existing nodes' free
// room, then onto nodes already being provisioned (no double counting), then, group by group, onto new
// nodes of each group's template; the expander picks among the groups that could take them, limits
// (group max, total nodes, total cores and memory) cap it, and every pod left behind gets a reason per
// group, which is what `NotTriggerScaleUp` events and `explain` print.
import { podClasses, sortedEntries, type PodClass } from './estimator.ts';
import {
  ffdOrder,
  freeVector,
  NO_PORTS,
  pack,
  placedPods,
  placeIn,
  resourceIndex,
  roomIn,
  templateView,
  vectorize,
  type Packing,
  type ResourceIndex,
  type TemplateView,
  type VecClass,
} from './packing.ts';
import { HOSTNAME_LABEL, namesNodes } from './predicates.ts';
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
  const shapes = shapeTable(input.staticFit);
  const ix = resourceIndex([
    ...classes.map((c) => c.pod.requests),
    ...input.nodes.flatMap((n) => [n.node.allocatable, n.used]),
    ...input.groups.flatMap((g) => (g.template ? [g.template.allocatable] : [])),
  ]);
  const vecs = vectorize(classes, ix);
  // 1–2. Room that exists or is on its way: real nodes first, then upcoming nodes of each group.
  fillRooms(input, ix, vecs, shapes, waiting);
  // 3. New nodes, one group at a time, until no group can take any of what is left.
  const { scaleUps, last, groupWide } = addNodes(input, ix, vecs, shapes);
  return { scaleUps, waiting, noScaleUp: leftBehind(classes, last, groupWide) };
}

const UNSEEN = Symbol('unseen');

/** Nodes alike in labels, taints and allocatable get one id: static checks and estimates are per id. */
interface Shapes {
  of(n: SimNode): number;
  /** staticFit, asked once per class and shape: the first node of a shape seen answers for all. */
  fits(c: PodClass, n: SimNode): string | undefined;
}

function shapeTable(staticFit: PlanInput['staticFit']): Shapes {
  const ids = new Map<string, number>();
  const nodeIds = new Map<SimNode, number>();
  const answers = new Map<PodClass, Map<number, string | undefined>>();
  const of = (n: SimNode): number => {
    let id = nodeIds.get(n);
    if (id === undefined) {
      const labels = sortedEntries(n.labels).filter(([k]) => k !== HOSTNAME_LABEL);
      const sig = JSON.stringify([labels, n.taints, sortedEntries(n.allocatable), n.unschedulable ?? false]);
      id = ids.get(sig) ?? ids.size;
      ids.set(sig, id);
      nodeIds.set(n, id);
    }
    return id;
  };
  const fits = (c: PodClass, node: SimNode) => {
    // A pod pinned to a node by name: its look-alikes must not answer for it.
    if (namesNodes(c.pod)) return staticFit(c.pod, node);
    const id = of(node);
    let m = answers.get(c);
    if (!m) answers.set(c, (m = new Map()));
    if (!m.has(id)) m.set(id, staticFit(c.pod, node));
    return m.get(id);
  };
  return { of, fits };
}

/** Nodes that exist or are being provisioned, as free vectors (stride `w`) with their shape ids. */
interface Rooms {
  list: Array<{ node: SimNode; label: string; ports: HostPort[] }>;
  free: Float64Array;
  w: number;
  shapeIds: number[];
  nShapes: number;
}

/**
 * Steps 1–2: each class, in order, first-fits into existing nodes and then nodes being provisioned; the pods
 * placed wait there, and leave their class.
 */
function fillRooms(
  input: PlanInput,
  ix: ResourceIndex,
  vecs: readonly VecClass[],
  shapes: Shapes,
  waiting: Plan['waiting'],
): void {
  const list: Rooms['list'] = [];
  const vectors: Float64Array[] = [];
  for (const n of input.nodes)
    if (!n.node.unschedulable) {
      list.push({ node: n.node, label: `node ${n.node.name}`, ports: [...n.ports] });
      vectors.push(freeVector(ix, n.node, n.used));
    }
  for (const g of input.groups)
    if (g.template)
      for (let i = 0; i < g.upcoming; i++) {
        list.push({ node: g.template, label: `a node of ${g.id} being provisioned`, ports: [] });
        vectors.push(freeVector(ix, g.template));
      }
  const w = ix.names.length;
  const free = new Float64Array(list.length * w);
  vectors.forEach((f, j) => free.set(f, j * w));
  const shapeIds = list.map((r) => shapes.of(r.node));
  // A loop, not Math.max(...ids): spreading 100k+ arguments overflows the stack.
  const nShapes = shapeIds.reduce((m, id) => Math.max(m, id), 0) + 1;
  const rooms: Rooms = { list, free, w, shapeIds, nShapes };
  for (const v of vecs) v.c.pods = v.c.pods.slice(fillFrom(v, rooms, shapes, waiting));
}

/** First fit of one class into the rooms; how many of its pods were placed. */
function fillFrom(v: VecClass, rooms: Rooms, shapes: Shapes, waiting: Plan['waiting']): number {
  const { list, free, w, shapeIds } = rooms;
  const c = v.c;
  // shapes.fits's answers for this class by shape id, without its map lookups on every room.
  const fit: Array<string | undefined | typeof UNSEEN> = new Array(rooms.nShapes).fill(UNSEEN);
  const named = namesNodes(c.pod);
  let i = 0;
  for (let j = 0; j < list.length; j++) {
    if (i >= c.pods.length) break;
    const r = list[j]!;
    let why = named ? shapes.fits(c, r.node) : fit[shapeIds[j]!];
    if (why === UNSEEN) why = fit[shapeIds[j]!] = shapes.fits(c, r.node);
    if (why !== undefined) continue;
    const k = Math.min(roomIn(v, free, j * w, r.ports.length ? r.ports : NO_PORTS), c.pods.length - i);
    if (k <= 0) continue;
    placeIn(v, free, j * w, k);
    if (k > 0) r.ports.push(...c.pod.hostPorts);
    for (let q = i; q < i + k; q++) waiting.push({ pod: c.pods[q]!, on: r.label });
    i += k;
  }
  return i;
}

type Room = { max: number; reason: string };

/** Step 3: one scale-up per round, the expander's pick among the groups' estimates, until none helps. */
function addNodes(input: PlanInput, ix: ResourceIndex, vecs: readonly VecClass[], shapes: Shapes) {
  const limits = { ...input.limits };
  const targets = new Map(input.groups.map((g) => [g.id, g.target]));
  const scaleUps: ScaleUp[] = [];
  const groupWide = new Map<string, string>(); // group id → why it takes nothing
  // The last estimate of each group that could still grow: where the reasons for what is left come from.
  const last = new Map<string, { est: Packing; room: Room }>();
  const estimates = estimateCache(ix, vecs, shapes);
  const uniqueUids = new Set(input.pending.map((p) => p.uid)).size === input.pending.length;
  for (;;) {
    const live = vecs.filter((v) => v.c.pods.length > 0);
    if (live.length === 0) break;
    const options: Option[] = [];
    for (const g of input.groups) {
      const target = targets.get(g.id)!;
      const blocked = groupBlock(g, input.now, target)?.reason;
      const room = blocked ? { max: 0, reason: blocked } : newNodeRoom(g, target, limits);
      if (room.max === 0) {
        groupWide.set(g.id, room.reason);
        last.delete(g.id);
        continue;
      }
      groupWide.delete(g.id);
      const est = estimates.get(g.template!, room.max, live);
      last.set(g.id, { est, room });
      if (est.nodes > 0) options.push(new PackedOption(g.id, g.template!, est));
    }
    const chosen = chooseOption(input.expander, options, input.random, input.priorities);
    const option = chosen.option as PackedOption | undefined;
    if (!option) break;
    const g = input.groups.find((x) => x.id === option.id)!;
    const from = targets.get(g.id)!;
    const placed = option.placed;
    scaleUps.push({ group: g, from, to: from + option.nodes, pods: [...placed], notes: chosen.notes });
    targets.set(g.id, from + option.nodes);
    limits.currentNodes += option.nodes;
    limits.currentCpu += (g.template!.allocatable['cpu'] ?? 0) * option.nodes;
    limits.currentMemory += (g.template!.allocatable['memory'] ?? 0) * option.nodes;
    // The placed pods leave their classes. They are each class's first ones, so with unique uids that is
    // a slice; otherwise every pod sharing a placed uid goes, as it always did.
    if (uniqueUids)
      option.est.taken.forEach((v, i) => {
        v.c.pods = v.c.pods.slice(option.est.counts[i]);
        estimates.changed(v);
      });
    else {
      const done = new Set(placed.map((p) => p.uid));
      for (const v of live) {
        const c = v.c;
        if (!done.has(c.pods[0]!.uid) && !done.has(c.pods.at(-1)!.uid)) continue;
        c.pods = c.pods.filter((p) => !done.has(p.uid));
        estimates.changed(v);
      }
    }
  }
  return { scaleUps, last, groupWide };
}

/**
 * Estimates by template shape and node budget: groups that differ by name only (a fleet's usual layout)
 * share one, and one stays valid while the classes it packed keep their pods. What depends on the
 * template alone (sizes, order, static fit) is worked out once per shape.
 */
function estimateCache(ix: ResourceIndex, vecs: readonly VecClass[], shapes: Shapes) {
  const version = new Int32Array(vecs.length);
  const cache = new Map<string, { est: Packing; seen: Int32Array }>();
  const views = new Map<
    number | SimNode,
    { view: TemplateView; why: Array<string | undefined | typeof UNSEEN> }
  >();
  const current = (seen: Int32Array) => {
    for (let i = 0; i < seen.length; i += 2) if (version[seen[i]!] !== seen[i + 1]) return false;
    return true;
  };
  const compute = (template: SimNode, shape: number, max: number, live: VecClass[]) => {
    // The shape's JSON prints NaN and ±Infinity alike: a template with such amounts gets its own view.
    const key = Object.values(template.allocatable).every(Number.isFinite) ? shape : template;
    let t = views.get(key);
    if (!t) views.set(key, (t = { view: templateView(ix, template, vecs), why: vecs.map(() => UNSEEN) }));
    const why = t.why;
    const fit = (v: VecClass) => {
      const r = why[v.n];
      return r !== UNSEEN ? r : (why[v.n] = shapes.fits(v.c, template));
    };
    return pack(t.view, t.view.order ?? ffdOrder(t.view, live), max, fit, true);
  };
  return {
    get(template: SimNode, max: number, live: VecClass[]): Packing {
      const shape = shapes.of(template);
      const sig = `${shape}|${max}`;
      const hit = cache.get(sig);
      if (hit !== undefined && current(hit.seen)) return hit.est;
      const est = compute(template, shape, max, live);
      const seen = new Int32Array(est.packed.length * 2);
      est.packed.forEach((v, i) => ((seen[2 * i] = v.n), (seen[2 * i + 1] = version[v.n]!)));
      cache.set(sig, { est, seen });
      return est;
    },
    /** `v` lost pods: estimates that packed it are stale. */
    changed(v: VecClass) {
      version[v.n]!++;
    },
  };
}

/** An option whose pod list is built only if it is chosen: the expanders read counts and sums. */
class PackedOption implements Option {
  id: string;
  nodes: number;
  placedCount: number;
  requested: Record<string, number>;
  template: SimNode;
  est: Packing;
  constructor(id: string, template: SimNode, est: Packing) {
    this.id = id;
    this.nodes = est.nodes;
    this.placedCount = est.placedCount;
    this.requested = est.requested;
    this.template = template;
    this.est = est;
  }
  get placed(): SimPod[] {
    return placedPods(this.est);
  }
}

/** Every pod still pending, with each group's reason: group-wide ones, then the last estimate's. */
function leftBehind(
  classes: readonly PodClass[],
  last: ReadonlyMap<string, { est: Packing; room: Room }>,
  groupWide: ReadonlyMap<string, string>,
): Plan['noScaleUp'] {
  const perClass = new Map<string, Record<string, string>>(); // class key → group id → why not
  for (const [id, { est, room }] of last)
    for (const l of est.left) {
      const r = perClass.get(l.v.c.key) ?? {};
      r[id] =
        l.reason === `would need more than ${room.max} new node(s)`
          ? `${l.reason} (${room.reason})`
          : l.reason;
      perClass.set(l.v.c.key, r);
    }
  const noScaleUp: Plan['noScaleUp'] = [];
  for (const c of classes) {
    if (c.pods.length === 0) continue;
    const reasons: Record<string, string> = { ...Object.fromEntries(groupWide), ...perClass.get(c.key) };
    for (const pod of c.pods) noScaleUp.push({ pod, reasons: { ...reasons } });
  }
  return noScaleUp;
}

export interface GroupBlock {
  kind: 'disabled' | 'no-template' | 'backoff' | 'at-max';
  reason: string;
}

/**
 * Why the group can take no new node now, checked in this order; undefined when it can. `templates:
 * false` leaves the template out (a sizes-only look has not built it): explain and /status use this too.
 */
export function groupBlock(
  g: GroupCandidate,
  now: number,
  target: number,
  templates = true,
): GroupBlock | undefined {
  if (g.disabled) return { kind: 'disabled', reason: g.disabled };
  if (templates && g.templateError) return { kind: 'no-template', reason: g.templateError };
  if (templates && !g.template) return { kind: 'no-template', reason: 'no template node' };
  if (g.backoffUntil !== undefined && g.backoffUntil > now)
    return {
      kind: 'backoff',
      reason: `in back-off after a failed scale-up until ${new Date(g.backoffUntil).toISOString()}`,
    };
  if (target >= g.maxSize) return { kind: 'at-max', reason: `at its max size ${g.maxSize}` };
  return undefined;
}

/** How many nodes the group may still add, and which limit binds. */
function newNodeRoom(g: GroupCandidate, target: number, l: Limits): Room {
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
