// How many nodes of one template the pending pods need: first-fit decreasing bin packing, as
// cluster-autoscaler's binpacking estimator, but over equivalence classes of pods (same owner, same
// requests and constraints), so 10,000 pending replicas of a few Deployments cost a few dozen checks.
// Pure; the scheduling rules beyond resources come in as `staticFit` (predicates.ts).
import { hostPortConflicts } from './predicates.ts';
import type { HostPort, Resources, SimNode, SimPod } from './types.ts';

export const POD_SLOT = 1000; // one pod, in milli-units of the `pods` resource

/** Pods that schedule alike: one representative and its count. */
export interface PodClass {
  key: string;
  pod: SimPod;
  pods: SimPod[];
  /** The representative's non-zero requests, as pairs: the hot loop reads these, not the object. */
  reqs: Array<[string, number]>;
}

/** Groups pods by owner, requests and constraints: any member could stand for the others. */
export function podClasses(pods: readonly SimPod[]): PodClass[] {
  const out = new Map<string, PodClass>();
  for (const p of pods) {
    const key = JSON.stringify([
      p.ownerUid ?? p.uid,
      sortedEntries(p.requests),
      sortedEntries(p.nodeSelector),
      p.requiredAffinity ?? null,
      p.tolerations,
      p.hostPorts,
    ]);
    const c = out.get(key);
    if (c) c.pods.push(p);
    else out.set(key, { key, pod: p, pods: [p], reqs: Object.entries(p.requests).filter(([, v]) => v > 0) });
  }
  return [...out.values()];
}

export const sortedEntries = (r: Readonly<Record<string, unknown>>) =>
  Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1));

/** A node being filled: what is left of its allocatable, and the host ports taken. */
export interface OpenNode {
  node: SimNode;
  free: Record<string, number>;
  ports: HostPort[];
}

export function openNode(node: SimNode, used: Resources = {}, ports: HostPort[] = []): OpenNode {
  const free: Record<string, number> = { ...node.allocatable };
  for (const [r, v] of Object.entries(used)) free[r] = (free[r] ?? 0) - v;
  return { node, free, ports: [...ports] };
}

/** How many more pods like `pod` fit into what is left of `n`, by resources, pod slots and host ports. */
export function roomFor(pod: SimPod, n: OpenNode): number {
  return roomForClass({ pod, reqs: Object.entries(pod.requests).filter(([, v]) => v > 0) }, n);
}

export function roomForClass(c: Pick<PodClass, 'pod' | 'reqs'>, n: OpenNode): number {
  let room = Math.floor((n.free['pods'] ?? 0) / POD_SLOT);
  for (let i = 0; i < c.reqs.length && room > 0; i++) {
    const [r, req] = c.reqs[i]!;
    room = Math.min(room, Math.floor((n.free[r] ?? 0) / req));
  }
  if (room > 0 && c.pod.hostPorts.length > 0)
    room = c.pod.hostPorts.some((p) => hostPortConflicts(p, n.ports)) ? 0 : 1;
  return Math.max(0, room);
}

export function place(pod: SimPod, n: OpenNode, count: number): void {
  n.free['pods'] = (n.free['pods'] ?? 0) - POD_SLOT * count;
  for (const [r, req] of Object.entries(pod.requests)) n.free[r] = (n.free[r] ?? 0) - req * count;
  if (count > 0) n.ports.push(...pod.hostPorts);
}

/** Larger pods first, measured against the template (cluster-autoscaler's cpu + memory share). */
function sizeScore(pod: SimPod, template: SimNode): number {
  const share = (r: string) =>
    template.allocatable[r] ? (pod.requests[r] ?? 0) / template.allocatable[r]! : 0;
  return share('cpu') + share('memory');
}

export interface Estimate {
  /** New nodes of the template needed. */
  nodes: number;
  /** Pods those nodes hold (each class's first ones). */
  readonly placed: SimPod[];
  placedCount: number;
  /** Pods that stay pending, with why (one reason per class). */
  left: Array<{ key: string; pods: SimPod[]; reason: string }>;
  /** Classes that were packed (not excluded outright): only their counts can change this estimate. */
  packed: string[];
  /** Sum of the placed pods' requests (what least-waste weighs). */
  requested: Record<string, number>;
}

/**
 * Places `classes` onto new nodes of `template` (its allocatable already net of DaemonSet pods), first-fit
 * decreasing, opening at most `maxNodes` nodes. `staticFit` says why a pod can never run on the template
 * (selector, affinity, taints, a resource the node lacks), or undefined.
 */
export function estimate(
  classes: readonly PodClass[],
  template: SimNode,
  maxNodes: number,
  staticFit: (pod: SimPod, node: SimNode) => string | undefined,
): Estimate {
  const open: OpenNode[] = [];
  // Placed pods as (class, count): a pod list is built only when someone reads `placed`.
  const taken: Array<[PodClass, number]> = [];
  const left: Estimate['left'] = [];
  const packed: string[] = [];
  const requested: Record<string, number> = {};
  const take = (c: PodClass, k: number) => {
    for (const [r, v] of c.reqs) requested[r] = (requested[r] ?? 0) + v * k;
  };
  const empty = openNode(template);
  const sorted = classes
    .map((c) => ({ c, score: sizeScore(c.pod, template) }))
    .sort((a, b) => b.score - a.score || (a.c.key < b.c.key ? -1 : 1))
    .map((x) => x.c);
  for (const c of sorted) {
    const why = staticFit(c.pod, template);
    if (why) {
      left.push({ key: c.key, pods: c.pods, reason: why });
      continue;
    }
    const perNode = roomForClass(c, empty);
    if (perNode === 0) {
      left.push({ key: c.key, pods: c.pods, reason: tooBig(c.pod, template) });
      continue;
    }
    packed.push(c.key);
    let i = 0;
    // First fit into nodes already opened by larger classes.
    for (const n of open) {
      if (i >= c.pods.length) break;
      if ((n.free['pods'] ?? 0) < POD_SLOT) continue;
      const k = Math.min(roomForClass(c, n), c.pods.length - i);
      if (k > 0) {
        place(c.pod, n, k);
        take(c, k);
        i += k;
      }
    }
    while (i < c.pods.length && open.length < maxNodes) {
      const n = openNode(template);
      const k = Math.min(perNode, c.pods.length - i);
      place(c.pod, n, k);
      take(c, k);
      open.push(n);
      i += k;
    }
    if (i > 0) taken.push([c, i]);
    if (i < c.pods.length)
      left.push({
        key: c.key,
        pods: c.pods.slice(i),
        reason: `would need more than ${maxNodes} new node(s)`,
      });
  }
  let placed: SimPod[] | undefined;
  return {
    nodes: open.length,
    get placed() {
      return (placed ??= taken.flatMap(([c, k]) => c.pods.slice(0, k)));
    },
    placedCount: taken.reduce((a, [, k]) => a + k, 0),
    left,
    packed,
    requested,
  };
}

function tooBig(pod: SimPod, template: SimNode): string {
  const over = Object.entries(pod.requests)
    .filter(([r, v]) => v > 0 && v > (template.allocatable[r] ?? 0))
    .map(([r]) => r);
  if (over.length) return `Insufficient ${over.join(', ')} on a new node`;
  return pod.hostPorts.length ? 'host ports taken' : 'no pod slot left on a new node';
}
