// The imperative shell of the delete protocol (protocol.ts): read fresh, decide, carry out one step with a
// resourceVersion precondition (actions.ts), repeat. A 409 or any API error only means "read again"; a
// crash leaves the operation on the objects for `recover` (the recovery controller) to finish or undo.
import { randomBytes } from 'node:crypto';
import { isConflict, KubeError } from '../kube/errors.ts';
import { sleepFor, type KeyedWaiters } from '../runtime/wait.ts';
import { ATTR, inSpan, type Span } from '../tracing/spans.ts';
import { kubeTime } from '../kube/time.ts';
import { Actions, type ActionDeps } from './actions.ts';
import { whyGroupCannotShrink, whyNotDeletable } from './eligibility.ts';
import { decide, phaseOf, type Mode, type OpView, type Outcome, type Step } from './protocol.ts';
import { pendingCount, RecordError, register } from './records.ts';
import {
  groupKey,
  minSizeOf,
  readSnapshot,
  type GroupRef,
  type OpTarget,
  type Snapshot,
} from './snapshot.ts';

export interface DeleterDeps extends Omit<ActionDeps, 'now'> {
  now?: () => Date;
  newId?: () => string;
  /** Longest wait between re-reads while waiting on CAPI (informers notify `wake` sooner). */
  pollMs?: number;
  /** Woken with `<namespace>/<name>` of a Machine or group when an informer sees it change. */
  wake?: KeyedWaiters;
  /** Called when a run ends, whatever the outcome (the recovery controller looks at the group again). */
  onSettled?: (group: GroupRef) => void;
  /** Test hook: runs before each step; a throw there is a crash between two steps. */
  beforeStep?: (opId: string, step: Step) => void | Promise<void>;
  /** Test hook: changes what `decide` sees (the fault suite uses it to build a deliberately broken protocol). */
  alterView?: (view: OpView) => void;
}

export interface DeleteRequest {
  namespace: string;
  machine: string;
  uid: string;
  group: GroupRef;
  purpose: 'scale-down' | 'remediation';
  /** Drains the Machine's node after the claim; resolves with a reason to give up, or undefined. */
  drain?: (signal: AbortSignal) => Promise<string | undefined>;
  /** Undoes a successful drain (uncordon) when the operation is rolled back afterwards. */
  undrain?: () => Promise<void>;
  signal?: AbortSignal;
}

export interface OpResult {
  id: string;
  machine: string;
  /**
   * deleted: gone with one decrement; replaced: gone, CAPI replaces it; rolled-back; refused (not started);
   * in-progress: stopped (aborted, or API errors persisted); recovery finishes or undoes it.
   */
  outcome: Outcome | 'refused' | 'in-progress';
  reason?: string;
  steps: string[];
}

const MAX_API_ERRORS = 8;
const MAX_CONFLICTS = 50;

export class MachineDeleter {
  /** Operations this instance is running now; recovery leaves them alone. */
  readonly running = new Set<string>();
  private readonly d: Required<Pick<DeleterDeps, 'now' | 'newId' | 'pollMs'>> & DeleterDeps;
  private readonly actions: Actions;

  constructor(d: DeleterDeps) {
    this.d = { now: () => new Date(), newId: () => randomBytes(6).toString('hex'), pollMs: 1000, ...d };
    this.actions = new Actions({ ...this.d });
  }

  /** Runs the whole protocol for a chosen Machine. Never throws for API errors. */
  async delete(r: DeleteRequest): Promise<OpResult> {
    const id = this.d.newId();
    const t: OpTarget = {
      id,
      namespace: r.namespace,
      machine: r.machine,
      uid: r.uid,
      group: r.group,
      purpose: r.purpose,
    };
    this.running.add(id);
    try {
      return await inSpan('machines.delete', { attributes: this.attrs(t) }, async (span) => {
        // Stopped before it started (leadership lost, shutdown): nothing is written.
        const refused = r.signal?.aborted ? 'stopped before it started' : await this.register(t);
        if (refused) return this.end(span, t, [], 'refused', refused);
        this.actions.event(
          t,
          'machine',
          'Normal',
          'DeleteOperationStarted',
          `${r.purpose}: operation ${id} will drain and delete this Machine`,
        );
        return this.loop(t, 'run', r, span);
      });
    } finally {
      this.running.delete(id);
      this.d.onSettled?.(r.group);
    }
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
      const problem =
        whyGroupCannotShrink({
          replicas: s.group.replicas,
          minSize: 'min' in min ? min.min : 0,
          pending: pendingCount(s.ledger),
          ...(s.view.group.ledgerError ? { ledgerError: s.view.group.ledgerError } : {}),
          paused: s.view.group.paused,
          activeMachineSets: s.machineSets.length,
          checkMinSize: t.purpose === 'scale-down',
          ...(s.group.kind === 'MachineSet' && s.group.ownerMachineDeployment
            ? { ownerMachineDeployment: s.group.ownerMachineDeployment }
            : {}),
        }) ?? whyNotDeletable(s.machine, { paused: s.view.group.paused, purpose: t.purpose });
      if (problem) return problem;
      const owner = s.machine.ownerMachineSet;
      if (owner && !s.machineSets.some((ms) => ms.meta.name === owner))
        return `its MachineSet ${owner} is not part of ${groupKey(t.group)}`;
      try {
        const r = register(
          s.ledger,
          s.group.replicas!,
          t.id,
          { name: t.machine, uid: t.uid!, purpose: t.purpose },
          kubeTime(this.d.now()),
        );
        await this.actions.writeLedger(t.group, r.ledger, s.group.meta.resourceVersion);
        if (r.foreign) this.actions.foreignWrite(t, s, r.rebased);
        return undefined;
      } catch (e) {
        if (e instanceof RecordError) return e.message;
        if (!this.retryable(e, attempt))
          return `could not register on ${groupKey(t.group)}: ${(e as Error).message}`;
      }
    }
  }

  private async loop(
    t: OpTarget,
    mode: Mode,
    r: Pick<DeleteRequest, 'drain' | 'undrain' | 'signal'>,
    span: Span,
    untilDone = true,
  ): Promise<OpResult> {
    const steps: string[] = [];
    const progress: { drained: boolean; claimed?: boolean; abandoned?: string } = { drained: false };
    let lastEntry: string | undefined;
    let errors = 0;
    let reportedWait: string | undefined;
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
      this.d.alterView?.(s.view);
      if (signal.aborted && !progress.abandoned) {
        // Before the point of no return an abort undoes the claim; after it, recovery finishes the job.
        if (s.view.machine?.deleting) return this.end(span, t, steps, 'in-progress', 'aborted');
        progress.abandoned = s.view.abandoned = 'aborted';
      }
      lastEntry = s.view.group.entry?.state ?? lastEntry;
      const step = decide(s.view);
      if (step.kind === 'done')
        return this.end(span, t, steps, step.outcome === 'nothing' ? outcomeOf(lastEntry) : step.outcome);
      if (step.kind === 'wait') {
        const what = step.detail ?? step.for;
        if (step.for === 'ledger' && reportedWait !== what) {
          // Data we cannot read is never acted on; say so where people look.
          this.actions.event(
            t,
            'group',
            'Warning',
            'DeleteOperationBlocked',
            `operation ${t.id} waits: ${what}`,
          );
          reportedWait = what;
        }
        // A controller's recovery returns on a wait; the watch event that ends it brings it back.
        if (mode === 'recover' && (!untilDone || step.for === 'unpaused' || step.for === 'ledger'))
          return this.end(span, t, steps, 'in-progress', `waiting: ${what}`);
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
      if (step.kind === 'drain') {
        const why = r.drain ? await r.drain(signal).catch((e: Error) => `failed: ${e.message}`) : undefined;
        if (why) progress.abandoned = `drain: ${why}`;
        else progress.drained = true;
        continue;
      }
      try {
        if (!(await this.actions.act(t, s, step)))
          return this.end(span, t, steps, 'in-progress', `stuck: ${step.kind} has nothing to write`);
        if (step.kind === 'claim') progress.claimed = true;
        if (step.kind === 'rollback' && progress.drained && mode === 'run' && r.undrain) {
          progress.drained = false;
          await r
            .undrain()
            .catch((e: Error) =>
              this.d.log.warn({ operation: t.id, err: e.message }, 'undoing the drain failed'),
            );
        }
        errors = 0;
      } catch (e) {
        if (!this.retryable(e, errors++))
          return this.end(span, t, steps, 'in-progress', (e as Error).message);
        if (!isConflict(e)) await sleepFor(Math.min(this.d.pollMs, 200 * errors), signal);
      }
    }
  }

  private async waitFor(t: OpTarget, signal: AbortSignal): Promise<void> {
    if (!this.d.wake) return sleepFor(this.d.pollMs, signal);
    // Either object changing is a reason to look again; the poll is the backstop for missed events.
    const a = new AbortController();
    const stop = () => a.abort();
    signal.addEventListener('abort', stop, { once: true });
    await Promise.race(
      [`${t.namespace}/${t.machine}`, `${t.namespace}/${t.group.name}`].map((k) =>
        this.d.wake!.wait(k, () => true, this.d.pollMs, a.signal),
      ),
    );
    a.abort();
    signal.removeEventListener('abort', stop);
  }

  private retryable(e: unknown, attempt: number): boolean {
    if (isConflict(e)) {
      this.d.metrics?.replicaConflicts.inc({ cluster: this.d.cluster ?? '', kind: 'conflict' });
      return attempt < MAX_CONFLICTS;
    }
    return e instanceof KubeError && e.reason !== 'WriteRefused' && attempt < MAX_API_ERRORS;
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
    return { id: t.id, machine: t.machine, outcome, ...(reason ? { reason } : {}), steps };
  }
}

function outcomeOf(entry: string | undefined): Outcome {
  return entry === 'applied'
    ? 'deleted'
    : entry === 'skipped' || entry === 'pending'
      ? 'replaced'
      : 'nothing';
}
