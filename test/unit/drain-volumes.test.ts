import { describe, expect, it } from 'vitest';
import type { Machine } from '../../src/capi/types.ts';
import type { PodLike } from '../../src/drain/filters.ts';
import {
  csiUniqueName,
  describeWaiting,
  EXCLUDE_WAIT_FOR_NODE_VOLUME_DETACH_ANNOTATION,
  isDetached,
  isUnreachable,
  noVolumesWaiting,
  skippedClaims,
  volumeDetachFor,
  volumesToWaitFor,
  type NodeLike,
  type PersistentVolumeLike,
  type VolumeAttachmentLike,
  type VolumesInput,
  type VolumesWaiting,
} from '../../src/drain/volumes.ts';

const DRIVER = 'ebs.csi.aws.com';
const csiName = (handle: string) => `kubernetes.io/csi/${DRIVER}^${handle}`;

function node(volumesAttached: string[] = [], ready = 'True'): NodeLike {
  return {
    metadata: { name: 'n1' },
    status: {
      conditions: [{ type: 'Ready', status: ready }],
      volumesAttached: volumesAttached.map((name) => ({ name, devicePath: '' })),
    },
  };
}

function pv(name: string, o: { handle?: string; claim?: string | null } = {}): PersistentVolumeLike {
  // claim: "namespace/name"; null: no claimRef.
  const claim = o.claim === undefined ? `ns/${name}-claim` : o.claim;
  const [namespace, claimName] = claim?.split('/') ?? [];
  return {
    metadata: { name },
    spec: {
      csi: o.handle ? { driver: DRIVER, volumeHandle: o.handle } : null,
      claimRef: claim === null ? null : { namespace, name: claimName },
    },
  };
}

function va(
  name: string,
  pvName: string | undefined,
  o: { node?: string; attached?: boolean } = {},
): VolumeAttachmentLike {
  return {
    metadata: { name },
    spec: { nodeName: o.node ?? 'n1', attacher: DRIVER, source: { persistentVolumeName: pvName } },
    status: { attached: o.attached ?? true },
  };
}

const waiting = (w: Partial<VolumesWaiting>): VolumesWaiting => ({ ...noVolumesWaiting(), ...w });

describe('volumesToWaitFor', () => {
  const cases: Array<[string, Partial<VolumesInput>, VolumesWaiting]> = [
    ['no volumes at all', {}, waiting({})],
    [
      'attachments but no PVs listed yet: names reported unmatched',
      { node: node([csiName('h1')]), volumeAttachments: [va('va1', 'pv1')] },
      waiting({ nodeStatusVolumesWithoutPv: [csiName('h1')], attachmentPvsWithoutPv: ['pv1'] }),
    ],
    [
      'node-status CSI name matched to a PV whose claim is in use: waited for',
      { node: node([csiName('h1')]), persistentVolumes: [pv('pv1', { handle: 'h1', claim: 'ns/data' })] },
      waiting({ persistentVolumeClaims: ['ns/data'] }),
    ],
    [
      'node-status CSI name matched to a PV whose claim a skipped pod uses: ignored',
      {
        node: node([csiName('h1')]),
        persistentVolumes: [pv('pv1', { handle: 'h1', claim: 'ns/data' })],
        ignoredClaims: ['ns/data'],
      },
      waiting({}),
    ],
    [
      'the ignored claim must match namespace and name',
      {
        node: node([csiName('h1')]),
        persistentVolumes: [pv('pv1', { handle: 'h1', claim: 'ns/data' })],
        ignoredClaims: new Set(['other/data']),
      },
      waiting({ persistentVolumeClaims: ['ns/data'] }),
    ],
    [
      'a PV of another driver with the same handle does not match',
      {
        node: node([csiName('h1')]),
        persistentVolumes: [
          {
            metadata: { name: 'pv1' },
            spec: {
              csi: { driver: 'other.csi', volumeHandle: 'h1' },
              claimRef: { namespace: 'ns', name: 'c' },
            },
          },
        ],
      },
      waiting({ nodeStatusVolumesWithoutPv: [csiName('h1')] }),
    ],
    [
      'attached VolumeAttachment mapped by PV name (no CSI name needed)',
      { volumeAttachments: [va('va1', 'pv1')], persistentVolumes: [pv('pv1', { claim: 'ns/data' })] },
      waiting({ persistentVolumeClaims: ['ns/data'] }),
    ],
    [
      'VolumeAttachment with attached=false is ignored',
      {
        volumeAttachments: [va('va1', 'pv1', { attached: false })],
        persistentVolumes: [pv('pv1', { claim: 'ns/data' })],
      },
      waiting({}),
    ],
    [
      'VolumeAttachment without status is not attached',
      {
        volumeAttachments: [{ ...va('va1', 'pv1'), status: undefined }],
        persistentVolumes: [pv('pv1')],
      },
      waiting({}),
    ],
    [
      'VolumeAttachment on another node is ignored',
      {
        volumeAttachments: [va('va1', 'pv1', { node: 'n2' })],
        persistentVolumes: [pv('pv1', { claim: 'ns/data' })],
      },
      waiting({}),
    ],
    [
      'attached VolumeAttachment without persistentVolumeName is reported',
      { volumeAttachments: [va('va-inline', undefined)], persistentVolumes: [pv('pv1')] },
      waiting({ attachmentsWithoutPvName: ['va-inline'] }),
    ],
    [
      'a detached VolumeAttachment without persistentVolumeName is not',
      { volumeAttachments: [va('va-inline', undefined, { attached: false })] },
      waiting({}),
    ],
    [
      'names without a PV in either source',
      {
        node: node(['kubernetes.io/aws-ebs/vol-1', csiName('gone')]),
        volumeAttachments: [va('va1', 'pv-missing')],
        persistentVolumes: [pv('pv1', { handle: 'h1' })],
      },
      waiting({
        nodeStatusVolumesWithoutPv: ['kubernetes.io/aws-ebs/vol-1', csiName('gone')],
        attachmentPvsWithoutPv: ['pv-missing'],
      }),
    ],
    [
      'attached PV without claimRef is waited for, even when claims are ignored',
      {
        volumeAttachments: [va('va1', 'pv-static')],
        persistentVolumes: [pv('pv-static', { claim: null })],
        ignoredClaims: ['ns/pv-static-claim'],
      },
      waiting({ persistentVolumesWithoutClaim: ['pv-static'] }),
    ],
    [
      'one PV in both sources counts once',
      {
        node: node([csiName('h1')]),
        volumeAttachments: [va('va1', 'pv1')],
        persistentVolumes: [pv('pv1', { handle: 'h1', claim: 'ns/data' })],
      },
      waiting({ persistentVolumeClaims: ['ns/data'] }),
    ],
    [
      'unattached PVs are not looked at',
      { persistentVolumes: [pv('pv1', { handle: 'h1', claim: null }), pv('pv2')] },
      waiting({}),
    ],
    [
      'every group sorted',
      {
        node: node([csiName('z'), csiName('a'), 'x/2', 'x/1']),
        volumeAttachments: [
          va('vb', 'pv-b'),
          va('va', 'pv-a'),
          va('v9', 'zz'),
          va('v8', 'aa'),
          va('i2', undefined),
          va('i1', undefined),
        ],
        persistentVolumes: [
          pv('pv-b', { claim: 'b/x' }),
          pv('pv-a', { claim: 'a/y' }),
          pv('pz', { handle: 'z', claim: 'a/x' }),
          pv('pa', { handle: 'a', claim: null }),
          pv('pb', { claim: null }),
        ],
      },
      waiting({
        persistentVolumeClaims: ['a/x', 'a/y', 'b/x'],
        persistentVolumesWithoutClaim: ['pa'],
        nodeStatusVolumesWithoutPv: ['x/1', 'x/2'],
        attachmentPvsWithoutPv: ['aa', 'zz'],
        attachmentsWithoutPvName: ['i1', 'i2'],
      }),
    ],
  ];
  it.each(cases)('%s', (_name, input, want) => {
    const got = volumesToWaitFor({
      node: node(),
      volumeAttachments: [],
      persistentVolumes: [],
      ignoredClaims: [],
      ...input,
    });
    expect(got).toEqual(want);
    expect(isDetached(got)).toBe(Object.values(want).every((l: string[]) => l.length === 0));
  });
});

describe('isUnreachable', () => {
  it.each([
    ['Ready Unknown', node([], 'Unknown'), true],
    ['Ready True', node([], 'True'), false],
    ['Ready False (reachable, just not ready)', node([], 'False'), false],
    ['no conditions', { metadata: { name: 'n1' } }, false],
    [
      'only other conditions Unknown',
      { metadata: { name: 'n1' }, status: { conditions: [{ type: 'MemoryPressure', status: 'Unknown' }] } },
      false,
    ],
  ] as Array<[string, NodeLike, boolean]>)('%s', (_n, n, want) => {
    expect(isUnreachable(n)).toBe(want);
  });
});

describe('skippedClaims', () => {
  const pod = (name: string, ns: string, volumes: Array<Record<string, unknown>>): PodLike => ({
    metadata: { name, namespace: ns, uid: name },
    spec: { volumes: volumes as never },
  });
  it('collects namespace/claimName of PVC volumes and generic ephemeral claims', () => {
    const got = skippedClaims([
      pod('ds-1', 'kube-system', [
        { name: 'data', persistentVolumeClaim: { claimName: 'ds-data' } },
        { name: 'tmp', emptyDir: {} },
        { name: 'scratch', ephemeral: { volumeClaimTemplate: { spec: {} } } },
      ]),
      pod('mirror', 'ns', [{ name: 'h', hostPath: { path: '/x' } }]),
      pod('other', 'ns', [{ name: 'd', persistentVolumeClaim: { claimName: 'ds-data' } }]),
      { metadata: { name: 'bare', namespace: 'ns', uid: 'u' } },
    ]);
    expect([...got].sort()).toEqual(['kube-system/ds-1-scratch', 'kube-system/ds-data', 'ns/ds-data']);
  });
  it('feeds volumesToWaitFor', () => {
    const ignoredClaims = skippedClaims([
      pod('ds-1', 'ns', [{ name: 'd', persistentVolumeClaim: { claimName: 'kept' } }]),
    ]);
    const got = volumesToWaitFor({
      node: node(),
      volumeAttachments: [va('a', 'pv-kept'), va('b', 'pv-moved')],
      persistentVolumes: [pv('pv-kept', { claim: 'ns/kept' }), pv('pv-moved', { claim: 'ns/moved' })],
      ignoredClaims,
    });
    expect(got).toEqual(waiting({ persistentVolumeClaims: ['ns/moved'] }));
  });
});

describe('helpers', () => {
  it('csiUniqueName', () => {
    expect(csiUniqueName(pv('p', { handle: 'vol-1' }))).toBe(`kubernetes.io/csi/${DRIVER}^vol-1`);
    expect(csiUniqueName(pv('p'))).toBeUndefined();
  });
  it('describeWaiting names every group and truncates', () => {
    expect(describeWaiting(noVolumesWaiting())).toBe('no attached volumes');
    expect(
      describeWaiting(
        waiting({ persistentVolumeClaims: ['a/1', 'a/2', 'a/3'], attachmentsWithoutPvName: ['va-x'] }),
        2,
      ),
    ).toBe(
      'PersistentVolumeClaims a/1, a/2 and 1 more; VolumeAttachments without spec.source.persistentVolumeName va-x',
    );
  });
  it('volumeDetachFor: the annotation (any value) skips, the Machine timeout caps (0: none)', () => {
    const machine = (annotations: Record<string, string>, secs?: number) =>
      ({
        meta: { name: 'm', namespace: 'ns', annotations },
        deletion: { nodeVolumeDetachTimeoutSeconds: secs },
      }) as unknown as Machine;
    expect(volumeDetachFor(machine({ [EXCLUDE_WAIT_FOR_NODE_VOLUME_DETACH_ANNOTATION]: '' }, 10))).toEqual({
      wait: false,
      reason: `Machine ns/m has ${EXCLUDE_WAIT_FOR_NODE_VOLUME_DETACH_ANNOTATION}`,
    });
    expect(volumeDetachFor(machine({}, 90))).toEqual({ wait: true, timeoutMs: 90_000 });
    expect(volumeDetachFor(machine({}))).toEqual({ wait: true, timeoutMs: 0 });
    // The service default applies only when the Machine sets nothing; a Machine's 0 (no limit) wins.
    expect(volumeDetachFor(machine({}), 300_000)).toEqual({ wait: true, timeoutMs: 300_000 });
    expect(volumeDetachFor(machine({}, 0), 300_000)).toEqual({ wait: true, timeoutMs: 0 });
  });
});
