// Which Machines the delete protocol may take, and which groups it may shrink, with the reason when not.
// Pure: scale-down (src/autoscaler) and remediation (src/remediation) call these on their snapshot before
// they choose, and the executor calls them again on fresh reads right before it claims and deletes.
import { findCondition } from '../capi/conditions.ts';
import { ANNOTATIONS, MACHINE_FINALIZER, type Condition, type Machine } from '../capi/types.ts';
import { markOf, REMEDIATION_ANNOTATION, type Purpose } from './records.ts';

export interface MachineContext {
  /** The Cluster (spec.paused or the paused annotation) or the owning MachineSet/Deployment is paused. */
  paused: boolean;
  /** The operation asking, so a Machine it already claimed stays eligible for it. */
  operationId?: string;
  purpose: Purpose;
}

const IN_PLACE_UPDATE = 'in-place-updates.internal.cluster.x-k8s.io/update-in-progress';

const conditions = (m: Machine): Condition[] => [...m.conditions, ...(m.otherVersionConditions ?? [])];

/**
 * Why `m` may not be deleted by the protocol now; undefined when it may. Someone else's remediation,
 * deletion or claim always wins: two actors on one Machine is how the wrong machine gets deleted.
 */
export function whyNotDeletable(m: Machine, c: MachineContext): string | undefined {
  const a = m.meta.annotations;
  if (m.meta.deletionTimestamp) return 'it is already being deleted';
  const { mark, error } = markOf(a);
  if (error) return `its operation mark is unreadable (${error})`;
  if (mark && mark.id !== c.operationId) return `operation ${mark.id} (${mark.purpose}) holds it`;
  if (c.paused) return 'its cluster or group is paused';
  if (ANNOTATIONS.paused in a) return `it has ${ANNOTATIONS.paused}`;
  if (!m.ownerMachineSet) return 'it is not controlled by a MachineSet';
  if (!m.meta.finalizers.includes(MACHINE_FINALIZER))
    return `CAPI has not taken it over yet (no ${MACHINE_FINALIZER} finalizer); deleting it would skip the hold`;
  if (!mark && ANNOTATIONS.deleteMachine in a)
    return `someone else marked it with ${ANNOTATIONS.deleteMachine}`;
  if (REMEDIATION_ANNOTATION in a && c.purpose !== 'remediation') return 'this service is remediating it';
  if (IN_PLACE_UPDATE in a) return 'CAPI is updating it in place';
  if (c.purpose === 'remediation' && ANNOTATIONS.skipRemediation in a)
    return `it has ${ANNOTATIONS.skipRemediation}`;
  // CAPI's own remediation: the MachineHealthCheck handed it to its owner or to an external remediator.
  const cs = conditions(m);
  if (findCondition(cs, 'OwnerRemediated')?.status === 'False')
    return 'its owner is remediating it (OwnerRemediated=False)';
  if (externalRemediationInProgress(cs) && c.purpose !== 'remediation')
    return 'an external remediation is in progress (ExternallyRemediated=False)';
  if (ANNOTATIONS.remediateMachine in a && c.purpose !== 'remediation')
    return `it is marked for remediation (${ANNOTATIONS.remediateMachine})`;
  return undefined;
}

/**
 * An external remediation runs: ExternallyRemediated=False while the Machine is not healthy again. CAPI
 * never clears the condition after a successful remediation, so on its own it would keep a recovered
 * Machine from ever being scaled down.
 */
export function externalRemediationInProgress(conditions: readonly Condition[]): boolean {
  return (
    findCondition(conditions, 'ExternallyRemediated')?.status === 'False' &&
    findCondition(conditions, 'HealthCheckSucceeded')?.status !== 'True'
  );
}

export interface GroupFacts {
  replicas: number | undefined;
  minSize: number;
  /** Decrements registered and not yet made (the ledger's pending entries). */
  pending: number;
  ledgerError?: string;
  paused: boolean;
  /** MachineSets of the group with replicas or machines (a MachineSet group: 1). */
  activeMachineSets: number;
  /** A scale-down needs room above the min size; a remediation (replaced, not removed) does not. */
  checkMinSize: boolean;
  /** A MachineSet group controlled by a MachineDeployment: the Deployment owns its replicas. */
  ownerMachineDeployment?: string;
}

/** Why the group may not lose one more Machine through the protocol now; undefined when it may. */
export function whyGroupCannotShrink(g: GroupFacts): string | undefined {
  if (g.ledgerError) return `its replicas ledger is unreadable (${g.ledgerError})`;
  if (g.paused) return 'it is paused';
  if (g.replicas === undefined) return 'it has no spec.replicas';
  if (g.ownerMachineDeployment)
    return `its MachineDeployment ${g.ownerMachineDeployment} owns its replicas: scale that instead`;
  if (g.activeMachineSets > 1)
    return `a rollout is in progress (${g.activeMachineSets} MachineSets); CAPI, not us, picks the MachineSet that shrinks`;
  if (g.checkMinSize && g.replicas - g.pending - 1 < g.minSize)
    return g.pending > 0
      ? `it would go below its min size ${g.minSize} (${g.replicas} replicas, ${g.pending} removals in flight)`
      : `it is at its min size ${g.minSize}`;
  return undefined;
}
