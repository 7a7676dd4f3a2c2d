// What the atomic delete protocol records on the API objects, and nothing else: after a crash the next
// reconcile reads its whole state from here (protocol.ts). Two records, each written with a
// resourceVersion precondition:
//  - on the Machine, the operation mark (which operation owns it) and CAPI's pre-terminate hook (which
//    holds the Machine in Deleting until the replica count is settled);
//  - on the node group (MachineDeployment or MachineSet), the replicas ledger: the replicas value as of
//    our last write and every operation's state. The decrement and its ledger entry are one write, so
//    "applied" on the ledger and the decrement on spec.replicas can never disagree.
// Parsing is strict: a record we cannot read is reported and never acted on.
import { ANNOTATIONS } from '../capi/types.ts';

/** Owner mark on a Machine chosen for deletion (JSON, see OperationMark). */
export const OPERATION_ANNOTATION = 'capi-autopilot.io/delete-operation';
/** Replicas ledger on a MachineDeployment or MachineSet (JSON, see Ledger). */
export const LEDGER_ANNOTATION = 'capi-autopilot.io/replicas-ledger';
/**
 * CAPI lifecycle hook: a deleting Machine keeps its finalizer (and counts as a replica) while it is set.
 * Its value is the operation id, so an operation only ever releases its own hold.
 */
export const HOLD_HOOK_ANNOTATION = `${ANNOTATIONS.preTerminateHookPrefix}/capi-autopilot`;
/** Remediation in progress by this service (reboot and the like); the deletion protocol keeps off. */
export const REMEDIATION_ANNOTATION = 'capi-autopilot.io/remediation';

export type Purpose = 'scale-down' | 'remediation';
const PURPOSES: readonly Purpose[] = ['scale-down', 'remediation'];

export interface OperationMark {
  id: string;
  purpose: Purpose;
  /** `MachineDeployment/<name>` or `MachineSet/<name>`, same namespace as the Machine. */
  group: string;
  /** The service instance that runs it; another instance treats the operation as abandoned. */
  holder: string;
  /** RFC 3339. */
  at: string;
}

export type EntryState = 'pending' | 'applied' | 'skipped';
const STATES: readonly EntryState[] = ['pending', 'applied', 'skipped'];

export interface LedgerEntry {
  machine: string;
  uid: string;
  /** Remediation replaces its Machine: it never decrements and reserves nothing against the min size. */
  purpose: Purpose;
  state: EntryState;
  /** Why a decrement was not made (state skipped). */
  reason?: string;
  /** state applied: spec.replicas we wrote and the group generation that write produced. */
  to?: number;
  generation?: number;
  at: string;
}

export interface Ledger {
  /** spec.replicas as of our last write of this ledger; a different spec.replicas means another writer. */
  replicas: number;
  ops: Readonly<Record<string, LedgerEntry>>;
  /**
   * How often another writer changed spec.replicas under us, and when last: a group that keeps being reset
   * (GitOps, a ClusterClass topology) is a fight the autoscaler backs off from instead of repeating.
   */
  foreignWrites?: number;
  lastForeignWrite?: string;
}

export class RecordError extends Error {
  override name = 'RecordError';
}

const ID = /^[a-z0-9]{6,32}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const GROUP = /^(MachineDeployment|MachineSet)\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function object(raw: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new RecordError(`${what} is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new RecordError(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, k: string, what: string, re?: RegExp): string {
  const v = o[k];
  if (typeof v !== 'string' || (re && !re.test(v)))
    throw new RecordError(`${what}: "${k}" must be ${re ? `a string matching ${re}` : 'a string'}`);
  return v;
}

function count(o: Record<string, unknown>, k: string, what: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new RecordError(`${what}: "${k}" must be an integer >= 0`);
  return v;
}

export function parseMark(raw: string): OperationMark {
  const what = OPERATION_ANNOTATION;
  const o = object(raw, what);
  const purpose = str(o, 'purpose', what) as Purpose;
  if (!PURPOSES.includes(purpose)) throw new RecordError(`${what}: unknown purpose "${purpose}"`);
  return {
    id: str(o, 'id', what, ID),
    purpose,
    group: str(o, 'group', what, GROUP),
    holder: str(o, 'holder', what),
    at: str(o, 'at', what, RFC3339),
  };
}

export function formatMark(m: OperationMark): string {
  return JSON.stringify({ id: m.id, purpose: m.purpose, group: m.group, holder: m.holder, at: m.at });
}

export function parseLedger(raw: string): Ledger {
  const what = LEDGER_ANNOTATION;
  const o = object(raw, what);
  const replicas = count(o, 'replicas', what);
  const opsRaw = o['ops'];
  if (typeof opsRaw !== 'object' || opsRaw === null || Array.isArray(opsRaw))
    throw new RecordError(`${what}: "ops" must be an object`);
  const ops: Record<string, LedgerEntry> = {};
  for (const [id, v] of Object.entries(opsRaw as Record<string, unknown>)) {
    if (!ID.test(id)) throw new RecordError(`${what}: operation id "${id}" is malformed`);
    if (typeof v !== 'object' || v === null) throw new RecordError(`${what}: ops.${id} must be an object`);
    const e = v as Record<string, unknown>;
    const w = `${what} ops.${id}`;
    const state = str(e, 'state', w) as EntryState;
    if (!STATES.includes(state)) throw new RecordError(`${w}: unknown state "${state}"`);
    const purpose = (e['purpose'] === undefined ? 'scale-down' : str(e, 'purpose', w)) as Purpose;
    if (!PURPOSES.includes(purpose)) throw new RecordError(`${w}: unknown purpose "${purpose}"`);
    const entry: LedgerEntry = {
      machine: str(e, 'machine', w),
      uid: str(e, 'uid', w),
      purpose,
      state,
      at: str(e, 'at', w, RFC3339),
    };
    if (e['reason'] !== undefined) entry.reason = str(e, 'reason', w);
    if (state === 'applied') {
      entry.to = count(e, 'to', w);
      entry.generation = count(e, 'generation', w);
    }
    ops[id] = entry;
  }
  const out: Ledger = { replicas, ops };
  if (o['foreignWrites'] !== undefined) out.foreignWrites = count(o, 'foreignWrites', what);
  if (o['lastForeignWrite'] !== undefined) out.lastForeignWrite = str(o, 'lastForeignWrite', what, RFC3339);
  return out;
}

export function formatLedger(l: Ledger): string {
  return JSON.stringify(l);
}

/** The ledger of a group's annotations: undefined when absent, an error when unreadable. */
export function ledgerOf(annotations: Readonly<Record<string, string>>): { ledger?: Ledger; error?: string } {
  const raw = annotations[LEDGER_ANNOTATION];
  if (raw === undefined) return {};
  try {
    return { ledger: parseLedger(raw) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** The operation mark of a Machine: undefined when absent, an error when unreadable. */
export function markOf(annotations: Readonly<Record<string, string>>): {
  mark?: OperationMark;
  error?: string;
} {
  const raw = annotations[OPERATION_ANNOTATION];
  if (raw === undefined) return {};
  try {
    return { mark: parseMark(raw) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

// ---- ledger transitions (pure; the shell writes the result with the group's resourceVersion) ----

/**
 * Registers a pending operation. If spec.replicas moved since our last ledger write, another writer set it:
 * its value wins, so every operation pending before it will not decrement (rebased), the new baseline is
 * the current spec.replicas, and the foreign write is counted. Refuses a Machine another entry holds.
 */
export function register(
  ledger: Ledger | undefined,
  specReplicas: number,
  id: string,
  machine: { name: string; uid: string; purpose: Purpose },
  at: string,
): { ledger: Ledger; rebased: string[]; foreign: boolean } {
  if (ledger?.ops[id]) throw new RecordError(`operation id ${id} is already in the ledger`);
  const holder = Object.entries(ledger?.ops ?? {}).find(([, e]) => e.uid === machine.uid);
  if (holder) throw new RecordError(`operation ${holder[0]} already holds Machine ${machine.name}`);
  const base = rebase(ledger, specReplicas, at);
  return {
    ledger: {
      ...base.ledger,
      ops: {
        ...base.ledger.ops,
        [id]: { machine: machine.name, uid: machine.uid, purpose: machine.purpose, state: 'pending', at },
      },
    },
    rebased: base.rebased,
    foreign: base.foreign,
  };
}

export const FOREIGN_WRITE_REASON = 'spec.replicas was changed by another writer; its value stands';

function rebase(
  ledger: Ledger | undefined,
  specReplicas: number,
  at: string,
): { ledger: Ledger; rebased: string[]; foreign: boolean } {
  if (!ledger) return { ledger: { replicas: specReplicas, ops: {} }, rebased: [], foreign: false };
  if (ledger.replicas === specReplicas) return { ledger, rebased: [], foreign: false };
  const ops: Record<string, LedgerEntry> = {};
  const rebased: string[] = [];
  for (const [id, e] of Object.entries(ledger.ops)) {
    if (e.state === 'pending') {
      ops[id] = { ...e, state: 'skipped', reason: FOREIGN_WRITE_REASON, at };
      rebased.push(id);
    } else ops[id] = e;
  }
  return {
    ledger: {
      replicas: specReplicas,
      ops,
      foreignWrites: (ledger.foreignWrites ?? 0) + 1,
      lastForeignWrite: at,
    },
    rebased,
    foreign: true,
  };
}

/**
 * The ledger for a scale-up to `to` written by this service: if another writer moved spec.replicas since
 * our last ledger write, that is recorded first (pending decrements skipped, the foreign write counted),
 * exactly as a registration would, so a scale-up never launders someone else's value into our baseline.
 */
export function scaleUpLedger(ledger: Ledger, specReplicas: number, to: number, at: string): Ledger {
  return { ...rebase(ledger, specReplicas, at).ledger, replicas: to };
}

/** Another writer moved spec.replicas at least twice within `windowMs`: a fight not to join. */
export function fighting(ledger: Ledger | undefined, now: Date, windowMs: number): boolean {
  if (!ledger?.lastForeignWrite || (ledger.foreignWrites ?? 0) < 2) return false;
  return now.getTime() - Date.parse(ledger.lastForeignWrite) < windowMs;
}

/** The decrement and its record, as one write: the new ledger for spec.replicas = `to`. */
export function applyDecrement(
  ledger: Ledger,
  id: string,
  to: number,
  generation: number,
  at: string,
): Ledger {
  const e = ledger.ops[id];
  if (!e || e.state !== 'pending') throw new RecordError(`operation ${id} is not pending`);
  return {
    ...ledger,
    replicas: to,
    ops: { ...ledger.ops, [id]: { ...e, state: 'applied', to, generation, at } },
  };
}

export function skip(ledger: Ledger, id: string, reason: string, at: string): Ledger {
  const e = ledger.ops[id];
  if (!e || e.state !== 'pending') throw new RecordError(`operation ${id} is not pending`);
  return { ...ledger, ops: { ...ledger.ops, [id]: { ...e, state: 'skipped', reason, at } } };
}

/**
 * Drops an operation. The ledger itself stays (its replicas baseline and foreign-write count are what
 * detect the next write by someone else).
 */
export function prune(ledger: Ledger, id: string): Ledger {
  return { ...ledger, ops: Object.fromEntries(Object.entries(ledger.ops).filter(([k]) => k !== id)) };
}

/** Scale-down decrements registered and not yet made: they are reserved against the min size. */
export function pendingCount(ledger: Ledger | undefined): number {
  return ledger
    ? Object.values(ledger.ops).filter((e) => e.state === 'pending' && e.purpose === 'scale-down').length
    : 0;
}
