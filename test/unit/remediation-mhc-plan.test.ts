// planMhc: what standalone mode writes in place of CAPI's MachineHealthCheck controller
// (machinehealthcheck_controller.go reconcile, patchUnhealthyTargets, patchHealthyTargets). Evaluations are
// built by hand so each row controls target states exactly; a plan is "applied" through the wire shape
// (conditionsJson) to check that a second reconcile is a no-op.
import { describe, expect, it } from 'vitest';
import { conditionsJson } from '../../src/capi/adapters/patches.ts';
import type { CapiVersion, Condition, Machine, MachineHealthCheck } from '../../src/capi/types.ts';
import type { HealthEvaluation, HealthReasonCode, TargetState } from '../../src/remediation/health.ts';
import { planMhc, type MhcPlan, type MhcPlanInput } from '../../src/remediation/mhc-plan.ts';

const NS = 'fleet';
const T0 = new Date('2026-05-01T12:00:00Z');
const T1 = new Date('2026-05-01T12:05:00Z');
const OLD = '2026-04-01T00:00:00Z';
const HCS = 'HealthCheckSucceeded';
const VERSIONS: CapiVersion[] = ['v1beta2', 'v1beta1'];
const other = (v: CapiVersion): CapiVersion => (v === 'v1beta2' ? 'v1beta1' : 'v1beta2');

interface MOpts {
  version?: CapiVersion;
  conditions?: Condition[];
  other?: Condition[];
  deleting?: boolean;
  annotations?: Record<string, string>;
}
function machine(name: string, o: MOpts = {}): Machine {
  return {
    kind: 'Machine',
    version: o.version ?? 'v1beta2',
    meta: {
      name,
      namespace: NS,
      uid: `uid-${name}`,
      resourceVersion: `rv-${name}`,
      generation: 3,
      labels: { 'cluster.x-k8s.io/cluster-name': 'c1', pool: 'a' },
      annotations: o.annotations ?? {},
      creationTimestamp: OLD,
      ...(o.deleting ? { deletionTimestamp: OLD } : {}),
      ownerReferences: [],
      finalizers: [],
    },
    clusterName: 'c1',
    infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerMachine', name },
    bootstrap: {},
    deletion: {},
    nodeRef: `node-${name}`,
    bootstrapReady: true,
    infrastructureProvisioned: true,
    conditions: o.conditions ?? [],
    ...(o.other ? { otherVersionConditions: o.other } : {}),
  };
}

interface HOpts {
  version?: CapiVersion;
  template?: boolean;
  maxUnhealthy?: number | string;
  range?: string;
  conditions?: Condition[];
  other?: Condition[];
  status?: MachineHealthCheck['status'];
}
function mhc(o: HOpts = {}): MachineHealthCheck {
  return {
    kind: 'MachineHealthCheck',
    version: o.version ?? 'v1beta2',
    meta: { ...machine('mhc').meta, uid: 'uid-mhc', generation: 7, labels: {} },
    clusterName: 'c1',
    selector: { matchLabels: { pool: 'a' } },
    unhealthyNodeConditions: [{ type: 'Ready', status: 'False', timeoutSeconds: 300 }],
    unhealthyMachineConditions: [],
    nodeStartupTimeoutSeconds: 600,
    ...(o.maxUnhealthy === undefined ? {} : { unhealthyLessThanOrEqualTo: o.maxUnhealthy }),
    ...(o.range === undefined ? {} : { unhealthyInRange: o.range }),
    ...(o.template
      ? { remediationTemplate: { apiVersion: 'x.io/v1', kind: 'RebootTemplate', name: 'reboot' } }
      : {}),
    status: o.status ?? {},
    conditions: o.conditions ?? [],
    ...(o.other ? { otherVersionConditions: o.other } : {}),
  };
}

type T = [machine: string, state: TargetState, code?: HealthReasonCode, message?: string];
function evaluation(targets: T[], paused?: string): HealthEvaluation {
  const ts = targets.map(([machine, state, code, message]) => ({
    machine,
    state,
    code: code ?? (state === 'healthy' ? 'HealthCheckSucceeded' : 'TimeoutRunning'),
    message: message ?? `${machine} is ${state}`,
  }));
  const healthy = ts.filter((t) => t.state === 'healthy').length;
  return {
    ok: true,
    ...(paused ? { paused } : {}),
    targets: ts,
    skipped: [],
    expectedMachines: ts.length,
    currentHealthy: healthy,
    unhealthy: ts.length - healthy,
    problems: [],
  };
}

function input(h: MachineHealthCheck, targets: T[], machines?: Machine[], o: Partial<MhcPlanInput> = {}) {
  const v = h.version;
  return {
    mhc: h,
    evaluation: evaluation(targets),
    machines: machines ?? targets.map(([n]) => machine(n, { version: v })),
    requests: new Map<string, { deleting: boolean }>(),
    now: T0,
    ...o,
  };
}

/** The objects after the plan's writes, read back through the wire shape. */
function applied(x: MhcPlanInput, p: MhcPlan): MhcPlanInput {
  const wire = (own: CapiVersion, cs: Condition[], ocs: Condition[]) => ({
    conditions: conditionsJson(own, cs) as unknown as Condition[],
    otherVersionConditions: conditionsJson(other(own), ocs) as unknown as Condition[],
  });
  const s = p.status;
  const mhc2: MachineHealthCheck = s
    ? {
        ...x.mhc,
        status: {
          expectedMachines: s.expectedMachines,
          currentHealthy: s.currentHealthy,
          remediationsAllowed: s.remediationsAllowed,
          observedGeneration: s.observedGeneration,
          targets: s.targets,
        },
        ...wire(x.mhc.version, s.conditions, s.otherVersionConditions),
      }
    : x.mhc;
  const machines = x.machines.map((m) => {
    const u = p.machineConditions.find((c) => c.machine === m.meta.name);
    return u ? { ...m, ...wire(m.version, u.conditions, u.otherVersionConditions) } : m;
  });
  const requests = new Map(x.requests);
  for (const n of p.createRequests) requests.set(n, { deleting: false });
  for (const n of p.deleteRequests) requests.set(n, { deleting: true });
  return { ...x, mhc: mhc2, machines, requests };
}

const find = (cs: readonly Condition[] | undefined, type: string) => cs?.find((c) => c.type === type);
/** [v1beta2-vocabulary list, v1beta1-vocabulary list] of a Machine's update. */
function lists(p: MhcPlan, name: string, v: CapiVersion): [Condition[], Condition[]] {
  const u = p.machineConditions.find((m) => m.machine === name);
  if (!u) throw new Error(`${name} not patched`);
  return v === 'v1beta2'
    ? [u.conditions, u.otherVersionConditions]
    : [u.otherVersionConditions, u.conditions];
}
function mhcLists(p: MhcPlan, v: CapiVersion): [Condition[], Condition[]] {
  if (!p.status) throw new Error('no status write');
  const s = p.status;
  return v === 'v1beta2'
    ? [s.conditions, s.otherVersionConditions]
    : [s.otherVersionConditions, s.conditions];
}
const reasons = (p: MhcPlan) => p.events.map((e) => `${e.type}/${e.reason}`);
const noWrites = (p: MhcPlan) => {
  expect(p.status).toBeUndefined();
  expect(p.machineConditions).toEqual([]);
  expect([p.createRequests, p.deleteRequests, p.events]).toEqual([[], [], []]);
};

describe.each(VERSIONS)('planMhc, %s objects', (v) => {
  it('healthy fleet: first reconcile writes, the second (later) writes nothing', () => {
    const x = input(mhc({ version: v }), [
      ['m-2', 'healthy'],
      ['m-1', 'healthy'],
    ]);
    const p = planMhc(x);
    expect(p.status).toMatchObject({
      expectedMachines: 2,
      currentHealthy: 2,
      remediationsAllowed: 2,
      observedGeneration: 7,
      targets: ['m-1', 'm-2'],
    });
    const [m2, m1] = mhcLists(p, v);
    expect(find(m2, 'RemediationAllowed')).toMatchObject({ status: 'True', reason: 'RemediationAllowed' });
    expect(find(m2, 'RemediationAllowed')?.observedGeneration).toBe(7);
    expect(find(m2, 'Paused')).toMatchObject({ status: 'False', reason: 'NotPaused' });
    expect(find(m1, 'RemediationAllowed')).toEqual({
      type: 'RemediationAllowed',
      status: 'True',
      lastTransitionTime: '2026-05-01T12:00:00Z',
    });
    expect(find(m1, 'Paused')).toBeUndefined();
    const [c2, c1] = lists(p, 'm-1', v);
    expect(find(c2, HCS)).toMatchObject({
      status: 'True',
      reason: 'HealthCheckSucceeded',
      observedGeneration: 3,
    });
    expect(find(c1, HCS)).toEqual({ type: HCS, status: 'True', lastTransitionTime: '2026-05-01T12:00:00Z' });
    expect(p.machineConditions.map((m) => [m.machine, m.resourceVersion])).toEqual([
      ['m-1', 'rv-m-1'],
      ['m-2', 'rv-m-2'],
    ]);
    expect(p.events).toEqual([]);
    noWrites(planMhc({ ...applied(x, p), now: T1 }));
  });

  // prettier-ignore
  it.each<[HealthReasonCode, string, string | undefined]>([
    ['UnhealthyNode', 'UnhealthyNode', 'why'],
    ['UnhealthyMachine', 'UnhealthyMachine', 'why'],
    ['NodeStartupTimeout', 'NodeStartupTimeout', 'why'],
    ['NodeDeleted', 'NodeNotFound', undefined],
    ['HasRemediateAnnotation', 'HasRemediateMachineAnnotation', 'why'],
    ['MachineHasFailure', 'MachineHasFailure', 'why'],
  ])('unhealthy %s: each list in its vocabulary (v1beta1 reason %s)', (code, v1reason, v1message) => {
    const p = planMhc(input(mhc({ version: v }), [['m-1', 'unhealthy', code, 'why']]));
    const [c2, c1] = lists(p, 'm-1', v);
    expect(find(c2, HCS)).toEqual({
      type: HCS, status: 'False', reason: code, message: 'why', observedGeneration: 3, lastTransitionTime: '2026-05-01T12:00:00Z',
    });
    expect(find(c1, HCS)).toEqual({
      type: HCS, status: 'False', reason: v1reason, severity: 'Warning', lastTransitionTime: '2026-05-01T12:00:00Z',
      ...(v1message ? { message: v1message } : {}),
    });
  });

  it('keeps other conditions and their order; lastTransitionTime moves only with the status', () => {
    const old = (c: Omit<Condition, 'lastTransitionTime'>): Condition => ({ ...c, lastTransitionTime: OLD });
    const own = [
      old({ type: 'Ready', status: 'True', reason: 'R', message: '' }),
      old({ type: HCS, status: 'False', reason: 'UnhealthyNode', message: 'before' }),
      old({ type: 'Z', status: 'True', reason: 'Z', message: '' }),
    ];
    const m = machine('m-1', { version: v, conditions: own, other: [] });
    const p = planMhc(input(mhc({ version: v }), [['m-1', 'unhealthy', 'UnhealthyNode', 'after']], [m]));
    const u = p.machineConditions[0]!;
    expect(u.conditions.map((c) => c.type)).toEqual(['Ready', HCS, 'Z', 'OwnerRemediated']);
    expect(u.conditions[0]).toBe(own[0]);
    expect(find(u.conditions, HCS)).toMatchObject({ message: 'after', lastTransitionTime: OLD });
    const q = planMhc(input(mhc({ version: v }), [['m-1', 'healthy']], [m], { now: T1 }));
    expect(find(q.machineConditions[0]!.conditions, HCS)).toMatchObject({
      status: 'True',
      lastTransitionTime: '2026-05-01T12:05:00Z',
    });
  });

  it('pending, unknown and deleting targets, and deleting Machines, are not patched', () => {
    const ms = ['m-1', 'm-2', 'm-3'].map((n) => machine(n, { version: v }));
    ms.push(machine('m-4', { version: v, deleting: true }));
    const p = planMhc(
      input(
        mhc({ version: v, template: true }),
        [
          ['m-1', 'pending'],
          ['m-2', 'unknown', 'NodeCacheUnavailable'],
          ['m-3', 'deleting', 'Deleting'],
          ['m-4', 'unhealthy', 'UnhealthyNode'],
        ],
        ms,
      ),
    );
    expect(p.machineConditions).toEqual([]);
    expect(p.createRequests).toEqual([]);
    expect(p.status).toMatchObject({
      expectedMachines: 4,
      currentHealthy: 0,
      targets: ['m-1', 'm-2', 'm-3', 'm-4'],
    });
  });

  it('short-circuit: RemediationAllowed=False, one Warning per change, no remediation, HCS still patched', () => {
    const targets: T[] = [
      ['m-1', 'unhealthy', 'UnhealthyNode'],
      ['m-2', 'unhealthy', 'NodeDeleted'],
      ['m-3', 'healthy'],
    ];
    const x = input(mhc({ version: v, maxUnhealthy: 1 }), targets);
    const p = planMhc(x);
    expect(p.allowed).toMatchObject({ allowed: false, reason: 'TooManyUnhealthy' });
    expect(p.status?.remediationsAllowed).toBe(0);
    const [m2, m1] = mhcLists(p, v);
    expect(find(m2, 'RemediationAllowed')).toMatchObject({
      status: 'False',
      reason: 'TooManyUnhealthy',
      message: p.allowed!.message,
    });
    expect(find(m1, 'RemediationAllowed')).toMatchObject({
      status: 'False',
      reason: 'TooManyUnhealthy',
      severity: 'Warning',
    });
    expect(p.events).toEqual([
      {
        on: { kind: 'MachineHealthCheck' },
        type: 'Warning',
        reason: 'RemediationRestricted',
        message: p.allowed!.message,
      },
    ]);
    expect(find(lists(p, 'm-1', v)[0], HCS)?.status).toBe('False');
    expect(find(lists(p, 'm-3', v)[0], HCS)?.status).toBe('True');
    expect(find(lists(p, 'm-1', v)[0], 'OwnerRemediated')).toBeUndefined();

    // Same situation later: no write, no second event.
    const x2 = { ...applied(x, p), now: T1 };
    noWrites(planMhc(x2));
    // One more unhealthy: the message changes, so one more event; then remediation is allowed again.
    const x3 = {
      ...x2,
      evaluation: evaluation([...targets.slice(0, 2), ['m-3', 'unhealthy', 'UnhealthyNode']]),
    };
    const p3 = planMhc(x3);
    expect(reasons(p3)).toEqual(['Warning/RemediationRestricted']);
    const x4 = {
      ...applied(x3, p3),
      evaluation: evaluation([
        ['m-1', 'healthy'],
        ['m-2', 'healthy'],
        ['m-3', 'healthy'],
      ]),
    };
    const p4 = planMhc(x4);
    expect(p4.events).toEqual([]);
    const [n2, n1] = mhcLists(p4, v);
    expect(find(n2, 'RemediationAllowed')).toMatchObject({
      status: 'True',
      reason: 'RemediationAllowed',
      message: '',
    });
    expect(find(n2, 'RemediationAllowed')?.lastTransitionTime).toBe('2026-05-01T12:05:00Z');
    expect(find(n1, 'RemediationAllowed')).toEqual({
      type: 'RemediationAllowed',
      status: 'True',
      lastTransitionTime: '2026-05-01T12:05:00Z',
    });
  });

  it('short-circuit without unhealthy targets (outside unhealthyInRange): condition but no event', () => {
    const p = planMhc(input(mhc({ version: v, range: '[1-3]' }), [['m-1', 'healthy']]));
    expect(find(mhcLists(p, v)[0], 'RemediationAllowed')?.status).toBe('False');
    expect(p.events).toEqual([]);
  });

  it('template: creates missing requests (past an existing one), ExternallyRemediated in v1beta2 only', () => {
    const x = input(
      mhc({ version: v, template: true }),
      [
        ['m-1', 'unhealthy', 'UnhealthyNode'],
        ['m-2', 'unhealthy', 'UnhealthyNode'],
        ['m-3', 'unhealthy', 'NodeDeleted'],
      ],
      undefined,
      { requests: new Map([['m-1', { deleting: false }]]) },
    );
    const p = planMhc(x);
    expect(p.createRequests).toEqual(['m-2', 'm-3']);
    const [c2, c1] = lists(p, 'm-2', v);
    expect(find(c2, 'ExternallyRemediated')).toEqual({
      type: 'ExternallyRemediated',
      status: 'False',
      reason: 'WaitingForRemediation',
      message: '',
      observedGeneration: 3,
      lastTransitionTime: '2026-05-01T12:00:00Z',
    });
    expect(find(c1, 'ExternallyRemediated')).toBeUndefined();
    expect(find(lists(p, 'm-1', v)[0], 'ExternallyRemediated')).toBeUndefined();
    expect(find(c2, 'OwnerRemediated')).toBeUndefined();
    expect(p.events.filter((e) => e.reason === 'MachineMarkedUnhealthy').map((e) => e.on)).toEqual([
      { kind: 'Machine', name: 'm-1' },
      { kind: 'Machine', name: 'm-2' },
      { kind: 'Machine', name: 'm-3' },
    ]);
    expect(p.events[0]).toMatchObject({
      type: 'Normal',
      message: 'Machine fleet/m-1 has been marked as unhealthy by fleet/mhc',
    });
    // Next reconcile: the requests exist, nothing to do, no repeated event.
    noWrites(planMhc({ ...applied(x, p), now: T1 }));
  });

  it('template: a request that is being deleted is not recreated', () => {
    const p = planMhc(
      input(mhc({ version: v, template: true }), [['m-1', 'unhealthy', 'UnhealthyNode']], undefined, {
        requests: new Map([['m-1', { deleting: true }]]),
      }),
    );
    expect(p.createRequests).toEqual([]);
  });

  it('template: healthy again deletes its request unless already deleting; ExternallyRemediated stays', () => {
    const er: Condition = {
      type: 'ExternallyRemediated',
      status: 'False',
      reason: 'WaitingForRemediation',
      message: '',
      lastTransitionTime: OLD,
      observedGeneration: 3,
    };
    const ms = ['m-1', 'm-2', 'm-3'].map((n) =>
      machine(n, v === 'v1beta2' ? { version: v, conditions: [er] } : { version: v, other: [er] }),
    );
    const requests = new Map([
      ['m-1', { deleting: false }],
      ['m-2', { deleting: true }],
    ]);
    const targets: T[] = [
      ['m-1', 'healthy'],
      ['m-2', 'healthy'],
      ['m-3', 'healthy'],
    ];
    const p = planMhc(input(mhc({ version: v, template: true }), targets, ms, { requests }));
    expect(p.deleteRequests).toEqual(['m-1']);
    expect(find(lists(p, 'm-1', v)[0], 'ExternallyRemediated')).toBe(er);
    // CAPI deletes requests only when remediation is allowed (patchHealthyTargets runs after the short-circuit).
    const q = planMhc(input(mhc({ version: v, template: true, range: '[1-3]' }), targets, ms, { requests }));
    expect(q.deleteRequests).toEqual([]);
  });

  it('no template: OwnerRemediated=False only when missing or True, per list', () => {
    const cond = (status: 'True' | 'False', reason: string): Condition => ({
      type: 'OwnerRemediated',
      status,
      reason,
      message: '',
      lastTransitionTime: OLD,
    });
    const split = (v2: Condition[], v1: Condition[]): MOpts =>
      v === 'v1beta2' ? { version: v, conditions: v2, other: v1 } : { version: v, conditions: v1, other: v2 };
    const ms = [
      machine('m-1', split([], [])),
      machine('m-2', split([cond('False', 'MachineDeleting')], [cond('True', 'Remediated')])),
      machine('m-3', split([cond('True', 'Remediated')], [cond('False', 'WaitingForRemediation')])),
      machine('m-4', split([cond('False', 'WaitingForRemediation')], [])),
    ];
    const u = (n: string): T => [n, 'unhealthy', 'UnhealthyNode'];
    const p = planMhc(input(mhc({ version: v }), [u('m-1'), u('m-2'), u('m-3'), ['m-4', 'healthy']], ms));
    const waiting2 = {
      status: 'False',
      reason: 'WaitingForRemediation',
      message: 'Waiting for remediation',
      observedGeneration: 3,
    };
    const waiting1 = {
      type: 'OwnerRemediated',
      status: 'False',
      reason: 'WaitingForRemediation',
      severity: 'Warning',
      lastTransitionTime: '2026-05-01T12:00:00Z',
    };
    const [a2, a1] = lists(p, 'm-1', v);
    expect(find(a2, 'OwnerRemediated')).toMatchObject(waiting2);
    expect(find(a1, 'OwnerRemediated')).toEqual(waiting1);
    const [b2, b1] = lists(p, 'm-2', v);
    expect(find(b2, 'OwnerRemediated')).toMatchObject({ reason: 'MachineDeleting' });
    expect(find(b1, 'OwnerRemediated')).toEqual(waiting1);
    const [c2, c1] = lists(p, 'm-3', v);
    expect(find(c2, 'OwnerRemediated')).toMatchObject({
      ...waiting2,
      lastTransitionTime: '2026-05-01T12:00:00Z',
    });
    expect(find(c1, 'OwnerRemediated')).toMatchObject({ lastTransitionTime: OLD });
    // Healthy again: OwnerRemediated is the MachineSet's to remove, not ours.
    expect(find(lists(p, 'm-4', v)[0], 'OwnerRemediated')).toMatchObject({ status: 'False' });
    expect(p.createRequests).toEqual([]);
  });

  it('paused: only the Paused condition (v1beta2 vocabulary), then no writes', () => {
    const h = mhc({ version: v, status: { expectedMachines: 1, currentHealthy: 1 } });
    const x = {
      ...input(h, [['m-1', 'unhealthy', 'UnhealthyNode']]),
      evaluation: evaluation([['m-1', 'unhealthy', 'UnhealthyNode']], 'the Cluster is paused (spec.paused)'),
    };
    const p = planMhc(x);
    expect([p.machineConditions, p.createRequests, p.deleteRequests, p.events, p.allowed]).toEqual([
      [],
      [],
      [],
      [],
      undefined,
    ]);
    const [c2, c1] = mhcLists(p, v);
    expect(c2).toEqual([
      {
        type: 'Paused',
        status: 'True',
        reason: 'Paused',
        message: 'the Cluster is paused (spec.paused)',
        observedGeneration: 7,
        lastTransitionTime: '2026-05-01T12:00:00Z',
      },
    ]);
    expect(c1).toEqual([]);
    expect(p.status).toMatchObject({ expectedMachines: 1, currentHealthy: 1 });
    noWrites(planMhc({ ...applied(x, p), now: T1 }));
  });

  it('invalid configuration: RemediationAllowed=False, remediationsAllowed 0, one Warning per change', () => {
    const h = mhc({
      version: v,
      status: { expectedMachines: 2, currentHealthy: 2, remediationsAllowed: 2, observedGeneration: 6 },
    });
    const bad = (message: string): HealthEvaluation => ({ ok: false, code: 'InvalidSelector', message });
    const x = { ...input(h, []), evaluation: bad('selector broken') };
    const p = planMhc(x);
    expect(p.status).toMatchObject({
      expectedMachines: 2,
      currentHealthy: 2,
      remediationsAllowed: 0,
      observedGeneration: 6,
    });
    const [c2, c1] = mhcLists(p, v);
    expect(find(c2, 'RemediationAllowed')).toMatchObject({
      status: 'False',
      reason: 'InvalidConfiguration',
      message: 'selector broken',
    });
    expect(find(c1, 'RemediationAllowed')).toMatchObject({
      status: 'False',
      reason: 'InvalidConfiguration',
      severity: 'Warning',
    });
    expect(p.events).toEqual([
      {
        on: { kind: 'MachineHealthCheck' },
        type: 'Warning',
        reason: 'InvalidConfiguration',
        message: 'selector broken',
      },
    ]);
    expect([p.machineConditions, p.createRequests, p.allowed]).toEqual([[], [], undefined]);
    const x2 = { ...applied(x, p), now: T1 };
    noWrites(planMhc(x2));
    expect(reasons(planMhc({ ...x2, evaluation: bad('timeout broken') }))).toEqual([
      'Warning/InvalidConfiguration',
    ]);
  });

  it('MachineMarkedUnhealthy once per transition; a later allowed remediation is announced', () => {
    const x = input(mhc({ version: v, maxUnhealthy: 0 }), [['m-1', 'unhealthy', 'UnhealthyNode']]);
    const p = planMhc(x);
    expect(reasons(p)).toEqual(['Warning/RemediationRestricted']);
    // Allowed now, HCS already False: the OwnerRemediated marking is what gets announced.
    const x2 = { ...applied(x, p), mhc: { ...applied(x, p).mhc, unhealthyLessThanOrEqualTo: 1 }, now: T1 };
    const p2 = planMhc(x2);
    expect(reasons(p2)).toEqual(['Normal/MachineMarkedUnhealthy']);
    expect(planMhc({ ...applied(x2, p2) }).events).toEqual([]);
  });
});

describe('planMhc, details', () => {
  it('a Machine with the paused annotation is marked but not remediated', () => {
    const m = machine('m-1', { annotations: { 'cluster.x-k8s.io/paused': '' } });
    const p = planMhc(input(mhc({ template: true }), [['m-1', 'unhealthy', 'UnhealthyNode']], [m]));
    expect(p.createRequests).toEqual([]);
    expect(find(lists(p, 'm-1', 'v1beta2')[0], HCS)?.status).toBe('False');
  });

  it('Machines of another namespace with a target name are not patched', () => {
    const m = { ...machine('m-1'), meta: { ...machine('m-1').meta, namespace: 'elsewhere' } };
    expect(planMhc(input(mhc(), [['m-1', 'healthy']], [m])).machineConditions).toEqual([]);
  });

  it('status write when only a counter differs; conditions read back with empty messages match', () => {
    const x = input(mhc(), [['m-1', 'healthy']]);
    const settled = applied(x, planMhc(x));
    const p = planMhc({
      ...settled,
      mhc: { ...settled.mhc, status: { ...settled.mhc.status, currentHealthy: 0 } },
    });
    expect(p.status?.currentHealthy).toBe(1);
    expect(p.machineConditions).toEqual([]);
  });
});
