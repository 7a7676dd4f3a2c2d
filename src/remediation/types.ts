// The facts the health evaluation reads besides the MachineHealthCheck and its Machines: the Cluster's
// readiness and the workload cluster's Nodes. Pure: the controller builds them from its caches.
import type { Cluster, Condition } from '../capi/types.ts';

/** What CAPI's MachineHealthCheck controller reads from the Cluster. Times are RFC 3339, as on conditions. */
export interface ClusterFacts {
  /** Cluster spec.paused (the Cluster's own paused annotation does not pause a MachineHealthCheck). */
  paused: boolean;
  /** Condition ControlPlaneInitialized is True. */
  controlPlaneInitialized: boolean;
  /** When it became True, when known. */
  controlPlaneInitializedTime?: string;
  /** Condition InfrastructureReady is True. */
  infrastructureReady: boolean;
  infrastructureReadyTime?: string;
}

/** A workload-cluster Node, reduced to what health checks read. */
export interface NodeFacts {
  name: string;
  /** Carried for callers; CAPI does not treat a Node being deleted differently, so neither does the check. */
  deletionTimestamp?: string;
  conditions: readonly NodeCondition[];
}

export interface NodeCondition {
  type: string;
  /** Compared as a string with the check's status, as CAPI does. */
  status: string;
  reason?: string;
  lastTransitionTime?: string;
}

/**
 * The object's v1beta2 (metav1) conditions: its own on a v1beta2 object, the status.v1beta2 mirror on a
 * v1beta1 one, or, from a CAPI too old to mirror them, its v1beta1 conditions (same type names for the
 * conditions read here). CAPI's controllers decide on the v1beta2 set.
 */
export function v1beta2Conditions(o: {
  version: 'v1beta1' | 'v1beta2';
  conditions: readonly Condition[];
  otherVersionConditions?: readonly Condition[];
}): readonly Condition[] {
  return o.version === 'v1beta2' ? o.conditions : (o.otherVersionConditions ?? o.conditions);
}

/**
 * ClusterFacts from a normalized Cluster: the ControlPlaneInitialized / InfrastructureReady conditions
 * decide (CAPI checks conditions), with their lastTransitionTime; without the condition the status flag
 * decides and the time is unknown.
 */
export function clusterFactsOf(cluster: Cluster): ClusterFacts {
  const cs = v1beta2Conditions(cluster);
  const read = (type: string, flag: boolean | undefined): [boolean, string | undefined] => {
    const c = cs.find((x) => x.type === type);
    if (!c) return [flag === true, undefined];
    return [c.status === 'True', c.status === 'True' ? c.lastTransitionTime : undefined];
  };
  const [cpInit, cpTime] = read('ControlPlaneInitialized', cluster.controlPlaneInitialized);
  const [infra, infraTime] = read('InfrastructureReady', cluster.infrastructureReady);
  return {
    paused: cluster.paused,
    controlPlaneInitialized: cpInit,
    ...(cpTime === undefined ? {} : { controlPlaneInitializedTime: cpTime }),
    infrastructureReady: infra,
    ...(infraTime === undefined ? {} : { infrastructureReadyTime: infraTime }),
  };
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Epoch ms of an RFC 3339 time (metav1.Time), or undefined when it is not one. Stricter than Date.parse,
 * which accepts Feb 30 and 24:00: a time we cannot read must not start or end a timeout.
 */
export function parseKubeTime(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || s > 59) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}
