// Pure conversion of apiserver JSON (core/v1 Pod and Node) into the simulation's SimPod / SimNode. The
// input is untrusted `unknown`: a field of the wrong shape or an unparsable quantity is an error naming the
// object and the field, never a guess. Only the fields scheduling simulation reads are looked at.
import { parseAmount, QuantityError } from '../kube/quantity.ts';
import type {
  HostPort,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  Resources,
  SimNode,
  SimPod,
  Taint,
  TaintEffect,
  Toleration,
} from './types.ts';

type Json = Record<string, unknown>;
type Mutable = Record<string, number>;

/** A malformed field; caught at the top and prefixed with the object it belongs to. */
class ShapeError extends Error {}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Absent (undefined/null) is fine and gives undefined; any other non-object is an error. */
function object(v: unknown, field: string): Json | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new ShapeError(`${field} is not an object`);
  return v;
}

function list(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ShapeError(`${field} is not a list`);
  return v;
}

function string(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ShapeError(`${field} is not a string`);
  return v;
}

function stringMap(v: unknown, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(object(v, field) ?? {}))
    out[k] = string(val, `${field}["${k}"]`) ?? '';
  return out;
}

function stringList(v: unknown, field: string): string[] {
  return list(v, field).map((x, i) => string(x, `${field}[${i}]`) ?? '');
}

/** A ResourceList. JSON numbers are accepted because the apiserver's Quantity decoder accepts them too. */
function resourceList(v: unknown, field: string): Mutable {
  const out: Mutable = {};
  for (const [name, raw] of Object.entries(object(v, field) ?? {})) {
    const at = `${field}["${name}"]`;
    if (typeof raw !== 'string' && typeof raw !== 'number') throw new ShapeError(`${at} is not a quantity`);
    try {
      out[name] = parseAmount(String(raw));
    } catch (e) {
      if (e instanceof QuantityError) throw new ShapeError(`${at}: ${e.message}`);
      throw e;
    }
  }
  return out;
}

function addInto(into: Mutable, from: Resources): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function maxInto(into: Mutable, from: Resources): void {
  for (const [k, v] of Object.entries(from)) if (!Object.hasOwn(into, k) || v > into[k]!) into[k] = v;
}

function maxOf(...lists: Resources[]): Mutable {
  const out: Mutable = {};
  for (const l of lists) maxInto(out, l);
  return out;
}

/** Pod-level resources (KEP-2837) the scheduler lets override the container aggregate. */
function podLevelResource(name: string): boolean {
  return name === 'cpu' || name === 'memory' || name.startsWith('hugepages-');
}

/** Container requests after the apiserver's defaulting: a resource with a limit but no request requests the limit. */
function specRequests(c: Json, where: string): Mutable {
  const res = object(c.resources, `${where}.resources`) ?? {};
  const requests = resourceList(res.requests, `${where}.resources.requests`);
  const limits = resourceList(res.limits, `${where}.resources.limits`);
  for (const [k, v] of Object.entries(limits)) if (!Object.hasOwn(requests, k)) requests[k] = v;
  return requests;
}

/**
 * Effective pod requests as kube-scheduler's NodeResourcesFit charges them (component-helpers PodRequests
 * with InPlacePodVerticalScaling and PodLevelResources on, both default in current releases):
 * - regular containers and sidecars (init containers with restartPolicy Always) are summed: they run together;
 * - each init container needs, while it runs, its own requests plus those of the sidecars declared before it
 *   (a sidecar's own "init phase" is itself plus earlier sidecars); the largest such phase is the init need;
 * - per resource the larger of the two, then pod-level `spec.resources.requests` (cpu, memory, hugepages-*)
 *   replace the aggregate, then `spec.overhead` is added;
 * - a container whose status reports resources (an in-place resize in flight) is charged the max of spec,
 *   status.resources.requests and allocatedResources, or only the latter two when the resize is Infeasible.
 */
function effectiveRequests(spec: Json, status: Json): Mutable {
  const statuses = new Map<string, { cs: Json; at: string }>();
  for (const key of ['containerStatuses', 'initContainerStatuses']) {
    for (const [i, s] of list(status[key], `status.${key}`).entries()) {
      const cs = object(s, `status.${key}[${i}]`) ?? {};
      const name = string(cs.name, `status.${key}[${i}].name`);
      if (name !== undefined) statuses.set(name, { cs, at: `status.${key}["${name}"]` });
    }
  }
  const infeasible = list(status.conditions, 'status.conditions').some(
    (c) => isObject(c) && c.type === 'PodResizePending' && c.reason === 'Infeasible',
  );
  const withStatus = (name: string, requests: Mutable): Mutable => {
    const entry = statuses.get(name);
    if (entry === undefined) return requests;
    const { cs, at } = entry;
    const actual = object(cs.resources, `${at}.resources`);
    if (actual === undefined) return requests;
    const reported = resourceList(actual.requests, `${at}.resources.requests`);
    const allocated = resourceList(cs.allocatedResources, `${at}.allocatedResources`);
    return infeasible ? maxOf(reported, allocated) : maxOf(requests, reported, allocated);
  };

  const total: Mutable = {};
  for (const [i, c] of list(spec.containers, 'spec.containers').entries()) {
    const container = object(c, `spec.containers[${i}]`) ?? {};
    const name = string(container.name, `spec.containers[${i}].name`) ?? String(i);
    addInto(total, withStatus(name, specRequests(container, `container "${name}"`)));
  }
  const sidecars: Mutable = {};
  const initNeed: Mutable = {};
  for (const [i, c] of list(spec.initContainers, 'spec.initContainers').entries()) {
    const container = object(c, `spec.initContainers[${i}]`) ?? {};
    const name = string(container.name, `spec.initContainers[${i}].name`) ?? String(i);
    const requests = specRequests(container, `init container "${name}"`);
    if (container.restartPolicy === 'Always') {
      const running = withStatus(name, requests);
      addInto(total, running);
      addInto(sidecars, running);
      maxInto(initNeed, sidecars);
    } else {
      const phase = { ...requests };
      addInto(phase, sidecars);
      maxInto(initNeed, phase);
    }
  }
  maxInto(total, initNeed);

  const podLevel = object(spec.resources, 'spec.resources') ?? {};
  const podRequests = resourceList(podLevel.requests, 'spec.resources.requests');
  const podLimits = resourceList(podLevel.limits, 'spec.resources.limits');
  for (const [k, v] of Object.entries(podRequests)) if (podLevelResource(k)) total[k] = v;
  // Raw objects only (the apiserver has already defaulted stored ones): a pod-level limit with neither a
  // pod-level request nor any container request for that resource defaults the request to the limit.
  for (const [k, v] of Object.entries(podLimits))
    if (podLevelResource(k) && !Object.hasOwn(podRequests, k) && !Object.hasOwn(total, k)) total[k] = v;

  addInto(total, resourceList(spec.overhead, 'spec.overhead'));
  return total;
}

const PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);

/** Host ports of regular containers only: kube-scheduler's NodePorts plugin ignores init containers' ports. */
function hostPorts(spec: Json): HostPort[] {
  const out: HostPort[] = [];
  for (const [i, c] of list(spec.containers, 'spec.containers').entries()) {
    const container = object(c, `spec.containers[${i}]`) ?? {};
    const name = string(container.name, `spec.containers[${i}].name`) ?? String(i);
    for (const [j, p] of list(container.ports, `container "${name}".ports`).entries()) {
      const at = `container "${name}".ports[${j}]`;
      const port = object(p, at) ?? {};
      const hostPort = port.hostPort ?? 0;
      if (typeof hostPort !== 'number' || !Number.isInteger(hostPort))
        throw new ShapeError(`${at}.hostPort is not an integer`);
      if (hostPort <= 0) continue;
      const protocol = string(port.protocol, `${at}.protocol`) || 'TCP';
      if (!PROTOCOLS.has(protocol))
        throw new ShapeError(`${at}.protocol "${protocol}" is not TCP, UDP or SCTP`);
      const hostIP = string(port.hostIP, `${at}.hostIP`);
      out.push({ port: hostPort, protocol: protocol as HostPort['protocol'], ...(hostIP ? { hostIP } : {}) });
    }
  }
  return out;
}

const EFFECTS: ReadonlySet<string> = new Set(['NoSchedule', 'PreferNoSchedule', 'NoExecute']);

function tolerations(spec: Json): Toleration[] {
  const out: Toleration[] = [];
  for (const [i, t] of list(spec.tolerations, 'spec.tolerations').entries()) {
    const at = `spec.tolerations[${i}]`;
    const tol = object(t, at) ?? {};
    const operator = string(tol.operator, `${at}.operator`) ?? '';
    const effect = string(tol.effect, `${at}.effect`) ?? '';
    // An operator or effect this version does not know tolerates no taint (ToleratesTaint's default case),
    // so dropping the toleration keeps the pod exactly as constrained as the scheduler would treat it.
    if (!['', 'Equal', 'Exists'].includes(operator) || (effect !== '' && !EFFECTS.has(effect))) continue;
    const key = string(tol.key, `${at}.key`);
    const value = string(tol.value, `${at}.value`);
    out.push({
      ...(key !== undefined ? { key } : {}),
      ...(operator ? { operator: operator as 'Equal' | 'Exists' } : {}),
      ...(value !== undefined ? { value } : {}),
      ...(effect ? { effect: effect as TaintEffect } : {}),
    });
  }
  return out;
}

function requirements(v: unknown, field: string): NodeSelectorRequirement[] {
  return list(v, field).map((r, i) => {
    const req = object(r, `${field}[${i}]`) ?? {};
    const values =
      req.values === undefined || req.values === null
        ? undefined
        : stringList(req.values, `${field}[${i}].values`);
    return {
      key: string(req.key, `${field}[${i}].key`) ?? '',
      // Not narrowed: an unknown operator makes its term match nothing, which predicates.ts implements.
      operator: (string(req.operator, `${field}[${i}].operator`) ??
        '') as NodeSelectorRequirement['operator'],
      ...(values ? { values } : {}),
    };
  });
}

/** undefined: no required node affinity; []: required affinity with no terms, which matches no node. */
function requiredAffinity(spec: Json): NodeSelectorTerm[] | undefined {
  const affinity = object(spec.affinity, 'spec.affinity');
  const nodeAffinity = object(affinity?.nodeAffinity, 'spec.affinity.nodeAffinity');
  const field = 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution';
  const required = object(nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution, field);
  if (required === undefined) return undefined;
  return list(required.nodeSelectorTerms, `${field}.nodeSelectorTerms`).map((t, i) => {
    const at = `${field}.nodeSelectorTerms[${i}]`;
    const term = object(t, at) ?? {};
    const exprs = requirements(term.matchExpressions, `${at}.matchExpressions`);
    const fields = requirements(term.matchFields, `${at}.matchFields`);
    return {
      ...(exprs.length ? { matchExpressions: exprs } : {}),
      ...(fields.length ? { matchFields: fields } : {}),
    };
  });
}

function controllerOwner(meta: Json): { uid?: string; kind?: string } | undefined {
  for (const [i, r] of list(meta.ownerReferences, 'metadata.ownerReferences').entries()) {
    const ref = object(r, `metadata.ownerReferences[${i}]`) ?? {};
    if (ref.controller === true)
      return {
        uid: string(ref.uid, `metadata.ownerReferences[${i}].uid`),
        kind: string(ref.kind, `metadata.ownerReferences[${i}].kind`),
      };
  }
  return undefined;
}

/** A core/v1 Pod as the apiserver returns it (or a raw manifest) → SimPod, or an error naming pod and field. */
export function simPodFrom(obj: unknown): { pod: SimPod } | { error: string } {
  if (!isObject(obj)) return { error: 'pod: not an object' };
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : '';
  if (!name) return { error: 'pod: metadata.name is missing' };
  try {
    const spec = object(obj.spec, 'spec') ?? {};
    const status = object(obj.status, 'status') ?? {};
    const owner = controllerOwner(meta);
    const affinity = requiredAffinity(spec);
    const nodeName = string(spec.nodeName, 'spec.nodeName');
    const nominated = string(status.nominatedNodeName, 'status.nominatedNodeName');
    const created = string(meta.creationTimestamp, 'metadata.creationTimestamp');
    const pod: SimPod = {
      namespace,
      name,
      uid: string(meta.uid, 'metadata.uid') ?? '',
      requests: effectiveRequests(spec, status),
      nodeSelector: stringMap(spec.nodeSelector, 'spec.nodeSelector'),
      ...(affinity ? { requiredAffinity: affinity } : {}),
      tolerations: tolerations(spec),
      hostPorts: hostPorts(spec),
      ...(owner?.uid ? { ownerUid: owner.uid } : {}),
      ...(created ? { creationTimestamp: created } : {}),
      ...(nodeName ? { nodeName } : {}),
      ...(nominated ? { nominatedNodeName: nominated } : {}),
      ...(owner?.kind === 'DaemonSet' ? { daemonSet: true } : {}),
    };
    return { pod };
  } catch (e) {
    if (e instanceof ShapeError) return { error: `pod ${namespace}/${name}: ${e.message}` };
    throw e;
  }
}

function taints(spec: Json): Taint[] {
  return list(spec.taints, 'spec.taints').map((t, i) => {
    const at = `spec.taints[${i}]`;
    const taint = object(t, at) ?? {};
    const key = string(taint.key, `${at}.key`) ?? '';
    const value = string(taint.value, `${at}.value`);
    const effect = string(taint.effect, `${at}.effect`) ?? '';
    // Unlike a toleration, a taint cannot be dropped safely: that would let pods onto the node.
    if (!EFFECTS.has(effect))
      throw new ShapeError(`${at}.effect "${effect}" is not NoSchedule, PreferNoSchedule or NoExecute`);
    return { key, ...(value !== undefined ? { value } : {}), effect: effect as TaintEffect };
  });
}

/**
 * A core/v1 Node → SimNode. Capacity stands in for allocatable only when allocatable is absent or empty
 * (hand-written template nodes); a kubelet always reports allocatable, which is what the scheduler uses.
 */
export function simNodeFrom(obj: unknown): { node: SimNode } | { error: string } {
  if (!isObject(obj)) return { error: 'node: not an object' };
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  if (!name) return { error: 'node: metadata.name is missing' };
  try {
    const spec = object(obj.spec, 'spec') ?? {};
    const status = object(obj.status, 'status') ?? {};
    const allocatable = resourceList(status.allocatable, 'status.allocatable');
    const node: SimNode = {
      name,
      labels: stringMap(meta.labels, 'metadata.labels'),
      taints: taints(spec),
      allocatable: Object.keys(allocatable).length
        ? allocatable
        : resourceList(status.capacity, 'status.capacity'),
      unschedulable: spec.unschedulable === true,
    };
    return { node };
  } catch (e) {
    if (e instanceof ShapeError) return { error: `node ${name}: ${e.message}` };
    throw e;
  }
}
