// The imperative shell of the delete protocol (protocol.ts): read fresh, decide, carry out one step with a
// resourceVersion precondition, repeat. A 409 or any API error only means "read again"; a crash leaves the
// operation on the objects for `recover` (the recovery controller) to finish or undo.
import { randomBytes } from 'node:crypto';
import { ANNOTATIONS, type CapiVersion } from '../capi/types.ts';
import type { EventRecorder, EventType, ObjectRef } from '../kube/events.ts';
import { isConflict, KubeError } from '../kube/errors.ts';
import type { KubeClient } from '../kube/client.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { Logger } from '../runtime/log.ts';
import type { KeyedWaiters } from '../runtime/wait.ts';
import { sleepFor } from '../runtime/wait.ts';
import { actionAnnotations, ATTR, inSpan, type Span } from '../tracing/spans.ts';
import { whyGroupCannotShrink, whyNotDeletable } from './eligibility.ts';
import { decide, phaseOf, type Mode, type Outcome, type Step } from './protocol.ts';
import {
  applyDecrement,
  formatLedger,
  formatMark,
  HOLD_HOOK_ANNOTATION,
  HOLD_HOOK_VALUE,
  LEDGER_ANNOTATION,
  OPERATION_ANNOTATION,
  pendingCount,
  prune,
  register,
  skip,
  type Ledger,
} from './records.ts';
import {
  capiObjectPath,
  groupKey,
  groupPath,
  minSizeOf,
  readSnapshot,
  type GroupRef,
  type OpTarget,
  type Snapshot,
} from './snapshot.ts';

export interface DeleterDeps {
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
  now?: () => Date;
  newId?: () => string;
  /** Longest wait between re-reads while waiting on CAPI (informers notify `wake` sooner). */
  pollMs?: number;
  /** Woken with `<namespace>/<name>` of a Machine or group when an informer sees it change. */
  wake?: KeyedWaiters;
  /** Test hook: runs before each step; a throw there is a crash between two steps. */
  beforeStep?: (opId: string, step: Step) => void | Promise<void>;
  /**
   * Test only: a deliberately broken protocol that decrements right after the delete and releases at
   * once, without CAPI's evidence or the MachineSet's observation. The fault suite must catch it.
   */
  brokenForTests?: boolean;
}

export interface DeleteRequest {
  namespace: string;
  machine: string;
  uid: string;
  group: GroupRef;
  purpose: 'scale-down' | 'remediation';
  /** Drains the Machine's node after the claim; resolves with a reason to give up, or undefined. */
  drain?: (signal: AbortSignal) => Promise<string | undefined>;
  signal?: AbortSignal;
}

export interface OpResult {
  id: string;
  /** deleted: gone with one decrement; replaced: gone, CAPI replaces it; rolled-back; refused (not started);
   * in-progress: stopped (signal) after the point of no return, recovery finishes it. */
  outcome: Outcome | 'refused' | 'in-progress';
  reason?: string;
  steps: string[];
}

/** An error thrown on purpose by a test hook: never caught by the executor's retry loop. */
export class CrashError extends Error {
  override name = 'CrashError';
}

const MAX_API_ERRORS = 8;

export class MachineDeleter {
  /** Operations this instance is running now; recovery leaves them alone. */
  readonly running = new Set<string>();
  private readonly d: Required<Pick<DeleterDeps, 'now' | 'newId' | 'pollMs'>> & DeleterDeps;

  constructor(d: DeleterDeps) {
    this.d = {
      now: () => new Date(),
      newId: () => randomBytes(6).toString('hex'),
      pollMs: 1000,
      ...d,
    };
  }

  /** Runs the whole protocol for a chosen Machine. Never throws for API errors; CrashError passes through. */
  async delete(r: DeleteRequest): Promise<OpResult> {
    const id = this.d.newId();
    this.running.add(id);
    try {
      return await this.run(id, r);
    } finally {
      this.running.delete(id);
    }
  }

  private run(id: string, r: DeleteRequest): Promise<OpResult> {
    const t: OpTarget = {
      id,
      namespace: r.namespace,
      machine: r.machine,
      uid: r.uid,
      group: r.group,
      purpose: r.purpose,
    };
    return inSpan('machines.delete', { attributes: this.attrs(t) }, async (span) => {
      const refused = await this.register(t);
      if (refused) {
        span.setAttribute(ATTR.result, 'refused');
        return { id, outcome: 'refused', reason: refused, steps: [] };
      }
      this.record(
        t,
        'machine',
        'Normal',
        'DeleteOperationStarted',
        `${r.purpose}: operation ${id} will drain and delete this Machine`,
      );
      return this.loop(t, 'run', r, span);
    });
  }

  /** Finishes or undoes an operation found on the objects (its holder crashed or lost leadership). */
  async recover(t: OpTarget, o: { signal?: AbortSignal; untilDone?: boolean } = {}): Promise<OpResult> {
    return inSpan('machines.recover', { attributes: this.attrs(t) }, (span) =>
      this.loop(t, 'recover', { signal: o.signal }, span, o.untilDone === true),
    );
  }

  private attrs(t: OpTarget) {
    return {
      [ATTR.namespace]: t.namespace,
      [ATTR.machine]: t.machine,
      [ATTR.nodeGroup]: groupKey(t.group),
      'capi_autopilot.operation': t.id,
      'capi_autopilot.purpose': t.purpose,
    };
  }

  /** Step 1: reserve the decrement on the group's ledger, after checking group and Machine on fresh reads. */
  private async register(t: OpTarget): Promise<string | undefined> {
    for (let attempt = 0; ; attempt++) {
      let s: Snapshot;
      try {
        s = await readSnapshot(this.d.client, this.d.version, t, 'run', { drained: false });
      } catch (e) {
        if (!this.retryable(e, attempt))
          return `could not read ${groupKey(t.group)}: ${(e as Error).message}`;
        continue;
      }
      if (!s.group) return `${groupKey(t.group)} not found`;
      if (!s.machine) return `Machine ${t.namespace}/${t.machine} not found`;
      const min = minSizeOf(s.group.meta.annotations);
      const groupProblem = whyGroupCannotShrink({
        replicas: s.group.replicas,
        minSize: 'min' in min ? min.min : 0,
        pending: pendingCount(s.ledger),
        ...(s.view.group.ledgerError ? { ledgerError: s.view.group.ledgerError } : {}),
        paused: s.view.group.paused,
        activeMachineSets: s.machineSets.length,
      });
      // Remediation replaces the Machine and leaves replicas alone: only a scale-down needs room above min.
      if (groupProblem && (t.purpose === 'scale-down' || !groupProblem.includes('min size')))
        return groupProblem;
      const machineProblem = whyNotDeletable(s.machine, { paused: s.view.group.paused, purpose: t.purpose });
      if (machineProblem) return machineProblem;
      if (
        s.machine.ownerMachineSet &&
        !s.machineSets.some((ms) => ms.meta.name === s.machine!.ownerMachineSet)
      )
        return `its MachineSet ${s.machine.ownerMachineSet} is not part of ${groupKey(t.group)}`;
      const now = this.iso();
      const { ledger, rebased } = register(
        s.ledger,
        s.group.replicas!,
        t.id,
        { name: t.machine, uid: t.uid! },
        now,
      );
      try {
        await this.writeLedger(t.group, ledger, s.group.meta.resourceVersion);
        if (rebased.length) this.foreignWrite(t, s, rebased);
        return undefined;
      } catch (e) {
        if (!this.retryable(e, attempt))
          return `could not register on ${groupKey(t.group)}: ${(e as Error).message}`;
      }
    }
  }

  private async loop(
    t: OpTarget,
    mode: Mode,
    r: Pick<DeleteRequest, 'drain' | 'signal'>,
    span: Span,
    untilDone = true,
  ): Promise<OpResult> {
    const steps: string[] = [];
    const progress: { drained: boolean; claimed?: boolean; abandoned?: string } = { drained: false };
    let lastEntry: string | undefined;
    let errors = 0;
    const signal = r.signal ?? new AbortController().signal;
    for (;;) {
      let s: Snapshot;
      try {
        s = await readSnapshot(this.d.client, this.d.version, t, mode, progress);
      } catch (e) {
        if (!this.retryable(e, errors++))
          return this.end(span, t, steps, 'in-progress', (e as Error).message);
        await sleepFor(this.d.pollMs, signal);
        continue;
      }
      if (this.d.brokenForTests && s.view.machine?.deleting) {
        s.view.machine.phase = 'Deleting';
        s.view.group.decrementObserved = true;
      }
      if (signal.aborted && !progress.abandoned) {
        // Before the point of no return an abort undoes the claim; after it, recovery finishes the job.
        if (s.view.machine?.deleting) return this.end(span, t, steps, 'in-progress', 'aborted');
        progress.abandoned = 'aborted';
        s.view.abandoned = 'aborted';
      }
      lastEntry = s.view.group.entry?.state ?? lastEntry;
      const step = decide(s.view);
      if (step.kind === 'done') {
        const outcome = step.outcome === 'nothing' ? outcomeOf(lastEntry) : step.outcome;
        return this.end(span, t, steps, outcome);
      }
      if (step.kind === 'wait') {
        // A controller's recovery returns on a wait; the watch event that ends it brings it back.
        if (mode === 'recover' && (!untilDone || step.for === 'unpaused' || step.for === 'ledger'))
          return this.end(span, t, steps, 'in-progress', `waiting: ${step.detail ?? step.for}`);
        await this.waitFor(t, signal);
        if (signal.aborted && s.view.machine?.deleting)
          return this.end(span, t, steps, 'in-progress', 'aborted');
        continue;
      }
      await this.d.beforeStep?.(t.id, step);
      span.addEvent(step.kind, {
        phase: phaseOf(s.view),
        ...('reason' in step && step.reason ? { reason: step.reason } : {}),
      });
      steps.push(step.kind);
      try {
        if (step.kind === 'drain') {
          const why = r.drain ? await r.drain(signal) : undefined;
          if (why) progress.abandoned = `drain: ${why}`;
          else progress.drained = true;
          continue;
        }
        await this.act(t, s, step);
        if (step.kind === 'claim') progress.claimed = true;
        errors = 0;
      } catch (e) {
        if (e instanceof CrashError) throw e;
        if (!this.retryable(e, errors++))
          return this.end(span, t, steps, 'in-progress', (e as Error).message);
        if (!isConflict(e)) await sleepFor(Math.min(this.d.pollMs, 200 * errors), signal);
      }
    }
  }

  /** One write; its resourceVersion is the one `decide` looked at. */
  private async act(t: OpTarget, s: Snapshot, step: Step): Promise<void> {
    const m = s.machine;
    const now = this.iso();
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
                [HOLD_HOOK_ANNOTATION]: HOLD_HOOK_VALUE,
                // What cluster-autoscaler sets: CAPI's MachineSet prefers it if it shrinks meanwhile.
                [ANNOTATIONS.deleteMachine]: now,
                ...actionAnnotations(this.d.now()),
              },
            },
          },
          m!.meta.resourceVersion,
        );
        return;
      case 'delete':
        await this.d.client.delete(machinePath, {
          uid: m!.meta.uid,
          resourceVersion: m!.meta.resourceVersion,
        });
        this.record(
          t,
          'machine',
          'Normal',
          'MachineDeleting',
          `operation ${t.id} deleted this Machine (${t.purpose}); it is held until replicas are settled`,
        );
        return;
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
        this.d.metrics?.machinesDeleted.inc({
          cluster: this.d.cluster ?? '',
          node_group: groupKey(t.group),
          reason: t.purpose.replace('-', '_'),
        });
        this.record(
          t,
          'group',
          'Normal',
          'ReplicasDecremented',
          `${g.replicas} -> ${step.to} for Machine ${t.machine} (operation ${t.id})`,
        );
        return;
      }
      case 'skip': {
        await this.writeLedger(
          t.group,
          skip(s.ledger!, t.id, step.reason, now),
          s.group!.meta.resourceVersion,
        );
        if (step.reason.includes('another writer')) this.foreignWrite(t, s, [t.id]);
        this.record(
          t,
          'group',
          'Warning',
          'DecrementSkipped',
          `Machine ${t.machine} (operation ${t.id}) is deleted without a decrement; CAPI replaces it: ${step.reason}`,
        );
        return;
      }
      case 'release':
        await this.d.client.mergePatch(
          machinePath,
          { metadata: { annotations: { [HOLD_HOOK_ANNOTATION]: null } } },
          m!.meta.resourceVersion,
        );
        return;
      case 'prune':
        await this.writeLedger(t.group, prune(s.ledger!, t.id), s.group!.meta.resourceVersion);
        return;
      case 'rollback': {
        // Our annotations go first, the ledger entry last: a crash in between is a pending entry without a
        // mark, which the next decision rolls back again.
        if (m && !s.view.machine!.foreignMark && (s.view.machine!.marked || s.view.machine!.hooked)) {
          await this.d.client.mergePatch(
            machinePath,
            {
              metadata: {
                annotations: {
                  [OPERATION_ANNOTATION]: null,
                  [HOLD_HOOK_ANNOTATION]: null,
                  [ANNOTATIONS.deleteMachine]: null,
                },
              },
            },
            m.meta.resourceVersion,
          );
          this.record(
            t,
            'machine',
            'Warning',
            'DeleteRolledBack',
            `operation ${t.id} undone: ${step.reason}`,
          );
          return; // the next read sees the ledger entry alone
        }
        if (s.ledger?.ops[t.id])
          await this.writeLedger(t.group, prune(s.ledger, t.id), s.group!.meta.resourceVersion);
        return;
      }
      default:
        throw new Error(`step ${step.kind} is not a write`);
    }
  }

  private async writeLedger(g: GroupRef, ledger: Ledger | undefined, resourceVersion: string): Promise<void> {
    await this.d.client.mergePatch(
      groupPath(this.d.version, g),
      { metadata: { annotations: { [LEDGER_ANNOTATION]: ledger ? formatLedger(ledger) : null } } },
      resourceVersion,
    );
  }

  private async waitFor(t: OpTarget, signal: AbortSignal): Promise<void> {
    if (!this.d.wake) return sleepFor(this.d.pollMs, signal);
    // Either object changing is a reason to look again; the poll is the backstop for missed events.
    const machineKey = `${t.namespace}/${t.machine}`;
    const groupKey_ = `${t.namespace}/${t.group.name}`;
    let changed = false;
    const holds = () => changed;
    const a = new AbortController();
    const stop = () => a.abort();
    signal.addEventListener('abort', stop, { once: true });
    await Promise.race([
      this.d.wake.wait(machineKey, holds, this.d.pollMs, a.signal).then(() => (changed = true)),
      this.d.wake.wait(groupKey_, holds, this.d.pollMs, a.signal).then(() => (changed = true)),
    ]);
    a.abort();
    signal.removeEventListener('abort', stop);
  }

  private retryable(e: unknown, attempt: number): boolean {
    if (e instanceof CrashError) throw e;
    if (isConflict(e)) {
      this.d.metrics?.replicaConflicts.inc({ cluster: this.d.cluster ?? '', kind: 'conflict' });
      return attempt < 50;
    }
    return e instanceof KubeError && attempt < MAX_API_ERRORS;
  }

  private foreignWrite(t: OpTarget, s: Snapshot, ops: string[]): void {
    this.d.metrics?.replicaConflicts.inc({ cluster: this.d.cluster ?? '', kind: 'foreign_write' });
    this.record(
      t,
      'group',
      'Warning',
      'ReplicasChangedByOthers',
      `spec.replicas is ${s.group?.replicas}, not the ${s.ledger?.replicas} this service last wrote: another writer (kubectl scale, GitOps, a ClusterClass topology) set it; its value stands and operations ${ops.join(', ')} will not decrement`,
    );
    this.d.log.warn(
      { group: groupKey(t.group), namespace: t.namespace, ops },
      'replicas changed by another writer',
    );
  }

  private end(
    span: Span,
    t: OpTarget,
    steps: string[],
    outcome: OpResult['outcome'],
    reason?: string,
  ): OpResult {
    span.setAttribute(ATTR.result, outcome);
    if (reason) span.setAttribute(ATTR.reason, reason);
    this.d.metrics?.deleteOperations.inc({
      cluster: this.d.cluster ?? '',
      node_group: groupKey(t.group),
      outcome: outcome.replace('-', '_'),
    });
    this.d.log.info(
      { operation: t.id, machine: t.machine, group: groupKey(t.group), outcome, reason, steps },
      'delete operation ended',
    );
    return { id: t.id, outcome, ...(reason ? { reason } : {}), steps };
  }

  private record(
    t: OpTarget,
    on: 'machine' | 'group',
    type: EventType,
    reason: string,
    message: string,
  ): void {
    if (!this.d.events) return;
    const ref: ObjectRef =
      on === 'machine'
        ? {
            apiVersion: `cluster.x-k8s.io/${this.d.version}`,
            kind: 'Machine',
            namespace: t.namespace,
            name: t.machine,
          }
        : {
            apiVersion: `cluster.x-k8s.io/${this.d.version}`,
            kind: t.group.kind,
            namespace: t.namespace,
            name: t.group.name,
          };
    void this.d.events.record(ref, type, reason, message);
  }

  private iso(): string {
    return this.d
      .now()
      .toISOString()
      .replace(/\.\d+Z$/, 'Z');
  }
}

function outcomeOf(entry: string | undefined): Outcome {
  return entry === 'applied'
    ? 'deleted'
    : entry === 'skipped'
      ? 'replaced'
      : entry === 'pending'
        ? 'replaced'
        : 'nothing';
}
