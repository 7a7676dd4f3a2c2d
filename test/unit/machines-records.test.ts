import { describe, expect, it } from 'vitest';
import {
  applyDecrement,
  fighting,
  scaleUpLedger,
  FOREIGN_WRITE_REASON,
  formatLedger,
  formatMark,
  HOLD_HOOK_ANNOTATION,
  LEDGER_ANNOTATION,
  ledgerOf,
  markOf,
  OPERATION_ANNOTATION,
  parseLedger,
  parseMark,
  pendingCount,
  prune,
  RecordError,
  register,
  skip,
  type Ledger,
  type LedgerEntry,
  type OperationMark,
  type Purpose,
} from '../../src/machines/records.ts';
import * as records from '../../src/machines/records.ts';
import { ANNOTATIONS } from '../../src/capi/types.ts';

const AT = '2026-01-01T00:00:00Z';
const LATER = '2026-01-01T00:05:00Z';

function mark(o: Partial<OperationMark> = {}): OperationMark {
  return {
    id: 'op0001',
    purpose: 'scale-down',
    group: 'MachineDeployment/md-0',
    holder: 'autopilot-7c9f',
    at: AT,
    ...o,
  };
}

/** The mark as a plain JSON object, so a test can break one field. */
const markJson = (o: Record<string, unknown> = {}, drop: string[] = []): string => {
  const base: Record<string, unknown> = { ...mark(), ...o };
  for (const k of drop) delete base[k];
  return JSON.stringify(base);
};

const pending = (machine: string, at = AT, purpose: Purpose = 'scale-down'): LedgerEntry => ({
  machine,
  uid: `uid-${machine}`,
  purpose,
  state: 'pending',
  at,
});
const remediating = (machine: string, at = AT): LedgerEntry => pending(machine, at, 'remediation');
const applied = (machine: string, to: number, generation: number): LedgerEntry => ({
  machine,
  uid: `uid-${machine}`,
  purpose: 'scale-down',
  state: 'applied',
  to,
  generation,
  at: AT,
});
const skipped = (machine: string, reason: string): LedgerEntry => ({
  machine,
  uid: `uid-${machine}`,
  purpose: 'scale-down',
  state: 'skipped',
  reason,
  at: AT,
});

const ledger = (replicas: number, ops: Record<string, LedgerEntry> = {}): Ledger => ({ replicas, ops });

/** Runs fn, expects a RecordError and returns its message. */
function recordError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RecordError);
    expect((e as Error).name).toBe('RecordError');
    return (e as Error).message;
  }
  throw new Error('expected a RecordError, nothing was thrown');
}

describe('operation mark: format and parse', () => {
  it.each<[string, OperationMark]>([
    ['scale-down on a MachineDeployment', mark()],
    ['remediation on a MachineSet', mark({ purpose: 'remediation', group: 'MachineSet/ms-1.a' })],
    ['32-character id', mark({ id: 'a'.repeat(32) })],
    ['fractional seconds and an offset', mark({ at: '2026-01-01T01:02:03.456+02:00' })],
    ['one-character group name', mark({ group: 'MachineSet/a' })],
    ['empty holder', mark({ holder: '' })],
  ])('round trip: %s', (_name, m) => {
    expect(parseMark(formatMark(m))).toEqual(m);
  });

  it('formats only the known fields, in a stable order', () => {
    const withExtra = { ...mark(), extra: 'x' } as OperationMark;
    expect(JSON.parse(formatMark(withExtra))).toEqual(mark());
    expect(formatMark(mark())).toBe(formatMark({ ...mark() }));
  });

  it('ignores unknown fields when parsing', () => {
    expect(parseMark(markJson({ future: 1 }))).toEqual(mark());
  });

  it.each<[string, string, RegExp]>([
    ['not JSON', '{id: op0001', /not JSON/],
    ['empty string', '', /not JSON/],
    ['an array', '[]', /JSON object/],
    ['null', 'null', /JSON object/],
    ['a string', '"op0001"', /JSON object/],
    ['missing id', markJson({}, ['id']), /"id"/],
    ['id not a string', markJson({ id: 123456 }), /"id"/],
    ['id with uppercase', markJson({ id: 'Op0001' }), /"id"/],
    ['id too short', markJson({ id: 'op001' }), /"id"/],
    ['id too long', markJson({ id: 'a'.repeat(33) }), /"id"/],
    ['id with a dash', markJson({ id: 'op-0001' }), /"id"/],
    ['missing purpose', markJson({}, ['purpose']), /"purpose"/],
    ['unknown purpose', markJson({ purpose: 'upgrade' }), /purpose "upgrade"/],
    ['missing group', markJson({}, ['group']), /"group"/],
    ['group of another kind', markJson({ group: 'Deployment/x' }), /"group"/],
    ['group name with uppercase', markJson({ group: 'MachineSet/UPPER' }), /"group"/],
    ['group without a name', markJson({ group: 'MachineSet/' }), /"group"/],
    ['group name ending in a dash', markJson({ group: 'MachineSet/ms-' }), /"group"/],
    ['missing holder', markJson({}, ['holder']), /"holder"/],
    ['holder not a string', markJson({ holder: 7 }), /"holder"/],
    ['missing at', markJson({}, ['at']), /"at"/],
    ['at as a date only', markJson({ at: '2026-01-01' }), /"at"/],
    ['at without a zone', markJson({ at: '2026-01-01T00:00:00' }), /"at"/],
    ['at with a space', markJson({ at: '2026-01-01 00:00:00Z' }), /"at"/],
    ['at as epoch milliseconds', markJson({ at: 1767225600000 }), /"at"/],
  ])('rejects %s, naming the annotation and the field', (_name, raw, field) => {
    const msg = recordError(() => parseMark(raw));
    expect(msg).toContain(OPERATION_ANNOTATION);
    expect(msg).toMatch(field);
  });
});

describe('replicas ledger: format and parse', () => {
  it.each<[string, Ledger]>([
    ['no operations', ledger(0)],
    ['one pending', ledger(3, { op0001: pending('m-a') })],
    [
      'every state',
      ledger(4, {
        op0001: applied('m-a', 4, 7),
        op0002: pending('m-b'),
        op0003: skipped('m-c', FOREIGN_WRITE_REASON),
      }),
    ],
    ['applied down to zero at generation 0', ledger(0, { op0001: applied('m-a', 0, 0) })],
    ['pending with a reason', ledger(2, { abcdef: { ...pending('m-x'), reason: 'note' } })],
    ['a remediation entry', ledger(2, { op0001: remediating('m-a'), op0002: pending('m-b') })],
    [
      'a skipped remediation entry',
      ledger(2, { op0001: { ...remediating('m-a'), state: 'skipped', reason: 'rebooted' } }),
    ],
    ['foreign-write counters', { ...ledger(3), foreignWrites: 4, lastForeignWrite: LATER }],
    ['zero foreign writes', { ...ledger(3, { op0001: pending('m-a') }), foreignWrites: 0 }],
    ['only the time of the last foreign write', { ...ledger(3), lastForeignWrite: LATER }],
    [
      'fractional seconds and an offset in every timestamp',
      {
        ...ledger(3, { op0001: pending('m-a', '2026-01-01T01:02:03.456+02:00') }),
        foreignWrites: 1,
        lastForeignWrite: '2026-01-01T01:02:03.7-05:30',
      },
    ],
  ])('round trip: %s', (_name, l) => {
    expect(parseLedger(formatLedger(l))).toEqual(l);
  });

  it('ignores unknown fields when parsing', () => {
    const raw = JSON.stringify({ replicas: 2, ops: { op0001: { ...pending('m-a'), extra: 1 } }, v: 2 });
    expect(parseLedger(raw)).toEqual(ledger(2, { op0001: pending('m-a') }));
  });

  it('an entry without a purpose (written before purposes existed) is a scale-down', () => {
    const { purpose: _purpose, ...old } = pending('m-a');
    const { purpose: _p2, ...oldApplied } = applied('m-b', 2, 5);
    const l = parseLedger(JSON.stringify({ replicas: 2, ops: { op0001: old, op0002: oldApplied } }));
    expect(l).toEqual(ledger(2, { op0001: pending('m-a'), op0002: applied('m-b', 2, 5) }));
    expect(l.ops['op0001']?.purpose).toBe('scale-down');
    expect(pendingCount(l)).toBe(1);
  });

  it('a ledger without foreign-write fields parses without them', () => {
    const l = parseLedger(JSON.stringify({ replicas: 2, ops: {} }));
    expect(l).toEqual({ replicas: 2, ops: {} });
    expect('foreignWrites' in l).toBe(false);
    expect('lastForeignWrite' in l).toBe(false);
  });

  it('formatLedger writes the whole ledger object', () => {
    const l: Ledger = {
      ...ledger(3, { op0001: pending('m-a'), op0002: remediating('m-b') }),
      foreignWrites: 2,
      lastForeignWrite: LATER,
    };
    expect(formatLedger(l)).toBe(JSON.stringify(l));
    expect(JSON.parse(formatLedger(l))).toEqual({
      replicas: 3,
      ops: {
        op0001: { machine: 'm-a', uid: 'uid-m-a', purpose: 'scale-down', state: 'pending', at: AT },
        op0002: { machine: 'm-b', uid: 'uid-m-b', purpose: 'remediation', state: 'pending', at: AT },
      },
      foreignWrites: 2,
      lastForeignWrite: LATER,
    });
  });

  it('formatLedger leaves out foreign-write fields the ledger does not have', () => {
    const parsed = JSON.parse(formatLedger(ledger(1))) as Record<string, unknown>;
    expect(Object.keys(parsed).sort()).toEqual(['ops', 'replicas']);
  });

  const raw = (o: Record<string, unknown>) => JSON.stringify(o);
  const entry = (o: Record<string, unknown> = {}, drop: string[] = []) => {
    const e: Record<string, unknown> = { ...pending('m-a'), ...o };
    for (const k of drop) delete e[k];
    return e;
  };
  const withOp = (e: unknown, id = 'op0001') => raw({ replicas: 3, ops: { [id]: e } });

  it.each<[string, string, RegExp]>([
    ['not JSON', 'replicas=3', /not JSON/],
    ['an array', '[1,2]', /JSON object/],
    ['missing replicas', raw({ ops: {} }), /"replicas"/],
    ['negative replicas', raw({ replicas: -1, ops: {} }), /"replicas".*>= 0/],
    ['non-integer replicas', raw({ replicas: 1.5, ops: {} }), /"replicas".*integer/],
    ['replicas as a string', raw({ replicas: '3', ops: {} }), /"replicas"/],
    ['missing ops', raw({ replicas: 3 }), /"ops"/],
    ['ops as an array', raw({ replicas: 3, ops: [] }), /"ops".*object/],
    ['ops as null', raw({ replicas: 3, ops: null }), /"ops".*object/],
    ['ops as a string', raw({ replicas: 3, ops: 'none' }), /"ops".*object/],
    ['op id with uppercase', withOp(entry(), 'OP0001'), /operation id "OP0001"/],
    ['op id too short', withOp(entry(), 'op01'), /operation id "op01"/],
    ['op entry not an object', withOp('pending'), /ops\.op0001.*object/],
    ['op entry null', withOp(null), /ops\.op0001.*object/],
    ['unknown state', withOp(entry({ state: 'done' })), /ops\.op0001.*state "done"/],
    ['missing state', withOp(entry({}, ['state'])), /ops\.op0001.*"state"/],
    ['missing machine', withOp(entry({}, ['machine'])), /ops\.op0001.*"machine"/],
    ['missing uid', withOp(entry({}, ['uid'])), /ops\.op0001.*"uid"/],
    ['missing at', withOp(entry({}, ['at'])), /ops\.op0001.*"at"/],
    ['at as a date only', withOp(entry({ at: '2026-01-01' })), /ops\.op0001.*"at"/],
    ['at without a zone', withOp(entry({ at: '2026-01-01T00:00:00' })), /ops\.op0001.*"at"/],
    ['at with a space', withOp(entry({ at: '2026-01-01 00:00:00Z' })), /ops\.op0001.*"at"/],
    ['at as epoch milliseconds', withOp(entry({ at: 1767225600000 })), /ops\.op0001.*"at"/],
    ['at empty', withOp(entry({ at: '' })), /ops\.op0001.*"at"/],
    ['unknown purpose', withOp(entry({ purpose: 'upgrade' })), /ops\.op0001.*purpose "upgrade"/],
    ['purpose with different case', withOp(entry({ purpose: 'Scale-Down' })), /purpose "Scale-Down"/],
    ['purpose not a string', withOp(entry({ purpose: 1 })), /ops\.op0001.*"purpose"/],
    ['purpose null', withOp(entry({ purpose: null })), /ops\.op0001.*"purpose"/],
    ['purpose empty', withOp(entry({ purpose: '' })), /ops\.op0001.*purpose ""/],
    ['negative foreignWrites', raw({ replicas: 3, ops: {}, foreignWrites: -1 }), /"foreignWrites".*>= 0/],
    [
      'fractional foreignWrites',
      raw({ replicas: 3, ops: {}, foreignWrites: 1.5 }),
      /"foreignWrites".*integer/,
    ],
    ['foreignWrites as a string', raw({ replicas: 3, ops: {}, foreignWrites: '2' }), /"foreignWrites"/],
    ['foreignWrites null', raw({ replicas: 3, ops: {}, foreignWrites: null }), /"foreignWrites"/],
    [
      'lastForeignWrite as a date only',
      raw({ replicas: 3, ops: {}, lastForeignWrite: '2026-01-01' }),
      /"lastForeignWrite"/,
    ],
    [
      'lastForeignWrite as epoch milliseconds',
      raw({ replicas: 3, ops: {}, lastForeignWrite: 1767225600000 }),
      /"lastForeignWrite"/,
    ],
    ['reason not a string', withOp(entry({ reason: 5 })), /ops\.op0001.*"reason"/],
    ['applied without to', withOp(entry({ state: 'applied', generation: 3 })), /ops\.op0001.*"to"/],
    ['applied without generation', withOp(entry({ state: 'applied', to: 2 })), /ops\.op0001.*"generation"/],
    ['applied with a negative to', withOp(entry({ state: 'applied', to: -1, generation: 3 })), /"to"/],
    [
      'applied with a fractional generation',
      withOp(entry({ state: 'applied', to: 2, generation: 2.5 })),
      /"generation"/,
    ],
  ])('rejects %s, naming the annotation and the field', (_name, text, field) => {
    const msg = recordError(() => parseLedger(text));
    expect(msg).toContain(LEDGER_ANNOTATION);
    expect(msg).toMatch(field);
  });
});

describe('ledgerOf and markOf', () => {
  const l = ledger(3, { op0001: pending('m-a') });

  it.each<[string, Record<string, string>, ReturnType<typeof ledgerOf>]>([
    ['absent', {}, {}],
    ['absent, other annotations only', { [OPERATION_ANNOTATION]: formatMark(mark()) }, {}],
    ['present', { [LEDGER_ANNOTATION]: formatLedger(l) }, { ledger: l }],
  ])('ledgerOf: %s', (_name, annotations, expected) => {
    expect(ledgerOf(annotations)).toEqual(expected);
  });

  it.each<[string, string, RegExp]>([
    ['not JSON', '{', /not JSON/],
    ['empty', '', /not JSON/],
    ['bad replicas', JSON.stringify({ replicas: -2, ops: {} }), /"replicas"/],
  ])('ledgerOf: malformed (%s) gives an error and no ledger', (_name, text, msg) => {
    const r = ledgerOf({ [LEDGER_ANNOTATION]: text });
    expect(r.ledger).toBeUndefined();
    expect(r.error).toContain(LEDGER_ANNOTATION);
    expect(r.error).toMatch(msg);
  });

  it.each<[string, Record<string, string>, ReturnType<typeof markOf>]>([
    ['absent', {}, {}],
    ['absent, other annotations only', { [LEDGER_ANNOTATION]: formatLedger(l) }, {}],
    ['present', { [OPERATION_ANNOTATION]: formatMark(mark()) }, { mark: mark() }],
  ])('markOf: %s', (_name, annotations, expected) => {
    expect(markOf(annotations)).toEqual(expected);
  });

  it.each<[string, string, RegExp]>([
    ['not JSON', 'op0001', /not JSON/],
    ['empty', '', /not JSON/],
    ['bad id', markJson({ id: 'X' }), /"id"/],
  ])('markOf: malformed (%s) gives an error and no mark', (_name, text, msg) => {
    const r = markOf({ [OPERATION_ANNOTATION]: text });
    expect(r.mark).toBeUndefined();
    expect(r.error).toContain(OPERATION_ANNOTATION);
    expect(r.error).toMatch(msg);
  });
});

describe('register', () => {
  const m = { name: 'm-new', uid: 'uid-m-new', purpose: 'scale-down' as const };
  const newEntry: LedgerEntry = {
    machine: 'm-new',
    uid: 'uid-m-new',
    purpose: 'scale-down',
    state: 'pending',
    at: LATER,
  };

  it.each<[number]>([[0], [1], [5]])('without a ledger: the baseline is spec.replicas %i', (spec) => {
    expect(register(undefined, spec, 'op0009', m, LATER)).toEqual({
      ledger: { replicas: spec, ops: { op0009: newEntry } },
      rebased: [],
      foreign: false,
    });
  });

  it('without a ledger: no foreign-write counters are started', () => {
    const r = register(undefined, 3, 'op0009', m, LATER);
    expect('foreignWrites' in r.ledger).toBe(false);
    expect('lastForeignWrite' in r.ledger).toBe(false);
  });

  it.each<[Purpose]>([['scale-down'], ['remediation']])('records the purpose %s on the entry', (purpose) => {
    const r = register(ledger(3), 3, 'op0009', { ...m, purpose }, LATER);
    expect(r.ledger.ops['op0009']).toEqual({ ...newEntry, purpose });
    expect(pendingCount(r.ledger)).toBe(purpose === 'scale-down' ? 1 : 0);
  });

  it.each<[string, Ledger]>([
    ['an empty ledger', ledger(3)],
    ['a ledger with a pending op', ledger(3, { op0001: pending('m-a') })],
    [
      'a ledger with every state',
      ledger(3, { op0001: pending('m-a'), op0002: applied('m-b', 3, 4), op0003: skipped('m-c', 'x') }),
    ],
    ['a ledger with a pending remediation', ledger(3, { op0001: remediating('m-a') })],
    ['a ledger with earlier foreign writes', { ...ledger(3), foreignWrites: 2, lastForeignWrite: AT }],
  ])('spec.replicas equals the ledger (%s): no rebase, the op is added pending', (_name, before) => {
    const snapshot = structuredClone(before);
    const r = register(before, 3, 'op0009', m, LATER);
    expect(r.rebased).toEqual([]);
    expect(r.foreign).toBe(false);
    expect(r.ledger).toEqual({ ...before, replicas: 3, ops: { ...before.ops, op0009: newEntry } });
    expect(before).toEqual(snapshot); // the input is not mutated
  });

  it.each<[string, number, number]>([
    ['spec raised by another writer', 3, 5],
    ['spec lowered by another writer', 3, 1],
    ['spec set to zero', 2, 0],
  ])('%s: every pending op is skipped and the baseline moves', (_name, was, spec) => {
    const before = ledger(was, {
      op0001: pending('m-a'),
      op0002: applied('m-b', was, 4),
      op0003: pending('m-c'),
      op0004: skipped('m-d', 'earlier'),
      op0005: remediating('m-e'),
    });
    const snapshot = structuredClone(before);
    const r = register(before, spec, 'op0009', m, LATER);
    expect(r.foreign).toBe(true);
    expect(r.rebased.sort()).toEqual(['op0001', 'op0003', 'op0005']);
    expect(r.ledger.replicas).toBe(spec);
    expect(r.ledger.foreignWrites).toBe(1);
    expect(r.ledger.lastForeignWrite).toBe(LATER);
    expect(r.ledger.ops).toEqual({
      op0001: { ...pending('m-a'), state: 'skipped', reason: FOREIGN_WRITE_REASON, at: LATER },
      op0002: applied('m-b', was, 4),
      op0003: { ...pending('m-c'), state: 'skipped', reason: FOREIGN_WRITE_REASON, at: LATER },
      op0004: skipped('m-d', 'earlier'),
      op0005: { ...remediating('m-e'), state: 'skipped', reason: FOREIGN_WRITE_REASON, at: LATER },
      op0009: newEntry,
    });
    expect(pendingCount(r.ledger)).toBe(1);
    expect(before).toEqual(snapshot);
  });

  it.each<[string, number | undefined, number]>([
    ['the first foreign write', undefined, 1],
    ['after none counted', 0, 1],
    ['after earlier ones', 4, 5],
  ])('a foreign write is counted: %s', (_name, was, now) => {
    const before: Ledger = {
      ...ledger(3),
      ...(was === undefined ? {} : { foreignWrites: was, lastForeignWrite: AT }),
    };
    const r = register(before, 7, 'op0009', m, LATER);
    expect(r.foreign).toBe(true);
    expect(r.ledger).toEqual({
      replicas: 7,
      ops: { op0009: newEntry },
      foreignWrites: now,
      lastForeignWrite: LATER,
    });
  });

  it('the counted ledger survives a format/parse round trip', () => {
    const r = register({ ...ledger(3), foreignWrites: 1, lastForeignWrite: AT }, 4, 'op0009', m, LATER);
    expect(parseLedger(formatLedger(r.ledger))).toEqual(r.ledger);
  });

  it('rebase with nothing pending moves the baseline, counts the write and reports no rebased op', () => {
    const r = register(ledger(4, { op0002: applied('m-b', 4, 2) }), 6, 'op0009', m, LATER);
    expect(r.rebased).toEqual([]);
    expect(r.foreign).toBe(true);
    expect(r.ledger).toEqual({
      replicas: 6,
      ops: { op0002: applied('m-b', 4, 2), op0009: newEntry },
      foreignWrites: 1,
      lastForeignWrite: LATER,
    });
  });

  it.each<[string, LedgerEntry, number]>([
    ['a pending entry', pending('m-new'), 3],
    ['an applied entry', applied('m-new', 3, 2), 3],
    ['a skipped entry', skipped('m-new', 'gone'), 3],
    ['a pending remediation', remediating('m-new'), 3],
    ['a pending entry, while spec.replicas moved', pending('m-new'), 5],
  ])('refuses a Machine that %s already holds', (_name, held, spec) => {
    const before = ledger(3, { op0001: pending('m-a'), op0002: held });
    const snapshot = structuredClone(before);
    const msg = recordError(() => register(before, spec, 'op0009', m, LATER));
    expect(msg).toMatch(/operation op0002 already holds Machine m-new/);
    expect(before).toEqual(snapshot);
  });

  it('matches the holder by uid, not by name', () => {
    // Same name, another uid: a new Machine of the same name is a different Machine.
    const before = ledger(3, { op0001: { ...pending('m-new'), uid: 'uid-old' } });
    expect(register(before, 3, 'op0009', m, LATER).ledger.ops['op0009']).toEqual(newEntry);
    // Another name, same uid: still held.
    const renamed = ledger(3, { op0001: { ...pending('m-other'), uid: 'uid-m-new' } });
    expect(recordError(() => register(renamed, 3, 'op0009', m, LATER))).toMatch(/op0001/);
  });

  it('the reason names the foreign write', () => {
    expect(FOREIGN_WRITE_REASON).toMatch(/another writer/);
  });
});

describe('applyDecrement', () => {
  const before = ledger(3, { op0001: pending('m-a'), op0002: pending('m-b'), op0003: applied('m-c', 3, 2) });

  it.each<[string, number, number]>([
    ['3 -> 2', 2, 5],
    ['to zero', 0, 1],
  ])('records the decrement (%s) and moves the baseline', (_name, to, generation) => {
    const snapshot = structuredClone(before);
    const l = applyDecrement(before, 'op0001', to, generation, LATER);
    expect(l).toEqual({
      replicas: to,
      ops: {
        ...before.ops,
        op0001: { ...pending('m-a'), state: 'applied', to, generation, at: LATER },
      },
    });
    expect(pendingCount(l)).toBe(1);
    expect(before).toEqual(snapshot);
  });

  it('the result survives a format/parse round trip', () => {
    const l = applyDecrement(before, 'op0002', 2, 9, LATER);
    expect(parseLedger(formatLedger(l))).toEqual(l);
  });

  it.each<[string, Ledger, string]>([
    ['absent', before, 'op0404'],
    ['already applied', before, 'op0003'],
    ['skipped', ledger(3, { op0001: skipped('m-a', 'r') }), 'op0001'],
    ['empty ledger', ledger(3), 'op0001'],
  ])('throws a RecordError when the op is %s', (_name, l, id) => {
    expect(recordError(() => applyDecrement(l, id, 2, 3, LATER))).toMatch(new RegExp(`${id}.*not pending`));
  });
});

describe('skip', () => {
  const before = ledger(3, { op0001: pending('m-a'), op0002: applied('m-b', 3, 2) });

  it('marks the op skipped with its reason and leaves replicas alone', () => {
    const snapshot = structuredClone(before);
    const l = skip(before, 'op0001', 'Machine is gone', LATER);
    expect(l).toEqual({
      replicas: 3,
      ops: {
        ...before.ops,
        op0001: { ...pending('m-a'), state: 'skipped', reason: 'Machine is gone', at: LATER },
      },
    });
    expect(pendingCount(l)).toBe(0);
    expect(before).toEqual(snapshot);
  });

  it.each<[string, Ledger, string]>([
    ['absent', before, 'op0404'],
    ['applied', before, 'op0002'],
    ['already skipped', ledger(3, { op0001: skipped('m-a', 'r') }), 'op0001'],
  ])('throws a RecordError when the op is %s', (_name, l, id) => {
    expect(recordError(() => skip(l, id, 'why', LATER))).toMatch(new RegExp(`${id}.*not pending`));
  });
});

describe('foreign-write counters through the other transitions', () => {
  const counted: Ledger = {
    ...ledger(3, { op0001: pending('m-a'), op0002: remediating('m-b') }),
    foreignWrites: 3,
    lastForeignWrite: AT,
  };

  it.each<[string, (l: Ledger) => Ledger]>([
    ['applyDecrement', (l) => applyDecrement(l, 'op0001', 2, 4, LATER)],
    ['skip', (l) => skip(l, 'op0001', 'why', LATER)],
    ['skip of a remediation', (l) => skip(l, 'op0002', 'rebooted', LATER)],
    ['prune', (l) => prune(l, 'op0001')],
  ])('%s keeps them', (_name, fn) => {
    const l = fn(counted);
    expect(l.foreignWrites).toBe(3);
    expect(l.lastForeignWrite).toBe(AT);
  });

  it('applyDecrement keeps the purpose of the entry', () => {
    expect(applyDecrement(counted, 'op0001', 2, 4, LATER).ops['op0001']?.purpose).toBe('scale-down');
    expect(skip(counted, 'op0002', 'r', LATER).ops['op0002']?.purpose).toBe('remediation');
  });
});

describe('prune', () => {
  it.each<[string, Ledger, string, Ledger]>([
    [
      'removes one op of several',
      ledger(2, { op0001: pending('m-a'), op0002: applied('m-b', 2, 3) }),
      'op0001',
      ledger(2, { op0002: applied('m-b', 2, 3) }),
    ],
    [
      'the last op: the ledger stays, empty',
      ledger(2, { op0001: applied('m-a', 2, 3) }),
      'op0001',
      ledger(2),
    ],
    [
      'an absent op: unchanged',
      ledger(2, { op0001: pending('m-a') }),
      'op0404',
      ledger(2, { op0001: pending('m-a') }),
    ],
    ['an empty ledger: stays empty', ledger(2), 'op0001', ledger(2)],
    [
      'a ledger at zero replicas keeps its baseline',
      ledger(0, { op0001: applied('m-a', 0, 9) }),
      'op0001',
      ledger(0),
    ],
    [
      'the last op of a ledger with foreign writes: baseline and counters stay',
      {
        ...ledger(5, { op0001: skipped('m-a', FOREIGN_WRITE_REASON) }),
        foreignWrites: 2,
        lastForeignWrite: LATER,
      },
      'op0001',
      { ...ledger(5), foreignWrites: 2, lastForeignWrite: LATER },
    ],
    [
      'a remediation entry',
      ledger(2, { op0001: remediating('m-a'), op0002: pending('m-b') }),
      'op0001',
      ledger(2, { op0002: pending('m-b') }),
    ],
  ])('%s', (_name, l, id, expected) => {
    const snapshot = structuredClone(l);
    const out = prune(l, id);
    expect(out).toBeDefined();
    expect(out).toEqual(expected);
    expect(l).toEqual(snapshot);
  });

  it('the pruned ledger still detects the next foreign write', () => {
    const l = prune(ledger(2, { op0001: applied('m-a', 2, 3) }), 'op0001');
    const r = register(l, 4, 'op0009', { name: 'm-x', uid: 'uid-m-x', purpose: 'scale-down' }, LATER);
    expect(r.foreign).toBe(true);
    expect(r.ledger.foreignWrites).toBe(1);
  });

  it('a pruned Machine can be registered again', () => {
    const l = prune(ledger(2, { op0001: skipped('m-a', 'r') }), 'op0001');
    const r = register(l, 2, 'op0009', { name: 'm-a', uid: 'uid-m-a', purpose: 'scale-down' }, LATER);
    expect(r.ledger.ops).toEqual({ op0009: pending('m-a', LATER) });
  });
});

describe('pendingCount', () => {
  it.each<[string, Ledger | undefined, number]>([
    ['no ledger', undefined, 0],
    ['empty ledger', ledger(3), 0],
    ['one pending', ledger(3, { op0001: pending('m-a') }), 1],
    [
      'mixed states',
      ledger(3, {
        op0001: pending('m-a'),
        op0002: applied('m-b', 3, 1),
        op0003: skipped('m-c', 'r'),
        op0004: pending('m-d'),
      }),
      2,
    ],
    ['only applied and skipped', ledger(3, { op0002: applied('m-b', 3, 1), op0003: skipped('m-c', 'r') }), 0],
    ['only a pending remediation', ledger(3, { op0001: remediating('m-a') }), 0],
    [
      'pending scale-downs and remediations',
      ledger(3, { op0001: remediating('m-a'), op0002: pending('m-b'), op0003: remediating('m-c') }),
      1,
    ],
    [
      'applied and skipped remediations',
      ledger(3, {
        op0001: { ...remediating('m-a'), state: 'skipped', reason: 'r' },
        op0002: { ...applied('m-b', 3, 1), purpose: 'remediation' },
      }),
      0,
    ],
  ])('%s', (_name, l, n) => {
    expect(pendingCount(l)).toBe(n);
  });
});

describe('hold hook', () => {
  it('is a CAPI pre-terminate hook named after the service', () => {
    expect(HOLD_HOOK_ANNOTATION).toBe(`${ANNOTATIONS.preTerminateHookPrefix}/capi-autopilot`);
    expect(HOLD_HOOK_ANNOTATION).toBe('pre-terminate.delete.hook.machine.cluster.x-k8s.io/capi-autopilot');
  });

  it('has no fixed value any more (the value is the operation id)', () => {
    expect('HOLD_HOOK_VALUE' in records).toBe(false);
  });
});

describe('scale-up ledger and fights', () => {
  const base = (o: Partial<Ledger> = {}): Ledger => ({
    replicas: 3,
    ops: {
      op0001: {
        machine: 'm-a',
        uid: 'u-a',
        purpose: 'scale-down',
        state: 'pending',
        at: '2026-11-26T10:00:00Z',
      },
    },
    ...o,
  });

  it('a scale-up from the baseline only moves the baseline', () => {
    const l = scaleUpLedger(base(), 3, 5, '2026-11-26T10:05:00Z');
    expect(l.replicas).toBe(5);
    expect(l.ops['op0001']!.state).toBe('pending');
    expect(l.foreignWrites).toBeUndefined();
  });

  it('a scale-up over a foreign value records the foreign write first: pending decrements are skipped', () => {
    const l = scaleUpLedger(base(), 2, 4, '2026-11-26T10:05:00Z');
    expect(l.replicas).toBe(4);
    expect(l.ops['op0001']).toMatchObject({ state: 'skipped', reason: FOREIGN_WRITE_REASON });
    expect(l).toMatchObject({ foreignWrites: 1, lastForeignWrite: '2026-11-26T10:05:00Z' });
  });

  it.each<[string, Partial<Ledger> | undefined, boolean]>([
    ['no ledger', undefined, false],
    ['one foreign write', { foreignWrites: 1, lastForeignWrite: '2026-11-26T10:00:00Z' }, false],
    ['two, recent', { foreignWrites: 2, lastForeignWrite: '2026-11-26T10:00:00Z' }, true],
    ['two, long ago', { foreignWrites: 2, lastForeignWrite: '2026-11-26T09:00:00Z' }, false],
  ])('fighting: %s', (_n, o, want) => {
    expect(fighting(o ? base(o) : undefined, new Date('2026-11-26T10:05:00Z'), 10 * 60_000)).toBe(want);
  });
});
