// Version-aware JSON merge patches (descriptions only; src/kube sends them). CRDs do not support
// strategic merge, so lists such as conditions are replaced whole: pass the complete list.
// A resourceVersion, when given, makes the apiserver reject the patch if the object changed (409).
import type { CapiVersion, Condition, MachineHealthCheck, ReplicaStatus } from '../types.ts';

export interface PatchRequest {
  /** Appended to the object's URL: '' (the object), '/status' or '/scale'. */
  pathSuffix: '' | '/status' | '/scale';
  contentType: 'application/merge-patch+json';
  body: Record<string, unknown>;
}

const MERGE = 'application/merge-patch+json';
const INT32_MAX = 2 ** 31 - 1;

function count(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > INT32_MAX)
    throw new RangeError(`${what} must be an int32 ≥ 0, got ${n}`);
  return n;
}

function withPrecondition(body: Record<string, unknown>, resourceVersion?: string): Record<string, unknown> {
  if (resourceVersion === undefined) return body;
  const metadata = { ...(body['metadata'] as Record<string, unknown> | undefined), resourceVersion };
  return { ...body, metadata };
}

/** Drops undefined members, so a patch never carries a key it does not mean to write. */
function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** spec.replicas through the scale subresource (same shape for MachineDeployment and MachineSet, both versions). */
export function scalePatch(replicas: number, resourceVersion?: string): PatchRequest {
  return {
    pathSuffix: '/scale',
    contentType: MERGE,
    body: withPrecondition({ spec: { replicas: count('replicas', replicas) } }, resourceVersion),
  };
}

/** Sets and removes annotations (merge patch: null removes a key). Same in every version. */
export function annotationsPatch(
  set: Readonly<Record<string, string>>,
  remove: readonly string[],
  resourceVersion?: string,
): PatchRequest {
  const annotations: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(set)) {
    if (typeof v !== 'string') throw new TypeError(`annotation ${k} must be a string`);
    annotations[k] = v;
  }
  for (const k of remove) {
    if (Object.hasOwn(annotations, k)) throw new RangeError(`annotation ${k} is both set and removed`);
    annotations[k] = null;
  }
  return {
    pathSuffix: '',
    contentType: MERGE,
    body: withPrecondition({ metadata: { annotations } }, resourceVersion),
  };
}

function requireTime(c: Condition): string {
  if (!c.lastTransitionTime) {
    throw new TypeError(
      `condition ${c.type} has no lastTransitionTime (use setCondition from src/capi/conditions.ts)`,
    );
  }
  return c.lastTransitionTime;
}

/** metav1.Condition: reason (non-empty), message and lastTransitionTime are all required by the schema. */
function toMetav1(c: Condition): Record<string, unknown> {
  if (!c.reason) throw new TypeError(`v1beta2 condition ${c.type} needs a reason`);
  return defined({
    type: c.type,
    status: c.status,
    observedGeneration: c.observedGeneration,
    lastTransitionTime: requireTime(c),
    reason: c.reason,
    message: c.message ?? '',
  });
}

/** CAPI v1beta1 Condition: reason/message have minLength 1 and severity is only for status False. */
function toCapiV1beta1(c: Condition): Record<string, unknown> {
  return defined({
    type: c.type,
    status: c.status,
    severity: c.status === 'False' && c.severity ? c.severity : undefined,
    lastTransitionTime: requireTime(c),
    reason: c.reason || undefined,
    message: c.message || undefined,
  });
}

/** A condition list in the JSON shape of `shape` (the version whose condition type is wanted). */
export function conditionsJson(
  shape: CapiVersion,
  conditions: readonly Condition[],
): Record<string, unknown>[] {
  return conditions.map(shape === 'v1beta2' ? toMetav1 : toCapiV1beta1);
}

/**
 * Replaces status.conditions of any CAPI kind in the object's version. `otherVersion` also writes the
 * mirrored list CAPI keeps for the other version (v1beta1 → status.v1beta2.conditions, v1beta2 →
 * status.deprecated.v1beta1.conditions), for readers that still look there.
 */
export function conditionsPatch(
  version: CapiVersion,
  conditions: readonly Condition[],
  options: { otherVersion?: readonly Condition[]; resourceVersion?: string } = {},
): PatchRequest {
  const status: Record<string, unknown> = { conditions: conditionsJson(version, conditions) };
  if (options.otherVersion) {
    if (version === 'v1beta1')
      status['v1beta2'] = { conditions: conditionsJson('v1beta2', options.otherVersion) };
    else status['deprecated'] = { v1beta1: { conditions: conditionsJson('v1beta1', options.otherVersion) } };
  }
  return {
    pathSuffix: '/status',
    contentType: MERGE,
    body: withPrecondition({ status }, options.resourceVersion),
  };
}

/** Machine phases (api/core/v1beta2/machine_phase_types.go). v1beta1 has no Updating; CAPI shows Running. */
const MACHINE_PHASES = [
  'Pending',
  'Provisioning',
  'Provisioned',
  'Running',
  'Updating',
  'Deleting',
  'Deleted',
  'Failed',
  'Unknown',
] as const;
export type MachinePhase = (typeof MACHINE_PHASES)[number];

export interface MachineStatusUpdate {
  phase?: MachinePhase;
  /** Lives in spec, which /status ignores: it becomes a separate patch of the object itself. */
  providerID?: string;
  /** Node name; null clears it. */
  nodeRef?: string | null;
  bootstrapReady?: boolean;
  infrastructureProvisioned?: boolean;
  failureReason?: string | null;
  failureMessage?: string | null;
  /** The complete list, in the object's version (see conditionsPatch). */
  conditions?: readonly Condition[];
}

/**
 * Patches for a Machine's status in `version`'s shape, in the order to send them: the spec patch (only
 * when providerID is given) first, as CAPI's Machine controller sets providerID before status.
 */
export function machineStatusPatch(version: CapiVersion, u: MachineStatusUpdate): PatchRequest[] {
  const out: PatchRequest[] = [];
  if (u.providerID !== undefined) {
    if (u.providerID === '') throw new RangeError('providerID must not be empty');
    out.push({ pathSuffix: '', contentType: MERGE, body: { spec: { providerID: u.providerID } } });
  }
  if (u.phase !== undefined && !MACHINE_PHASES.includes(u.phase))
    throw new RangeError(`unknown phase ${u.phase}`);
  let status: Record<string, unknown>;
  if (version === 'v1beta2') {
    const initialization = defined({
      bootstrapDataSecretCreated: u.bootstrapReady,
      infrastructureProvisioned: u.infrastructureProvisioned,
    });
    const failure = defined({ failureReason: u.failureReason, failureMessage: u.failureMessage });
    status = defined({
      phase: u.phase,
      nodeRef: u.nodeRef === undefined ? undefined : u.nodeRef === null ? null : { name: u.nodeRef },
      initialization: Object.keys(initialization).length ? initialization : undefined,
      deprecated: Object.keys(failure).length ? { v1beta1: failure } : undefined,
      conditions: u.conditions && conditionsJson('v1beta2', u.conditions),
    });
  } else {
    status = defined({
      phase: u.phase === 'Updating' ? 'Running' : u.phase,
      nodeRef:
        u.nodeRef === undefined
          ? undefined
          : u.nodeRef === null
            ? null
            : { apiVersion: 'v1', kind: 'Node', name: u.nodeRef },
      bootstrapReady: u.bootstrapReady,
      infrastructureReady: u.infrastructureProvisioned,
      failureReason: u.failureReason,
      failureMessage: u.failureMessage,
      conditions: u.conditions && conditionsJson('v1beta1', u.conditions),
    });
  }
  if (Object.keys(status).length) out.push({ pathSuffix: '/status', contentType: MERGE, body: { status } });
  return out;
}

/**
 * MachineDeployment/MachineSet replica counters. v1beta1 MachineDeployments call the up-to-date count
 * updatedReplicas; v1beta1 MachineSets have no such field, so it goes to status.v1beta2.upToDateReplicas.
 */
export function replicaStatusPatch(
  version: CapiVersion,
  kind: 'MachineDeployment' | 'MachineSet',
  s: ReplicaStatus,
): PatchRequest {
  const n = (what: string, v: number | undefined) => (v === undefined ? undefined : count(what, v));
  const common = {
    replicas: n('replicas', s.replicas),
    readyReplicas: n('readyReplicas', s.readyReplicas),
    availableReplicas: n('availableReplicas', s.availableReplicas),
    selector: s.selector,
    observedGeneration: s.observedGeneration,
  };
  const upToDate = n('upToDateReplicas', s.upToDateReplicas);
  let status: Record<string, unknown>;
  if (version === 'v1beta2') status = defined({ ...common, upToDateReplicas: upToDate });
  else if (kind === 'MachineDeployment') status = defined({ ...common, updatedReplicas: upToDate });
  else
    status = defined({
      ...common,
      v1beta2: upToDate === undefined ? undefined : { upToDateReplicas: upToDate },
    });
  return { pathSuffix: '/status', contentType: MERGE, body: { status } };
}

export type MhcStatusUpdate = MachineHealthCheck['status'] & { conditions?: readonly Condition[] };

/** MachineHealthCheck status: the counters have the same names in both versions; conditions do not. */
export function mhcStatusPatch(version: CapiVersion, u: MhcStatusUpdate): PatchRequest {
  const n = (what: string, v: number | undefined) => (v === undefined ? undefined : count(what, v));
  const status = defined({
    expectedMachines: n('expectedMachines', u.expectedMachines),
    currentHealthy: n('currentHealthy', u.currentHealthy),
    remediationsAllowed: n('remediationsAllowed', u.remediationsAllowed),
    observedGeneration: u.observedGeneration,
    targets: u.targets,
    conditions: u.conditions && conditionsJson(version, u.conditions),
  });
  return { pathSuffix: '/status', contentType: MERGE, body: { status } };
}
