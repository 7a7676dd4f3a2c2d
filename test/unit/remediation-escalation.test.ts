// The escalation chain of one remediation request: each row is a state the request and its Machine can be
// in, the decision is the single next step. Time boundaries are tested on both sides: an attempt times
// out at exactly attemptStartedAt + timeout (`until` is the first instant to act).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decideEscalation,
  ESCALATION_REASON_CODES,
  formatTimeout,
  nextStatus,
  parseSteps,
  type Decision,
  type EscalationInput,
  type EscalationStep,
  type RequestStatus,
} from '../../src/remediation/escalation.ts';

const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 1);
const reboot = (retries = 2, timeoutMs = 5 * MIN): EscalationStep => ({
  action: 'Reboot',
  timeoutMs,
  retries,
});
const reprov = (retries = 1, timeoutMs = 30 * MIN): EscalationStep => ({
  action: 'Reprovision',
  timeoutMs,
  retries,
});
const STEPS = [reboot(), reprov()];
const running = (step: number, attempt: number, at = T0, o: Partial<RequestStatus> = {}): RequestStatus => ({
  phase: 'Running',
  step,
  attempt,
  attemptStartedAt: at,
  ...o,
});
const sick = { exists: true, deleting: false, healthy: false };
const input = (o: Partial<EscalationInput> = {}): EscalationInput => ({
  steps: STEPS,
  status: {},
  machine: sick,
  now: T0,
  ...o,
});
/** The fields a row pins down; the message is checked separately. */
const shape = (d: Decision): Record<string, unknown> => {
  const { message: _m, failure: _f, ...rest } = d as Decision & { failure?: string };
  return rest;
};

describe('parseSteps', () => {
  it.each<[string, unknown, EscalationStep[]]>([
    ['one step, retries default 1', [{ action: 'Reboot', timeout: '5m' }], [reboot(1)]],
    [
      'two steps in order',
      [
        { action: 'Reboot', timeout: '5m', retries: 2 },
        { action: 'Reprovision', timeout: '30m' },
      ],
      [reboot(2), reprov(1)],
    ],
    ['compound duration', [{ action: 'Reboot', timeout: '1h30m' }], [reboot(1, 90 * MIN)]],
    ['milliseconds', [{ action: 'Reboot', timeout: '1500ms' }], [reboot(1, 1500)]],
    [
      'ten steps is the maximum',
      Array(10).fill({ action: 'Reboot', timeout: '1s' }),
      Array(10).fill(reboot(1, 1000)),
    ],
  ])('%s', (_name, raw, steps) => {
    expect(parseSteps(raw)).toEqual({ steps });
  });

  it.each<[string, unknown, string]>([
    ['not a list', { action: 'Reboot' }, 'steps: expected a list of steps'],
    ['empty list', [], 'steps: at least one step is required'],
    ['eleven steps', Array(11).fill({ action: 'Reboot', timeout: '1s' }), 'steps: at most 10 steps, got 11'],
    ['a step that is not an object', ['Reboot'], 'steps[0]: expected an object'],
    ['null step', [null], 'steps[0]: expected an object'],
    ['missing action', [{ timeout: '5m' }], 'steps[0].action: required, one of Reboot, Reprovision'],
    [
      'unknown action',
      [{ action: 'PowerCycle', timeout: '5m' }],
      'steps[0].action: unknown action "PowerCycle"',
    ],
    [
      'action is case-sensitive',
      [{ action: 'reboot', timeout: '5m' }],
      'steps[0].action: unknown action "reboot"',
    ],
    ['missing timeout', [{ action: 'Reboot' }], 'steps[0].timeout: required'],
    ['numeric timeout', [{ action: 'Reboot', timeout: 300 }], 'steps[0].timeout: expected a duration string'],
    [
      'bad duration on the second step',
      [
        { action: 'Reboot', timeout: '5m' },
        { action: 'Reprovision', timeout: '5x' },
      ],
      'steps[1].timeout: invalid duration "5x"',
    ],
    ['bare number', [{ action: 'Reboot', timeout: '300' }], 'steps[0].timeout: invalid duration "300"'],
    ['zero timeout', [{ action: 'Reboot', timeout: '0s' }], 'steps[0].timeout: must be positive, got "0s"'],
    [
      'negative timeout',
      [{ action: 'Reboot', timeout: '-5m' }],
      'steps[0].timeout: must be positive, got "-5m"',
    ],
    [
      'sub-millisecond timeout',
      [{ action: 'Reboot', timeout: '1500us' }],
      'steps[0].timeout: must be a whole number of milliseconds, got "1500us"',
    ],
    [
      'retries 0',
      [{ action: 'Reboot', timeout: '5m', retries: 0 }],
      'steps[0].retries: must be an integer >= 1, got 0',
    ],
    [
      'retries fractional',
      [{ action: 'Reboot', timeout: '5m', retries: 1.5 }],
      'steps[0].retries: must be an integer >= 1, got 1.5',
    ],
    [
      'retries as a string',
      [{ action: 'Reboot', timeout: '5m', retries: '2' }],
      'steps[0].retries: must be an integer >= 1, got "2"',
    ],
    [
      'a typo is not ignored',
      [{ action: 'Reboot', timeout: '5m', retry: 3 }],
      'steps[0].retry: unknown field (known: action, timeout, retries)',
    ],
  ])('rejects %s', (_name, raw, error) => {
    const r = parseSteps(raw);
    expect('error' in r && r.error).toContain(error);
  });
});

describe('decideEscalation', () => {
  type Row = [string, Partial<EscalationInput>, Record<string, unknown>];
  // prettier-ignore
  it.each<Row>([
    // Not started yet.
    ['first attempt of the first step', {}, { kind: 'start', step: 0, attempt: 1, action: 'Reboot', why: 'first', reason: 'FirstAttempt' }],
    ['phase Pending is not started', { status: { phase: 'Pending' } }, { kind: 'start', step: 0, attempt: 1, action: 'Reboot', why: 'first', reason: 'FirstAttempt' }],
    ['healthy before any action', { machine: { ...sick, healthy: true } }, { kind: 'succeeded', why: 'healthy-before-action', reason: 'HealthyBeforeAction' }],
    ['gone before any action', { machine: { ...sick, exists: false } }, { kind: 'replaced', reason: 'MachineRemoved' }],
    ['deleting before any action', { machine: { ...sick, deleting: true } }, { kind: 'replaced', reason: 'MachineRemoved' }],
    ['an action in flight without a recorded attempt', { actionInFlight: true }, { kind: 'invalid', reason: 'InvalidStatus' }],
    // Running, timeout boundary: until = start + 5m.
    ['running, 1 ms before the timeout', { status: running(0, 1), now: T0 + 5 * MIN - 1 }, { kind: 'wait', reason: 'AttemptRunning', until: T0 + 5 * MIN }],
    ['running, just started', { status: running(0, 1) }, { kind: 'wait', reason: 'AttemptRunning', until: T0 + 5 * MIN }],
    ['timed out exactly at the timeout: retry', { status: running(0, 1), now: T0 + 5 * MIN }, { kind: 'start', step: 0, attempt: 2, action: 'Reboot', why: 'retry', reason: 'Retry' }],
    ['last retry of the step timed out: escalate', { status: running(0, 2), now: T0 + 5 * MIN }, { kind: 'start', step: 1, attempt: 1, action: 'Reprovision', why: 'escalate', reason: 'Escalate' }],
    ['last retry, 1 ms before: wait', { status: running(0, 2), now: T0 + 5 * MIN - 1 }, { kind: 'wait', reason: 'AttemptRunning', until: T0 + 5 * MIN }],
    ['last step timed out: give up', { status: running(1, 1), now: T0 + 30 * MIN }, { kind: 'give-up', reason: 'RetriesExhausted' }],
    ['last step, 1 ms before: wait', { status: running(1, 1), now: T0 + 30 * MIN - 1 }, { kind: 'wait', reason: 'AttemptRunning', until: T0 + 30 * MIN }],
    ['a start time in the future (skew) still waits', { status: running(0, 1, T0 + MIN) }, { kind: 'wait', reason: 'AttemptRunning', until: T0 + 6 * MIN }],
    // Action in flight.
    ['in flight before the timeout: running', { status: running(0, 1), actionInFlight: true, now: T0 + MIN }, { kind: 'wait', reason: 'AttemptRunning', until: T0 + 5 * MIN }],
    ['in flight past the timeout: no next attempt yet', { status: running(1, 1), actionInFlight: true, now: T0 + 30 * MIN }, { kind: 'wait', reason: 'ActionInFlight' }],
    ['in flight but healthy: succeeded', { status: running(0, 1), actionInFlight: true, machine: { ...sick, healthy: true } }, { kind: 'succeeded', why: 'healthy', reason: 'MachineHealthy' }],
    // Outcomes of a running attempt.
    ['healthy during a reboot', { status: running(0, 1), machine: { ...sick, healthy: true } }, { kind: 'succeeded', why: 'healthy', reason: 'MachineHealthy' }],
    ['healthy after its timeout passed still counts', { status: running(1, 1), now: T0 + 99 * MIN, machine: { ...sick, healthy: true } }, { kind: 'succeeded', why: 'healthy', reason: 'MachineHealthy' }],
    ['gone during reprovision', { status: running(1, 1), machine: { ...sick, exists: false } }, { kind: 'replaced', reason: 'Reprovisioned' }],
    ['deleting during reprovision (even if healthy)', { status: running(1, 1), machine: { exists: true, deleting: true, healthy: true } }, { kind: 'replaced', reason: 'Reprovisioned' }],
    ['gone during a reboot: removed by someone else', { status: running(0, 2), machine: { ...sick, exists: false } }, { kind: 'replaced', reason: 'MachineRemoved' }],
    ['deleting during a reboot', { status: running(0, 1), machine: { ...sick, deleting: true } }, { kind: 'replaced', reason: 'MachineRemoved' }],
    // Final phases are sticky.
    ['Succeeded stays succeeded', { status: { ...running(0, 1), phase: 'Succeeded' } }, { kind: 'succeeded', why: 'recorded', reason: 'AlreadySucceeded' }],
    ['GaveUp stays given up, even if healthy now', { status: { ...running(1, 1), phase: 'GaveUp' }, machine: { ...sick, healthy: true } }, { kind: 'give-up', reason: 'AlreadyGaveUp' }],
    // Inconsistent: never act.
    ['step index past the end', { status: running(2, 1) }, { kind: 'invalid', reason: 'StepOutOfRange' }],
    ['negative step', { status: running(-1, 1) }, { kind: 'invalid', reason: 'StepOutOfRange' }],
    ['fractional step', { status: running(0.5, 1) }, { kind: 'invalid', reason: 'StepOutOfRange' }],
    ['attempt above retries', { status: running(0, 3) }, { kind: 'invalid', reason: 'AttemptOutOfRange' }],
    ['attempt 0', { status: running(0, 0) }, { kind: 'invalid', reason: 'AttemptOutOfRange' }],
    ['Running without a start time', { status: { phase: 'Running', step: 0, attempt: 1 } }, { kind: 'invalid', reason: 'InvalidStatus' }],
    ['Running without a step', { status: { phase: 'Running' } }, { kind: 'invalid', reason: 'InvalidStatus' }],
    ['Pending with an attempt recorded', { status: { ...running(0, 1), phase: 'Pending' } }, { kind: 'invalid', reason: 'InvalidStatus' }],
    ['an attempt without a phase', { status: { step: 0, attempt: 1, attemptStartedAt: T0 } }, { kind: 'invalid', reason: 'InvalidStatus' }],
    ['inconsistent wins over a gone Machine', { status: running(5, 1), machine: { ...sick, exists: false } }, { kind: 'invalid', reason: 'StepOutOfRange' }],
    ['no steps', { steps: [] }, { kind: 'invalid', reason: 'InvalidSteps' }],
    ['a step with retries 0', { steps: [reboot(0)] }, { kind: 'invalid', reason: 'InvalidSteps' }],
    ['a step with a zero timeout', { steps: [reboot(1, 0)] }, { kind: 'invalid', reason: 'InvalidSteps' }],
  ])('%s', (_name, o, expected) => {
    expect(shape(decideEscalation(input(o)))).toEqual(expected);
  });

  it('explains timeouts in words usable in conditions and events', () => {
    const retry = decideEscalation(input({ status: running(0, 1), now: T0 + 5 * MIN }));
    expect(retry.message).toBe('Reboot attempt 2 of 2 started after attempt 1 timed out');
    expect(retry.kind === 'start' && retry.failure).toBe(
      'Reboot attempt 1 of 2 did not make the Machine healthy within 5m',
    );
    const esc = decideEscalation(input({ status: running(0, 2), now: T0 + 5 * MIN }));
    expect(esc.message).toBe('Escalating from Reboot to Reprovision (step 2 of 2), attempt 1 of 1');
    const gaveUp = decideEscalation(input({ status: running(1, 1), now: T0 + 30 * MIN }));
    expect(gaveUp.message).toBe(
      'Reprovision attempt 1 of 1 did not make the Machine healthy within 30m; all 2 steps (3 attempts) are used up, remediation is left to the Machine owner',
    );
    const wait = decideEscalation(input({ status: running(0, 1), now: T0 + MIN }));
    expect(wait.message).toBe('Reboot attempt 1 of 2 is running; it times out in 4m');
    const first = decideEscalation(input());
    expect(first.message).toBe('Reboot attempt 1 of 2 started');
  });

  it('every decision carries a listed reason and a non-empty message', () => {
    const rows: Partial<EscalationInput>[] = [
      {},
      { status: running(0, 1) },
      { status: running(1, 1), now: T0 + 30 * MIN },
      { status: running(9, 1) },
      { machine: { ...sick, exists: false } },
    ];
    for (const o of rows) {
      const d = decideEscalation(input(o));
      expect(ESCALATION_REASON_CODES).toContain(d.reason);
      expect(d.message.length).toBeGreaterThan(0);
    }
  });
});

describe('nextStatus', () => {
  it.each<[string, RequestStatus, Partial<EscalationInput>, number, RequestStatus]>([
    ['first start', {}, {}, T0, running(0, 1, T0)],
    [
      'retry records the timed-out attempt as the last failure',
      running(0, 1),
      { now: T0 + 5 * MIN },
      T0 + 5 * MIN,
      running(0, 2, T0 + 5 * MIN, {
        lastFailure: 'Reboot attempt 1 of 2 did not make the Machine healthy within 5m',
      }),
    ],
    [
      'escalate',
      running(0, 2),
      { now: T0 + 5 * MIN },
      T0 + 5 * MIN,
      running(1, 1, T0 + 5 * MIN, {
        lastFailure: 'Reboot attempt 2 of 2 did not make the Machine healthy within 5m',
      }),
    ],
    [
      'succeeded keeps the history',
      running(0, 1),
      { machine: { ...sick, healthy: true } },
      T0 + MIN,
      { ...running(0, 1), phase: 'Succeeded' },
    ],
    [
      'replaced is Succeeded',
      running(1, 1),
      { machine: { ...sick, exists: false } },
      T0 + MIN,
      { ...running(1, 1), phase: 'Succeeded' },
    ],
    [
      'give-up records why',
      running(1, 1),
      { now: T0 + 30 * MIN },
      T0 + 30 * MIN,
      {
        ...running(1, 1),
        phase: 'GaveUp',
        lastFailure:
          'Reprovision attempt 1 of 1 did not make the Machine healthy within 30m; all 2 steps (3 attempts) are used up, remediation is left to the Machine owner',
      },
    ],
  ])('%s', (_name, status, o, now, expected) => {
    expect(nextStatus(status, decideEscalation(input({ ...o, status })), now)).toEqual(expected);
  });

  it.each<[string, RequestStatus, Partial<EscalationInput>]>([
    ['wait', running(0, 1), {}],
    ['invalid', running(7, 1), {}],
    ['already given up', { ...running(1, 1), phase: 'GaveUp', lastFailure: 'x' }, {}],
    ['already succeeded', { ...running(0, 1), phase: 'Succeeded' }, {}],
  ])('%s: nothing to write (the same object)', (_name, status, o) => {
    const before = structuredClone(status);
    expect(nextStatus(status, decideEscalation(input({ ...o, status })), T0)).toBe(status);
    expect(status).toEqual(before);
  });
});

describe('formatTimeout', () => {
  it.each<[number, string]>([
    [5 * MIN, '5m'],
    [90 * MIN, '1h30m'],
    [3_600_000, '1h'],
    [90_000, '1m30s'],
    [1500, '1s500ms'],
    [1, '1ms'],
    [0, '0s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatTimeout(ms)).toBe(text);
  });
});

describe('decideEscalation properties', () => {
  const arbSteps = fc.array(
    fc.record({
      action: fc.constantFrom('Reboot' as const, 'Reprovision' as const),
      timeoutMs: fc.integer({ min: 1, max: 10_000_000 }),
      retries: fc.integer({ min: 1, max: 4 }),
    }),
    { minLength: 1, maxLength: 5 },
  );
  const arbLate = fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 30, maxLength: 30 });

  /** Drives one request: at each wait, time jumps to `until` plus some lateness. */
  function drive(steps: EscalationStep[], late: number[], healthyAt?: number) {
    let status: RequestStatus = {};
    let now = T0;
    const kinds: string[] = [];
    for (let i = 0; i < 200; i++) {
      const healthy = healthyAt !== undefined && i >= healthyAt;
      const d = decideEscalation({ steps, status, machine: { ...sick, healthy }, now });
      kinds.push(d.kind);
      if (d.kind === 'wait') {
        expect(d.until).toBeGreaterThan(now);
        // One ms before the deadline nothing changes.
        expect(
          decideEscalation({ steps, status, machine: { ...sick, healthy }, now: d.until! - 1 }).kind,
        ).toBe('wait');
        now = d.until! + (late[i % late.length] ?? 0);
      } else if (d.kind === 'start') {
        status = nextStatus(status, d, now);
      } else {
        status = nextStatus(status, d, now);
        // Final: asking again never starts anything.
        const again = decideEscalation({
          steps,
          status,
          machine: { ...sick, healthy: !healthy },
          now: now + 1e9,
        });
        kinds.push(again.kind);
        break;
      }
    }
    return kinds;
  }

  it('never healthy: exactly sum(retries) starts, then one give-up', () => {
    fc.assert(
      fc.property(arbSteps, arbLate, (steps, late) => {
        const kinds = drive(steps, late);
        const total = steps.reduce((n, s) => n + s.retries, 0);
        expect(kinds.filter((k) => k === 'start')).toHaveLength(total);
        expect(kinds.slice(-2)).toEqual(['give-up', 'give-up']);
        expect(kinds.indexOf('give-up')).toBe(kinds.length - 2);
        expect(kinds).not.toContain('invalid');
      }),
    );
  });

  it('healthy at some point: succeeded, and no start after it', () => {
    fc.assert(
      fc.property(arbSteps, arbLate, fc.integer({ min: 0, max: 40 }), (steps, late, healthyAt) => {
        const kinds = drive(steps, late, healthyAt);
        const total = steps.reduce((n, s) => n + s.retries, 0);
        // Decisions alternate start/wait (2 per attempt), then give-up at index 2 * total.
        if (healthyAt <= 2 * total) {
          const first = kinds.indexOf('succeeded');
          expect(first).toBe(healthyAt);
          expect(kinds.slice(first)).toEqual(['succeeded', 'succeeded']);
        } else {
          expect(kinds.slice(-2)).toEqual(['give-up', 'give-up']);
        }
        expect(kinds.filter((k) => k === 'start').length).toBeLessThanOrEqual(total);
      }),
    );
  });
});
