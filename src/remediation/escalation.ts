// The escalation chain of one remediation request, pure. `decideEscalation` names the single next step
// from the request's steps and recorded status, the Machine's state and `now`; `nextStatus` is the status
// to write for it. The controller runs the action (the reboot hook, or drain + the atomic delete of
// machines/protocol.ts), writes the status with a resourceVersion precondition and asks again, so a crash
// or a lost write only changes what the next call sees (same shape as machines/protocol.ts).
//
// CAPI has no escalation of its own (CAPI-FACTS §4): the external remediator may try what it likes and
// escalates to the Machine's owner by setting OwnerRemediated=False. The chain:
// - steps run in order, each with `retries` attempts (Metal3's retryLimit: that many reboots); an attempt
//   that has not made the Machine healthy by attemptStartedAt + timeout is followed by the next attempt,
//   then by the next step (medik8s escalatingRemediations: on timeout, the next one);
// - after the last attempt of the last step times out: give up, and the caller sets OwnerRemediated=False
//   so the MachineSet deletes and replaces the Machine (Metal3's end state; medik8s just stops);
// - healthy again → succeeded (CAPI's MHC deletes the request then anyway); gone or deleting → replaced;
// - Succeeded and GaveUp are final; a status that does not fit the steps is 'invalid': never act on it.
// Order: steps → final phase → status shape → gone/deleting → healthy → running → in flight → timed out.
import { parseGoDuration } from '../capi/duration.ts';

export const ESCALATION_ACTIONS = ['Reboot', 'Reprovision'] as const;
export type EscalationAction = (typeof ESCALATION_ACTIONS)[number];

export interface EscalationStep {
  action: EscalationAction;
  /** An attempt that has not made the Machine healthy this long after it started has failed. */
  timeoutMs: number;
  /** Attempts of this step, >= 1. */
  retries: number;
}

export interface RequestStatus {
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'GaveUp';
  /** Index into the steps (0-based, as in the spec list). */
  step?: number;
  /** Attempt of that step, 1-based. */
  attempt?: number;
  /** Epoch ms. */
  attemptStartedAt?: number;
  lastFailure?: string;
}

export interface EscalationInput {
  steps: readonly EscalationStep[];
  status: RequestStatus;
  machine: { exists: boolean; deleting: boolean; healthy: boolean };
  now: number;
  /** The caller's action for the current attempt has not finished (a drain, a delete, a hook call). */
  actionInFlight?: boolean;
}

/** Condition/event reasons, safe as metric labels; every decision carries one and a message. */
export const ESCALATION_REASON_CODES = [
  'FirstAttempt',
  'Retry',
  'Escalate',
  'AttemptRunning',
  'ActionInFlight',
  'MachineHealthy',
  'HealthyBeforeAction',
  'AlreadySucceeded',
  'Reprovisioned',
  'MachineRemoved',
  'RetriesExhausted',
  'AlreadyGaveUp',
  'InvalidSteps',
  'InvalidStatus',
  'StepOutOfRange',
  'AttemptOutOfRange',
] as const;
export type EscalationReason = (typeof ESCALATION_REASON_CODES)[number];

export type Decision =
  | {
      kind: 'start';
      step: number;
      attempt: number;
      action: EscalationAction;
      why: 'first' | 'retry' | 'escalate';
      reason: 'FirstAttempt' | 'Retry' | 'Escalate';
      message: string;
      /** Why the previous attempt failed (retry and escalate). */
      failure?: string;
    }
  | { kind: 'wait'; reason: 'AttemptRunning'; until: number; message: string }
  // Past the timeout while the caller's own action still runs: no second action on top of it. The
  // caller's actions carry their own timeouts and re-trigger this decision when they end.
  | { kind: 'wait'; reason: 'ActionInFlight'; until?: undefined; message: string }
  | {
      kind: 'succeeded';
      why: 'healthy' | 'healthy-before-action' | 'recorded';
      reason: 'MachineHealthy' | 'HealthyBeforeAction' | 'AlreadySucceeded';
      message: string;
    }
  | { kind: 'replaced'; reason: 'Reprovisioned' | 'MachineRemoved'; message: string }
  | { kind: 'give-up'; reason: 'RetriesExhausted' | 'AlreadyGaveUp'; message: string }
  | {
      kind: 'invalid';
      reason: 'InvalidSteps' | 'InvalidStatus' | 'StepOutOfRange' | 'AttemptOutOfRange';
      message: string;
    };

export const MAX_STEPS = 10;
const STEP_FIELDS = ['action', 'timeout', 'retries'];

/** Milliseconds as a Go-style duration without zero parts: "5m", "1h30m", "1s500ms". */
export function formatTimeout(ms: number): string {
  if (ms === 0) return '0s';
  const parts: [number, string][] = [
    [Math.floor(ms / 3_600_000), 'h'],
    [Math.floor((ms % 3_600_000) / 60_000), 'm'],
    [Math.floor((ms % 60_000) / 1000), 's'],
    [ms % 1000, 'ms'],
  ];
  return parts
    .filter(([n]) => n > 0)
    .map(([n, u]) => `${n}${u}`)
    .join('');
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isRetries = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 1;

/**
 * Steps from the CRD list `[{action, timeout: "5m", retries?: 1}]`. Strict: the first problem is returned
 * with its index and field; nothing is defaulted except retries, nothing unknown is ignored.
 */
export function parseSteps(raw: unknown): { steps: EscalationStep[] } | { error: string } {
  if (!Array.isArray(raw)) return { error: 'steps: expected a list of steps' };
  if (raw.length === 0) return { error: 'steps: at least one step is required' };
  if (raw.length > MAX_STEPS) return { error: `steps: at most ${MAX_STEPS} steps, got ${raw.length}` };
  const steps: EscalationStep[] = [];
  for (const [i, s] of raw.entries()) {
    const at = `steps[${i}]`;
    if (!isObject(s)) return { error: `${at}: expected an object` };
    // A typo such as `retry: 3` would otherwise silently mean one attempt.
    const unknown = Object.keys(s).find((k) => !STEP_FIELDS.includes(k));
    if (unknown !== undefined)
      return { error: `${at}.${unknown}: unknown field (known: ${STEP_FIELDS.join(', ')})` };
    const { action, timeout } = s;
    if (action === undefined)
      return { error: `${at}.action: required, one of ${ESCALATION_ACTIONS.join(', ')}` };
    if (!ESCALATION_ACTIONS.includes(action as EscalationAction))
      return {
        error: `${at}.action: unknown action ${JSON.stringify(action)}, expected one of ${ESCALATION_ACTIONS.join(', ')}`,
      };
    if (timeout === undefined) return { error: `${at}.timeout: required (a duration such as "5m")` };
    if (typeof timeout !== 'string')
      return {
        error: `${at}.timeout: expected a duration string such as "5m", got ${JSON.stringify(timeout)}`,
      };
    const d = parseGoDuration(timeout);
    if (!d.ok) return { error: `${at}.timeout: ${d.error}` };
    if (d.nanoseconds <= 0n)
      return { error: `${at}.timeout: must be positive, got ${JSON.stringify(timeout)}` };
    if (d.nanoseconds % 1_000_000n !== 0n)
      return {
        error: `${at}.timeout: must be a whole number of milliseconds, got ${JSON.stringify(timeout)}`,
      };
    const retries = s.retries ?? 1;
    if (!isRetries(retries))
      return { error: `${at}.retries: must be an integer >= 1, got ${JSON.stringify(retries)}` };
    steps.push({
      action: action as EscalationAction,
      timeoutMs: Number(d.nanoseconds / 1_000_000n),
      retries,
    });
  }
  return { steps };
}

/** The same rules for steps built in code: the first problem, or undefined. */
function stepsProblem(steps: readonly EscalationStep[]): string | undefined {
  if (steps.length === 0 || steps.length > MAX_STEPS)
    return `there must be 1 to ${MAX_STEPS} steps, got ${steps.length}`;
  for (const [i, s] of steps.entries()) {
    if (!ESCALATION_ACTIONS.includes(s.action))
      return `steps[${i}].action ${JSON.stringify(s.action)} is unknown`;
    if (!Number.isSafeInteger(s.timeoutMs) || s.timeoutMs <= 0)
      return `steps[${i}].timeoutMs must be a positive integer, got ${s.timeoutMs}`;
    if (!isRetries(s.retries)) return `steps[${i}].retries must be an integer >= 1, got ${s.retries}`;
  }
  return undefined;
}

type Started = { step: number; attempt: number; startedAt: number; s: EscalationStep };

/** The running attempt, 'idle' when none was started, or why the status cannot be read. */
function readStatus(
  steps: readonly EscalationStep[],
  st: RequestStatus,
): Started | 'idle' | Extract<Decision, { kind: 'invalid' }> {
  const invalid = (reason: 'InvalidStatus' | 'StepOutOfRange' | 'AttemptOutOfRange', message: string) =>
    ({ kind: 'invalid', reason, message: `request status cannot be acted on: ${message}` }) as const;
  const recorded = st.step !== undefined || st.attempt !== undefined || st.attemptStartedAt !== undefined;
  if (!recorded && (st.phase === undefined || st.phase === 'Pending')) return 'idle';
  if (st.phase !== 'Running')
    return invalid('InvalidStatus', `phase ${st.phase ?? '(none)'} with an attempt recorded`);
  if (st.step === undefined || st.attempt === undefined || st.attemptStartedAt === undefined)
    return invalid('InvalidStatus', 'phase Running needs step, attempt and attemptStartedAt');
  const s = Number.isInteger(st.step) ? steps[st.step] : undefined;
  if (s === undefined)
    return invalid('StepOutOfRange', `step ${st.step} is not one of the ${steps.length} steps`);
  if (!Number.isInteger(st.attempt) || st.attempt < 1 || st.attempt > s.retries)
    return invalid(
      'AttemptOutOfRange',
      `attempt ${st.attempt} of step ${st.step} (${s.action}) allows 1 to ${s.retries}`,
    );
  if (!Number.isFinite(st.attemptStartedAt))
    return invalid('InvalidStatus', `attemptStartedAt ${st.attemptStartedAt} is not a time`);
  return { step: st.step, attempt: st.attempt, startedAt: st.attemptStartedAt, s };
}

const attemptName = (s: EscalationStep, attempt: number): string =>
  `${s.action} attempt ${attempt} of ${s.retries}`;

export function decideEscalation(x: EscalationInput): Decision {
  const { steps, status, machine: m, now } = x;
  const bad = stepsProblem(steps);
  if (bad)
    return { kind: 'invalid', reason: 'InvalidSteps', message: `escalation steps are invalid: ${bad}` };

  // Final phases are sticky: a later healthy or missing Machine does not reopen the request.
  if (status.phase === 'Succeeded')
    return {
      kind: 'succeeded',
      why: 'recorded',
      reason: 'AlreadySucceeded',
      message: 'remediation succeeded',
    };
  if (status.phase === 'GaveUp')
    return {
      kind: 'give-up',
      reason: 'AlreadyGaveUp',
      message: status.lastFailure ?? 'remediation gave up; it is left to the Machine owner',
    };

  const cur = readStatus(steps, status);
  if (cur !== 'idle' && 'kind' in cur) return cur;

  if (!m.exists || m.deleting) {
    // Our own Reprovision deletes it (the MachineSet replaces it); otherwise someone else did.
    const gone = m.exists ? 'is being deleted' : 'is gone';
    if (cur !== 'idle' && cur.s.action === 'Reprovision')
      return {
        kind: 'replaced',
        reason: 'Reprovisioned',
        message: `the Machine ${gone}; its owner replaces it`,
      };
    return {
      kind: 'replaced',
      reason: 'MachineRemoved',
      message: `the Machine ${gone}; nothing left to remediate`,
    };
  }

  if (cur === 'idle') {
    if (m.healthy)
      return {
        kind: 'succeeded',
        why: 'healthy-before-action',
        reason: 'HealthyBeforeAction',
        message: 'the Machine was healthy again before any remediation started',
      };
    if (x.actionInFlight)
      return {
        kind: 'invalid',
        reason: 'InvalidStatus',
        message: 'request status cannot be acted on: an action is in flight but no attempt is recorded',
      };
    const s = steps[0]!;
    return {
      kind: 'start',
      step: 0,
      attempt: 1,
      action: s.action,
      why: 'first',
      reason: 'FirstAttempt',
      message: `${attemptName(s, 1)} started`,
    };
  }

  const { step, attempt, startedAt, s } = cur;
  // Healthy wins even over an in-flight action: the MHC deletes the request now, and the caller abandons
  // its action (the delete protocol rolls back anything before the Machine's deletion).
  if (m.healthy)
    return {
      kind: 'succeeded',
      why: 'healthy',
      reason: 'MachineHealthy',
      message: `the Machine is healthy again after ${attemptName(s, attempt)}`,
    };

  const until = startedAt + s.timeoutMs;
  if (now < until)
    return {
      kind: 'wait',
      reason: 'AttemptRunning',
      until,
      message: `${attemptName(s, attempt)} is running; it times out in ${formatTimeout(until - now)}`,
    };

  const failure = `${attemptName(s, attempt)} did not make the Machine healthy within ${formatTimeout(s.timeoutMs)}`;
  if (x.actionInFlight)
    return {
      kind: 'wait',
      reason: 'ActionInFlight',
      message: `${failure}; its action is still running, the next step waits for it to end`,
    };
  if (attempt < s.retries)
    return {
      kind: 'start',
      step,
      attempt: attempt + 1,
      action: s.action,
      why: 'retry',
      reason: 'Retry',
      message: `${attemptName(s, attempt + 1)} started after attempt ${attempt} timed out`,
      failure,
    };
  const next = steps[step + 1];
  if (next)
    return {
      kind: 'start',
      step: step + 1,
      attempt: 1,
      action: next.action,
      why: 'escalate',
      reason: 'Escalate',
      message: `Escalating from ${s.action} to ${next.action} (step ${step + 2} of ${steps.length}), attempt 1 of ${next.retries}`,
      failure,
    };
  const attempts = steps.reduce((n, t) => n + t.retries, 0);
  return {
    kind: 'give-up',
    reason: 'RetriesExhausted',
    message: `${failure}; all ${steps.length} steps (${attempts} attempts) are used up, remediation is left to the Machine owner`,
  };
}

/**
 * The status to write after `decision`; the same object when there is nothing to write (wait, invalid,
 * and a final phase already recorded), so callers can skip the write by identity.
 */
export function nextStatus(status: RequestStatus, decision: Decision, now: number): RequestStatus {
  switch (decision.kind) {
    case 'start':
      return {
        ...status,
        phase: 'Running',
        step: decision.step,
        attempt: decision.attempt,
        attemptStartedAt: now,
        ...(decision.failure === undefined ? {} : { lastFailure: decision.failure }),
      };
    case 'succeeded':
    case 'replaced':
      return status.phase === 'Succeeded' ? status : { ...status, phase: 'Succeeded' };
    case 'give-up':
      return status.phase === 'GaveUp'
        ? status
        : { ...status, phase: 'GaveUp', lastFailure: decision.message };
    case 'wait':
    case 'invalid':
      return status;
    default: {
      const never: never = decision;
      return never;
    }
  }
}
