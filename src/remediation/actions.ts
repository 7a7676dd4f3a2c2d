// The writes remediation makes on management objects: the reboot hook on the infrastructure object, our
// ownership annotation on the Machine, and OwnerRemediated=False when it gives up. Every write carries a
// resourceVersion precondition where a decision depends on what was read, so a 409 means "read again".
import { conditionsPatch } from '../capi/adapters/index.ts';
import { setCondition } from '../capi/conditions.ts';
import type { Condition, Machine } from '../capi/types.ts';
import { kindPath } from '../kube/apipath.ts';
import type { KubeClient } from '../kube/client.ts';
import type { ObjectRef } from '../kube/events.ts';
import { REMEDIATION_ANNOTATION } from '../machines/records.ts';
import { capiObjectPath } from '../machines/snapshot.ts';
import { REBOOT_REQUESTED_ANNOTATION, REBOOTED_ANNOTATION } from './contract.ts';

/** URL of the Machine's infrastructure object; always in the Machine's namespace. */
export function infraPath(m: Machine, apiVersion: string): string {
  return kindPath(apiVersion, m.meta.namespace, m.infrastructureRef.kind, m.infrastructureRef.name);
}

/** The Machine as the object of an Event. */
export const machineRef = (m: Machine): ObjectRef => ({
  apiVersion: `cluster.x-k8s.io/${m.version}`,
  kind: 'Machine',
  namespace: m.meta.namespace,
  name: m.meta.name,
  uid: m.meta.uid,
});

export type RebootState = 'not-requested' | 'requested' | 'answered';

/** Where the reboot of this attempt stands, from the infrastructure object's annotations. */
export function rebootState(infra: unknown, token: string): RebootState {
  const a = (infra as { metadata?: { annotations?: Record<string, string> } })?.metadata?.annotations ?? {};
  if (a[REBOOTED_ANNOTATION] === token) return 'answered';
  return a[REBOOT_REQUESTED_ANNOTATION] === token ? 'requested' : 'not-requested';
}

/** Asks the provider to reboot (idempotent: the same token twice is one reboot). */
export async function requestReboot(client: KubeClient, path: string, token: string): Promise<void> {
  await client.mergePatch(path, { metadata: { annotations: { [REBOOT_REQUESTED_ANNOTATION]: token } } });
}

/**
 * Puts (value) or removes (undefined) our remediation mark on the Machine: scale-down and the delete
 * protocol leave a marked Machine alone. With resourceVersion, only on the Machine the decision saw.
 */
export async function setRemediationMark(
  client: KubeClient,
  m: Machine,
  value: string | undefined,
  resourceVersion?: string,
): Promise<void> {
  await client.mergePatch(
    capiObjectPath(m.version, 'machines', m.meta.namespace, m.meta.name),
    { metadata: { annotations: { [REMEDIATION_ANNOTATION]: value ?? null } } },
    resourceVersion,
  );
}

/**
 * The external remediator's way to hand a Machine to its owner (CAPI-FACTS §4.2/4.3): OwnerRemediated=False,
 * reason WaitingForRemediation, in both condition lists; the MachineSet then deletes and replaces it.
 */
export async function handToOwner(client: KubeClient, m: Machine, message: string, now: Date): Promise<void> {
  const own = (list: readonly Condition[], v1beta1: boolean) =>
    setCondition(
      list,
      {
        type: 'OwnerRemediated',
        status: 'False',
        reason: 'WaitingForRemediation',
        message,
        ...(v1beta1 ? { severity: 'Warning' } : {}),
      },
      now,
    );
  const patch = conditionsPatch(m.version, own(m.conditions, m.version === 'v1beta1'), {
    otherVersion: own(m.otherVersionConditions ?? [], m.version === 'v1beta2'),
    resourceVersion: m.meta.resourceVersion,
  });
  await client.mergePatch(
    capiObjectPath(m.version, 'machines', m.meta.namespace, m.meta.name) + patch.pathSuffix,
    patch.body,
  );
}
