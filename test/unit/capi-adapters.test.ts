import { describe, expect, it } from 'vitest';
import { CapiParseError, fromObject, fromObjectOfKind } from '../../src/capi/adapters/index.ts';
import type { CapiObject, CapiVersion, Machine } from '../../src/capi/types.ts';
import { controllerRef, metaJson, NS, T0, versionAgnostic } from './fixtures/capi-common.ts';
import { clusterCases, mhcCases } from './fixtures/capi-health.ts';
import { machineCases, type Case } from './fixtures/capi-machines.ts';
import { machineDeploymentCases, machineSetCases } from './fixtures/capi-sets.ts';

const allCases: [string, Case<CapiObject>][] = [
  ...machineCases.map((c): [string, Case<CapiObject>] => [`Machine: ${c.name}`, c]),
  ...machineSetCases.map((c): [string, Case<CapiObject>] => [`MachineSet: ${c.name}`, c]),
  ...machineDeploymentCases.map((c): [string, Case<CapiObject>] => [`MachineDeployment: ${c.name}`, c]),
  ...mhcCases.map((c): [string, Case<CapiObject>] => [`MachineHealthCheck: ${c.name}`, c]),
  ...clusterCases.map((c): [string, Case<CapiObject>] => [`Cluster: ${c.name}`, c]),
];

describe('v1beta2 objects normalize to the expected value', () => {
  it.each(allCases)('%s', (_name, c) => {
    expect(fromObject(c.v1beta2)).toEqual({ ...c.expected, version: 'v1beta2' });
  });
});

describe('equivalent v1beta1 objects normalize to the same value', () => {
  it.each(allCases)('%s', (_name, c) => {
    const got = fromObject(c.v1beta1);
    expect(got.version).toBe('v1beta1');
    expect(versionAgnostic(got)).toEqual(versionAgnostic(c.expected));
    expect(versionAgnostic(got)).toEqual(versionAgnostic(fromObject(c.v1beta2)));
  });
});

const m1 = machineCases[0]!;

describe('version-specific details the equivalence table strips', () => {
  it('v1beta1 references keep apiVersion and namespace; v1beta2 ones have neither', () => {
    const b1 = fromObjectOfKind(m1.v1beta1, 'Machine');
    const b2 = fromObjectOfKind(m1.v1beta2, 'Machine');
    expect(b1.infrastructureRef).toEqual({
      apiGroup: 'infrastructure.cluster.x-k8s.io',
      apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1',
      kind: 'DockerMachine',
      name: 'm-1-infra',
      namespace: NS,
    });
    expect(b2.infrastructureRef).toEqual({
      apiGroup: 'infrastructure.cluster.x-k8s.io',
      kind: 'DockerMachine',
      name: 'm-1-infra',
    });
  });

  it('v1beta1 conditions keep severity', () => {
    const b1 = fromObjectOfKind(m1.v1beta1, 'Machine');
    expect(b1.conditions.find((c) => c.type === 'NodeHealthy')?.severity).toBe('Warning');
  });

  it('v1beta2 metav1 conditions keep observedGeneration', () => {
    const obj = structuredClone(m1.v1beta2) as { status: { conditions: Record<string, unknown>[] } };
    obj.status.conditions[0]!['observedGeneration'] = 7;
    expect(fromObjectOfKind(obj, 'Machine').conditions[0]?.observedGeneration).toBe(7);
  });

  it.each<[CapiVersion, Record<string, unknown>, string]>([
    [
      'v1beta2',
      {
        deprecated: {
          v1beta1: {
            conditions: [{ type: 'Ready', status: 'False', severity: 'Error', lastTransitionTime: T0 }],
          },
        },
      },
      'Error',
    ],
    [
      'v1beta1',
      {
        v1beta2: {
          conditions: [
            { type: 'Ready', status: 'False', reason: 'NotReady', message: '', lastTransitionTime: T0 },
          ],
        },
      },
      '',
    ],
  ])('%s exposes the mirrored other-version conditions', (version, status, severity) => {
    const base = version === 'v1beta2' ? m1.v1beta2 : m1.v1beta1;
    const got = fromObjectOfKind({ ...base, status }, 'Machine');
    expect(got.otherVersionConditions?.map((c) => [c.type, c.status, c.severity ?? ''])).toEqual([
      ['Ready', 'False', severity],
    ]);
    expect(got.conditions).toEqual([]);
  });

  it('objects without mirrored conditions have no otherVersionConditions key', () => {
    expect('otherVersionConditions' in fromObject(m1.v1beta2)).toBe(false);
    expect('otherVersionConditions' in fromObject(m1.v1beta1)).toBe(false);
  });

  it.each<[string, Record<string, unknown>[], string | undefined]>([
    ['controller ref with the v1beta1 apiVersion', [controllerRef('MachineSet', 'ms-1', 'v1beta1')], 'ms-1'],
    ['non-controller ref', [{ ...controllerRef('MachineSet', 'ms-1'), controller: false }], undefined],
    [
      'controller ref of another group',
      [{ ...controllerRef('MachineSet', 'ms-1'), apiVersion: 'example.com/v1' }],
      undefined,
    ],
    ['controller ref of another kind', [controllerRef('MachinePool', 'mp-1')], undefined],
  ])('owner MachineSet: %s', (_name, ownerReferences, owner) => {
    const obj = { ...m1.v1beta2, metadata: metaJson('m-x', { ownerReferences }) };
    expect(fromObjectOfKind(obj, 'Machine').ownerMachineSet).toBe(owner);
  });

  it.each<[string, Record<string, unknown>, boolean | undefined]>([
    [
      'ControlPlaneInitialized condition wins over controlPlaneReady',
      {
        controlPlaneReady: true,
        conditions: [{ type: 'ControlPlaneInitialized', status: 'False', lastTransitionTime: T0 }],
      },
      false,
    ],
    ['controlPlaneReady when there is no condition', { controlPlaneReady: true }, true],
    ['unknown when neither is present', {}, undefined],
  ])('v1beta1 Cluster: %s', (_name, status, initialized) => {
    const c = fromObjectOfKind({ ...clusterCases[0]!.v1beta1, status }, 'Cluster');
    expect(c.controlPlaneInitialized).toBe(initialized);
  });

  it('fromObjectOfKind rejects another kind', () => {
    expect(() => fromObjectOfKind(m1.v1beta2, 'MachineSet')).toThrow(CapiParseError);
  });

  it('a v1beta1 MachineSet without status.v1beta2 has no up-to-date count', () => {
    const ms = structuredClone(machineSetCases[0]!.v1beta1) as { status: Record<string, unknown> };
    delete ms.status['v1beta2'];
    expect(fromObjectOfKind(ms, 'MachineSet').status.upToDateReplicas).toBeUndefined();
  });
});

/** Deep-sets a dotted path (array indexes as numbers) on a copy; `undefined` deletes the key. */
function mutate(obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(obj);
  const keys = path.split('.');
  let cur: Record<string, unknown> = copy;
  for (const k of keys.slice(0, -1)) {
    cur[k] ??= {};
    cur = cur[k] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return copy;
}

const ms2 = machineSetCases[0]!.v1beta2;
const ms1 = machineSetCases[0]!.v1beta1;
const md2 = machineDeploymentCases[0]!.v1beta2;
const md1 = machineDeploymentCases[0]!.v1beta1;
const mhc2 = mhcCases[0]!.v1beta2;
const mhc1 = mhcCases[0]!.v1beta1;
const mm2 = m1.v1beta2;
const mm1 = m1.v1beta1;

// Each row: the object, the path to break, the bad value (undefined = remove), the field the error must name.
const malformed: [string, Record<string, unknown>, string, unknown, string][] = [
  ['replicas as a string', ms2, 'spec.replicas', '3', 'spec.replicas'],
  ['replicas not an integer', md1, 'spec.replicas', 1.5, 'spec.replicas'],
  ['negative replicas', ms1, 'spec.replicas', -1, 'spec.replicas'],
  ['replicas beyond int32', md2, 'spec.replicas', 2 ** 31, 'spec.replicas'],
  ['selector missing (v1beta2 MachineSet)', ms2, 'spec.selector', undefined, 'spec.selector'],
  ['selector missing (v1beta1 MachineHealthCheck)', mhc1, 'spec.selector', undefined, 'spec.selector'],
  [
    'selector operator unknown',
    md2,
    'spec.selector.matchExpressions',
    [{ key: 'a', operator: 'Equals', values: ['x'] }],
    'spec.selector.matchExpressions[0].operator',
  ],
  [
    'selector In without values',
    ms1,
    'spec.selector.matchExpressions',
    [{ key: 'a', operator: 'In' }],
    'spec.selector.matchExpressions[0].values',
  ],
  [
    'selector Exists with values',
    mhc2,
    'spec.selector.matchExpressions',
    [{ key: 'a', operator: 'Exists', values: ['x'] }],
    'spec.selector.matchExpressions[0].values',
  ],
  [
    'matchLabels value not a string',
    ms2,
    'spec.selector.matchLabels',
    { a: 1 },
    'spec.selector.matchLabels.a',
  ],
  ['unknown v1beta2 deletion order', ms2, 'spec.deletion.order', 'Smallest', 'spec.deletion.order'],
  ['deletePolicy is case-sensitive', ms1, 'spec.deletePolicy', 'random', 'spec.deletePolicy'],
  [
    'unknown v1beta1 MachineDeployment deletePolicy',
    md1,
    'spec.strategy.rollingUpdate.deletePolicy',
    'Largest',
    'spec.strategy.rollingUpdate.deletePolicy',
  ],
  ['unknown rollout strategy', md2, 'spec.rollout.strategy.type', 'Recreate', 'spec.rollout.strategy.type'],
  [
    'maxSurge percentage without %',
    md1,
    'spec.strategy.rollingUpdate.maxSurge',
    '25',
    'spec.strategy.rollingUpdate.maxSurge',
  ],
  ['duration in words', mm1, 'spec.nodeDrainTimeout', '10 minutes', 'spec.nodeDrainTimeout'],
  ['duration without unit', mm1, 'spec.nodeVolumeDetachTimeout', '600', 'spec.nodeVolumeDetachTimeout'],
  ['negative duration', mm1, 'spec.nodeDeletionTimeout', '-5m', 'spec.nodeDeletionTimeout'],
  ['duration as a number', mm1, 'spec.nodeDrainTimeout', 600, 'spec.nodeDrainTimeout'],
  [
    'v1beta2 timeout seconds as a string',
    mm2,
    'spec.deletion.nodeDrainTimeoutSeconds',
    '630',
    'spec.deletion.nodeDrainTimeoutSeconds',
  ],
  [
    'template timeout seconds negative',
    ms2,
    'spec.template.spec.deletion.nodeDrainTimeoutSeconds',
    -1,
    'spec.template.spec.deletion.nodeDrainTimeoutSeconds',
  ],
  [
    'MHC condition timeout not a duration',
    mhc1,
    'spec.unhealthyConditions.0.timeout',
    '5',
    'spec.unhealthyConditions[0].timeout',
  ],
  [
    'MHC condition timeout missing (v1beta1)',
    mhc1,
    'spec.unhealthyConditions.1.timeout',
    undefined,
    'spec.unhealthyConditions[1].timeout',
  ],
  [
    'MHC condition timeout missing (v1beta2)',
    mhc2,
    'spec.checks.unhealthyNodeConditions.0.timeoutSeconds',
    undefined,
    'spec.checks.unhealthyNodeConditions[0].timeoutSeconds',
  ],
  [
    'MHC condition status invalid',
    mhc2,
    'spec.checks.unhealthyMachineConditions.0.status',
    'Maybe',
    'spec.checks.unhealthyMachineConditions[0].status',
  ],
  [
    'MHC startup timeout as a string',
    mhc2,
    'spec.checks.nodeStartupTimeoutSeconds',
    '600',
    'spec.checks.nodeStartupTimeoutSeconds',
  ],
  ['MHC startup duration garbage', mhc1, 'spec.nodeStartupTimeout', '10x', 'spec.nodeStartupTimeout'],
  ['maxUnhealthy percentage without %', mhc1, 'spec.maxUnhealthy', '40', 'spec.maxUnhealthy'],
  ['unhealthyRange malformed', mhc1, 'spec.unhealthyRange', '1-3', 'spec.unhealthyRange'],
  [
    'unhealthyInRange malformed',
    mhc2,
    'spec.remediation.triggerIf.unhealthyInRange',
    '[3]',
    'spec.remediation.triggerIf.unhealthyInRange',
  ],
  [
    'remediation template without kind',
    mhc2,
    'spec.remediation.templateRef.kind',
    undefined,
    'spec.remediation.templateRef.kind',
  ],
  [
    'infrastructureRef without apiGroup',
    mm2,
    'spec.infrastructureRef.apiGroup',
    undefined,
    'spec.infrastructureRef.apiGroup',
  ],
  ['infrastructureRef missing', mm1, 'spec.infrastructureRef', undefined, 'spec.infrastructureRef'],
  [
    'v1beta1 infrastructureRef without apiVersion',
    mm1,
    'spec.infrastructureRef.apiVersion',
    undefined,
    'spec.infrastructureRef.apiVersion',
  ],
  [
    'v1beta1 bootstrap configRef without name',
    mm1,
    'spec.bootstrap.configRef.name',
    '',
    'spec.bootstrap.configRef.name',
  ],
  ['clusterName missing', mm2, 'spec.clusterName', undefined, 'spec.clusterName'],
  ['template missing (v1beta1 MachineSet)', ms1, 'spec.template', undefined, 'spec.template'],
  ['template spec missing', md2, 'spec.template.spec', undefined, 'spec.template.spec'],
  ['condition status invalid', mm2, 'status.conditions.0.status', 'Maybe', 'status.conditions[0].status'],
  ['condition type missing', mm1, 'status.conditions.1.type', undefined, 'status.conditions[1].type'],
  ['conditions not a list', ms2, 'status.conditions', { type: 'Ready' }, 'status.conditions'],
  [
    'initialization flag as a string',
    mm2,
    'status.initialization.infrastructureProvisioned',
    'true',
    'status.initialization.infrastructureProvisioned',
  ],
  ['v1beta1 ready flag as a number', mm1, 'status.bootstrapReady', 1, 'status.bootstrapReady'],
  ['v1beta1 nodeRef without name', mm1, 'status.nodeRef', { kind: 'Node' }, 'status.nodeRef.name'],
  ['v1beta2 nodeRef name empty', mm2, 'status.nodeRef.name', '', 'status.nodeRef.name'],
  ['status counter negative', md1, 'status.updatedReplicas', -2, 'status.updatedReplicas'],
  ['paused as a string', md2, 'spec.paused', 'yes', 'spec.paused'],
  ['label value a number', mm2, 'metadata.labels', { app: 7 }, 'metadata.labels.app'],
  ['annotations a list', mm1, 'metadata.annotations', ['a'], 'metadata.annotations'],
  [
    'owner reference without uid',
    ms2,
    'metadata.ownerReferences.0.uid',
    undefined,
    'metadata.ownerReferences[0].uid',
  ],
  ['metadata.name missing', mhc2, 'metadata.name', undefined, 'metadata.name'],
  ['generation negative', mhc1, 'metadata.generation', -1, 'metadata.generation'],
  ['apiVersion of another group', mm2, 'apiVersion', 'infrastructure.cluster.x-k8s.io/v1beta2', 'apiVersion'],
  ['apiVersion of an unsupported version', mm2, 'apiVersion', 'cluster.x-k8s.io/v1alpha4', 'apiVersion'],
  ['apiVersion missing', mm1, 'apiVersion', undefined, 'apiVersion'],
  ['unsupported kind', mm2, 'kind', 'MachinePool', 'kind'],
];

describe('malformed input throws CapiParseError naming the field', () => {
  it.each(malformed)('%s', (_name, base, path, value, field) => {
    const obj = mutate(base, path, value);
    let caught: unknown;
    try {
      fromObject(obj);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CapiParseError);
    const err = caught as CapiParseError;
    expect(err.field).toBe(field);
    expect(err.message).toContain(field);
    expect(err.kind).toBe(obj['kind'] ?? '');
    if (path !== 'metadata.name') expect(err.objectName).toBe((base['metadata'] as { name: string }).name);
    expect(err.namespace).toBe(NS);
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['an array', []],
    ['a string', 'Machine'],
  ])('the whole object is %s', (_name, obj) => {
    expect(() => fromObject(obj)).toThrow(CapiParseError);
  });

  it('missing optional fields are fine', () => {
    const bare = { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', metadata: { name: 'c' } };
    expect(fromObject(bare)).toMatchObject({ kind: 'Cluster', paused: false, conditions: [] });
  });

  it('null counts as absent (the apiserver may echo explicit nulls)', () => {
    const m = fromObject(mutate(mm2, 'spec.providerID', null)) as Machine;
    expect(m.providerID).toBeUndefined();
  });
});
