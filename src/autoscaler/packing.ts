// The packing behind estimate() and planScaleUp, over resource vectors: planScaleUp packs a thousand
// times per decision, and string-keyed records in the hot loop cost more than the packing itself. Every
// operation mirrors estimator.ts's roomForClass/place, in the same order, so the numbers are the same
// doubles and the plans the same.
import type { PodClass } from './estimator.ts';
import { hostPortConflicts } from './predicates.ts';
import type { HostPort, Resources, SimNode, SimPod } from './types.ts';

export const POD_SLOT = 1000; // one pod, in milli-units of the `pods` resource

function sizeScore(pod: SimPod, template: SimNode): number {
  const share = (r: string) =>
    template.allocatable[r] ? (pod.requests[r] ?? 0) / template.allocatable[r]! : 0;
  return share('cpu') + share('memory');
}

function tooBig(pod: SimPod, template: SimNode): string {
  const over = Object.entries(pod.requests)
    .filter(([r, v]) => v > 0 && v > (template.allocatable[r] ?? 0))
    .map(([r]) => r);
  if (over.length) return `Insufficient ${over.join(', ')} on a new node`;
  // An empty template has no port in use, so a pod slot is the usual cause; ports only when the pod's
  // own containers claim one port twice.
  if ((template.allocatable['pods'] ?? 0) < POD_SLOT) return 'no pod slot left on a new node';
  return pod.hostPorts.length ? 'host ports taken' : 'no pod slot left on a new node';
}

/** Resource names as positions in a node's free vector; `pods` is always 0. */
export interface ResourceIndex {
  names: string[];
  of: Map<string, number>;
}

/** The index of every resource named in `records` (allocatable, used, requests). */
export function resourceIndex(records: Iterable<Readonly<Record<string, unknown>>>): ResourceIndex {
  const ix: ResourceIndex = { names: ['pods'], of: new Map([['pods', 0]]) };
  for (const r of records)
    for (const k of Object.keys(r))
      if (!ix.of.has(k)) {
        ix.of.set(k, ix.names.length);
        ix.names.push(k);
      }
  return ix;
}

/** A class with its requests as vector positions: `reqs` for room, every request for placing. */
export interface VecClass {
  c: PodClass;
  /** Position in the list it was built from. */
  n: number;
  ri: number[];
  rv: number[];
  pi: number[];
  pv: number[];
  /** The reqs as a whole vector; -Infinity where not requested (no bound, even on a negative free). */
  need: Float64Array;
}

export function vectorize(classes: readonly PodClass[], ix: ResourceIndex): VecClass[] {
  const at = (r: string) => ix.of.get(r)!;
  const pos = (e: Array<[string, number]>) => e.map(([r]) => at(r));
  const amount = (e: Array<[string, number]>) => e.map(([, v]) => v);
  return classes.map((c, n) => {
    const all = Object.entries(c.pod.requests);
    const need = new Float64Array(ix.names.length).fill(-Infinity);
    for (const [r, v] of c.reqs) need[at(r)] = v;
    return { c, n, ri: pos(c.reqs), rv: amount(c.reqs), pi: pos(all), pv: amount(all), need };
  });
}

/** openNode's `free` as a vector. */
export function freeVector(ix: ResourceIndex, node: SimNode, used: Resources = {}): Float64Array {
  const f = new Float64Array(ix.names.length);
  for (const [r, v] of Object.entries(node.allocatable)) f[ix.of.get(r)!] = v ?? 0;
  for (const [r, v] of Object.entries(used)) f[ix.of.get(r)!] = f[ix.of.get(r)!]! - v;
  return f;
}

export const NO_PORTS: readonly HostPort[] = [];

/** roomForClass on the node whose free vector starts at `at`. */
export function roomIn(v: VecClass, free: Float64Array, at: number, ports: readonly HostPort[]): number {
  // Most nodes tried have no room: comparisons settle that without dividing. With a pod slot free, the
  // pod-slot room below is at least 1, which is what `short` assumes.
  if (free[at]! >= POD_SLOT && short(v, free, at)) return 0;
  let room = Math.floor(free[at]! / POD_SLOT);
  for (let i = 0; i < v.ri.length && room > 0; i++)
    room = Math.min(room, Math.floor(free[at + v.ri[i]!]! / v.rv[i]!));
  const hp = v.c.pod.hostPorts;
  if (room > 0 && hp.length > 0) room = hp.some((p) => hostPortConflicts(p, ports)) ? 0 : 1;
  return Math.max(0, room);
}

/**
 * Whether a request exceeds what is free, reached (in request order) after requests that each leave room
 * for at least one pod: roomForClass's loop then ends at that request with a room of at most 0, i.e. 0.
 * Anything not finite stops the shortcut, since a division may give NaN there.
 */
function short(v: VecClass, free: Float64Array, at: number): boolean {
  for (let i = 0; i < v.ri.length; i++) {
    const f = free[at + v.ri[i]!]!;
    const r = v.rv[i]!;
    if (f < r && r < Infinity) return true;
    if (!(f >= r && f < Infinity)) return false;
  }
  return false;
}

/** place's resource part; the caller adds host ports when `count > 0`. */
export function placeIn(v: VecClass, free: Float64Array, at: number, count: number): void {
  free[at] = free[at]! - POD_SLOT * count;
  for (let i = 0; i < v.pi.length; i++) free[at + v.pi[i]!] = free[at + v.pi[i]!]! - v.pv[i]! * count;
}

/** What depends on the template only, computed once per decision rather than once per estimate. */
export interface TemplateView {
  template: SimNode;
  names: readonly string[];
  empty: Float64Array;
  score: number[];
  perNode: number[];
  tooBig: Array<string | undefined>;
  /** Every class, largest first; unset when a NaN score makes the order depend on which classes remain. */
  order?: VecClass[];
  /** Free vectors of the nodes being opened, reused from one packing to the next. */
  buf: Float64Array;
}

export function templateView(ix: ResourceIndex, template: SimNode, all: readonly VecClass[]): TemplateView {
  const empty = freeVector(ix, template);
  const view: TemplateView = {
    template,
    names: ix.names,
    empty,
    score: all.map((v) => sizeScore(v.c.pod, template)),
    perNode: all.map((v) => roomIn(v, empty, 0, NO_PORTS)),
    tooBig: [],
    buf: new Float64Array(empty.length * 64),
  };
  if (!view.score.some(Number.isNaN)) view.order = ffdOrder(view, all);
  return view;
}

/** First-fit decreasing order: larger share of the template first, then by key. */
export function ffdOrder(view: TemplateView, list: readonly VecClass[]): VecClass[] {
  return list
    .map((v) => ({ v, score: view.score[v.n]! }))
    .sort((a, b) => b.score - a.score || (a.v.c.key < b.v.c.key ? -1 : 1))
    .map((x) => x.v);
}

/** An estimate as (class, count) pairs and positions: pod lists are built only when read. */
export interface Packing {
  nodes: number;
  taken: VecClass[];
  counts: number[];
  placedCount: number;
  requested: Record<string, number>;
  /** `from`: the class's first pod left over, or -1 when the class was excluded outright. */
  left: Array<{ v: VecClass; from: number; reason: string }>;
  packed: VecClass[];
}

export const placedPods = (p: Packing): SimPod[] => p.taken.flatMap((v, i) => v.c.pods.slice(0, p.counts[i]));

/** The estimate's loop; `skipEmpty` leaves out classes with no pod left, as if they were not passed. */
export function pack(
  view: TemplateView,
  order: readonly VecClass[],
  maxNodes: number,
  why: (v: VecClass) => string | undefined,
  skipEmpty: boolean,
): Packing {
  const w = view.empty.length;
  const ports: HostPort[][] = [];
  const acc = new Float64Array(w);
  const accOrder: number[] = [];
  const out: Packing = {
    nodes: 0,
    placedCount: 0,
    requested: {},
    taken: [],
    counts: [],
    left: [],
    packed: [],
  };
  const capped = `would need more than ${maxNodes} new node(s)`;
  const put = (v: VecClass, j: number, k: number) => {
    placeIn(v, view.buf, j * w, k);
    if (k > 0 && v.c.pod.hostPorts.length > 0) (ports[j] ??= []).push(...v.c.pod.hostPorts);
    for (let q = 0; q < v.ri.length; q++) {
      const r = v.ri[q]!;
      if (!accOrder.includes(r)) accOrder.push(r);
      acc[r] = acc[r]! + v.rv[q]! * k;
    }
  };
  const least = leastAhead(view, order, skipEmpty);
  // Open nodes that may still take a pod, in opening order (first fit walks them in that order).
  let alive = new Int32Array(view.buf.length / w);
  let nAlive = 0;
  let open = 0;
  for (let p = 0; p < order.length; p++) {
    const v = order[p]!;
    const len = v.c.pods.length;
    if (skipEmpty && len === 0) continue;
    const reason = why(v);
    if (reason) {
      out.left.push({ v, from: -1, reason });
      continue;
    }
    const perNode = view.perNode[v.n]!;
    if (perNode === 0) {
      out.left.push({ v, from: -1, reason: (view.tooBig[v.n] ??= tooBig(v.c.pod, view.template)) });
      continue;
    }
    out.packed.push(v);
    let i = 0;
    // First fit into nodes already opened by larger classes.
    let kept = 0;
    let a = 0;
    for (; a < nAlive && i < len; a++) {
      const j = alive[a]!;
      if (starved(view.buf, j * w, least, p * w, w)) continue;
      alive[kept++] = j;
      const k = Math.min(roomIn(v, view.buf, j * w, ports[j] ?? NO_PORTS), len - i);
      if (k > 0) {
        put(v, j, k);
        i += k;
      }
    }
    while (a < nAlive) alive[kept++] = alive[a++]!;
    nAlive = kept;
    while (i < len && open < maxNodes) {
      if ((open + 1) * w > view.buf.length) {
        const grown = new Float64Array(view.buf.length * 2);
        grown.set(view.buf);
        view.buf = grown;
        const more = new Int32Array(grown.length / w);
        more.set(alive);
        alive = more;
      }
      for (let r = 0; r < w; r++) view.buf[open * w + r] = view.empty[r]!;
      const k = Math.min(perNode, len - i);
      put(v, open, k);
      alive[nAlive++] = open++;
      i += k;
    }
    if (i > 0) {
      out.taken.push(v);
      out.counts.push(i);
      out.placedCount += i;
    }
    if (i < len) out.left.push({ v, from: i, reason: capped });
  }
  out.nodes = open;
  for (const r of accOrder) out.requested[view.names[r]!] = acc[r]!;
  return out;
}

/**
 * Per position in `order`, the least each resource is asked for by the classes packed from there on (the
 * ones a static check will exclude count too: that only lowers it). A node with less free, or with no pod
 * slot, gets 0 (or NaN) from roomForClass for every class left, so first fit may drop it for good.
 */
function leastAhead(view: TemplateView, order: readonly VecClass[], skipEmpty: boolean): Float64Array {
  const w = view.empty.length;
  const least = new Float64Array((order.length + 1) * w);
  for (let r = 0; r < w; r++) least[order.length * w + r] = Infinity;
  for (let p = order.length - 1; p >= 0; p--) {
    const v = order[p]!;
    const counts = !(skipEmpty && v.c.pods.length === 0) && view.perNode[v.n] !== 0;
    for (let r = 0; r < w; r++) {
      const after = least[(p + 1) * w + r]!;
      least[p * w + r] = counts ? Math.min(after, v.need[r]!) : after;
    }
  }
  return least;
}

function starved(free: Float64Array, at: number, least: Float64Array, from: number, w: number): boolean {
  if (free[at]! < POD_SLOT) return true;
  for (let r = 1; r < w; r++) if (free[at + r]! < least[from + r]!) return true;
  return false;
}
