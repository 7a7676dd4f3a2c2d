import { describe, expect, it } from 'vitest';
import {
  MACHINE_FINALIZER,
  type Machine,
  type MachineDeployment,
  type MachineSet,
  type Meta,
} from '../../src/capi/types.ts';
import {
  formatLedger,
  formatMark,
  HOLD_HOOK_ANNOTATION,
  LEDGER_ANNOTATION,
  OPERATION_ANNOTATION,
  type Ledger,
  type LedgerEntry,
  type OperationMark,
  type Purpose,
} from '../../src/machines/records.ts';
import { findOperations, type Found } from '../../src/machines/recovery.ts';
import type { OpTarget } from '../../src/machines/snapshot.ts';

const NS = 'fleet';
const AT = '2026-01-01T00:00:00Z';

const meta = (name: string, annotations: Record<string, string> = {}, namespace = NS): Meta => ({
  name,
  namespace,
  uid: `uid-${name}`,
  resourceVersion: '1',
  generation: 1,
  labels: {},
  annotations,
  ownerReferences: [],
  finalizers: [],
});

const template = {
  labels: {},
  annotations: {},
  clusterName: 'c1',
  infrastructureRef: {
    apiGroup: 'infrastructure.cluster.x-k8s.io',
    kind: 'DockerMachineTemplate',
    name: 't',
  },
  bootstrap: {},
  deletion: {},
};

type MachineOpts = {
  annotations?: Record<string, string>;
  /** null: no owner MachineSet. */
  ownerMachineSet?: string | null;
  namespace?: string;
};

function machine(name: string, o: MachineOpts = {}): Machine {
  const m: Machine = {
    kind: 'Machine',
    version: 'v1beta2',
    meta: { ...meta(name, o.annotations ?? {}, o.namespace), finalizers: [MACHINE_FINALIZER] },
    clusterName: 'c1',
    infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerMachine', name },
    bootstrap: {},
    deletion: {},
    bootstrapReady: true,
    infrastructureProvisioned: true,
    conditions: [],
  };
  if (o.ownerMachineSet !== null) m.ownerMachineSet = o.ownerMachineSet ?? 'ms-1';
  return m;
}

function machineDeployment(
  name: string,
  annotations: Record<string, string> = {},
  namespace = NS,
): MachineDeployment {
  return {
    kind: 'MachineDeployment',
    version: 'v1beta2',
    meta: meta(name, annotations, namespace),
    clusterName: 'c1',
    replicas: 3,
    selector: {},
    template,
    deletionOrder: 'Random',
    paused: false,
    strategy: { type: 'RollingUpdate' },
    status: {},
    conditions: [],
  };
}

function machineSet(name: string, annotations: Record<string, string> = {}, namespace = NS): MachineSet {
  return {
    kind: 'MachineSet',
    version: 'v1beta2',
    meta: meta(name, annotations, namespace),
    clusterName: 'c1',
    replicas: 3,
    selector: {},
    template,
    deletionOrder: 'Random',
    status: {},
    conditions: [],
  };
}

const entry = (machine: string, o: Partial<LedgerEntry> = {}): LedgerEntry => ({
  machine,
  uid: `uid-${machine}`,
  purpose: 'scale-down',
  state: 'pending',
  at: AT,
  ...o,
});

const ledgerAnn = (ops: Record<string, LedgerEntry>, replicas = 3): Record<string, string> => {
  const l: Ledger = { replicas, ops };
  return { [LEDGER_ANNOTATION]: formatLedger(l) };
};

const markAnn = (id: string, o: Partial<OperationMark> = {}): Record<string, string> => ({
  [OPERATION_ANNOTATION]: formatMark({
    id,
    purpose: 'scale-down',
    group: 'MachineDeployment/md-0',
    holder: 'autopilot-a',
    at: AT,
    ...o,
  }),
});

const holdAnn = (value: string): Record<string, string> => ({ [HOLD_HOOK_ANNOTATION]: value });

const target = (
  id: string,
  machineName: string,
  group: string,
  purpose: Purpose = 'scale-down',
  namespace = NS,
): OpTarget => {
  const [kind, name] = group.split('/') as ['MachineDeployment' | 'MachineSet', string];
  return {
    id,
    namespace,
    machine: machineName,
    uid: `uid-${machineName}`,
    group: { kind, namespace, name },
    purpose,
  };
};

const byKey = (ts: readonly OpTarget[]): OpTarget[] =>
  [...ts].sort((a, b) => `${a.namespace}/${a.id}`.localeCompare(`${b.namespace}/${b.id}`));

type Groups = Array<MachineDeployment | MachineSet>;

describe('findOperations: targets', () => {
  it.each<[string, Machine[], Groups, string[], OpTarget[]]>([
    ['nothing recorded', [machine('m-a'), machine('m-b')], [machineDeployment('md-0')], [], []],
    ['no objects at all', [], [], [], []],
    [
      'a ledger entry on a MachineDeployment',
      [],
      [machineDeployment('md-0', ledgerAnn({ op0001: entry('m-a') }))],
      [],
      [target('op0001', 'm-a', 'MachineDeployment/md-0')],
    ],
    [
      'a ledger entry on a MachineSet',
      [],
      [machineSet('ms-1', ledgerAnn({ op0001: entry('m-a') }))],
      [],
      [target('op0001', 'm-a', 'MachineSet/ms-1')],
    ],
    [
      'ledger entries of every state and purpose',
      [],
      [
        machineDeployment(
          'md-0',
          ledgerAnn({
            op0001: entry('m-a'),
            op0002: entry('m-b', { purpose: 'remediation' }),
            op0003: entry('m-c', { state: 'applied', to: 2, generation: 4 }),
            op0004: entry('m-d', { state: 'skipped', reason: 'gone', purpose: 'remediation' }),
          }),
        ),
      ],
      [],
      [
        target('op0001', 'm-a', 'MachineDeployment/md-0'),
        target('op0002', 'm-b', 'MachineDeployment/md-0', 'remediation'),
        target('op0003', 'm-c', 'MachineDeployment/md-0'),
        target('op0004', 'm-d', 'MachineDeployment/md-0', 'remediation'),
      ],
    ],
    [
      'ledgers on several groups',
      [],
      [
        machineDeployment('md-0', ledgerAnn({ op0001: entry('m-a') })),
        machineSet('ms-9', ledgerAnn({ op0002: entry('m-b', { purpose: 'remediation' }) })),
      ],
      [],
      [
        target('op0001', 'm-a', 'MachineDeployment/md-0'),
        target('op0002', 'm-b', 'MachineSet/ms-9', 'remediation'),
      ],
    ],
    ['a ledger with no entries', [], [machineDeployment('md-0', ledgerAnn({}))], [], []],
    [
      'a mark without a ledger entry',
      [machine('m-a', { annotations: markAnn('op0001') })],
      [machineDeployment('md-0')],
      [],
      [target('op0001', 'm-a', 'MachineDeployment/md-0')],
    ],
    [
      'a remediation mark on a MachineSet, without a ledger entry',
      [
        machine('m-a', {
          annotations: markAnn('op0001', { purpose: 'remediation', group: 'MachineSet/ms-7' }),
        }),
      ],
      [],
      [],
      [target('op0001', 'm-a', 'MachineSet/ms-7', 'remediation')],
    ],
    [
      'a mark whose group is not the owner MachineSet: the mark is believed',
      [machine('m-a', { annotations: markAnn('op0001'), ownerMachineSet: 'ms-other' })],
      [],
      [],
      [target('op0001', 'm-a', 'MachineDeployment/md-0')],
    ],
    [
      'a mark on a Machine with no owner MachineSet',
      [machine('m-a', { annotations: markAnn('op0001'), ownerMachineSet: null })],
      [],
      [],
      [target('op0001', 'm-a', 'MachineDeployment/md-0')],
    ],
    [
      'ledger entry and mark of the same operation: once, with the ledger group',
      [machine('m-a', { annotations: markAnn('op0001', { group: 'MachineSet/ms-elsewhere' }) })],
      [machineDeployment('md-0', ledgerAnn({ op0001: entry('m-a') }))],
      [],
      [target('op0001', 'm-a', 'MachineDeployment/md-0')],
    ],
    [
      'ledger entry and mark disagree on the purpose: the ledger wins',
      [machine('m-a', { annotations: markAnn('op0001', { purpose: 'remediation' }) })],
      [machineDeployment('md-0', ledgerAnn({ op0001: entry('m-a') }))],
      [],
      [target('op0001', 'm-a', 'MachineDeployment/md-0')],
    ],
    [
      'the same operation in two ledgers: the first group',
      [],
      [
        machineDeployment('md-0', ledgerAnn({ op0001: entry('m-a') })),
        machineSet('ms-1', ledgerAnn({ op0001: entry('m-a') })),
      ],
      [],
      [target('op0001', 'm-a', 'MachineDeployment/md-0')],
    ],
    [
      'the same operation id in two namespaces: two operations',
      [machine('m-b', { annotations: markAnn('op0001'), namespace: 'other' })],
      [machineDeployment('md-0', ledgerAnn({ op0001: entry('m-a') }))],
      [],
      [
        target('op0001', 'm-a', 'MachineDeployment/md-0'),
        target('op0001', 'm-b', 'MachineDeployment/md-0', 'scale-down', 'other'),
      ],
    ],
    [
      'a hold without a mark: the owner MachineSet',
      [machine('m-a', { annotations: holdAnn('op0001'), ownerMachineSet: 'ms-3' })],
      [machineDeployment('md-0')],
      [],
      [target('op0001', 'm-a', 'MachineSet/ms-3')],
    ],
    [
      'a hold whose value is the mark id: only the mark',
      [machine('m-a', { annotations: { ...markAnn('op0001'), ...holdAnn('op0001') } })],
      [],
      [],
      [target('op0001', 'm-a', 'MachineDeployment/md-0')],
    ],
    [
      'a hold of another operation than the mark: both',
      [
        machine('m-a', {
          annotations: { ...markAnn('op0001'), ...holdAnn('op0002') },
          ownerMachineSet: 'ms-3',
        }),
      ],
      [],
      [],
      [target('op0001', 'm-a', 'MachineDeployment/md-0'), target('op0002', 'm-a', 'MachineSet/ms-3')],
    ],
    [
      'a hold with a ledger entry and no mark: once, with the ledger group and purpose',
      [machine('m-a', { annotations: holdAnn('op0001'), ownerMachineSet: 'ms-3' })],
      [machineDeployment('md-0', ledgerAnn({ op0001: entry('m-a', { purpose: 'remediation' }) }))],
      [],
      [target('op0001', 'm-a', 'MachineDeployment/md-0', 'remediation')],
    ],
    [
      'a running ledger operation is left out',
      [],
      [machineDeployment('md-0', ledgerAnn({ op0001: entry('m-a'), op0002: entry('m-b') }))],
      ['op0001'],
      [target('op0002', 'm-b', 'MachineDeployment/md-0')],
    ],
    [
      'a running marked operation is left out',
      [
        machine('m-a', { annotations: markAnn('op0001') }),
        machine('m-b', { annotations: markAnn('op0002') }),
      ],
      [],
      ['op0002'],
      [target('op0001', 'm-a', 'MachineDeployment/md-0')],
    ],
    [
      'a running held operation is left out',
      [machine('m-a', { annotations: holdAnn('op0001') })],
      [],
      ['op0001'],
      [],
    ],
    [
      'a running operation is left out wherever it is recorded',
      [machine('m-a', { annotations: { ...markAnn('op0001'), ...holdAnn('op0001') } })],
      [machineDeployment('md-0', ledgerAnn({ op0001: entry('m-a') }))],
      ['op0001', 'op0404'],
      [],
    ],
  ])('%s', (_name, machines, groups, running, expected) => {
    const r = findOperations(machines, groups, new Set(running));
    expect(r.problems).toEqual([]);
    expect(byKey(r.operations)).toEqual(byKey(expected));
  });

  it('does not mutate its inputs', () => {
    const machines = [machine('m-a', { annotations: { ...markAnn('op0001'), ...holdAnn('op0002') } })];
    const groups = [machineDeployment('md-0', ledgerAnn({ op0003: entry('m-b') }))];
    const before = structuredClone({ machines, groups });
    findOperations(machines, groups, new Set());
    expect({ machines, groups }).toEqual(before);
  });
});

describe('findOperations: problems', () => {
  it.each<[string, Machine[], Groups, RegExp[], OpTarget[]]>([
    [
      'a hold on a Machine without an owner MachineSet: nothing to recover it on, so it is reported',
      [machine('m-a', { annotations: holdAnn('op0001'), ownerMachineSet: null })],
      [],
      [/m-a: hold of operation op0001 on a Machine without a MachineSet/],
      [],
    ],
    [
      'an unreadable mark: a problem and no target',
      [machine('m-a', { annotations: { [OPERATION_ANNOTATION]: '{not json' } })],
      [],
      [/^fleet\/m-a: .*delete-operation.*not JSON/],
      [],
    ],
    [
      'a mark with a bad id: a problem and no target',
      [machine('m-a', { annotations: markAnn('OP-1') })],
      [],
      [/^fleet\/m-a: .*"id"/],
      [],
    ],
    [
      'an unreadable mark next to a hold: the hold is not acted on either',
      [machine('m-a', { annotations: { [OPERATION_ANNOTATION]: '[]', ...holdAnn('op0001') } })],
      [],
      [/^fleet\/m-a: .*JSON object/],
      [],
    ],
    [
      'an unreadable mark does not hide the other Machines',
      [
        machine('m-a', { annotations: { [OPERATION_ANNOTATION]: '' } }),
        machine('m-b', { annotations: markAnn('op0002') }),
      ],
      [],
      [/^fleet\/m-a: /],
      [target('op0002', 'm-b', 'MachineDeployment/md-0')],
    ],
    [
      'an unreadable ledger',
      [],
      [machineDeployment('md-0', { [LEDGER_ANNOTATION]: '{' })],
      [/^fleet\/md-0: .*replicas-ledger.*not JSON/],
      [],
    ],
    [
      'a ledger with an unknown purpose',
      [],
      [
        machineSet('ms-1', {
          [LEDGER_ANNOTATION]: JSON.stringify({
            replicas: 1,
            ops: { op0001: { ...entry('m-a'), purpose: 'x' } },
          }),
        }),
      ],
      [/^fleet\/ms-1: .*purpose "x"/],
      [],
    ],
    [
      'an unreadable ledger does not hide the other groups, nor the marks',
      [machine('m-c', { annotations: markAnn('op0003') })],
      [
        machineDeployment('md-0', { [LEDGER_ANNOTATION]: JSON.stringify({ replicas: -1, ops: {} }) }),
        machineDeployment('md-1', ledgerAnn({ op0002: entry('m-b') })),
      ],
      [/^fleet\/md-0: .*"replicas"/],
      [target('op0002', 'm-b', 'MachineDeployment/md-1'), target('op0003', 'm-c', 'MachineDeployment/md-0')],
    ],
    [
      'a hold whose value is not an operation id',
      [machine('m-a', { annotations: holdAnn('true') })],
      [],
      [
        /^fleet\/m-a: hold pre-terminate\.delete\.hook\.machine\.cluster\.x-k8s\.io\/capi-autopilot="true" is not an operation id$/,
      ],
      [],
    ],
    [
      'an empty hold value',
      [machine('m-a', { annotations: holdAnn('') })],
      [],
      [/^fleet\/m-a: hold .*="" is not an operation id/],
      [],
    ],
    [
      'a hold with an uppercase id',
      [machine('m-a', { annotations: holdAnn('OP0001') })],
      [],
      [/"OP0001" is not an operation id/],
      [],
    ],
    [
      'a malformed hold next to a readable mark: the mark stays a target',
      [machine('m-a', { annotations: { ...markAnn('op0001'), ...holdAnn('yes') } })],
      [],
      [/"yes" is not an operation id/],
      [target('op0001', 'm-a', 'MachineDeployment/md-0')],
    ],
    [
      'a malformed hold is reported even when the Machine has no owner MachineSet',
      [machine('m-a', { annotations: holdAnn('x'), ownerMachineSet: null })],
      [],
      [/"x" is not an operation id/],
      [],
    ],
    [
      'problems of every kind together, in a namespace of their own',
      [
        machine('m-a', { annotations: { [OPERATION_ANNOTATION]: 'x' }, namespace: 'ops' }),
        machine('m-b', { annotations: holdAnn('-'), namespace: 'ops' }),
      ],
      [machineDeployment('md-0', { [LEDGER_ANNOTATION]: 'x' }, 'ops')],
      [/^ops\/md-0: /, /^ops\/m-a: /, /^ops\/m-b: hold /],
      [],
    ],
  ])('%s', (_name, machines, groups, problems, expected) => {
    const r: Found = findOperations(machines, groups, new Set());
    expect(r.problems).toHaveLength(problems.length);
    problems.forEach((p, i) => expect(r.problems[i]).toMatch(p));
    expect(byKey(r.operations)).toEqual(byKey(expected));
  });
});
