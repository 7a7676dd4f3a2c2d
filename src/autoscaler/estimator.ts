// How many nodes of one template the pending pods need: first-fit decreasing bin packing, as
// cluster-autoscaler's binpacking estimator, but over equivalence classes of pods (same owner, same
// requests and constraints), so 10,000 pending replicas of a few Deployments cost a few dozen checks.
// Pure; the scheduling rules beyond resources come in as `staticFit` (predicates.ts).
import { hostPortConflicts } from './predicates.ts';
import { ffdOrder, pack, placedPods, POD_SLOT, resourceIndex, templateView, vectorize } from './packing.ts';
import type { HostPort, Resources, SimNode, SimPod } from './types.ts';

export { POD_SLOT } from './packing.ts';

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
  // Replicas of one owner are usually alike in every field of the key: comparing a pod with its owner's
  // last class costs less than building the key (10,000 pods), and alike fields make the same key.
  const lastOf = new Map<string, PodClass>();
  for (const p of pods) {
    const owner = p.ownerUid ?? p.uid;
    const last = lastOf.get(owner);
    if (last && sameKeyFields(p, last.pod)) {
      last.pods.push(p);
      continue;
    }
    const key = JSON.stringify([
      owner,
      sortedEntries(p.requests),
      sortedEntries(p.nodeSelector),
      p.requiredAffinity ?? null,
      p.tolerations,
      p.hostPorts,
    ]);
    let c = out.get(key);
    if (c) c.pods.push(p);
    else
      out.set(
        key,
        (c = { key, pod: p, pods: [p], reqs: Object.entries(p.requests).filter(([, v]) => v > 0) }),
      );
    lastOf.set(owner, c);
  }
  return [...out.values()];
}

const KEY_FIELDS = ['requests', 'nodeSelector', 'requiredAffinity', 'tolerations', 'hostPorts'] as const;
const sameKeyFields = (a: SimPod, b: SimPod) => KEY_FIELDS.every((f) => alike(a[f] ?? null, b[f] ?? null));

/**
 * Equal leaves (===), and plain arrays or objects with the same keys in the same order: then JSON.stringify,
 * and sortedEntries, give the same text for both. Anything else answers false, and the key decides.
 */
function alike(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!plain(a) || !plain(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i] || !alike(a[ka[i]!], b[ka[i]!])) return false;
  return true;
}

const plain = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' &&
  x !== null &&
  Object.getPrototypeOf(x) === (Array.isArray(x) ? Array.prototype : Object.prototype);

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
  const ix = resourceIndex([template.allocatable, ...classes.map((c) => c.pod.requests)]);
  const all = vectorize(classes, ix);
  const view = templateView(ix, template, all);
  const p = pack(view, ffdOrder(view, all), maxNodes, (v) => staticFit(v.c.pod, template), false);
  let placed: SimPod[] | undefined;
  return {
    nodes: p.nodes,
    get placed() {
      return (placed ??= placedPods(p));
    },
    placedCount: p.placedCount,
    left: p.left.map(({ v, from, reason }) => {
      return { key: v.c.key, pods: from < 0 ? v.c.pods : v.c.pods.slice(from), reason };
    }),
    packed: p.packed.map((v) => v.c.key),
    requested: p.requested,
  };
}
