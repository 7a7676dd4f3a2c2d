// Remediation requests as API objects, pure: reading an AutopilotRemediation strictly, writing its status, and
// making a request from any MachineHealthCheck remediation template as CAPI's external remediation contract
// says (CAPI-FACTS §4.3; controllers/external/util.go GenerateTemplate).
import { kubeTime } from '../kube/time.ts';
import { setCondition } from '../capi/conditions.ts';
import { CAPI_GROUP, LABELS, type CapiVersion, type Condition } from '../capi/types.ts';
import { parseSteps, type EscalationStep, type RequestStatus } from './escalation.ts';
import { parseKubeTime } from './types.ts';

export const CLONED_FROM_NAME = 'cluster.x-k8s.io/cloned-from-name';
export const CLONED_FROM_GROUPKIND = 'cluster.x-k8s.io/cloned-from-groupkind';

/** The one condition a request carries; its reason says what it is doing or waiting for. */
export const REMEDIATING = 'Remediating';

export interface RequestObject {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion?: string;
  deleting: boolean;
  /** metadata.creationTimestamp (epoch ms), when readable. */
  createdAt?: number;
  /** uid of the Machine owner reference, when there is one. */
  machineUid?: string;
  steps?: EscalationStep[];
  /** Why the spec cannot be acted on. */
  specError?: string;
  status: RequestStatus;
  /** Why the recorded status cannot be read; nothing is done on a status we cannot read. */
  statusError?: string;
  conditions: Condition[];
}

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

const PHASES = ['Pending', 'Running', 'Succeeded', 'GaveUp'] as const;

export function readRequest(raw: unknown): RequestObject {
  const o = obj(raw);
  const meta = obj(o.metadata);
  const owner = (Array.isArray(meta.ownerReferences) ? meta.ownerReferences : [])
    .map(obj)
    .find((r) => r.kind === 'Machine' && String(r.apiVersion ?? '').startsWith(`${CAPI_GROUP}/`));
  const parsed = parseSteps(obj(o.spec).steps);
  const { status, error } = readStatus(obj(o.status));
  const conditions = (Array.isArray(obj(o.status).conditions) ? (obj(o.status).conditions as unknown[]) : [])
    .map(obj)
    .filter((c) => typeof c.type === 'string' && typeof c.status === 'string')
    .map((c) => c as unknown as Condition);
  return {
    namespace: String(meta.namespace ?? ''),
    name: String(meta.name ?? ''),
    uid: String(meta.uid ?? ''),
    ...(typeof meta.resourceVersion === 'string' ? { resourceVersion: meta.resourceVersion } : {}),
    deleting: meta.deletionTimestamp != null,
    ...(typeof meta.creationTimestamp === 'string' && parseKubeTime(meta.creationTimestamp) !== undefined
      ? { createdAt: parseKubeTime(meta.creationTimestamp) }
      : {}),
    ...(typeof owner?.uid === 'string' ? { machineUid: owner.uid } : {}),
    ...('error' in parsed ? { specError: `spec.${parsed.error}` } : { steps: parsed.steps }),
    status,
    ...(error ? { statusError: error } : {}),
    conditions,
  };
}

function readStatus(s: Record<string, unknown>): { status: RequestStatus; error?: string } {
  const status: RequestStatus = {};
  const bad = (error: string) => ({ status, error: `status.${error}` });
  if (s.phase !== undefined) {
    if (!PHASES.includes(s.phase as (typeof PHASES)[number]))
      return bad(`phase: unknown phase ${JSON.stringify(s.phase)}`);
    status.phase = s.phase as RequestStatus['phase'];
  }
  for (const k of ['step', 'attempt'] as const) {
    if (s[k] === undefined) continue;
    if (!Number.isSafeInteger(s[k])) return bad(`${k}: expected an integer, got ${JSON.stringify(s[k])}`);
    status[k] = s[k] as number;
  }
  if (s.attemptStartedAt !== undefined) {
    const t = typeof s.attemptStartedAt === 'string' ? parseKubeTime(s.attemptStartedAt) : undefined;
    if (t === undefined)
      return bad(`attemptStartedAt: not an RFC 3339 time: ${JSON.stringify(s.attemptStartedAt)}`);
    status.attemptStartedAt = t;
  }
  if (typeof s.lastFailure === 'string') status.lastFailure = s.lastFailure;
  return { status };
}

/** The status subresource body for `status` (whole-object merge: every field we own is written). */
export function statusBody(
  status: RequestStatus,
  steps: readonly EscalationStep[] | undefined,
  conditions: readonly Condition[],
): Record<string, unknown> {
  const action = status.step === undefined ? undefined : steps?.[status.step]?.action;
  return {
    status: {
      phase: status.phase ?? 'Pending',
      step: status.step ?? null,
      action: action ?? null,
      attempt: status.attempt ?? null,
      attemptStartedAt:
        status.attemptStartedAt === undefined ? null : kubeTime(new Date(status.attemptStartedAt)),
      lastFailure: status.lastFailure ?? null,
      conditions,
    },
  };
}

/** The conditions after setting Remediating (lastTransitionTime kept while its status holds). */
export function withRemediating(
  conditions: readonly Condition[],
  status: 'True' | 'False',
  reason: string,
  message: string,
  now: Date,
): Condition[] {
  return setCondition(conditions, { type: REMEDIATING, status, reason, message }, now);
}

/** The request kind a remediation template makes (CAPI: the template kind without "Template"). */
export const requestKindOf = (templateKind: string): string => templateKind.replace(/Template$/, '');

/** Token of one Reboot attempt: the provider echoes it, so an answer is tied to this attempt only. */
export const rebootToken = (requestUid: string, step: number, attempt: number): string =>
  `${requestUid}/${step}/${attempt}`;

export interface TemplateRef {
  apiVersion: string;
  kind: string;
  name: string;
}

/**
 * The request a MachineHealthCheck makes for `machine` from its remediation template (any kind): kind =
 * template kind without "Template", the template's apiVersion, name and namespace of the Machine, the
 * template's spec.template metadata and spec, and a (non-controller) owner reference to the Machine so that
 * garbage collection removes it with the Machine.
 */
export function buildRequest(
  template: unknown,
  ref: TemplateRef,
  machine: { namespace: string; name: string; uid: string; clusterName: string },
  capiVersion: CapiVersion,
): { object: Record<string, unknown> } | { error: string } {
  if (!ref.kind.endsWith('Template') || ref.kind === 'Template')
    return { error: `remediation template kind ${ref.kind} does not end with "Template"` };
  const t = obj(obj(obj(template).spec).template);
  if (Object.keys(t).length === 0)
    return { error: `${ref.kind} ${machine.namespace}/${ref.name} has no spec.template` };
  const tm = obj(t.metadata);
  const group = ref.apiVersion.includes('/') ? ref.apiVersion.slice(0, ref.apiVersion.indexOf('/')) : '';
  return {
    object: {
      apiVersion: ref.apiVersion,
      kind: requestKindOf(ref.kind),
      metadata: {
        name: machine.name,
        namespace: machine.namespace,
        labels: { ...(obj(tm.labels) as Record<string, string>), [LABELS.clusterName]: machine.clusterName },
        annotations: {
          ...(obj(tm.annotations) as Record<string, string>),
          [CLONED_FROM_NAME]: ref.name,
          [CLONED_FROM_GROUPKIND]: `${ref.kind}.${group}`,
        },
        ownerReferences: [
          {
            apiVersion: `${CAPI_GROUP}/${capiVersion}`,
            kind: 'Machine',
            name: machine.name,
            uid: machine.uid,
          },
        ],
      },
      spec: obj(t.spec),
    },
  };
}
