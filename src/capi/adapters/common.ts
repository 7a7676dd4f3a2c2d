// Readers shared by both API versions: metadata, conditions, selectors, owners and the enums whose
// values are the same in v1beta1 and v1beta2 even where their paths differ.
import type { Field } from '../fields.ts';
import {
  CAPI_GROUP,
  type Condition,
  type ContractRef,
  type DeletionOrder,
  type LabelSelector,
  type LabelSelectorRequirement,
  type MachineHealthCheck,
  type Meta,
  type OwnerReference,
} from '../types.ts';

export const DELETION_ORDERS: readonly DeletionOrder[] = ['Random', 'Newest', 'Oldest'];
export const STRATEGY_TYPES = ['RollingUpdate', 'OnDelete'] as const;
const SELECTOR_OPERATORS: readonly LabelSelectorRequirement['operator'][] = [
  'In',
  'NotIn',
  'Exists',
  'DoesNotExist',
];

/** The group of an apiVersion: "infrastructure.cluster.x-k8s.io/v1beta1" → "infrastructure.cluster.x-k8s.io". */
export function apiGroupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash); // "v1" is the core group
}

function readOwnerReference(f: Field): OwnerReference {
  const controller = f.get('controller').optBool();
  return {
    apiVersion: f.get('apiVersion').string(),
    kind: f.get('kind').string(),
    name: f.get('name').string(),
    uid: f.get('uid').string(),
    ...(controller === undefined ? {} : { controller }),
  };
}

export function readMeta(root: Field): Meta {
  const m = root.get('metadata').required().object();
  const creationTimestamp = m.get('creationTimestamp').optString();
  const deletionTimestamp = m.get('deletionTimestamp').optString();
  return {
    name: m.get('name').string(),
    namespace: m.get('namespace').optString() ?? '',
    uid: m.get('uid').optString() ?? '',
    resourceVersion: m.get('resourceVersion').optString() ?? '',
    generation: m.get('generation').optInt64() ?? 0,
    labels: m.get('labels').stringMap(),
    annotations: m.get('annotations').stringMap(),
    ...(creationTimestamp === undefined ? {} : { creationTimestamp }),
    ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }),
    ownerReferences: m.get('ownerReferences').items().map(readOwnerReference),
    finalizers: m.get('finalizers').stringList(),
  };
}

/** Name of the controller owner of the given CAPI kind (any CAPI API version), if there is one. */
export function controllerOwner(meta: Meta, kind: string): string | undefined {
  const ref = meta.ownerReferences.find(
    (o) => o.controller === true && o.kind === kind && apiGroupOf(o.apiVersion) === CAPI_GROUP,
  );
  return ref?.name;
}

/**
 * A condition list. v1beta2 (metav1.Condition) requires reason and lastTransitionTime; v1beta1 CAPI
 * conditions carry an optional severity. Both shapes share type/status, which must be valid.
 */
export function readConditions(f: Field): Condition[] {
  return f.items().map((c) => {
    const out: Condition = { type: c.get('type').string(), status: c.get('status').conditionStatus() };
    const reason = c.get('reason').optString();
    const message = c.get('message').optString();
    const lastTransitionTime = c.get('lastTransitionTime').optString();
    const severity = c.get('severity').optString();
    const observedGeneration = c.get('observedGeneration').optInt64();
    if (reason !== undefined) out.reason = reason;
    if (message !== undefined) out.message = message;
    if (lastTransitionTime !== undefined) out.lastTransitionTime = lastTransitionTime;
    if (severity !== undefined) out.severity = severity;
    if (observedGeneration !== undefined) out.observedGeneration = observedGeneration;
    return out;
  });
}

/** A required metav1.LabelSelector, validated as LabelSelectorAsSelector would (so matching cannot fail later). */
export function readSelector(f: Field): LabelSelector {
  f.required().object();
  const out: LabelSelector = {};
  const matchLabels = f.get('matchLabels');
  if (!matchLabels.absent) out.matchLabels = matchLabels.stringMap();
  const exprs = f.get('matchExpressions');
  if (!exprs.absent) {
    out.matchExpressions = exprs.items().map((e) => {
      const operator = e
        .get('operator')
        .required()
        .optEnum(SELECTOR_OPERATORS) as LabelSelectorRequirement['operator'];
      const values = e.get('values');
      const list = values.stringList();
      if ((operator === 'In' || operator === 'NotIn') && list.length === 0) {
        values.fail(`operator ${operator} needs at least one value`);
      }
      if ((operator === 'Exists' || operator === 'DoesNotExist') && list.length > 0) {
        values.fail(`operator ${operator} takes no values`);
      }
      const req: LabelSelectorRequirement = { key: e.get('key').string(), operator };
      if (!values.absent) req.values = list;
      return req;
    });
  }
  return out;
}

/** v1beta2 spec.deletion.order / v1beta1 deletePolicy: "" and absent mean Random, as in CAPI. */
export function readDeletionOrder(f: Field): DeletionOrder {
  if (f.value === '') return 'Random';
  return f.optEnum(DELETION_ORDERS) ?? 'Random';
}

/** v1beta2 ContractVersionedObjectReference {apiGroup, kind, name}. */
export function readContractRef(f: Field): ContractRef {
  f.required().object();
  return { apiGroup: f.get('apiGroup').string(), kind: f.get('kind').string(), name: f.get('name').string() };
}

/** v1beta1 corev1.ObjectReference; the group is derived from apiVersion so both versions compare equal. */
export function readObjectRef(f: Field): ContractRef {
  f.required().object();
  const apiVersion = f.get('apiVersion').string();
  const namespace = f.get('namespace').optString();
  return {
    apiGroup: apiGroupOf(apiVersion),
    kind: f.get('kind').string(),
    name: f.get('name').string(),
    apiVersion,
    ...(namespace ? { namespace } : {}),
  };
}

/** Drops undefined values so normalized objects compare equal regardless of which optional fields were read. */
export function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** CAPI's DefaultNodeStartupTimeoutSeconds (v1beta2) and the v1beta1 webhook default of 10m. */
export const DEFAULT_NODE_STARTUP_TIMEOUT_SECONDS = 600;

/** v1beta2 triggerIf.unhealthyInRange / v1beta1 unhealthyRange, e.g. "[1-3]" (the CRD pattern). */
export function readUnhealthyRange(f: Field): string | undefined {
  const s = f.optString();
  if (s !== undefined && !/^\[[0-9]+-[0-9]+\]$/.test(s))
    f.fail(`expected a range like "[1-3]", got ${JSON.stringify(s)}`);
  return s;
}

/** MHC status counters: same JSON names in both versions (*int32 in v1beta2, int32 in v1beta1). */
export function readMhcStatus(status: Field): MachineHealthCheck['status'] {
  const targets = status.get('targets');
  return compact({
    expectedMachines: status.get('expectedMachines').optInt(),
    currentHealthy: status.get('currentHealthy').optInt(),
    remediationsAllowed: status.get('remediationsAllowed').optInt(),
    observedGeneration: status.get('observedGeneration').optInt64(),
    targets: targets.absent ? undefined : targets.stringList(),
  });
}
