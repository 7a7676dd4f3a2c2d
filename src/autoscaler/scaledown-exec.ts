// Carries out one removal of a scale-down plan: re-check the node against the plan, then the atomic delete
// protocol (src/machines) with the PDB-aware drain (src/drain) as its drain step. The protocol's claim on
// the Machine is the ownership mark remediation honours, and it is set before the first eviction.
// Outcomes become events on the Node and the Machine, metrics, a span and a log line.
import type { EventRecorder, ObjectRef } from '../kube/events.ts';
import { drainFailureText, type Drainer } from '../drain/drainer.ts';
import { scaleDownDrain } from '../drain/options.ts';
import { classifyPod, type DrainPolicy, type PdbLike, type PodLike } from '../drain/filters.ts';
import type { MachineDeleter, OpResult } from '../machines/executor.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { Logger } from '../runtime/log.ts';
import type { Config } from '../config/schema.ts';
import { waitForVolumesAfterDrain } from '../drain/after-drain.ts';
import type { KubeObject } from '../kube/informer.ts';
import { inSpan, logCorrelation, recordDecision } from '../tracing/spans.ts';
import type { NodeMachine } from './scaledown-inputs.ts';
import { SCALE_DOWN_DISABLED_ANNOTATION, type Removal } from './scaledown.ts';

/** Set on a node with the scale-down drain's cordon: a cordon left by a crash is found and undone. */
export const SCALE_DOWN_CORDON_ANNOTATION = 'capi-autopilot.io/scale-down-cordon';

export interface RemovalContext {
  cluster: string;
  removal: Removal;
  machine: NodeMachine;
  /** Ready when planned: an unready node's removal is counted as `unready`, not `underutilized`. */
  ready: boolean;
  utilizationText: string;
  config: Config;
  policy: Readonly<DrainPolicy>;
  deleter: MachineDeleter;
  drainer: Drainer;
  /** The workload cluster's nodes, pods (indexed by `node`), PDBs and DaemonSets, for the re-check. */
  nodes: { get(key: string): KubeObject | undefined };
  pods: { byIndex(name: string, value: string): KubeObject[] };
  pdbs: () => readonly PdbLike[];
  daemonSetExists: (namespace: string, name: string) => boolean;
  nodeEvents: EventRecorder;
  machineEvents: EventRecorder;
  machineRef: ObjectRef;
  metrics: Metrics;
  log: Logger;
  signal: AbortSignal;
}

export type RemovalOutcome =
  | { kind: 'removed' }
  /** Not removed; the plan's cooldown after failure applies (unless the service is stopping). */
  | { kind: 'failed'; code: FailureCode; reason: string }
  /** Stopped by shutdown or lost leadership: recovery finishes or undoes it. */
  | { kind: 'stopped'; reason: string };

/** failed_scale_downs_total's reason label. */
export type FailureCode = 'changed' | 'drain' | 'refused' | 'replaced' | 'rolled_back' | 'api_error';

export async function executeRemoval(c: RemovalContext): Promise<RemovalOutcome> {
  const { removal: r, cluster } = c;
  const node: ObjectRef = { apiVersion: 'v1', kind: 'Node', name: r.node };
  const kind = r.empty ? 'ScaleDownEmpty' : 'ScaleDown';
  const why = r.empty
    ? 'empty (no pod to move)'
    : `${c.utilizationText}; ${r.destinations.length} pod(s) to move: ${r.destinations
        .slice(0, 5)
        .map((d) => `${d.pod} → ${d.to}`)
        .join(', ')}${r.destinations.length > 5 ? ', …' : ''}`;
  const label = { cluster, node_group: r.group };
  return inSpan(
    'autoscaler.scale_down',
    {
      attributes: {
        'capi_autopilot.node_group': r.group,
        'k8s.node.name': r.node,
        'capi_autopilot.machine': c.machine.name,
        'capi_autopilot.decision': 'scale-down',
        'capi_autopilot.reason': r.empty ? 'empty' : c.ready ? 'underutilized' : 'unready',
      },
    },
    async () => {
      const msg = `Scale-down: removing node ${r.node} (Machine ${c.machine.name} of ${r.group}): ${why}`;
      await Promise.all([
        c.nodeEvents.record(node, 'Normal', kind, msg),
        c.machineEvents.record(c.machineRef, 'Normal', kind, msg),
      ]);
      c.log.info(
        { cluster, node: r.node, machine: c.machine.name, group: r.group, ...logCorrelation() },
        msg,
      );
      const drain = scaleDownDrain(c.config, c.machine.machine);
      let cordonedByDrain = false;
      /** Why the drain step gave up (the protocol then rolls the claim back). */
      let gaveUp: { code: 'changed' | 'drain'; reason: string } | undefined;
      const result: OpResult = await c.deleter.delete({
        namespace: c.machine.namespace,
        machine: c.machine.name,
        uid: c.machine.uid,
        group: c.machine.group,
        purpose: 'scale-down',
        signal: c.signal,
        drain: async (signal) => {
          // The Machine is claimed now: nothing else starts on it. The node must still be what was planned.
          const changed = recheck(c);
          if (changed) {
            gaveUp = { code: 'changed', reason: `changed since the decision: ${changed}` };
            return gaveUp.reason;
          }
          if (!drain.drain) {
            c.log.info({ node: r.node, reason: drain.reason }, 'scale-down without drain');
            return undefined;
          }
          const rep = await c.drainer.drain(r.node, {
            ...drain.options,
            signal,
            cordonAnnotation: { key: SCALE_DOWN_CORDON_ANNOTATION, value: new Date().toISOString() },
            eventTargets: [{ recorder: c.machineEvents, ref: c.machineRef }],
          });
          cordonedByDrain = rep.cordonedByDrain;
          if (rep.result === 'succeeded') {
            const { volumeDetachTimeout } = c.config.drain;
            await waitForVolumesAfterDrain(
              c.drainer,
              c.machine.machine,
              r.node,
              volumeDetachTimeout,
              signal,
              c.log,
            );
            return undefined;
          }
          gaveUp = { code: 'drain', reason: drainFailureText(rep) };
          return gaveUp.reason;
        },
        // A rollback after a successful drain (the group paused, the Machine taken by remediation):
        // the node is usable again, as cluster-autoscaler does after a failed deletion.
        undrain: async () => {
          if (cordonedByDrain) await c.drainer.uncordon(r.node, SCALE_DOWN_CORDON_ANNOTATION);
        },
      });
      const outcome = outcomeOf(result, c.signal.aborted, gaveUp);
      recordDecision(outcome.kind, outcome.kind === 'failed' ? outcome.code : outcome.kind);
      if (outcome.kind === 'removed') {
        c.metrics.scaledDownNodes.inc({
          ...label,
          reason: r.empty ? 'empty' : c.ready ? 'underutilized' : 'unready',
        });
      } else if (outcome.kind === 'failed') {
        c.metrics.failedScaleDowns.inc({ ...label, reason: outcome.code });
        const text = `Scale-down of node ${r.node} (Machine ${c.machine.name}) failed: ${outcome.reason}`;
        await Promise.all([
          c.nodeEvents.record(node, 'Warning', 'ScaleDownFailed', text),
          c.machineEvents.record(c.machineRef, 'Warning', 'ScaleDownFailed', text),
        ]);
      }
      c.log[outcome.kind === 'removed' ? 'info' : 'warn'](
        { cluster, node: r.node, machine: c.machine.name, group: r.group, outcome, steps: result.steps },
        `scale-down ${outcome.kind}`,
      );
      return outcome;
    },
  );
}

function outcomeOf(
  r: OpResult,
  aborted: boolean,
  gaveUp: { code: 'changed' | 'drain'; reason: string } | undefined,
): RemovalOutcome {
  const reason = r.reason ?? r.outcome;
  switch (r.outcome) {
    case 'deleted':
      return { kind: 'removed' };
    case 'replaced':
      // The Machine went, but the group kept its size: CAPI replaces it (someone else's write won).
      return { kind: 'failed', code: 'replaced', reason: `the Machine was deleted but replaced: ${reason}` };
    case 'refused':
      return { kind: 'failed', code: 'refused', reason };
    case 'rolled-back':
      if (aborted) return { kind: 'stopped', reason: 'the service stopped before the deletion' };
      if (gaveUp) return { kind: 'failed', ...gaveUp };
      return { kind: 'failed', code: 'rolled_back', reason: `rolled back: ${reason}` };
    case 'nothing':
      return { kind: 'failed', code: 'rolled_back', reason: 'the Machine was gone before anything was done' };
    default:
      if (aborted) return { kind: 'stopped', reason };
      return {
        kind: 'failed',
        code: 'api_error',
        reason: `${reason}; recovery finishes or undoes the operation`,
      };
  }
}

/** What makes the plan stale: a pod that now blocks, or pods to evict that the plan did not place. */
function recheck(c: RemovalContext): string | undefined {
  const placed = new Set(c.removal.destinations.map((d) => d.pod));
  const ctx = {
    now: Date.now(),
    daemonSetExists: c.daemonSetExists,
    pdbsInNamespace: c.pdbs(),
    policy: c.policy,
  };
  const node = c.nodes.get(c.removal.node);
  if (!node) return 'the node is gone';
  if (node.metadata.annotations?.[SCALE_DOWN_DISABLED_ANNOTATION] === 'true')
    return `the node is now annotated ${SCALE_DOWN_DISABLED_ANNOTATION}=true`;
  for (const raw of c.pods.byIndex('node', c.removal.node)) {
    const p = raw as unknown as PodLike;
    const k = classifyPod(p, ctx);
    const name = `${p.metadata.namespace}/${p.metadata.name}`;
    if (k.action === 'block') return `pod ${name} now blocks the drain: ${k.detail}`;
    if (k.action === 'evict' && !placed.has(name))
      return `pod ${name} arrived and was not placed by the plan`;
  }
  return undefined;
}
