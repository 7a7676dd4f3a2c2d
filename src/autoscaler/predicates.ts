// Pure scheduling predicates with kube-scheduler's Filter semantics: NodeUnschedulable, TaintToleration,
// NodeAffinity, NodePorts and NodeResourcesFit, checked in the default profile's order so the first failure
// reported is the one the scheduler would report. Reasons are the scheduler's own strings, which users
// already know from FailedScheduling events.
import type {
  HostPort,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  Resources,
  SimNode,
  SimPod,
  Taint,
  Toleration,
} from './types.ts';

export const REASON_UNSCHEDULABLE = 'node(s) were unschedulable';
export const REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
export const REASON_HOST_PORTS = "node(s) didn't have free ports for the requested pod ports";
export const REASON_TOO_MANY_PODS = 'Too many pods';

export function insufficientReason(resource: string): string {
  return `Insufficient ${resource}`;
}

export function untoleratedTaintReason(taint: Taint): string {
  return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
}

type Labels = Readonly<Record<string, string>>;

function has(labels: Labels, key: string): boolean {
  return Object.hasOwn(labels, key);
}

// ---- Taints and tolerations (core/v1 Toleration.ToleratesTaint) ----

/** Empty key matches every key, empty effect every effect; Equal (the default) compares values. */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  switch (toleration.operator ?? '') {
    case '':
    case 'Equal':
      return (toleration.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

export function tolerates(tolerations: readonly Toleration[], taint: Taint): boolean {
  return tolerations.some((t) => toleratesTaint(t, taint));
}

/** The first NoSchedule/NoExecute taint, in node order, the pod does not tolerate; PreferNoSchedule never blocks. */
export function untoleratedTaint(pod: SimPod, node: SimNode): Taint | undefined {
  return node.taints.find(
    (t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(pod.tolerations, t),
  );
}

/** What a cordon means to the scheduler: pods tolerating this taint may still land on the node. */
const UNSCHEDULABLE_TAINT: Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

// ---- Node selector and required node affinity (component-helpers nodeaffinity + labels.Requirement) ----

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function isLabelKey(key: string): boolean {
  const parts = key.split('/');
  if (parts.length > 2) return false;
  const name = parts.at(-1)!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) return false;
  }
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME.test(name);
}

function isLabelValue(value: string): boolean {
  return value === '' || (value.length <= 63 && QUALIFIED_NAME.test(value));
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's strconv.ParseInt(s, 10, 64): optional sign, ASCII digits, within int64. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n >= INT64_MIN && n <= INT64_MAX ? n : undefined;
}

/**
 * One matchExpressions requirement. undefined when labels.NewRequirement would reject it (bad key or value,
 * wrong value count, unknown operator, non-integer Gt/Lt bound): the scheduler then drops the whole term.
 */
function labelRequirement(r: NodeSelectorRequirement, labels: Labels): boolean | undefined {
  const values = r.values ?? [];
  if (!isLabelKey(r.key) || !values.every(isLabelValue)) return undefined;
  const present = has(labels, r.key);
  const value = labels[r.key] ?? '';
  switch (r.operator) {
    case 'In':
      return values.length === 0 ? undefined : present && values.includes(value);
    case 'NotIn':
      return values.length === 0 ? undefined : !present || !values.includes(value);
    case 'Exists':
      return values.length !== 0 ? undefined : present;
    case 'DoesNotExist':
      return values.length !== 0 ? undefined : !present;
    case 'Gt':
    case 'Lt': {
      const bound = values.length === 1 ? parseInt64(values[0]!) : undefined;
      if (bound === undefined) return undefined;
      // A node label that is no integer simply does not match (not an error).
      const actual = present ? parseInt64(value) : undefined;
      if (actual === undefined) return false;
      return r.operator === 'Gt' ? actual > bound : actual < bound;
    }
    default:
      return undefined;
  }
}

/** One matchFields requirement: only metadata.name, with In or NotIn and exactly one value. */
function fieldRequirement(r: NodeSelectorRequirement, nodeName: string): boolean | undefined {
  const values = r.values ?? [];
  if (r.key !== 'metadata.name' || values.length !== 1) return undefined;
  if (r.operator === 'In') return nodeName === values[0];
  if (r.operator === 'NotIn') return nodeName !== values[0];
  return undefined;
}

/** Requirements are ANDed; an empty term, or one with any invalid requirement, matches nothing. */
function termMatches(term: NodeSelectorTerm, node: SimNode): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  let match = true;
  for (const r of exprs) {
    const m = labelRequirement(r, node.labels);
    if (m === undefined) return false;
    match &&= m;
  }
  for (const r of fields) {
    const m = fieldRequirement(r, node.name);
    if (m === undefined) return false;
    // The scheduler skips matchFields for a node without a name (it has no fields to match).
    if (node.name !== '') match &&= m;
  }
  return match;
}

/** nodeSelectorTerms are ORed: an empty list matches no node. */
export function matchesNodeSelectorTerms(terms: readonly NodeSelectorTerm[], node: SimNode): boolean {
  return terms.some((t) => termMatches(t, node));
}

/** spec.nodeSelector (every pair, exactly) AND required node affinity, when the pod has one. */
export function matchesNodeSelector(pod: SimPod, node: SimNode): boolean {
  for (const [k, v] of Object.entries(pod.nodeSelector)) {
    if (!has(node.labels, k) || node.labels[k] !== v) return false;
  }
  return pod.requiredAffinity === undefined || matchesNodeSelectorTerms(pod.requiredAffinity, node);
}

// ---- Host ports (framework HostPortInfo.CheckConflict) ----

const ANY_IP = '0.0.0.0';

/**
 * Whether `wanted` collides with a port in use: same protocol (default TCP) and port, and addresses that
 * overlap — equal, or either side empty/0.0.0.0 (every address). Port 0 asks for no host port.
 */
export function hostPortConflicts(wanted: HostPort, used: readonly HostPort[]): boolean {
  if (wanted.port <= 0) return false;
  const ip = wanted.hostIP || ANY_IP;
  const protocol = wanted.protocol || 'TCP';
  return used.some((u) => {
    if (u.port !== wanted.port || (u.protocol || 'TCP') !== protocol) return false;
    const usedIp = u.hostIP || ANY_IP;
    return ip === ANY_IP || usedIp === ANY_IP || usedIp === ip;
  });
}

// ---- Resources (NodeResourcesFit) and the combined fit ----

/** What is already placed on a node. `pods` is a count; requests are milli-units like everywhere else. */
export interface NodeUsed {
  readonly requests: Resources;
  readonly pods: number;
  readonly hostPorts: readonly HostPort[];
}

const FIRST_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'];

/**
 * Every resource the pod is short of on the node, in the scheduler's order: the pod slot, cpu, memory,
 * ephemeral-storage, then the rest by name. Zero requests are never short; a resource the node does not
 * list has 0 allocatable. The slot uses whole pods, rounding allocatable up as Quantity.Value does.
 */
export function insufficientResources(pod: SimPod, node: SimNode, used: NodeUsed): string[] {
  const out: string[] = [];
  const podSlots = Math.ceil((node.allocatable.pods ?? 0) / 1000);
  if (used.pods + 1 > podSlots) out.push('pods');
  const rest = Object.keys(pod.requests)
    .filter((r) => !FIRST_RESOURCES.includes(r) && r !== 'pods') // a pod's own "pods" request is ignored
    .sort();
  for (const r of [...FIRST_RESOURCES, ...rest]) {
    const want = pod.requests[r] ?? 0;
    if (want > 0 && want > (node.allocatable[r] ?? 0) - (used.requests[r] ?? 0)) out.push(r);
  }
  return out;
}

export type FitResult = { fits: true } | { fits: false; reason: string };

const FITS: FitResult = Object.freeze({ fits: true });

function no(reason: string): FitResult {
  return { fits: false, reason };
}

/** Whether the pod can be placed on the node given what already runs there; the first failing check wins. */
/**
 * Why `pod` can never run on `node` whatever the node's load: cordon, taints, node selector and affinity
 * (kube-scheduler's order); undefined when only room decides. Resources and host ports are not looked at.
 */
export function staticFit(pod: SimPod, node: SimNode): string | undefined {
  if (node.unschedulable && !tolerates(pod.tolerations, UNSCHEDULABLE_TAINT)) return REASON_UNSCHEDULABLE;
  const taint = untoleratedTaint(pod, node);
  if (taint) return untoleratedTaintReason(taint);
  if (!matchesNodeSelector(pod, node)) return REASON_NODE_AFFINITY;
  return undefined;
}

export function fits(pod: SimPod, node: SimNode, used: NodeUsed): FitResult {
  if (node.unschedulable && !tolerates(pod.tolerations, UNSCHEDULABLE_TAINT)) return no(REASON_UNSCHEDULABLE);
  const taint = untoleratedTaint(pod, node);
  if (taint) return no(untoleratedTaintReason(taint));
  if (!matchesNodeSelector(pod, node)) return no(REASON_NODE_AFFINITY);
  if (pod.hostPorts.some((p) => hostPortConflicts(p, used.hostPorts))) return no(REASON_HOST_PORTS);
  const [short] = insufficientResources(pod, node, used);
  if (short !== undefined) return no(short === 'pods' ? REASON_TOO_MANY_PODS : insufficientReason(short));
  return FITS;
}

/** Running totals for one node; mutable so a simulation can place and unplace pods cheaply. */
export class NodeUsage implements NodeUsed {
  #requests: Record<string, number> = {};
  #hostPorts: HostPort[] = [];
  #pods = 0;

  static of(pods: Iterable<SimPod>): NodeUsage {
    const usage = new NodeUsage();
    for (const p of pods) usage.add(p);
    return usage;
  }

  get requests(): Resources {
    return this.#requests;
  }

  get pods(): number {
    return this.#pods;
  }

  get hostPorts(): readonly HostPort[] {
    return this.#hostPorts;
  }

  add(pod: SimPod): this {
    for (const [k, v] of Object.entries(pod.requests)) this.#requests[k] = (this.#requests[k] ?? 0) + v;
    for (const p of pod.hostPorts) if (p.port > 0) this.#hostPorts.push(p);
    this.#pods++;
    return this;
  }

  /** Undo an earlier add of the same pod (one instance of each of its ports is released). */
  remove(pod: SimPod): this {
    for (const [k, v] of Object.entries(pod.requests)) this.#requests[k] = (this.#requests[k] ?? 0) - v;
    for (const p of pod.hostPorts) {
      const i = this.#hostPorts.findIndex(
        (u) => u.port === p.port && u.protocol === p.protocol && (u.hostIP ?? '') === (p.hostIP ?? ''),
      );
      if (i >= 0) this.#hostPorts.splice(i, 1);
    }
    this.#pods--;
    return this;
  }

  clone(): NodeUsage {
    const copy = new NodeUsage();
    copy.#requests = { ...this.#requests };
    copy.#hostPorts = [...this.#hostPorts];
    copy.#pods = this.#pods;
    return copy;
  }
}

export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/**
 * Whether the pod's constraints name particular nodes (the hostname label, or matchFields on
 * metadata.name): then each node answers for itself, and nodes alike but for their name do not.
 */
export function namesNodes(pod: SimPod): boolean {
  return (
    Object.hasOwn(pod.nodeSelector, HOSTNAME_LABEL) ||
    (pod.requiredAffinity ?? []).some(
      (t) =>
        (t.matchFields ?? []).length > 0 || (t.matchExpressions ?? []).some((r) => r.key === HOSTNAME_LABEL),
    )
  );
}
