// The Reprovision action: drain the Machine's node (PDB-aware, Machine-deletion rules) and delete the
// Machine through the atomic protocol with purpose "remediation", which never touches replicas: the
// MachineSet replaces it. Runs in the background; the request controller waits for it (actionInFlight).
import type { Machine } from '../capi/types.ts';
import { drainFailureText } from '../drain/drainer.ts';
import { waitForVolumesAfterDrain } from '../drain/after-drain.ts';
import { drainers } from '../drain/drainers.ts';
import { drainFor } from '../drain/options.ts';
import type { EventRecorder, ObjectRef } from '../kube/events.ts';
import type { MachineDeleter, OpResult } from '../machines/executor.ts';
import type { GroupRef } from '../machines/snapshot.ts';
import type { ControllerEnv } from '../service.ts';

export const REMEDIATION_CORDON_ANNOTATION = 'capi-autopilot.io/remediation-cordon';

export interface ReprovisionResult {
  ok: boolean;
  /** outcome of the delete protocol, or why it did not run. */
  outcome: OpResult['outcome'] | 'no-group' | 'not-connected';
  message: string;
}

export async function reprovision(
  env: ControllerEnv,
  deleter: MachineDeleter,
  m: Machine,
  group: GroupRef | undefined,
  o: { signal: AbortSignal; events: EventRecorder; machineRef: ObjectRef },
): Promise<ReprovisionResult> {
  if (!group)
    return {
      ok: false,
      outcome: 'no-group',
      message: 'the Machine has no MachineSet to replace it; only its owner can remediate it',
    };
  const cluster = `${m.meta.namespace}/${m.clusterName}`;
  const node = m.nodeRef;
  const drainer = node ? drainers(env).get(cluster) : undefined;
  if (node && !drainer)
    return {
      ok: false,
      outcome: 'not-connected',
      message: `workload cluster ${cluster} is not connected (or its caches are not synced): cannot drain ${node}`,
    };
  const decision = drainFor('machine-deletion', env.config.drain, m);
  let cordoned = false;
  let drainFailure: string | undefined;
  const r = await deleter.delete({
    namespace: m.meta.namespace,
    machine: m.meta.name,
    uid: m.meta.uid,
    group,
    purpose: 'remediation',
    signal: o.signal,
    drain: async (signal) => {
      // A Machine that never got a Node has nothing to drain; CAPI's exclusion annotation is honoured.
      if (!node || !drainer || !decision.drain) return undefined;
      const rep = await drainer.drain(node, {
        ...decision.options,
        signal,
        cordonAnnotation: { key: REMEDIATION_CORDON_ANNOTATION, value: new Date().toISOString() },
        eventTargets: [{ recorder: o.events, ref: o.machineRef }],
      });
      cordoned = rep.cordonedByDrain;
      if (rep.result === 'succeeded') {
        await waitForVolumesAfterDrain(
          drainer,
          m,
          node,
          env.config.drain.volumeDetachTimeout,
          signal,
          env.log,
        );
        return undefined;
      }
      drainFailure = drainFailureText(rep);
      return drainFailure;
    },
    undrain: async () => {
      if (cordoned && node && drainer) await drainer.uncordon(node, REMEDIATION_CORDON_ANNOTATION);
    },
  });
  // A remediation deletes without a decrement: "replaced" is its success.
  const ok = r.outcome === 'replaced' || r.outcome === 'deleted';
  const message = ok
    ? `Machine ${m.meta.name} drained and deleted; its MachineSet replaces it`
    : (drainFailure ?? `delete ${r.outcome}${r.reason ? `: ${r.reason}` : ''}`);
  return { ok, outcome: r.outcome, message };
}
