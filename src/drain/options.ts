// Which drain a Machine's node gets: from the service's drain configuration, the purpose (scale-down or
// Machine deletion) and what CAPI carries on the Machine (its node drain timeout, the annotation that
// excludes its node from draining). Pure.
import type { Machine } from '../capi/types.ts';
import type { Config } from '../config/schema.ts';
import type { DrainOptions } from './drainer.ts';
import { MACHINE_DELETION_POLICY, SCALE_DOWN_POLICY, type DrainPolicy } from './filters.ts';

/** CAPI skips the drain of a Machine's node when the Machine carries this annotation (any value). */
export const EXCLUDE_NODE_DRAINING_ANNOTATION = 'machine.cluster.x-k8s.io/exclude-node-draining';

export type DrainPurpose = 'scale-down' | 'machine-deletion';

export type DrainDecision =
  { drain: false; reason: string } | { drain: true; options: Omit<DrainOptions, 'signal' | 'eventTargets'> };

export function drainFor(purpose: DrainPurpose, config: Config['drain'], machine?: Machine): DrainDecision {
  if (machine && machine.meta.annotations[EXCLUDE_NODE_DRAINING_ANNOTATION] !== undefined) {
    return {
      drain: false,
      reason: `Machine ${machine.meta.namespace}/${machine.meta.name} has ${EXCLUDE_NODE_DRAINING_ANNOTATION}`,
    };
  }
  // CAPI: the Machine's nodeDrainTimeout wins; 0 (or unset on the Machine) means no limit there, so only
  // a Machine that sets it overrides the service's default.
  const fromMachine = machine?.deletion.nodeDrainTimeoutSeconds;
  const base = purpose === 'scale-down' ? SCALE_DOWN_POLICY : MACHINE_DELETION_POLICY;
  return {
    drain: true,
    options: {
      // Scale-down keeps cluster-autoscaler's rules; Machine deletion forces as CAPI does, within the
      // kubectl-style switches of the configuration.
      policy:
        purpose === 'scale-down'
          ? base
          : {
              ...base,
              localStorage: config.deleteEmptyDirData ? 'evict' : 'block',
              ignoreDaemonSets: config.ignoreDaemonSets,
            },
      timeoutMs: fromMachine !== undefined ? fromMachine * 1000 : config.nodeDrainTimeout,
      podEvictionTimeoutMs: config.podEvictionTimeout,
      gracePeriodSeconds: config.gracePeriodSeconds,
      maxGracePeriodSeconds: config.maxGracefulTerminationSeconds,
      onFailure:
        config.onFailure === 'auto'
          ? purpose === 'scale-down'
            ? 'uncordon'
            : 'leave-cordoned'
          : config.onFailure,
      skipWaitForDeleteTimeoutSeconds: config.skipWaitForDeleteTimeoutSeconds,
    },
  };
}

/**
 * The scale-down drain policy from cluster-autoscaler's switches (--skip-nodes-with-local-storage,
 * -system-pods, -custom-controller-pods): each one off relaxes its rule from "blocks" to "evict".
 */
export function scaleDownPolicy(a: Config['autoscaler']): Readonly<DrainPolicy> {
  return Object.freeze({
    ...SCALE_DOWN_POLICY,
    localStorage: a.skipNodesWithLocalStorage ? 'block' : 'evict',
    kubeSystemWithoutPdb: a.skipNodesWithSystemPods ? 'block' : 'evict',
    ...(a.skipNodesWithCustomControllerPods
      ? { customControllers: 'block' }
      : { customControllers: undefined }),
  });
}

/**
 * A scale-down drain: the drain configuration, with cluster-autoscaler's own limits for scale-down
 * (--max-pod-eviction-time, --max-graceful-termination-sec) and its pod rules. Always a drain:
 * CAPI's exclude-node-draining is about CAPI's own drain when a Machine is deleted; a scale-down takes
 * a node away while its pods are still wanted, so they go through the Eviction API and their PDBs, as
 * cluster-autoscaler does whatever the Machine says.
 */
export function scaleDownDrain(config: Config, machine?: Machine): DrainDecision {
  const kept = machine && {
    ...machine,
    meta: {
      ...machine.meta,
      annotations: Object.fromEntries(
        Object.entries(machine.meta.annotations).filter(([k]) => k !== EXCLUDE_NODE_DRAINING_ANNOTATION),
      ),
    },
  };
  const d = drainFor('scale-down', config.drain, kept);
  if (!d.drain) return d;
  return {
    drain: true,
    options: {
      ...d.options,
      policy: scaleDownPolicy(config.autoscaler),
      podEvictionTimeoutMs: config.autoscaler.maxPodEvictionTime,
      maxGracePeriodSeconds: config.autoscaler.maxGracefulTerminationSeconds,
    },
  };
}
