// The writes of the delete protocol, one per step, each with the resourceVersion that `decide` looked at,
// and the trail they leave (events on the Machine and the group, metrics). Returns false when a step has
// nothing to write: the caller treats that as stuck instead of looping on it.
import { kubeTime } from '../kube/time.ts';
import { ANNOTATIONS, type CapiVersion } from '../capi/types.ts';
import type { EventRecorder, EventType, ObjectRef } from '../kube/events.ts';
import type { KubeClient } from '../kube/client.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { Logger } from '../runtime/log.ts';
import { actionAnnotations } from '../tracing/spans.ts';
import type { Step } from './protocol.ts';
import {
  applyDecrement,
  formatLedger,
  formatMark,
  HOLD_HOOK_ANNOTATION,
  LEDGER_ANNOTATION,
  markOf,
  OPERATION_ANNOTATION,
  prune,
  skip,
  type Ledger,
} from './records.ts';
import {
  capiObjectPath,
  groupKey,
  groupPath,
  type GroupRef,
  type OpTarget,
  type Snapshot,
} from './snapshot.ts';

export interface ActionDeps {
  client: KubeClient;
  version: CapiVersion;
  /** This service instance; marks carry it, and another instance's marks are recovered, not joined. */
  holder: string;
  log: Logger;
  metrics?: Metrics;
  /** Events on Machines and groups (management cluster). */
  events?: EventRecorder;
  /** Workload cluster name, for metric labels. */
  cluster?: string;
  now: () => Date;
}

export class Actions {
  private readonly d: ActionDeps;

  constructor(d: ActionDeps) {
    this.d = d;
  }

  async act(t: OpTarget, s: Snapshot, step: Step): Promise<boolean> {
    const m = s.machine;
    const now = kubeTime(this.d.now());
    const machinePath = capiObjectPath(this.d.version, 'machines', t.namespace, t.machine);
    switch (step.kind) {
      case 'claim':
        await this.d.client.mergePatch(
          machinePath,
          {
            metadata: {
              annotations: {
                [OPERATION_ANNOTATION]: formatMark({
                  id: t.id,
                  purpose: t.purpose,
                  group: groupKey(t.group),
                  holder: this.d.holder,
                  at: now,
                }),
                [HOLD_HOOK_ANNOTATION]: t.id,
                // What cluster-autoscaler sets (its value: our mark's time, so a rollback removes only ours):
                // CAPI's MachineSet prefers this Machine if the set shrinks meanwhile.
                [ANNOTATIONS.deleteMachine]: now,
                ...actionAnnotations(this.d.now()),
              },
            },
          },
          m!.meta.resourceVersion,
        );
        return true;
      case 'delete':
        await this.d.client.delete(machinePath, {
          uid: m!.meta.uid,
          resourceVersion: m!.meta.resourceVersion,
        });
        this.d.metrics?.machinesDeleted.inc({
          cluster: this.d.cluster ?? '',
          node_group: groupKey(t.group),
          reason: t.purpose.replace('-', '_'),
        });
        this.event(
          t,
          'machine',
          'Normal',
          'MachineDeleting',
          `operation ${t.id} deleted this Machine (${t.purpose}); it is held until replicas are settled`,
        );
        return true;
      case 'decrement': {
        const g = s.group!;
        const ledger = applyDecrement(s.ledger!, t.id, step.to, g.meta.generation + 1, now);
        await this.d.client.mergePatch(
          groupPath(this.d.version, t.group),
          {
            metadata: {
              annotations: { [LEDGER_ANNOTATION]: formatLedger(ledger), ...actionAnnotations(this.d.now()) },
            },
            spec: { replicas: step.to },
          },
          g.meta.resourceVersion,
        );
        this.event(
          t,
          'group',
          'Normal',
          'ReplicasDecremented',
          `${g.replicas} -> ${step.to} for Machine ${t.machine} (operation ${t.id})`,
        );
        return true;
      }
      case 'skip': {
        await this.writeLedger(
          t.group,
          skip(s.ledger!, t.id, step.reason, now),
          s.group!.meta.resourceVersion,
        );
        if (step.code === 'foreign-write') this.foreignWrite(t, s, [t.id]);
        if (step.code !== 'remediation')
          this.event(
            t,
            'group',
            'Warning',
            'DecrementSkipped',
            `Machine ${t.machine} (operation ${t.id}) is deleted without a decrement; CAPI replaces it: ${step.reason}`,
          );
        return true;
      }
      case 'release':
        if (m!.meta.annotations[HOLD_HOOK_ANNOTATION] !== t.id) return false;
        await this.d.client.mergePatch(
          machinePath,
          { metadata: { annotations: { [HOLD_HOOK_ANNOTATION]: null } } },
          m!.meta.resourceVersion,
        );
        return true;
      case 'prune':
        if (!s.ledger?.ops[t.id]) return false;
        await this.writeLedger(t.group, prune(s.ledger, t.id), s.group!.meta.resourceVersion);
        return true;
      case 'rollback':
        return this.rollback(t, s, step.reason, machinePath);
      default:
        throw new Error(`step ${step.kind} is not a write`);
    }
  }

  /**
   * Our annotations go first, the ledger entry last: a crash in between leaves a pending entry without a
   * mark, which the next decision rolls back again. Only what is ours is removed: another operation's hold,
   * or a `delete-machine` someone else set, stays.
   */
  private async rollback(t: OpTarget, s: Snapshot, reason: string, machinePath: string): Promise<boolean> {
    const m = s.machine;
    const v = s.view.machine;
    if (m && v && (v.marked || v.hooked)) {
      const mark = markOf(m.meta.annotations).mark;
      const annotations: Record<string, null> = {};
      if (v.marked) annotations[OPERATION_ANNOTATION] = null;
      if (v.hooked) annotations[HOLD_HOOK_ANNOTATION] = null;
      // Ours only if it still carries our mark's time (the claim wrote both).
      if (mark?.id === t.id && m.meta.annotations[ANNOTATIONS.deleteMachine] === mark.at)
        annotations[ANNOTATIONS.deleteMachine] = null;
      await this.d.client.mergePatch(machinePath, { metadata: { annotations } }, m.meta.resourceVersion);
      this.event(t, 'machine', 'Warning', 'DeleteRolledBack', `operation ${t.id} undone: ${reason}`);
      return true;
    }
    if (s.ledger?.ops[t.id]) {
      await this.writeLedger(t.group, prune(s.ledger, t.id), s.group!.meta.resourceVersion);
      return true;
    }
    return false;
  }

  async writeLedger(g: GroupRef, ledger: Ledger, resourceVersion: string): Promise<void> {
    await this.d.client.mergePatch(
      groupPath(this.d.version, g),
      { metadata: { annotations: { [LEDGER_ANNOTATION]: formatLedger(ledger) } } },
      resourceVersion,
    );
  }

  foreignWrite(t: OpTarget, s: Snapshot, ops: string[]): void {
    this.d.metrics?.replicaConflicts.inc({ cluster: this.d.cluster ?? '', kind: 'foreign_write' });
    this.event(
      t,
      'group',
      'Warning',
      'ReplicasChangedByOthers',
      `spec.replicas is ${s.group?.replicas}, not the ${s.ledger?.replicas} this service last wrote: another writer (kubectl scale, GitOps, a ClusterClass topology) set it; its value stands${ops.length ? ` and operations ${ops.join(', ')} will not decrement` : ''}`,
    );
    this.d.log.warn(
      { group: groupKey(t.group), namespace: t.namespace, ops },
      'replicas changed by another writer',
    );
  }

  event(t: OpTarget, on: 'machine' | 'group', type: EventType, reason: string, message: string): void {
    if (!this.d.events) return;
    const apiVersion = `cluster.x-k8s.io/${this.d.version}`;
    const ref: ObjectRef =
      on === 'machine'
        ? { apiVersion, kind: 'Machine', namespace: t.namespace, name: t.machine }
        : { apiVersion, kind: t.group.kind, namespace: t.namespace, name: t.group.name };
    void this.d.events.record(ref, type, reason, message);
  }
}
