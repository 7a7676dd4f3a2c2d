import { describe, expect, it } from 'vitest';
import {
  annotationsPatch,
  conditionsPatch,
  machineStatusPatch,
  mhcStatusPatch,
  replicaStatusPatch,
  scalePatch,
  type MachineStatusUpdate,
  type PatchRequest,
} from '../../src/capi/adapters/index.ts';
import { kubeTime, setCondition } from '../../src/capi/conditions.ts';
import type { CapiVersion, Condition } from '../../src/capi/types.ts';
import { T0 } from './fixtures/capi-common.ts';

const MERGE = 'application/merge-patch+json';
const status = (body: Record<string, unknown>): PatchRequest => ({
  pathSuffix: '/status',
  contentType: MERGE,
  body,
});

describe('scalePatch and annotationsPatch (same in both versions)', () => {
  it('scale without precondition', () => {
    expect(scalePatch(3)).toEqual({
      pathSuffix: '/scale',
      contentType: MERGE,
      body: { spec: { replicas: 3 } },
    });
  });

  it('scale to zero with a resourceVersion precondition', () => {
    expect(scalePatch(0, '42').body).toEqual({ spec: { replicas: 0 }, metadata: { resourceVersion: '42' } });
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 31])('scale rejects %s replicas', (n) => {
    expect(() => scalePatch(n)).toThrow(RangeError);
  });

  it('annotations: set, remove with null, precondition', () => {
    const p = annotationsPatch({ 'cluster.x-k8s.io/delete-machine': '2026-05-01T10:00:00Z' }, ['old'], '7');
    expect(p).toEqual({
      pathSuffix: '',
      contentType: MERGE,
      body: {
        metadata: {
          annotations: { 'cluster.x-k8s.io/delete-machine': '2026-05-01T10:00:00Z', old: null },
          resourceVersion: '7',
        },
      },
    });
  });

  it('annotations: a key both set and removed is a bug', () => {
    expect(() => annotationsPatch({ a: '1' }, ['a'])).toThrow(RangeError);
  });
});

const ready: Condition = { type: 'Ready', status: 'True', reason: 'Ready', lastTransitionTime: T0 };
const unhealthy: Condition = {
  type: 'HealthCheckSucceeded',
  status: 'False',
  reason: 'UnhealthyNode',
  message: 'Ready=False for 5m',
  severity: 'Warning',
  lastTransitionTime: T0,
  observedGeneration: 4,
};

describe('conditionsPatch', () => {
  it('v1beta2 writes metav1 conditions: message required (may be empty), no severity', () => {
    expect(conditionsPatch('v1beta2', [ready, unhealthy])).toEqual(
      status({
        status: {
          conditions: [
            { type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: T0 },
            {
              type: 'HealthCheckSucceeded',
              status: 'False',
              reason: 'UnhealthyNode',
              message: 'Ready=False for 5m',
              lastTransitionTime: T0,
              observedGeneration: 4,
            },
          ],
        },
      }),
    );
  });

  it('v1beta1 writes CAPI conditions: severity only when False, no empty reason/message', () => {
    const trueWithSeverity: Condition = { ...ready, severity: 'Info', message: '' };
    expect(conditionsPatch('v1beta1', [trueWithSeverity, unhealthy], { resourceVersion: '9' })).toEqual(
      status({
        status: {
          conditions: [
            { type: 'Ready', status: 'True', reason: 'Ready', lastTransitionTime: T0 },
            {
              type: 'HealthCheckSucceeded',
              status: 'False',
              severity: 'Warning',
              reason: 'UnhealthyNode',
              message: 'Ready=False for 5m',
              lastTransitionTime: T0,
            },
          ],
        },
        metadata: { resourceVersion: '9' },
      }),
    );
  });

  it.each<[CapiVersion, Record<string, unknown>]>([
    [
      'v1beta1',
      {
        conditions: [],
        v1beta2: {
          conditions: [
            { type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: T0 },
          ],
        },
      },
    ],
    [
      'v1beta2',
      {
        conditions: [],
        deprecated: {
          v1beta1: {
            conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', lastTransitionTime: T0 }],
          },
        },
      },
    ],
  ])('%s can also write the mirrored other-version list', (version, expected) => {
    expect(conditionsPatch(version, [], { otherVersion: [ready] }).body).toEqual({ status: expected });
  });

  it('v1beta2 needs a reason', () => {
    expect(() =>
      conditionsPatch('v1beta2', [{ type: 'Ready', status: 'True', lastTransitionTime: T0 }]),
    ).toThrow(/reason/);
  });

  it.each<CapiVersion>(['v1beta1', 'v1beta2'])('%s needs a lastTransitionTime', (version) => {
    expect(() => conditionsPatch(version, [{ type: 'Ready', status: 'True', reason: 'Ready' }])).toThrow(
      /lastTransitionTime/,
    );
  });
});

describe('setCondition keeps lastTransitionTime while the status holds', () => {
  const now = new Date('2026-05-01T11:00:00.123Z');
  it.each<[string, Condition[], Omit<Condition, 'lastTransitionTime'>, Condition[]]>([
    [
      'new condition gets now',
      [],
      { type: 'Ready', status: 'True', reason: 'Ready' },
      [{ ...ready, lastTransitionTime: '2026-05-01T11:00:00Z' }],
    ],
    [
      'same status keeps the time, updates the reason',
      [ready],
      { type: 'Ready', status: 'True', reason: 'StillReady' },
      [{ ...ready, reason: 'StillReady' }],
    ],
    [
      'status change moves the time',
      [ready, unhealthy],
      { type: 'Ready', status: 'False', reason: 'NotReady' },
      [
        { type: 'Ready', status: 'False', reason: 'NotReady', lastTransitionTime: '2026-05-01T11:00:00Z' },
        unhealthy,
      ],
    ],
  ])('%s', (_name, before, update, after) => {
    expect(setCondition(before, update, now)).toEqual(after);
    expect(kubeTime(now)).toBe('2026-05-01T11:00:00Z');
  });
});

describe('machineStatusPatch', () => {
  const all: MachineStatusUpdate = {
    phase: 'Running',
    nodeRef: 'node-1',
    bootstrapReady: true,
    infrastructureProvisioned: true,
    failureReason: null,
    failureMessage: null,
    conditions: [ready],
  };

  it.each<[string, CapiVersion, MachineStatusUpdate, PatchRequest[]]>([
    [
      'v1beta2, everything',
      'v1beta2',
      all,
      [
        status({
          status: {
            phase: 'Running',
            nodeRef: { name: 'node-1' },
            initialization: { bootstrapDataSecretCreated: true, infrastructureProvisioned: true },
            deprecated: { v1beta1: { failureReason: null, failureMessage: null } },
            conditions: [
              { type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: T0 },
            ],
          },
        }),
      ],
    ],
    [
      'v1beta1, everything',
      'v1beta1',
      all,
      [
        status({
          status: {
            phase: 'Running',
            nodeRef: { apiVersion: 'v1', kind: 'Node', name: 'node-1' },
            bootstrapReady: true,
            infrastructureReady: true,
            failureReason: null,
            failureMessage: null,
            conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', lastTransitionTime: T0 }],
          },
        }),
      ],
    ],
    [
      'v1beta2, providerID goes to spec first',
      'v1beta2',
      { providerID: 'docker:////m', infrastructureProvisioned: true },
      [
        { pathSuffix: '', contentType: MERGE, body: { spec: { providerID: 'docker:////m' } } },
        status({ status: { initialization: { infrastructureProvisioned: true } } }),
      ],
    ],
    [
      'v1beta1, providerID only',
      'v1beta1',
      { providerID: 'docker:////m' },
      [{ pathSuffix: '', contentType: MERGE, body: { spec: { providerID: 'docker:////m' } } }],
    ],
    [
      'v1beta2, failure and cleared nodeRef',
      'v1beta2',
      { nodeRef: null, failureReason: 'UpdateError', failureMessage: 'boom' },
      [
        status({
          status: {
            nodeRef: null,
            deprecated: { v1beta1: { failureReason: 'UpdateError', failureMessage: 'boom' } },
          },
        }),
      ],
    ],
    [
      'v1beta1 has no Updating phase: CAPI shows Running',
      'v1beta1',
      { phase: 'Updating' },
      [status({ status: { phase: 'Running' } })],
    ],
    ['nothing to write', 'v1beta2', {}, []],
  ])('%s', (_name, version, update, expected) => {
    expect(machineStatusPatch(version, update)).toEqual(expected);
  });
});

describe('replicaStatusPatch and mhcStatusPatch', () => {
  const counters = {
    replicas: 3,
    readyReplicas: 2,
    availableReplicas: 1,
    upToDateReplicas: 3,
    selector: 'a=b',
    observedGeneration: 5,
  };

  it.each<[string, CapiVersion, 'MachineDeployment' | 'MachineSet', Record<string, unknown>]>([
    ['v1beta2 MachineDeployment', 'v1beta2', 'MachineDeployment', { ...counters }],
    ['v1beta2 MachineSet', 'v1beta2', 'MachineSet', { ...counters }],
    [
      'v1beta1 MachineDeployment: updatedReplicas',
      'v1beta1',
      'MachineDeployment',
      {
        replicas: 3,
        readyReplicas: 2,
        availableReplicas: 1,
        updatedReplicas: 3,
        selector: 'a=b',
        observedGeneration: 5,
      },
    ],
    [
      'v1beta1 MachineSet: status.v1beta2.upToDateReplicas',
      'v1beta1',
      'MachineSet',
      {
        replicas: 3,
        readyReplicas: 2,
        availableReplicas: 1,
        v1beta2: { upToDateReplicas: 3 },
        selector: 'a=b',
        observedGeneration: 5,
      },
    ],
  ])('%s', (_name, version, kind, expected) => {
    expect(replicaStatusPatch(version, kind, counters)).toEqual(status({ status: expected }));
  });

  it('only the counters given are written', () => {
    expect(replicaStatusPatch('v1beta1', 'MachineSet', { replicas: 0 }).body).toEqual({
      status: { replicas: 0 },
    });
  });

  it('rejects a negative counter', () => {
    expect(() => replicaStatusPatch('v1beta2', 'MachineSet', { readyReplicas: -1 })).toThrow(RangeError);
  });

  it.each<[CapiVersion, Record<string, unknown>]>([
    [
      'v1beta2',
      {
        type: 'RemediationAllowed',
        status: 'False',
        reason: 'TooManyUnhealthy',
        message: '',
        lastTransitionTime: T0,
      },
    ],
    [
      'v1beta1',
      {
        type: 'RemediationAllowed',
        status: 'False',
        severity: 'Warning',
        reason: 'TooManyUnhealthy',
        lastTransitionTime: T0,
      },
    ],
  ])('%s MachineHealthCheck status', (version, condition) => {
    const c: Condition = {
      type: 'RemediationAllowed',
      status: 'False',
      reason: 'TooManyUnhealthy',
      severity: 'Warning',
      lastTransitionTime: T0,
    };
    const p = mhcStatusPatch(version, {
      expectedMachines: 5,
      currentHealthy: 2,
      remediationsAllowed: 0,
      targets: ['m-1'],
      conditions: [c],
    });
    expect(p).toEqual(
      status({
        status: {
          expectedMachines: 5,
          currentHealthy: 2,
          remediationsAllowed: 0,
          targets: ['m-1'],
          conditions: [condition],
        },
      }),
    );
  });
});
