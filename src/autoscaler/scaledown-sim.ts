// The removal simulation behind planScaleDown: where the pods of a node about to go would run on the nodes
// that stay. One Destinations per loop, so what earlier removals moved stays on its destinations (the
// cluster as it will be, not as it is) and every later node of the loop sees it.
//
// fits() (kube-scheduler's filters) decides every placement. Ahead of it, per-node vectors of cpu, memory
// and pod slots reject, in a few comparisons, nodes that fits() would reject for room anyway: same sums
// in the same order as NodeUsage, so they never reject a node fits() would take. Then staticFit's answer
// (cordon, taints, selector and affinity), asked once per pod constraints and node shape. NodeUsage is
// built only for nodes that pass both.
import { sortedEntries } from './estimator.ts';
import {
  fits,
  HOSTNAME_LABEL,
  insufficientReason,
  namesNodes,
  NodeUsage,
  REASON_TOO_MANY_PODS,
  staticFit,
} from './predicates.ts';
import type { SimNode, SimPod } from './types.ts';
import type { ClassifiedPod } from './utilization.ts';

/** Why a node takes no pod at all in this loop, whatever the pod. */
export type Exclusion = 'removed' | 'not-ready' | 'owned' | 'unreadable';

const EXCLUDED_TEXT: Record<Exclusion, string> = {
  removed: 'node(s) being removed in this loop',
  'not-ready': 'node(s) not Ready',
  owned: 'node(s) owned by another operation',
  unreadable: 'node(s) with something unreadable (their room is unknown)',
};

export interface DestinationNode {
  node: SimNode;
  pods: readonly ClassifiedPod[];
}

export type Placement =
  { ok: true; moves: Array<{ pod: SimPod; to: number }> } | { ok: false; pod: SimPod; why: string };

const UNSEEN = Symbol('unseen');
type Answer = string | undefined | typeof UNSEEN;

/**
 * staticFit's answers by pod constraints and node shape (labels but the hostname, taints, cordon): a few
 * hundred shapes answer for thousands of nodes. A pod that names nodes (hostname label, matchFields) is
 * asked about each node.
 */
class StaticFits {
  readonly #nodes: readonly DestinationNode[];
  readonly #shape: Int32Array;
  readonly #shapes = new Map<string, number>();
  readonly #answers = new Map<string, Answer[]>();
  readonly #keys = new WeakMap<SimPod, string | null>();

  constructor(nodes: readonly DestinationNode[]) {
    this.#nodes = nodes;
    this.#shape = new Int32Array(nodes.length).fill(-1);
  }

  #shapeOf(j: number): number {
    let id = this.#shape[j]!;
    if (id < 0) {
      const n = this.#nodes[j]!.node;
      const labels = sortedEntries(n.labels).filter(([k]) => k !== HOSTNAME_LABEL);
      const sig = JSON.stringify([labels, n.taints, n.unschedulable ?? false]);
      id = this.#shapes.get(sig) ?? this.#shapes.size;
      this.#shapes.set(sig, id);
      this.#shape[j] = id;
    }
    return id;
  }

  #keyOf(pod: SimPod): string | null {
    let key = this.#keys.get(pod);
    if (key === undefined) {
      key = namesNodes(pod)
        ? null
        : JSON.stringify([sortedEntries(pod.nodeSelector), pod.requiredAffinity ?? null, pod.tolerations]);
      this.#keys.set(pod, key);
    }
    return key;
  }

  /** A function answering staticFit(pod, node j), for the many nodes one pod is tried on. */
  for(pod: SimPod): (j: number) => string | undefined {
    const key = this.#keyOf(pod);
    if (key === null) return (j) => staticFit(pod, this.#nodes[j]!.node);
    let answers = this.#answers.get(key);
    if (!answers) this.#answers.set(key, (answers = []));
    const memo = answers;
    return (j) => {
      const id = this.#shapeOf(j);
      const a = memo[id] ?? UNSEEN;
      if (a !== UNSEEN) return a;
      return (memo[id] = staticFit(pod, this.#nodes[j]!.node));
    };
  }
}

/** Pods that hold room on a node: all but those the drain deletes (terminal). */
function holdsRoom(p: ClassifiedPod): boolean {
  return p.action !== 'delete';
}

export class Destinations {
  readonly #nodes: readonly DestinationNode[];
  /** Node indices in the order placements try them. */
  readonly #order: Int32Array;
  readonly #excluded: Array<Exclusion | undefined>;
  readonly #allocCpu: Float64Array;
  readonly #allocMem: Float64Array;
  readonly #slots: Float64Array;
  readonly #usedCpu: Float64Array;
  readonly #usedMem: Float64Array;
  readonly #usedPods: Float64Array;
  readonly #usage: Array<NodeUsage | undefined>;
  /** Sources whose pods a node received in this loop, by node index. */
  readonly #received = new Map<number, Set<number>>();
  readonly #static: StaticFits;

  /**
   * `order`: node indices, most likely destinations first; `excluded`: per node index, why it takes
   * nothing (undefined: it may take pods).
   */
  constructor(nodes: readonly DestinationNode[], order: Int32Array, excluded: Array<Exclusion | undefined>) {
    const n = nodes.length;
    this.#nodes = nodes;
    this.#order = order;
    this.#excluded = excluded;
    this.#allocCpu = new Float64Array(n);
    this.#allocMem = new Float64Array(n);
    this.#slots = new Float64Array(n);
    this.#usedCpu = new Float64Array(n);
    this.#usedMem = new Float64Array(n);
    this.#usedPods = new Float64Array(n);
    this.#usage = new Array<NodeUsage | undefined>(n);
    this.#static = new StaticFits(nodes);
    // A node's vectors are filled the first time a pod is tried on it (#short).
    this.#usedPods.fill(NaN);
  }

  #fill(j: number): void {
    const { node, pods } = this.#nodes[j]!;
    const a = node.allocatable;
    this.#allocCpu[j] = a.cpu ?? 0;
    this.#allocMem[j] = a.memory ?? 0;
    // As insufficientResources counts slots: whole pods, allocatable rounded up.
    this.#slots[j] = Math.ceil((a.pods ?? 0) / 1000);
    let cpu = 0;
    let mem = 0;
    let count = 0;
    for (const p of pods)
      if (holdsRoom(p)) {
        cpu += p.pod.requests.cpu ?? 0;
        mem += p.pod.requests.memory ?? 0;
        count++;
      }
    this.#usedCpu[j] = cpu;
    this.#usedMem[j] = mem;
    this.#usedPods[j] = count;
  }

  exclude(j: number, why: Exclusion): void {
    this.#excluded[j] = why;
  }

  /** Node indices that received pods in this loop, with their sources. */
  receivedFrom(j: number): ReadonlySet<number> | undefined {
    return this.#received.get(j);
  }

  #usageOf(j: number): NodeUsage {
    let u = this.#usage[j];
    if (u === undefined) {
      u = new NodeUsage();
      for (const p of this.#nodes[j]!.pods) if (holdsRoom(p)) u.add(p.pod);
      this.#usage[j] = u;
    }
    return u;
  }

  /** The resource reason fits() would give first, from the vectors alone; undefined: ask fits(). */
  #short(pod: SimPod, j: number): string | undefined {
    if (Number.isNaN(this.#usedPods[j]!)) this.#fill(j);
    if (this.#usedPods[j]! + 1 > this.#slots[j]!) return REASON_TOO_MANY_PODS;
    const cpu = pod.requests.cpu ?? 0;
    if (cpu > 0 && cpu > this.#allocCpu[j]! - this.#usedCpu[j]!) return insufficientReason('cpu');
    const mem = pod.requests.memory ?? 0;
    if (mem > 0 && mem > this.#allocMem[j]! - this.#usedMem[j]!) return insufficientReason('memory');
    return undefined;
  }

  #add(pod: SimPod, j: number, sign: 1 | -1): void {
    if (Number.isNaN(this.#usedPods[j]!)) this.#fill(j);
    this.#usedCpu[j] = this.#usedCpu[j]! + sign * (pod.requests.cpu ?? 0);
    this.#usedMem[j] = this.#usedMem[j]! + sign * (pod.requests.memory ?? 0);
    this.#usedPods[j] = this.#usedPods[j]! + sign;
    const u = this.#usageOf(j);
    if (sign === 1) u.add(pod);
    else u.remove(pod);
  }

  /**
   * First fit of `pods` (in the order given) from node `src` onto the other nodes; on success the moves
   * stay (later placements see them), on failure nothing changes and `why` says why the first pod that
   * found no node was refused by each.
   */
  place(src: number, pods: readonly SimPod[]): Placement {
    const moves: Array<{ pod: SimPod; to: number }> = [];
    const order = this.#order;
    for (const pod of pods) {
      const statically = this.#static.for(pod);
      let to = -1;
      for (let k = 0; k < order.length; k++) {
        const j = order[k]!;
        if (j === src || this.#excluded[j] !== undefined || this.#short(pod, j) !== undefined) continue;
        if (statically(j) !== undefined) continue;
        if (fits(pod, this.#nodes[j]!.node, this.#usageOf(j)).fits) {
          to = j;
          break;
        }
      }
      if (to < 0) {
        for (let m = moves.length - 1; m >= 0; m--) this.#add(moves[m]!.pod, moves[m]!.to, -1);
        return { ok: false, pod, why: this.#nowhere(pod, src) };
      }
      this.#add(pod, to, 1);
      moves.push({ pod, to });
    }
    for (const { to } of moves) {
      let s = this.#received.get(to);
      if (!s) this.#received.set(to, (s = new Set()));
      s.add(src);
    }
    return { ok: true, moves };
  }

  /**
   * Why no node takes `pod`, as the scheduler's FailedScheduling message counts it: each node's first
   * failing check (or why it is out of this loop), grouped, sorted by text.
   */
  #nowhere(pod: SimPod, src: number): string {
    const counts = new Map<string, number>();
    const statically = this.#static.for(pod);
    let total = 0;
    for (let j = 0; j < this.#nodes.length; j++) {
      if (j === src) continue;
      total++;
      const ex = this.#excluded[j];
      const node = this.#nodes[j]!.node;
      let why: string | undefined;
      if (ex !== undefined) why = EXCLUDED_TEXT[ex];
      // fits()'s order: static checks, host ports (only fits() knows the ports in use), then room.
      else why = statically(j) ?? (pod.hostPorts.length === 0 ? this.#short(pod, j) : undefined);
      if (why === undefined) {
        const r = fits(pod, node, this.#usageOf(j));
        why = r.fits ? 'node(s) filled by the other pods of this node' : r.reason;
      }
      counts.set(why, (counts.get(why) ?? 0) + 1);
    }
    if (total === 0) return 'no other node to move it to';
    const parts = [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([r, c]) => `${c} ${r}`);
    return `0/${total} nodes are available: ${parts.join(', ')}`;
  }
}

/** Pods that must find a place elsewhere, largest first (cpu, memory), then by namespace/name. */
export function podsToMove(pods: readonly ClassifiedPod[]): SimPod[] {
  return pods
    .filter((p) => p.action === 'evict')
    .map((p) => p.pod)
    .sort(
      (a, b) =>
        (b.requests.cpu ?? 0) - (a.requests.cpu ?? 0) ||
        (b.requests.memory ?? 0) - (a.requests.memory ?? 0) ||
        cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`),
    );
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
