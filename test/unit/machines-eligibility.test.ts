import { describe, expect, it } from 'vitest';
import { ANNOTATIONS, MACHINE_FINALIZER, type Condition, type Machine } from '../../src/capi/types.ts';
import {
  whyGroupCannotShrink,
  whyNotDeletable,
  type GroupFacts,
  type MachineContext,
} from '../../src/machines/eligibility.ts';
import {
  formatMark,
  OPERATION_ANNOTATION,
  REMEDIATION_ANNOTATION,
  type OperationMark,
} from '../../src/machines/records.ts';

type MachineOpts = {
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerMachineSet?: string | null; // null = no owner
  deletionTimestamp?: string;
  conditions?: Condition[];
  otherVersionConditions?: Condition[];
};

function machine(o: MachineOpts = {}): Machine {
  const m: Machine = {
    kind: 'Machine',
    version: 'v1beta2',
    meta: {
      name: 'm-1',
      namespace: 'fleet',
      uid: 'uid-m-1',
      resourceVersion: '1',
      generation: 1,
      labels: {},
      annotations: o.annotations ?? {},
      ownerReferences: [],
      finalizers: o.finalizers ?? [MACHINE_FINALIZER],
      ...(o.deletionTimestamp ? { deletionTimestamp: o.deletionTimestamp } : {}),
    },
    clusterName: 'c1',
    infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerMachine', name: 'm-1' },
    bootstrap: {},
    deletion: {},
    bootstrapReady: true,
    infrastructureProvisioned: true,
    conditions: o.conditions ?? [],
    ...(o.otherVersionConditions ? { otherVersionConditions: o.otherVersionConditions } : {}),
  };
  if (o.ownerMachineSet !== null) m.ownerMachineSet = o.ownerMachineSet ?? 'ms-1';
  return m;
}

const OUR_OP = 'op0001';
const markBy = (id: string, o: Partial<OperationMark> = {}): Record<string, string> => ({
  [OPERATION_ANNOTATION]: formatMark({
    id,
    purpose: 'scale-down',
    group: 'MachineDeployment/md-0',
    holder: 'autopilot-a',
    at: '2026-01-01T00:00:00Z',
    ...o,
  }),
});
const OURS = markBy(OUR_OP);

const ctx = (o: Partial<MachineContext> = {}): MachineContext => ({
  paused: false,
  purpose: 'scale-down',
  ...o,
});
const SCALE_DOWN = ctx();
const REMEDIATION = ctx({ purpose: 'remediation' });
const OWN_SCALE_DOWN = ctx({ operationId: OUR_OP });
const OWN_REMEDIATION = ctx({ operationId: OUR_OP, purpose: 'remediation' });

const cond = (type: string, status: Condition['status']): Condition => ({ type, status });

/** CAPI's in-place update marker (not exported by the source: the literal key is the contract). */
const IN_PLACE_UPDATE = 'in-place-updates.internal.cluster.x-k8s.io/update-in-progress';

describe('whyNotDeletable', () => {
  it.each<[string, Machine, MachineContext]>([
    ['a plain machine for scale-down', machine(), SCALE_DOWN],
    ['a plain machine for remediation', machine(), REMEDIATION],
    ['a machine marked by the same operation', machine({ annotations: OURS }), OWN_SCALE_DOWN],
    [
      'a machine marked by the same operation, remediation',
      machine({ annotations: markBy(OUR_OP, { purpose: 'remediation' }) }),
      OWN_REMEDIATION,
    ],
    [
      'delete-machine set together with our mark',
      machine({ annotations: { ...OURS, [ANNOTATIONS.deleteMachine]: '' } }),
      OWN_SCALE_DOWN,
    ],
    [
      'our remediation annotation, for remediation',
      machine({ annotations: { [REMEDIATION_ANNOTATION]: 'reboot' } }),
      REMEDIATION,
    ],
    [
      'ExternallyRemediated=False, for remediation',
      machine({ conditions: [cond('ExternallyRemediated', 'False')] }),
      REMEDIATION,
    ],
    [
      'remediate-machine annotation, for remediation',
      machine({ annotations: { [ANNOTATIONS.remediateMachine]: '' } }),
      REMEDIATION,
    ],
    ['OwnerRemediated=True', machine({ conditions: [cond('OwnerRemediated', 'True')] }), SCALE_DOWN],
    [
      'OwnerRemediated=Unknown',
      machine({ otherVersionConditions: [cond('OwnerRemediated', 'Unknown')] }),
      SCALE_DOWN,
    ],
    [
      'ExternallyRemediated=True',
      machine({ conditions: [cond('ExternallyRemediated', 'True')] }),
      SCALE_DOWN,
    ],
    [
      // CAPI never clears it: once healthy again the remediation is over, and scale-down may take it.
      'ExternallyRemediated=False left behind on a healthy Machine, for scale-down',
      machine({ conditions: [cond('ExternallyRemediated', 'False'), cond('HealthCheckSucceeded', 'True')] }),
      SCALE_DOWN,
    ],
    [
      'unrelated annotations and conditions',
      machine({
        annotations: { [ANNOTATIONS.skipRemediation]: '', 'example.com/x': 'y' },
        conditions: [cond('Ready', 'False'), cond('NodeHealthy', 'False')],
      }),
      SCALE_DOWN,
    ],
    [
      'extra finalizers besides CAPI',
      machine({ finalizers: ['example.com/keep', MACHINE_FINALIZER] }),
      SCALE_DOWN,
    ],
    [
      'skip-remediation, for scale-down',
      machine({ annotations: { [ANNOTATIONS.skipRemediation]: '' } }),
      SCALE_DOWN,
    ],
    [
      'skip-remediation, for our own scale-down',
      machine({ annotations: { ...OURS, [ANNOTATIONS.skipRemediation]: 'true' } }),
      OWN_SCALE_DOWN,
    ],
    [
      'another in-place-updates annotation',
      machine({ annotations: { 'in-place-updates.internal.cluster.x-k8s.io/other': '' } }),
      SCALE_DOWN,
    ],
  ])('eligible: %s', (_name, m, c) => {
    expect(whyNotDeletable(m, c)).toBeUndefined();
  });

  it.each<[string, Machine, MachineContext, RegExp]>([
    ['already deleting', machine({ deletionTimestamp: '2026-01-01T00:00:00Z' }), SCALE_DOWN, /being deleted/],
    [
      'already deleting, even when marked by us',
      machine({ deletionTimestamp: '2026-01-01T00:00:00Z', annotations: OURS }),
      OWN_SCALE_DOWN,
      /being deleted/,
    ],
    [
      'unreadable mark',
      machine({ annotations: { [OPERATION_ANNOTATION]: '{not json' } }),
      SCALE_DOWN,
      /operation mark.*unreadable/,
    ],
    [
      'unreadable mark, even for an operation id',
      machine({ annotations: { [OPERATION_ANNOTATION]: JSON.stringify({ id: OUR_OP }) } }),
      OWN_SCALE_DOWN,
      /operation mark.*unreadable/,
    ],
    [
      'marked by another operation',
      machine({ annotations: markBy('op0002') }),
      OWN_SCALE_DOWN,
      /operation op0002 \(scale-down\) holds it/,
    ],
    [
      'marked by a remediation, asked without an operation id',
      machine({ annotations: markBy('op0002', { purpose: 'remediation' }) }),
      SCALE_DOWN,
      /operation op0002 \(remediation\) holds it/,
    ],
    ['paused context', machine(), ctx({ paused: true }), /paused/],
    ['paused context, for remediation', machine(), ctx({ paused: true, purpose: 'remediation' }), /paused/],
    [
      'paused annotation on the machine',
      machine({ annotations: { [ANNOTATIONS.paused]: '' } }),
      SCALE_DOWN,
      /cluster\.x-k8s\.io\/paused/,
    ],
    ['no owner MachineSet', machine({ ownerMachineSet: null }), SCALE_DOWN, /not controlled by a MachineSet/],
    ['no finalizers at all', machine({ finalizers: [] }), SCALE_DOWN, /finalizer/],
    [
      'only foreign finalizers',
      machine({ finalizers: ['example.com/keep'] }),
      SCALE_DOWN,
      /machine\.cluster\.x-k8s\.io finalizer/,
    ],
    [
      'delete-machine annotation without our mark',
      machine({ annotations: { [ANNOTATIONS.deleteMachine]: 'true' } }),
      OWN_SCALE_DOWN,
      /someone else.*delete-machine/,
    ],
    [
      'delete-machine annotation without a mark, for remediation',
      machine({ annotations: { [ANNOTATIONS.deleteMachine]: '' } }),
      REMEDIATION,
      /someone else.*delete-machine/,
    ],
    [
      'our remediation annotation, for scale-down',
      machine({ annotations: { [REMEDIATION_ANNOTATION]: 'reboot' } }),
      SCALE_DOWN,
      /remediating/,
    ],
    [
      'OwnerRemediated=False',
      machine({ conditions: [cond('OwnerRemediated', 'False')] }),
      SCALE_DOWN,
      /owner is remediating.*OwnerRemediated=False/,
    ],
    [
      'OwnerRemediated=False, for remediation',
      machine({ conditions: [cond('OwnerRemediated', 'False')] }),
      REMEDIATION,
      /OwnerRemediated=False/,
    ],
    [
      'OwnerRemediated=False only in the other version conditions',
      machine({
        conditions: [cond('Ready', 'True')],
        otherVersionConditions: [cond('OwnerRemediated', 'False')],
      }),
      SCALE_DOWN,
      /OwnerRemediated=False/,
    ],
    [
      'OwnerRemediated=False only in the other version conditions, for remediation',
      machine({ otherVersionConditions: [cond('OwnerRemediated', 'False')] }),
      OWN_REMEDIATION,
      /OwnerRemediated=False/,
    ],
    [
      'ExternallyRemediated=False, for scale-down',
      machine({ conditions: [cond('ExternallyRemediated', 'False')] }),
      SCALE_DOWN,
      /external remediation.*ExternallyRemediated=False/,
    ],
    [
      'ExternallyRemediated=False on a Machine not healthy yet, for scale-down',
      machine({ conditions: [cond('ExternallyRemediated', 'False'), cond('HealthCheckSucceeded', 'False')] }),
      SCALE_DOWN,
      /ExternallyRemediated=False/,
    ],
    [
      'ExternallyRemediated=False only in the other version conditions, for scale-down',
      machine({ otherVersionConditions: [cond('ExternallyRemediated', 'False')] }),
      SCALE_DOWN,
      /ExternallyRemediated=False/,
    ],
    [
      'remediate-machine annotation, for scale-down',
      machine({ annotations: { [ANNOTATIONS.remediateMachine]: '' } }),
      SCALE_DOWN,
      /marked for remediation.*remediate-machine/,
    ],
    [
      'in-place update in progress, for scale-down',
      machine({ annotations: { [IN_PLACE_UPDATE]: '' } }),
      SCALE_DOWN,
      /updating it in place/,
    ],
    [
      'in-place update in progress, for remediation',
      machine({ annotations: { [IN_PLACE_UPDATE]: 'true' } }),
      REMEDIATION,
      /updating it in place/,
    ],
    [
      'in-place update in progress, even when marked by us',
      machine({ annotations: { ...OURS, [IN_PLACE_UPDATE]: '' } }),
      OWN_SCALE_DOWN,
      /updating it in place/,
    ],
    [
      'in-place update in progress, even for our own remediation',
      machine({ annotations: { ...markBy(OUR_OP, { purpose: 'remediation' }), [IN_PLACE_UPDATE]: '' } }),
      OWN_REMEDIATION,
      /updating it in place/,
    ],
    [
      'skip-remediation, for remediation',
      machine({ annotations: { [ANNOTATIONS.skipRemediation]: '' } }),
      REMEDIATION,
      /it has cluster\.x-k8s\.io\/skip-remediation/,
    ],
    [
      'skip-remediation with a value, for our own remediation',
      machine({
        annotations: { ...markBy(OUR_OP, { purpose: 'remediation' }), [ANNOTATIONS.skipRemediation]: 'true' },
      }),
      OWN_REMEDIATION,
      /skip-remediation/,
    ],
  ])('refused: %s', (_name, m, c, reason) => {
    const why = whyNotDeletable(m, c);
    expect(why).toBeDefined();
    expect(why).toMatch(reason);
  });

  it.each<[string, Machine, MachineContext, RegExp]>([
    [
      'deleting is reported before a foreign mark',
      machine({ deletionTimestamp: '2026-01-01T00:00:00Z', annotations: markBy('op0002') }),
      SCALE_DOWN,
      /being deleted/,
    ],
    [
      'a foreign mark is reported before pause',
      machine({ annotations: markBy('op0002') }),
      ctx({ paused: true }),
      /op0002/,
    ],
    [
      'our own mark does not lift pause',
      machine({ annotations: OURS }),
      ctx({ paused: true, operationId: OUR_OP }),
      /paused/,
    ],
    [
      'our own mark does not lift a missing finalizer',
      machine({ annotations: OURS, finalizers: [] }),
      OWN_SCALE_DOWN,
      /finalizer/,
    ],
    [
      'our own mark does not lift OwnerRemediated=False',
      machine({ annotations: OURS, conditions: [cond('OwnerRemediated', 'False')] }),
      OWN_SCALE_DOWN,
      /OwnerRemediated=False/,
    ],
    [
      'a missing finalizer is reported before an in-place update',
      machine({ finalizers: [], annotations: { [IN_PLACE_UPDATE]: '' } }),
      SCALE_DOWN,
      /finalizer/,
    ],
    [
      'our remediation annotation is reported before an in-place update, for scale-down',
      machine({ annotations: { [REMEDIATION_ANNOTATION]: 'reboot', [IN_PLACE_UPDATE]: '' } }),
      SCALE_DOWN,
      /remediating/,
    ],
    [
      'an in-place update is reported before skip-remediation',
      machine({ annotations: { [ANNOTATIONS.skipRemediation]: '', [IN_PLACE_UPDATE]: '' } }),
      REMEDIATION,
      /in place/,
    ],
    [
      'skip-remediation is reported before OwnerRemediated=False',
      machine({
        annotations: { [ANNOTATIONS.skipRemediation]: '' },
        conditions: [cond('OwnerRemediated', 'False')],
      }),
      REMEDIATION,
      /skip-remediation/,
    ],
    [
      'an in-place update is reported before OwnerRemediated=False',
      machine({ annotations: { [IN_PLACE_UPDATE]: '' }, conditions: [cond('OwnerRemediated', 'False')] }),
      SCALE_DOWN,
      /in place/,
    ],
    [
      'a foreign mark is reported before skip-remediation',
      machine({ annotations: { ...markBy('op0002'), [ANNOTATIONS.skipRemediation]: '' } }),
      OWN_REMEDIATION,
      /op0002/,
    ],
  ])('order: %s', (_name, m, c, reason) => {
    expect(whyNotDeletable(m, c)).toMatch(reason);
  });
});

describe('whyGroupCannotShrink', () => {
  const group = (o: Partial<GroupFacts> = {}): GroupFacts => ({
    replicas: 3,
    minSize: 1,
    pending: 0,
    paused: false,
    activeMachineSets: 1,
    checkMinSize: true,
    ...o,
  });
  /** A remediation: the Machine is replaced, so the min size is not checked. */
  const remediation = (o: Partial<GroupFacts> = {}): GroupFacts => group({ checkMinSize: false, ...o });

  it.each<[string, GroupFacts]>([
    ['room above min', group()],
    ['replicas 3, min 1, one pending', group({ pending: 1 })],
    ['min 0 with one replica', group({ minSize: 0, replicas: 1 })],
    ['exactly one above min', group({ replicas: 3, minSize: 2 })],
    ['no active MachineSet yet', group({ activeMachineSets: 0 })],
    ['remediation with room above min', remediation()],
    ['remediation at min size', remediation({ replicas: 2, minSize: 2 })],
    ['remediation below min size', remediation({ replicas: 1, minSize: 3 })],
    ['remediation with no replicas, min 0', remediation({ replicas: 0, minSize: 0 })],
    ['remediation with one replica, min 1', remediation({ replicas: 1, minSize: 1 })],
    ['remediation with removals in flight', remediation({ replicas: 2, minSize: 1, pending: 2 })],
    ['an empty owner MachineDeployment name is no owner', group({ ownerMachineDeployment: '' })],
  ])('ok: %s', (_name, g) => {
    expect(whyGroupCannotShrink(g)).toBeUndefined();
  });

  it.each<[string, GroupFacts, RegExp]>([
    ['unreadable ledger', group({ ledgerError: 'bad JSON' }), /ledger is unreadable \(bad JSON\)/],
    ['paused', group({ paused: true }), /paused/],
    ['no spec.replicas', group({ replicas: undefined }), /no spec\.replicas/],
    ['two active MachineSets', group({ activeMachineSets: 2 }), /rollout.*2 MachineSets/],
    ['at min size', group({ replicas: 2, minSize: 2 }), /at its min size 2/],
    ['below min size', group({ replicas: 1, minSize: 2 }), /min size 2/],
    ['min 0 with no replicas', group({ replicas: 0, minSize: 0 }), /min size 0/],
    [
      'replicas 3, min 1, two pending',
      group({ pending: 2 }),
      /below its min size 1.*3 replicas.*2 removals in flight/,
    ],
    ['replicas 2, min 1, one pending', group({ replicas: 2, pending: 1 }), /1 removals in flight/],
    [
      'a MachineSet controlled by a MachineDeployment',
      group({ ownerMachineDeployment: 'md-0' }),
      /MachineDeployment md-0 owns its replicas: scale that instead/,
    ],
    [
      'a MachineSet controlled by a MachineDeployment, for remediation',
      remediation({ ownerMachineDeployment: 'md-web' }),
      /MachineDeployment md-web.*scale that/,
    ],
    ['remediation, unreadable ledger', remediation({ ledgerError: 'x' }), /ledger is unreadable \(x\)/],
    ['remediation, paused', remediation({ paused: true }), /paused/],
    ['remediation, no spec.replicas', remediation({ replicas: undefined }), /no spec\.replicas/],
    ['remediation, during a rollout', remediation({ activeMachineSets: 3 }), /rollout.*3 MachineSets/],
  ])('refused: %s', (_name, g, reason) => {
    const why = whyGroupCannotShrink(g);
    expect(why).toBeDefined();
    expect(why).toMatch(reason);
  });

  it.each<[string, GroupFacts, RegExp]>([
    [
      'ledger error before pause',
      group({ ledgerError: 'x', paused: true, replicas: undefined }),
      /ledger is unreadable/,
    ],
    ['pause before missing replicas', group({ paused: true, replicas: undefined }), /paused/],
    [
      'missing replicas before rollout',
      group({ replicas: undefined, activeMachineSets: 3 }),
      /no spec\.replicas/,
    ],
    ['rollout before min size', group({ replicas: 1, minSize: 1, activeMachineSets: 2 }), /rollout/],
    [
      'pause before an owner MachineDeployment',
      group({ paused: true, ownerMachineDeployment: 'md-0' }),
      /paused/,
    ],
    [
      'missing replicas before an owner MachineDeployment',
      group({ replicas: undefined, ownerMachineDeployment: 'md-0' }),
      /no spec\.replicas/,
    ],
    [
      'an owner MachineDeployment before rollout',
      group({ ownerMachineDeployment: 'md-0', activeMachineSets: 2 }),
      /MachineDeployment md-0/,
    ],
    [
      'an owner MachineDeployment before min size',
      group({ ownerMachineDeployment: 'md-0', replicas: 1, minSize: 1 }),
      /MachineDeployment md-0/,
    ],
  ])('order: %s', (_name, g, reason) => {
    expect(whyGroupCannotShrink(g)).toMatch(reason);
  });
});
