import { describe, expect, it } from 'vitest';
import { fromObject, machineFromTemplate } from '../../src/capi/adapters/index.ts';
import { formatLabelValue } from '../../src/capi/adapters/machine-template.ts';
import type { CapiVersion, Machine, MachineSet } from '../../src/capi/types.ts';
import { machineSetCases } from './fixtures/capi-sets.ts';

describe('machineFromTemplate', () => {
  const ms = fromObject(machineSetCases[0]!.v1beta2) as MachineSet;
  const infra = {
    apiGroup: 'infrastructure.cluster.x-k8s.io',
    apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1',
    kind: 'DockerMachine',
    name: 'md-a-x1-abcde',
  };
  const meta = {
    name: 'md-a-x1-abcde',
    namespace: 'team-a',
    labels: {
      'cluster.x-k8s.io/cluster-name': 'prod',
      pool: 'a',
      'cluster.x-k8s.io/set-name': 'md-a-x1',
      'cluster.x-k8s.io/deployment-name': 'md-a',
    },
    annotations: { team: 'infra' },
    finalizers: ['machine.cluster.x-k8s.io'],
  };
  const owner = (v: CapiVersion) => [
    {
      apiVersion: `cluster.x-k8s.io/${v}`,
      kind: 'MachineSet',
      name: 'md-a-x1',
      uid: 'uid-md-a-x1',
      controller: true,
      blockOwnerDeletion: true,
    },
  ];

  it('v1beta2 body', () => {
    expect(
      machineFromTemplate('v1beta2', { machineSet: ms, name: 'md-a-x1-abcde', infrastructureRef: infra }),
    ).toEqual({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Machine',
      metadata: { ...meta, ownerReferences: owner('v1beta2') },
      spec: {
        clusterName: 'prod',
        bootstrap: {
          configRef: { apiGroup: 'bootstrap.cluster.x-k8s.io', kind: 'KubeadmConfigTemplate', name: 'boot' },
        },
        infrastructureRef: {
          apiGroup: 'infrastructure.cluster.x-k8s.io',
          kind: 'DockerMachine',
          name: 'md-a-x1-abcde',
        },
        version: 'v1.33.1',
        minReadySeconds: 30,
        deletion: { nodeDrainTimeoutSeconds: 300 },
      },
    });
  });

  it('v1beta1 body: ObjectReferences and duration strings', () => {
    const bootRef = {
      apiGroup: 'bootstrap.cluster.x-k8s.io',
      apiVersion: 'bootstrap.cluster.x-k8s.io/v1beta1',
      kind: 'KubeadmConfig',
      name: 'b',
    };
    expect(
      machineFromTemplate('v1beta1', {
        machineSet: ms,
        name: 'md-a-x1-abcde',
        infrastructureRef: infra,
        bootstrapConfigRef: bootRef,
      }),
    ).toEqual({
      apiVersion: 'cluster.x-k8s.io/v1beta1',
      kind: 'Machine',
      metadata: { ...meta, ownerReferences: owner('v1beta1') },
      spec: {
        clusterName: 'prod',
        bootstrap: {
          configRef: {
            apiVersion: 'bootstrap.cluster.x-k8s.io/v1beta1',
            kind: 'KubeadmConfig',
            name: 'b',
            namespace: 'team-a',
          },
        },
        infrastructureRef: {
          apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1',
          kind: 'DockerMachine',
          name: 'md-a-x1-abcde',
          namespace: 'team-a',
        },
        version: 'v1.33.1',
        nodeDrainTimeout: '5m0s',
      },
    });
  });

  it.each<CapiVersion>(['v1beta1', 'v1beta2'])(
    '%s body reads back as a Machine of that MachineSet',
    (version) => {
      const source = fromObject(machineSetCases[0]![version]) as MachineSet;
      const m = fromObject(
        machineFromTemplate(version, { machineSet: source, name: 'm', infrastructureRef: infra }),
      ) as Machine;
      expect(m).toMatchObject({
        version,
        ownerMachineSet: 'md-a-x1',
        clusterName: 'prod',
        kubernetesVersion: 'v1.33.1',
        deletion: { nodeDrainTimeoutSeconds: 300 },
      });
      expect(m.infrastructureRef).toMatchObject({ kind: 'DockerMachine', name: 'md-a-x1-abcde' });
    },
  );

  it('v1beta1 needs an apiVersion on every reference', () => {
    expect(() => machineFromTemplate('v1beta1', { machineSet: ms, name: 'm' })).toThrow(/apiVersion/);
  });

  it('a long MachineSet name is hashed into the set-name label as CAPI does', () => {
    // Test vector from CAPI util/labels/format/helpers_test.go.
    expect(formatLabelValue('machineSetName'.repeat(12))).toBe('hash_FR_ghQ_z');
    expect(formatLabelValue('md-a-x1')).toBe('md-a-x1');
    const long: MachineSet = { ...ms, meta: { ...ms.meta, name: 'machineSetName'.repeat(12) } };
    const body = machineFromTemplate('v1beta2', {
      machineSet: long,
      name: 'm',
      infrastructureRef: infra,
    }) as {
      metadata: { labels: Record<string, string>; ownerReferences: { name: string }[] };
    };
    expect(body.metadata.labels['cluster.x-k8s.io/set-name']).toBe('hash_FR_ghQ_z');
    expect(body.metadata.ownerReferences[0]?.name).toBe(long.meta.name);
  });

  it('refuses a MachineSet without a uid (the ownerReference needs one)', () => {
    const noUid: MachineSet = { ...ms, meta: { ...ms.meta, uid: '' } };
    expect(() => machineFromTemplate('v1beta2', { machineSet: noUid, name: 'm' })).toThrow(/uid/);
  });
});
