// The delete protocol's decisions, one row per situation the API objects can be in. Each row is a state a
// crash, a conflict or another writer can leave behind; the expected step is what keeps the guarantees
// (chosen machine only, at most one decrement, never below min, nothing leaked).
import { describe, expect, it } from 'vitest';
import {
  decide,
  phaseOf,
  type GroupView,
  type MachineView,
  type OpView,
  type Step,
} from '../../src/machines/protocol.ts';

const machine = (o: Partial<MachineView> = {}): MachineView => ({
  deleting: false,
  marked: false,
  hooked: false,
  ...o,
});
const group = (o: Partial<GroupView> = {}): GroupView => ({
  specReplicas: 5,
  minSize: 1,
  ledgerReplicas: 5,
  entry: { state: 'pending' },
  rollout: false,
  decrementObserved: false,
  paused: false,
  ...o,
});
const view = (o: Partial<OpView> = {}): OpView => ({
  mode: 'run',
  purpose: 'scale-down',
  machine: machine(),
  group: group(),
  drained: false,
  ...o,
});
const claimed = machine({ marked: true, hooked: true });
const deleting = (o: Partial<MachineView> = {}) =>
  machine({ marked: true, hooked: true, deleting: true, phase: 'Deleting', ...o });

describe('before the deletion: claim, drain, delete, or undo', () => {
  it.each<[string, OpView, Step['kind'], RegExp?]>([
    ['registered: claim the machine', view(), 'claim'],
    [
      'our claim vanished (a new leader rolled it back): do not claim again',
      view({ claimed: true }),
      'rollback',
      /removed by someone else/,
    ],
    ['claimed: drain', view({ machine: claimed }), 'drain'],
    ['drained: delete', view({ machine: claimed, drained: true }), 'delete'],
    [
      'drained but the cluster paused: wait',
      view({ machine: claimed, drained: true, group: group({ paused: true }) }),
      'wait',
    ],
    [
      'drain gave up: undo',
      view({ machine: claimed, abandoned: 'drain: timed out' }),
      'rollback',
      /timed out/,
    ],
    [
      'recovering a claim (holder gone): undo',
      view({ mode: 'recover', machine: claimed, drained: true }),
      'rollback',
      /abandoned/,
    ],
    ['recovering a registration without a mark: undo', view({ mode: 'recover' }), 'rollback'],
    [
      'another operation holds it: undo ours',
      view({ machine: machine({ foreignMark: 'operation abc' }) }),
      'rollback',
      /operation abc/,
    ],
    [
      'became ineligible (remediated by its owner): undo',
      view({ machine: machine({ marked: true, ineligible: 'OwnerRemediated=False' }) }),
      'rollback',
      /OwnerRemediated/,
    ],
    [
      'marks left without a pending entry: undo',
      view({ machine: claimed, group: group({ entry: undefined }) }),
      'rollback',
      /no pending/,
    ],
    [
      'a hook alone (leaked): undo',
      view({ machine: machine({ hooked: true }), group: group({ entry: undefined }) }),
      'rollback',
    ],
    ['nothing left of it: done', view({ machine: machine(), group: group({ entry: undefined }) }), 'done'],
  ])('%s', (_name, v, kind, reason) => {
    const step = decide(v);
    expect(step.kind).toBe(kind);
    if (reason) expect('reason' in step ? step.reason : '').toMatch(reason);
  });
});

describe('after the deletion: only forward', () => {
  it.each<[string, OpView, Step]>([
    [
      'CAPI has not reported Deleting yet: wait (its cache may not have the deletion)',
      view({ machine: deleting({ phase: 'Running' }) }),
      { kind: 'wait', for: 'deleting-evidence' },
    ],
    [
      'Deleting, replicas as we last wrote them: decrement by one',
      view({ machine: deleting() }),
      { kind: 'decrement', to: 4 },
    ],
    [
      'recovery decrements the same way',
      view({ mode: 'recover', machine: deleting() }),
      { kind: 'decrement', to: 4 },
    ],
    [
      'someone else deleted the claimed machine: it is still the chosen one',
      view({ machine: deleting({ marked: true }) }),
      { kind: 'decrement', to: 4 },
    ],
    [
      'paused while deleting: wait',
      view({ machine: deleting(), group: group({ paused: true }) }),
      { kind: 'wait', for: 'unpaused' },
    ],
    [
      'unreadable ledger: wait, act on nothing',
      view({ machine: deleting(), group: group({ ledgerError: 'not JSON' }) }),
      { kind: 'wait', for: 'ledger', detail: 'not JSON' },
    ],
  ])('%s', (_name, v, step) => expect(decide(v)).toEqual(step));

  it.each<[string, OpView, RegExp]>([
    [
      'another writer set replicas: its value stands',
      view({ machine: deleting(), group: group({ specReplicas: 7 }) }),
      /another writer/,
    ],
    [
      'a rollout: CAPI picks the MachineSet, not us',
      view({ machine: deleting(), group: group({ rollout: true }) }),
      /rollout/,
    ],
    [
      'at min size: replace instead',
      view({ machine: deleting(), group: group({ specReplicas: 1, ledgerReplicas: 1 }) }),
      /min size 1/,
    ],
    [
      'min 0 allows the last one',
      view({ machine: deleting(), group: group({ specReplicas: 0, ledgerReplicas: 0, minSize: 0 }) }),
      /min size 0/,
    ],
    [
      'the hook was removed by someone: the machine may vanish before a safe decrement',
      view({ machine: deleting({ hooked: false }) }),
      /hook removed/,
    ],
    [
      'no spec.replicas',
      view({ machine: deleting(), group: group({ specReplicas: undefined, ledgerReplicas: undefined }) }),
      /no spec.replicas/,
    ],
    [
      'another operation holds the deleting machine (two operations chose it): never a second decrement',
      view({ machine: deleting({ marked: false, hooked: false, foreignMark: 'operation other1' }) }),
      /other1 holds/,
    ],
    [
      'our mark is gone (someone else deleted it after a rollback): not ours to decrement',
      view({ machine: deleting({ marked: false }) }),
      /not held by this operation/,
    ],
    [
      'remediation: CAPI replaces the machine',
      view({ purpose: 'remediation', machine: deleting() }),
      /remediation/,
    ],
  ])('skip: %s', (_name, v, reason) => {
    const step = decide(v);
    expect(step.kind).toBe('skip');
    expect('reason' in step ? step.reason : '').toMatch(reason);
  });

  it('the decrement never goes below min', () => {
    for (let min = 0; min <= 6; min++)
      for (let spec = 0; spec <= 6; spec++) {
        const step = decide(
          view({
            machine: deleting(),
            group: group({ specReplicas: spec, ledgerReplicas: spec, minSize: min }),
          }),
        );
        if (step.kind === 'decrement') expect(step.to).toBeGreaterThanOrEqual(min);
        else expect(step.kind).toBe('skip');
      }
  });

  it.each<[string, OpView, Step]>([
    [
      'applied, MachineSet has not observed it: hold',
      view({ machine: deleting(), group: group({ entry: { state: 'applied', generation: 3 } }) }),
      { kind: 'wait', for: 'decrement-observed' },
    ],
    [
      'applied and observed: release the hook',
      view({
        machine: deleting(),
        group: group({ entry: { state: 'applied', generation: 3 }, decrementObserved: true }),
      }),
      { kind: 'release' },
    ],
    [
      'applied, hook gone: wait for CAPI to finish',
      view({ machine: deleting({ hooked: false }), group: group({ entry: { state: 'applied' } }) }),
      { kind: 'wait', for: 'machine-gone' },
    ],
    [
      'applied and the machine gone: prune the entry',
      view({ machine: undefined, group: group({ entry: { state: 'applied' } }) }),
      { kind: 'prune' },
    ],
    [
      'skipped: release at once (a replacement is wanted)',
      view({ machine: deleting(), group: group({ entry: { state: 'skipped' } }) }),
      { kind: 'release' },
    ],
    [
      'skipped, released: wait',
      view({ machine: deleting({ hooked: false }), group: group({ entry: { state: 'skipped' } }) }),
      { kind: 'wait', for: 'machine-gone' },
    ],
    [
      'deleting with our hook but no ledger entry: release, no decrement',
      view({ machine: deleting(), group: group({ entry: undefined }) }),
      { kind: 'release', reason: 'no ledger entry' },
    ],
    [
      'deleting, nothing of ours: done',
      view({ machine: deleting({ hooked: false, marked: false }), group: group({ entry: undefined }) }),
      { kind: 'done', outcome: 'replaced' },
    ],
    [
      'gone and no entry: done',
      view({ machine: undefined, group: group({ entry: undefined }) }),
      { kind: 'done', outcome: 'nothing' },
    ],
    [
      'gone with a pending entry (vanished before the decrement): prune, no decrement',
      view({ machine: undefined }),
      { kind: 'prune' },
    ],
  ])('%s', (_name, v, step) => expect(decide(v)).toEqual(step));
});

describe('guarantees over every state', () => {
  // Every combination of the booleans and entry states the objects can show.
  const states: OpView[] = [];
  for (const mode of ['run', 'recover'] as const)
    for (const exists of [true, false])
      for (const deletingNow of [true, false])
        for (const marked of [true, false])
          for (const hooked of [true, false])
            for (const phase of ['Running', 'Deleting'])
              for (const entry of [undefined, 'pending', 'applied', 'skipped'] as const)
                for (const foreign of [false, true])
                  for (const drained of [true, false])
                    states.push(
                      view({
                        mode,
                        drained,
                        machine: exists
                          ? machine({ deleting: deletingNow, marked, hooked, phase })
                          : undefined,
                        group: group({
                          entry: entry ? { state: entry } : undefined,
                          specReplicas: foreign ? 6 : 5,
                        }),
                      }),
                    );

  it('decrements only a deleting, held machine whose pending entry is ours, with replicas as we left them', () => {
    for (const v of states) {
      const step = decide(v);
      if (step.kind !== 'decrement') continue;
      expect(v.machine?.deleting).toBe(true);
      expect(v.machine?.hooked).toBe(true);
      expect(v.machine?.phase).toBe('Deleting');
      expect(v.group.entry?.state).toBe('pending');
      expect(v.group.specReplicas).toBe(v.group.ledgerReplicas);
      expect(v.purpose).toBe('scale-down');
      expect(v.machine?.marked).toBe(true);
      expect(v.machine?.foreignMark).toBeUndefined();
    }
  });

  it('deletes only a claimed, drained machine in run mode, never while recovering', () => {
    for (const v of states) {
      if (decide(v).kind !== 'delete') continue;
      expect(v.mode).toBe('run');
      expect(v.machine).toMatchObject({ marked: true, deleting: false });
      expect(v.drained).toBe(true);
      expect(v.group.entry?.state).toBe('pending');
    }
  });

  it('never rolls back a deleting machine and never releases before the decrement is settled', () => {
    for (const v of states) {
      const step = decide(v);
      if (step.kind === 'rollback') expect(v.machine?.deleting).toBe(false);
      if (step.kind === 'release' && v.group.entry?.state === 'applied')
        expect(v.group.decrementObserved).toBe(true);
      if (step.kind === 'release') expect(v.group.entry?.state).not.toBe('pending');
      // Only our own hold is ever released: another operation's stays.
      if (step.kind === 'release') expect(v.machine?.hooked).toBe(true);
    }
  });

  it('names a phase for every state', () => {
    for (const v of states) expect(phaseOf(v)).toMatch(/^[A-Z][a-z]+$/);
  });
});
