// What CAPI's MachineHealthCheck controller would write for one reconcile, planned as data so the
// standalone-mode controller (mhc-controller.ts) only sends it. Pure: `now` is an input.
// Source: core/reconcilers/machinehealthcheck/machinehealthcheck_controller.go (reconcile,
// patchUnhealthyTargets, patchHealthyTargets), machinehealthcheck_targets.go (healthCheckTargets,
// needsRemediation), util/paused/paused.go; CAPI-FACTS §3-§4.
//
// Every object carries two condition lists: v1beta2 vocabulary (metav1 conditions, reason required,
// observedGeneration = the object's generation, as CAPI's conditions.Set does) and v1beta1 vocabulary
// (CAPI conditions: severity on False, True without reason). Which one is `conditions` and which
// `otherVersionConditions` depends on the version the object is served in.
//
// Deliberate differences from CAPI: events are emitted on changes, not on every reconcile (CAPI records
// RemediationRestricted and MachineMarkedUnhealthy each time); conditions keep their order instead of
// being re-sorted, and a v1beta1-vocabulary lastTransitionTime moves only with the status
// (src/capi/conditions.ts setCondition); deleting Machines are never patched (health.ts does not judge them).
import { findCondition, setCondition } from '../capi/conditions.ts';
import {
  ANNOTATIONS,
  type CapiVersion,
  type Condition,
  type Machine,
  type MachineHealthCheck,
} from '../capi/types.ts';
import type { HealthEvaluation, HealthReasonCode } from './health.ts';
import { remediationAllowed, type ShortCircuit } from './short-circuit.ts';

export interface MhcPlanInput {
  mhc: MachineHealthCheck;
  /** From evaluateHealth over `machines`. */
  evaluation: HealthEvaluation;
  /** Adapted Machines: the same list given to evaluateHealth. */
  machines: readonly Machine[];
  /** Remediation requests (template kind minus "Template") in the MHC namespace, by name. */
  requests: ReadonlyMap<string, { deleting: boolean }>;
  now: Date;
}

/** The status to write: counters as in both API versions, both condition lists (see the header). */
export type MhcPlanStatus = MachineHealthCheck['status'] & {
  conditions: Condition[];
  otherVersionConditions: Condition[];
};

export interface MachineConditionsUpdate {
  machine: string;
  resourceVersion?: string;
  /** Full lists, for conditionsPatch(machine.version, conditions, {otherVersion, resourceVersion}). */
  conditions: Condition[];
  otherVersionConditions: Condition[];
}

export interface MhcEvent {
  on: { kind: 'MachineHealthCheck' } | { kind: 'Machine'; name: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface MhcPlan {
  /** Undefined when the MHC status would not change: no write. */
  status?: MhcPlanStatus;
  /** Only Machines whose conditions change. */
  machineConditions: MachineConditionsUpdate[];
  /** Machine names (sorted) that get a remediation request now; the request is named after the Machine. */
  createRequests: string[];
  /** Requests to delete: their Machine is healthy again. */
  deleteRequests: string[];
  events: MhcEvent[];
  /** The short-circuit verdict; undefined when the MHC is paused or its configuration is invalid. */
  allowed: ShortCircuit | undefined;
}

const HCS = 'HealthCheckSucceeded';
const WAITING = 'WaitingForRemediation';

/** v1beta1 spellings of HealthCheckSucceeded=False reasons (api/core/v1beta2/v1beta1_condition_consts.go). */
const V1BETA1_REASON: Partial<Record<HealthReasonCode, string>> = {
  HasRemediateAnnotation: 'HasRemediateMachineAnnotation',
  NodeDeleted: 'NodeNotFound',
  // CAPI's UnhealthyMachineConditionV1Beta1Reason is the string "UnhealthyMachine".
};

/** Both vocabularies of one object's conditions, updated in place by `set`. */
interface Lists {
  v2: Condition[];
  v1: Condition[];
}
type Owner = Pick<Machine, 'version' | 'conditions' | 'otherVersionConditions'>;

function listsOf(o: Owner): Lists {
  const other = [...(o.otherVersionConditions ?? [])];
  return o.version === 'v1beta2'
    ? { v2: [...o.conditions], v1: other }
    : { v2: other, v1: [...o.conditions] };
}

function ownOther(
  version: CapiVersion,
  l: Lists,
): { conditions: Condition[]; otherVersionConditions: Condition[] } {
  return version === 'v1beta2'
    ? { conditions: l.v2, otherVersionConditions: l.v1 }
    : { conditions: l.v1, otherVersionConditions: l.v2 };
}

type Status = Condition['status'];
/** metav1 shape: message is written as '' when absent, so it is built that way to compare equal later. */
const v2 = (type: string, status: Status, reason: string, message: string, generation: number) => ({
  type,
  status,
  reason,
  message,
  observedGeneration: generation,
});
/** CAPI v1beta1 shape: True carries nothing else; False carries a reason and severity. */
const v1 = (type: string, status: Status, reason?: string, message?: string, severity?: string) => ({
  type,
  status,
  ...(reason ? { reason } : {}),
  ...(message ? { message } : {}),
  ...(status === 'False' && severity ? { severity } : {}),
});

/** Equal as written: '' and absent are the same, severity only counts on False. */
const key = (c: Condition): string =>
  JSON.stringify([
    c.type,
    c.status,
    c.reason ?? '',
    c.message ?? '',
    c.lastTransitionTime ?? '',
    c.status === 'False' ? (c.severity ?? '') : '',
    c.observedGeneration ?? null,
  ]);
const sameList = (a: readonly Condition[], b: readonly Condition[]): boolean =>
  a.length === b.length && a.every((c, i) => key(c) === key(b[i]!));
const sameLists = (a: Lists, b: Lists): boolean => sameList(a.v2, b.v2) && sameList(a.v1, b.v1);

/** The status to write, or undefined when counters and both lists equal what the MHC has. */
function statusIfChanged(
  mhc: MachineHealthCheck,
  counters: MachineHealthCheck['status'],
  l: Lists,
): MhcPlanStatus | undefined {
  const s = mhc.status;
  const same =
    s.expectedMachines === counters.expectedMachines &&
    s.currentHealthy === counters.currentHealthy &&
    s.remediationsAllowed === counters.remediationsAllowed &&
    s.observedGeneration === counters.observedGeneration &&
    (s.targets ?? []).join('\n') === (counters.targets ?? []).join('\n') &&
    sameLists(listsOf(mhc), l);
  return same ? undefined : { ...counters, ...ownOther(mhc.version, l) };
}

/**
 * Sets RemediationAllowed=False in both vocabularies; true when it newly became False or its
 * reason or message changed, which is when a Warning is worth recording.
 */
function restrict(l: Lists, reason: string, message: string, generation: number, now: Date): boolean {
  const before = findCondition(l.v2, 'RemediationAllowed');
  l.v2 = setCondition(l.v2, v2('RemediationAllowed', 'False', reason, message, generation), now);
  l.v1 = setCondition(l.v1, v1('RemediationAllowed', 'False', reason, message, 'Warning'), now);
  return before?.status !== 'False' || before.reason !== reason || (before.message ?? '') !== message;
}

export function planMhc(x: MhcPlanInput): MhcPlan {
  const { mhc, evaluation: e, now } = x;
  const generation = mhc.meta.generation;
  const plan: MhcPlan = {
    machineConditions: [],
    createRequests: [],
    deleteRequests: [],
    events: [],
    allowed: undefined,
  };
  const warn = (reason: string, message: string) =>
    plan.events.push({ on: { kind: 'MachineHealthCheck' }, type: 'Warning', reason, message });
  const l = listsOf(mhc);

  if (!e.ok) {
    // CAPI fails the reconcile here and writes nothing; we say why on the MHC instead. observedGeneration
    // stays: CAPI patches it only after a successful reconcile.
    if (restrict(l, 'InvalidConfiguration', e.message, generation, now))
      warn('InvalidConfiguration', e.message);
    const status = statusIfChanged(mhc, { ...mhc.status, remediationsAllowed: 0 }, l);
    return { ...plan, ...(status ? { status } : {}) };
  }

  // EnsurePausedCondition: Paused exists only in the v1beta2 vocabulary (False/NotPaused when running);
  // a paused MHC returns before anything else is computed or written.
  l.v2 = setCondition(
    l.v2,
    e.paused
      ? v2('Paused', 'True', 'Paused', e.paused, generation)
      : v2('Paused', 'False', 'NotPaused', '', generation),
    now,
  );
  if (e.paused) {
    const status = statusIfChanged(mhc, mhc.status, l);
    return { ...plan, ...(status ? { status } : {}) };
  }

  const allowed = remediationAllowed(e.expectedMachines, e.unhealthy, mhc);
  plan.allowed = allowed;
  const machines = new Map(
    x.machines.filter((m) => m.meta.namespace === mhc.meta.namespace).map((m) => [m.meta.name, m]),
  );
  const template = mhc.remediationTemplate;
  const mhcRef = `${mhc.meta.namespace}/${mhc.meta.name}`;
  let newlyUnhealthy = false;

  const byName = (a: { machine: string }, b: { machine: string }) => (a.machine < b.machine ? -1 : 1);
  for (const t of [...e.targets].sort(byName)) {
    const m = machines.get(t.machine);
    // Pending, unknown and deleting targets keep whatever they have: CAPI only writes verdicts.
    if (!m || m.meta.deletionTimestamp || (t.state !== 'healthy' && t.state !== 'unhealthy')) continue;
    const before = listsOf(m);
    const ml = listsOf(m);
    const mg = m.meta.generation;
    const set = (
      c2: Omit<Condition, 'lastTransitionTime'> | undefined,
      c1?: Omit<Condition, 'lastTransitionTime'>,
    ) => {
      if (c2) ml.v2 = setCondition(ml.v2, c2, now);
      if (c1) ml.v1 = setCondition(ml.v1, c1, now);
    };

    if (t.state === 'healthy') {
      set(v2(HCS, 'True', 'HealthCheckSucceeded', '', mg), v1(HCS, 'True'));
      // patchHealthyTargets runs only when remediation is allowed. It leaves ExternallyRemediated and
      // OwnerRemediated alone (the latter is the MachineSet's to remove).
      const req = x.requests.get(t.machine);
      if (allowed.allowed && template && req && !req.deleting) plan.deleteRequests.push(t.machine);
    } else {
      const wasFalse = findCondition(ml.v2, HCS)?.status === 'False';
      newlyUnhealthy ||= !wasFalse;
      // CAPI leaves the v1beta1 NodeNotFound message empty.
      const v1message = t.code === 'NodeDeleted' ? undefined : t.message;
      set(
        v2(HCS, 'False', t.code, t.message, mg),
        v1(HCS, 'False', V1BETA1_REASON[t.code] ?? t.code, v1message, 'Warning'),
      );
      let marked = false;
      if (allowed.allowed && !(ANNOTATIONS.paused in m.meta.annotations)) {
        if (template) {
          // CAPI returns from patchUnhealthyTargets at the first Machine whose request exists, which
          // starves the rest of the list; we skip that Machine and go on. A deleting request also
          // counts as existing (CAPI's Get finds it), so it is not recreated until it is gone.
          if (!x.requests.has(t.machine)) {
            plan.createRequests.push(t.machine);
            // Only a v1beta2 condition exists for this (no v1beta1 counterpart in CAPI).
            set(v2('ExternallyRemediated', 'False', WAITING, '', mg));
            marked = true;
          }
        } else {
          // Set only when missing or True: a remediation in progress belongs to the owner. CAPI
          // checks each vocabulary on its own.
          const fresh = (c: Condition | undefined) => c === undefined || c.status === 'True';
          if (fresh(findCondition(ml.v2, 'OwnerRemediated'))) {
            set(v2('OwnerRemediated', 'False', WAITING, 'Waiting for remediation', mg));
            marked = true;
          }
          if (fresh(findCondition(ml.v1, 'OwnerRemediated'))) {
            set(undefined, v1('OwnerRemediated', 'False', WAITING, undefined, 'Warning'));
            marked = true;
          }
        }
        // Announced when the health check newly fails or remediation starts now (it may have been
        // short-circuited when the check failed), not on every reconcile.
        if (!wasFalse || marked)
          plan.events.push({
            on: { kind: 'Machine', name: t.machine },
            type: 'Normal',
            reason: 'MachineMarkedUnhealthy',
            message: `Machine ${m.meta.namespace}/${m.meta.name} has been marked as unhealthy by ${mhcRef}`,
          });
      }
    }

    if (!sameLists(before, ml))
      plan.machineConditions.push({
        machine: t.machine,
        ...(m.meta.resourceVersion ? { resourceVersion: m.meta.resourceVersion } : {}),
        ...ownOther(m.version, ml),
      });
  }
  plan.createRequests.sort();
  plan.deleteRequests.sort();

  if (allowed.allowed) {
    l.v2 = setCondition(l.v2, v2('RemediationAllowed', 'True', 'RemediationAllowed', '', generation), now);
    l.v1 = setCondition(l.v1, v1('RemediationAllowed', 'True'), now);
  } else {
    const changed = restrict(l, allowed.reason, allowed.message, generation, now);
    // CAPI skips the event when no target is unhealthy (only starting ones), to avoid misleading.
    const unhealthy = e.targets.some((t) => t.state === 'unhealthy');
    if (unhealthy && (changed || newlyUnhealthy)) warn('RemediationRestricted', allowed.message);
  }

  const status = statusIfChanged(
    mhc,
    {
      expectedMachines: e.expectedMachines,
      currentHealthy: e.currentHealthy,
      remediationsAllowed: allowed.remediationsAllowed,
      observedGeneration: generation,
      targets: e.targets.map((t) => t.machine).sort(),
    },
    l,
  );
  return { ...plan, ...(status ? { status } : {}) };
}
