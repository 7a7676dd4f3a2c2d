// The atomic mark-and-delete protocol as an explicit state machine. `decide` is pure: given what the API
// objects say about one operation (OpView), it names the single next step. The executor (executor.ts)
// runs that step with resourceVersion preconditions and calls `decide` again on fresh reads, so a crash,
// a conflict or a concurrent writer at any point only changes what the next `decide` sees.
//
// Steps, and the CAPI facts each relies on (../shared/CAPI-FACTS.md; each has a simulator test):
//  1. register   ledger: op pending (reserves one decrement against the min size)
//  2. claim      Machine: operation mark + pre-terminate hook + cluster.x-k8s.io/delete-machine
//  3. drain      (the caller's; in memory)
//  4. delete     Machine DELETE, preconditions uid + resourceVersion (it is still the claimed object)
//  5. wait       phase Deleting, written by CAPI's Machine controller (§3): the controllers' shared cache
//                has seen the deletion, so any MachineSet reconcile from now on ranks it first (§1.2:
//                priority 100) and counts it as a replica (§1.1), and the hook keeps it there (§4.4)
//  6. decrement  spec.replicas-1 and ledger "applied" in one write (group resourceVersion): at most once;
//                or skip (replicas changed by another writer, rollout, min size, hook lost): the Machine
//                still goes and CAPI replaces it, which is always safe
//  7. wait       the MachineSet has observed the new replicas (observedGeneration), so the Machine's
//                disappearance will not look like a missing replica (§1.3: replacement)
//  8. release    remove the hook; CAPI finishes the deletion
//  9. prune      the Machine is gone: drop the ledger entry
// Before step 4 everything is undone by `rollback`; from step 4 on the operation only moves forward.
import type { EntryState } from './records.ts';

export type Mode = 'run' | 'recover';

export interface MachineView {
  deleting: boolean;
  /** Machine phase as CAPI reports it. */
  phase?: string;
  /** Carries this operation's mark. */
  marked: boolean;
  /** Carries a different (or unreadable) operation mark. */
  foreignMark?: string;
  /** Carries this operation's hold (the hook's value is the operation id; another's does not count). */
  hooked: boolean;
  /** Why it may not be chosen now (eligibility.ts), when it is not being deleted. */
  ineligible?: string;
}

export interface GroupView {
  specReplicas: number | undefined;
  minSize: number;
  /** ledger.replicas; undefined without a ledger. */
  ledgerReplicas: number | undefined;
  /** This operation's ledger entry. */
  entry?: { state: EntryState; generation?: number };
  /** Why the ledger cannot be read; nothing is done while it is set. */
  ledgerError?: string;
  /** A rollout spreads replicas over several MachineSets: which one shrinks is not ours to choose. */
  rollout: boolean;
  /** The MachineSet of the Machine has observed a spec at least as new as our decrement. */
  decrementObserved: boolean;
  paused: boolean;
}

export interface OpView {
  mode: Mode;
  /** Remediation replaces its Machine: it never decrements. */
  purpose: 'scale-down' | 'remediation';
  /** undefined: the Machine is gone (404, or a new object under the same name). */
  machine?: MachineView;
  group: GroupView;
  /** run mode: the caller's drain finished successfully. */
  drained: boolean;
  /** run mode: this run claimed the Machine once; a mark that disappeared was removed by someone else. */
  claimed?: boolean;
  /** run mode: the caller gave up (drain failed, aborted). */
  abandoned?: string;
}

export type WaitFor = 'deleting-evidence' | 'decrement-observed' | 'machine-gone' | 'unpaused' | 'ledger';

export type Step =
  | { kind: 'claim' }
  | { kind: 'drain' }
  | { kind: 'delete' }
  | { kind: 'rollback'; reason: string }
  | { kind: 'wait'; for: WaitFor; detail?: string }
  | { kind: 'decrement'; to: number }
  | { kind: 'skip'; code: SkipCode; reason: string }
  | { kind: 'release'; reason?: string }
  | { kind: 'prune' }
  | { kind: 'done'; outcome: Outcome };

export type Outcome = 'deleted' | 'replaced' | 'rolled-back' | 'nothing';

/** Why a deleted Machine is replaced instead of removed (no decrement). */
export type SkipCode = 'not-held' | 'remediation' | 'no-replicas' | 'foreign-write' | 'rollout' | 'min-size';

/** The phase names used in logs, events and metrics, derived from the same view. */
export type Phase =
  'Registered' | 'Claimed' | 'Deleting' | 'Decremented' | 'Skipped' | 'Released' | 'Finished' | 'Idle';

export function phaseOf(v: OpView): Phase {
  const e = v.group.entry;
  const m = v.machine;
  if (!m) return e ? 'Finished' : 'Idle';
  if (!m.deleting) return e?.state === 'pending' ? (m.marked ? 'Claimed' : 'Registered') : 'Idle';
  if (!e || e.state === 'pending') return 'Deleting';
  if (m.hooked) return e.state === 'applied' ? 'Decremented' : 'Skipped';
  return 'Released';
}

export function decide(v: OpView): Step {
  const { group: g, machine: m } = v;
  if (g.ledgerError) return { kind: 'wait', for: 'ledger', detail: g.ledgerError };
  const e = g.entry;

  if (!m) return e ? { kind: 'prune' } : { kind: 'done', outcome: 'nothing' };

  if (!m.deleting) {
    if (!e || e.state !== 'pending') {
      // Marks without a pending entry: a rollback that stopped half-way, or a ledger someone rewrote.
      if (m.marked || m.hooked) return { kind: 'rollback', reason: 'no pending ledger entry for the mark' };
      return e ? { kind: 'prune' } : { kind: 'done', outcome: 'rolled-back' };
    }
    if (v.mode === 'recover') return { kind: 'rollback', reason: 'abandoned by its holder before deletion' };
    if (v.abandoned) return { kind: 'rollback', reason: v.abandoned };
    if (m.foreignMark) return { kind: 'rollback', reason: `claimed by ${m.foreignMark}` };
    if (m.ineligible) return { kind: 'rollback', reason: m.ineligible };
    if (!m.marked)
      return v.claimed
        ? { kind: 'rollback', reason: 'the claim was removed by someone else' }
        : { kind: 'claim' };
    if (!v.drained) return { kind: 'drain' };
    if (g.paused) return { kind: 'wait', for: 'unpaused' };
    return { kind: 'delete' };
  }

  // Deleting: there is no way back, only forward.
  if (!e) {
    // No record that a decrement is ours to make: let CAPI finish and replace it.
    return m.hooked ? { kind: 'release', reason: 'no ledger entry' } : { kind: 'done', outcome: 'replaced' };
  }
  if (e.state === 'pending') {
    const skip = (code: SkipCode, reason: string): Step => ({ kind: 'skip', code, reason });
    if (m.foreignMark) return skip('not-held', `${m.foreignMark} holds the Machine`);
    if (!m.marked || !m.hooked)
      return skip(
        'not-held',
        'the Machine is not held by this operation (mark or hook removed); it may already be gone',
      );
    if (v.purpose === 'remediation') return skip('remediation', 'remediation: CAPI replaces the Machine');
    if (g.paused) return { kind: 'wait', for: 'unpaused' };
    if (m.phase !== 'Deleting') return { kind: 'wait', for: 'deleting-evidence' };
    if (g.specReplicas === undefined) return skip('no-replicas', 'the group has no spec.replicas');
    if (g.ledgerReplicas !== g.specReplicas)
      return skip('foreign-write', 'spec.replicas was changed by another writer; its value stands');
    if (g.rollout) return skip('rollout', 'a rollout spreads the group over several MachineSets');
    if (g.specReplicas - 1 < g.minSize) return skip('min-size', `the group is at its min size ${g.minSize}`);
    return { kind: 'decrement', to: g.specReplicas - 1 };
  }
  if (e.state === 'applied') {
    if (!m.hooked) return { kind: 'wait', for: 'machine-gone' };
    if (!g.decrementObserved) return { kind: 'wait', for: 'decrement-observed' };
    return { kind: 'release' };
  }
  // skipped
  return m.hooked ? { kind: 'release' } : { kind: 'wait', for: 'machine-gone' };
}
