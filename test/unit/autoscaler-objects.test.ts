import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { simNodeFrom, simPodFrom } from '../../src/autoscaler/objects.ts';
import type { SimNode, SimPod } from '../../src/autoscaler/types.ts';

const Gi = 2 ** 30 * 1000;
const Mi = 2 ** 20 * 1000;

type Res = Record<string, string | number>;
type C = { name?: string; requests?: Res; limits?: Res; restartPolicy?: string; ports?: unknown[] };

const container = (c: C, i: number) => ({
  name: c.name ?? `c${i}`,
  image: 'x',
  ...(c.restartPolicy ? { restartPolicy: c.restartPolicy } : {}),
  ...(c.ports ? { ports: c.ports } : {}),
  resources: { ...(c.requests ? { requests: c.requests } : {}), ...(c.limits ? { limits: c.limits } : {}) },
});

function rawPod(o: { containers?: C[]; init?: C[]; spec?: object; status?: object; metadata?: object } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'prod', uid: 'u-1', ...o.metadata },
    spec: {
      containers: (o.containers ?? [{}]).map(container),
      ...(o.init ? { initContainers: o.init.map(container) } : {}),
      ...o.spec,
    },
    ...(o.status ? { status: o.status } : {}),
  };
}

function pod(raw: unknown): SimPod {
  const r = simPodFrom(raw);
  if ('error' in r) throw new Error(r.error);
  return r.pod;
}

function node(raw: unknown): SimNode {
  const r = simNodeFrom(raw);
  if ('error' in r) throw new Error(r.error);
  return r.node;
}

describe('simPodFrom: effective requests', () => {
  it.each<[string, Parameters<typeof rawPod>[0], Record<string, number>]>([
    ['no requests at all', {}, {}],
    [
      'containers are summed',
      { containers: [{ requests: { cpu: '100m', memory: '1Gi' } }, { requests: { cpu: '250m' } }] },
      { cpu: 350, memory: Gi },
    ],
    [
      'a larger init container dominates per resource',
      {
        containers: [{ requests: { cpu: '100m', memory: '2Gi' } }],
        init: [{ requests: { cpu: '1' } }, { requests: { cpu: '500m', memory: '1Gi' } }],
      },
      { cpu: 1000, memory: 2 * Gi },
    ],
    [
      'init containers are not summed with each other',
      {
        containers: [{ requests: { cpu: '100m' } }],
        init: [{ requests: { cpu: '300m' } }, { requests: { cpu: '300m' } }],
      },
      { cpu: 300 },
    ],
    [
      'a resource only an init container requests is kept',
      { containers: [{ requests: { cpu: '100m' } }], init: [{ requests: { 'example.com/dongle': '1' } }] },
      { cpu: 100, 'example.com/dongle': 1000 },
    ],
    [
      'a sidecar adds to the running sum',
      {
        containers: [{ requests: { cpu: '500m' } }],
        init: [{ restartPolicy: 'Always', requests: { cpu: '100m' } }, { requests: { cpu: '200m' } }],
      },
      { cpu: 600 },
    ],
    [
      'an init container after a sidecar needs itself plus that sidecar',
      {
        containers: [{ requests: { cpu: '200m' } }],
        init: [{ restartPolicy: 'Always', requests: { cpu: '100m' } }, { requests: { cpu: '1' } }],
      },
      { cpu: 1100 },
    ],
    [
      'an init container before a sidecar needs only itself',
      {
        containers: [{ requests: { cpu: '200m' } }],
        init: [{ requests: { cpu: '1' } }, { restartPolicy: 'Always', requests: { cpu: '100m' } }],
      },
      { cpu: 1000 },
    ],
    [
      'sidecars accumulate across init phases',
      {
        containers: [],
        init: [
          { restartPolicy: 'Always', requests: { cpu: '100m' } },
          { restartPolicy: 'Always', requests: { cpu: '200m' } },
          { requests: { cpu: '50m' } },
        ],
      },
      { cpu: 350 },
    ],
    [
      'restartPolicy other than Always is a plain init container',
      {
        containers: [{ requests: { cpu: '200m' } }],
        init: [{ restartPolicy: 'OnFailure', requests: { cpu: '100m' } }],
      },
      { cpu: 200 },
    ],
    [
      'overhead is added after the max',
      {
        containers: [{ requests: { cpu: '100m' } }],
        init: [{ requests: { cpu: '1' } }],
        spec: { overhead: { cpu: '250m', memory: '64Mi' } },
      },
      { cpu: 1250, memory: 64 * Mi },
    ],
    [
      'limits without requests become requests (raw manifest)',
      { containers: [{ limits: { cpu: '2', 'nvidia.com/gpu': '1' } }] },
      { cpu: 2000, 'nvidia.com/gpu': 1000 },
    ],
    [
      'limits fill only the resources requests leave out',
      { containers: [{ requests: { cpu: '100m' }, limits: { cpu: '2', memory: '1Gi' } }] },
      { cpu: 100, memory: Gi },
    ],
    [
      'init container limits default its requests too',
      { containers: [{ requests: { cpu: '100m' } }], init: [{ limits: { cpu: '3' } }] },
      { cpu: 3000 },
    ],
    [
      'JSON numbers are quantities',
      { containers: [{ requests: { cpu: 0.5, memory: 1024 } }] },
      { cpu: 500, memory: 1024000 },
    ],
    ['zero requests are kept as zero', { containers: [{ requests: { cpu: '0' } }] }, { cpu: 0 }],
    [
      'pod-level requests replace the aggregate for cpu and memory only',
      {
        containers: [{ requests: { cpu: '100m', memory: '1Gi', 'nvidia.com/gpu': '1' } }],
        spec: { resources: { requests: { cpu: '2', 'nvidia.com/gpu': '4' } } },
      },
      { cpu: 2000, memory: Gi, 'nvidia.com/gpu': 1000 },
    ],
    [
      'pod-level limit defaults the request when no container requests it',
      {
        containers: [{ requests: { memory: '1Gi' } }],
        spec: { resources: { limits: { cpu: '3', memory: '4Gi' } } },
      },
      { cpu: 3000, memory: Gi },
    ],
    [
      'pod-level requests then overhead',
      { containers: [{}], spec: { resources: { requests: { cpu: '1' } }, overhead: { cpu: '100m' } } },
      { cpu: 1100 },
    ],
    [
      'an in-flight resize is charged the max of spec, status and allocated',
      {
        containers: [{ name: 'app', requests: { cpu: '1', memory: '1Gi' } }],
        status: {
          containerStatuses: [
            {
              name: 'app',
              resources: { requests: { cpu: '2', memory: '512Mi' } },
              allocatedResources: { cpu: '1500m' },
            },
          ],
        },
      },
      { cpu: 2000, memory: Gi },
    ],
    [
      'an infeasible resize ignores the spec',
      {
        containers: [{ name: 'app', requests: { cpu: '4' } }],
        status: {
          conditions: [{ type: 'PodResizePending', status: 'True', reason: 'Infeasible' }],
          containerStatuses: [
            { name: 'app', resources: { requests: { cpu: '1' } }, allocatedResources: { cpu: '1' } },
          ],
        },
      },
      { cpu: 1000 },
    ],
    [
      'status without resources leaves the spec',
      {
        containers: [{ name: 'app', requests: { cpu: '1' } }],
        status: { containerStatuses: [{ name: 'app' }] },
      },
      { cpu: 1000 },
    ],
    [
      'a plain init container ignores its status resources',
      {
        containers: [],
        init: [{ name: 'setup', requests: { cpu: '1' } }],
        status: { initContainerStatuses: [{ name: 'setup', resources: { requests: { cpu: '5' } } }] },
      },
      { cpu: 1000 },
    ],
  ])('%s', (_name, o, want) => {
    expect(pod(rawPod(o)).requests).toEqual(want);
  });
});

describe('simPodFrom: invalid input is an error naming pod, container and field', () => {
  it.each<[string, unknown, RegExp]>([
    [
      'container request',
      rawPod({ containers: [{ name: 'app', requests: { cpu: 'lots' } }] }),
      /^pod prod\/web-1: container "app"\.resources\.requests\["cpu"\]: "lots" is not a Kubernetes quantity/,
    ],
    [
      'container limit',
      rawPod({ containers: [{ name: 'app', limits: { memory: '1GB' } }] }),
      /^pod prod\/web-1: container "app"\.resources\.limits\["memory"\]: "1GB"/,
    ],
    [
      'init container',
      rawPod({ init: [{ name: 'setup', requests: { cpu: '1 ' } }] }),
      /^pod prod\/web-1: init container "setup"\.resources\.requests\["cpu"\]/,
    ],
    [
      'negative request',
      rawPod({ containers: [{ name: 'app', requests: { cpu: '-1' } }] }),
      /must not be negative/,
    ],
    [
      'overhead',
      rawPod({ spec: { overhead: { cpu: 'x' } } }),
      /^pod prod\/web-1: spec\.overhead\["cpu"\]: "x"/,
    ],
    [
      'pod-level',
      rawPod({ spec: { resources: { requests: { memory: '' } } } }),
      /spec\.resources\.requests\["memory"\]/,
    ],
    [
      'non-string quantity',
      rawPod({ containers: [{ name: 'app', requests: { cpu: true } as never }] }),
      /is not a quantity/,
    ],
    [
      'status resources',
      rawPod({
        containers: [{ name: 'app' }],
        status: { containerStatuses: [{ name: 'app', resources: { requests: { cpu: 'zz' } } }] },
      }),
      /status\.containerStatuses\["app"\]\.resources\.requests\["cpu"\]/,
    ],
    ['not an object', 'pod', /^pod: not an object/],
    ['no name', { metadata: {} }, /metadata\.name is missing/],
    [
      'containers not a list',
      { metadata: { name: 'p' }, spec: { containers: {} } },
      /^pod \/p: spec\.containers is not a list/,
    ],
    [
      'bad protocol',
      rawPod({ containers: [{ name: 'app', ports: [{ hostPort: 80, protocol: 'HTTP' }] }] }),
      /protocol "HTTP"/,
    ],
    [
      'nodeSelector value',
      rawPod({ spec: { nodeSelector: { a: 1 } } }),
      /spec\.nodeSelector\["a"\] is not a string/,
    ],
  ])('%s', (_name, raw, message) => {
    const r = simPodFrom(raw);
    expect(r).toHaveProperty('error');
    expect((r as { error: string }).error).toMatch(message);
  });
});

describe('simPodFrom: scheduling constraints and identity', () => {
  it('reads selector, affinity, tolerations, owner, node names and timestamp', () => {
    const p = pod(
      rawPod({
        metadata: {
          creationTimestamp: '2025-01-01T00:00:00Z',
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'not-controller' },
            { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'rs-1', controller: true },
          ],
        },
        spec: {
          nodeName: 'n1',
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] },
                  { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] },
                ],
              },
              preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: {} }],
            },
          },
          tolerations: [
            { key: 'gpu', operator: 'Exists', effect: 'NoSchedule' },
            { key: 'k', value: 'v', tolerationSeconds: 30, effect: 'NoExecute' },
            { operator: 'Exists' },
          ],
        },
        status: { nominatedNodeName: 'n2' },
      }),
    );
    expect(p).toEqual({
      namespace: 'prod',
      name: 'web-1',
      uid: 'u-1',
      requests: {},
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      requiredAffinity: [
        { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] },
        { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] },
      ],
      tolerations: [
        { key: 'gpu', operator: 'Exists', effect: 'NoSchedule' },
        { key: 'k', value: 'v', effect: 'NoExecute' },
        { operator: 'Exists' },
      ],
      hostPorts: [],
      ownerUid: 'rs-1',
      creationTimestamp: '2025-01-01T00:00:00Z',
      nodeName: 'n1',
      nominatedNodeName: 'n2',
    });
    expect(p.daemonSet).toBeUndefined();
  });

  it.each<[string, unknown[], { ownerUid?: string; daemonSet?: boolean }]>([
    [
      'DaemonSet controller',
      [{ kind: 'DaemonSet', name: 'ds', uid: 'ds-1', controller: true }],
      { ownerUid: 'ds-1', daemonSet: true },
    ],
    ['DaemonSet owner that is not the controller', [{ kind: 'DaemonSet', name: 'ds', uid: 'ds-1' }], {}],
    ['no owners', [], {}],
    ['Job controller', [{ kind: 'Job', name: 'j', uid: 'j-1', controller: true }], { ownerUid: 'j-1' }],
  ])('owner: %s', (_name, ownerReferences, want) => {
    const p = pod(rawPod({ metadata: { ownerReferences } }));
    expect({ ownerUid: p.ownerUid, daemonSet: p.daemonSet }).toEqual({
      ownerUid: undefined,
      daemonSet: undefined,
      ...want,
    });
  });

  it.each<[string, unknown, SimPod['requiredAffinity']]>([
    ['no affinity', undefined, undefined],
    ['only preferred', { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } }, undefined],
    [
      'required without terms matches nothing',
      { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: {} } },
      [],
    ],
    [
      'empty term is kept empty',
      { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{}] } } },
      [{}],
    ],
    [
      'unknown operator is carried for the predicate to reject',
      {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'Near' }] }],
          },
        },
      },
      [{ matchExpressions: [{ key: 'a', operator: 'Near' as 'In' }] }],
    ],
  ])('affinity: %s', (_name, affinity, want) => {
    expect(pod(rawPod({ spec: affinity === undefined ? {} : { affinity } })).requiredAffinity).toEqual(want);
  });

  it.each<[string, unknown[], SimPod['tolerations']]>([
    ['operator defaults to absent (Equal)', [{ key: 'a', value: 'b' }], [{ key: 'a', value: 'b' }]],
    [
      'empty effect means every effect',
      [{ key: 'a', operator: 'Exists', effect: '' }],
      [{ key: 'a', operator: 'Exists' }],
    ],
    ['unknown operator tolerates nothing: dropped', [{ key: 'a', operator: 'Gt', value: '3' }], []],
    [
      'unknown effect tolerates nothing: dropped',
      [{ key: 'a', operator: 'Exists', effect: 'Sometimes' }],
      [],
    ],
  ])('tolerations: %s', (_name, tolerations, want) => {
    expect(pod(rawPod({ spec: { tolerations } })).tolerations).toEqual(want);
  });

  it('host ports: only hostPort > 0 of regular containers, protocol defaults to TCP', () => {
    const p = pod(
      rawPod({
        containers: [
          {
            ports: [
              { containerPort: 80, hostPort: 8080 },
              { containerPort: 53, hostPort: 53, protocol: 'UDP', hostIP: '10.0.0.1' },
              { containerPort: 9000 },
              { containerPort: 9001, hostPort: 0 },
            ],
          },
          { ports: [{ containerPort: 1, hostPort: 132, protocol: 'SCTP', hostIP: '' }] },
        ],
        init: [{ restartPolicy: 'Always', ports: [{ containerPort: 5, hostPort: 5000 }] }],
      }),
    );
    expect(p.hostPorts).toEqual([
      { port: 8080, protocol: 'TCP' },
      { port: 53, protocol: 'UDP', hostIP: '10.0.0.1' },
      { port: 132, protocol: 'SCTP' },
    ]);
  });
});

describe('simNodeFrom', () => {
  const rawNode = (o: { spec?: object; status?: object; labels?: object } = {}) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'n1', labels: o.labels ?? { zone: 'a' } },
    spec: o.spec ?? {},
    status: o.status ?? {
      allocatable: { cpu: '3920m', memory: '15Gi', pods: '110' },
      capacity: { cpu: '4' },
    },
  });

  it('reads labels, taints, allocatable and unschedulable', () => {
    const n = node(
      rawNode({
        spec: {
          unschedulable: true,
          taints: [
            { key: 'gpu', value: 'present', effect: 'NoSchedule' },
            {
              key: 'node.kubernetes.io/unschedulable',
              effect: 'NoSchedule',
              timeAdded: '2025-01-01T00:00:00Z',
            },
          ],
        },
      }),
    );
    expect(n).toEqual({
      name: 'n1',
      labels: { zone: 'a' },
      taints: [
        { key: 'gpu', value: 'present', effect: 'NoSchedule' },
        { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' },
      ],
      allocatable: { cpu: 3920, memory: 15 * Gi, pods: 110000 },
      unschedulable: true,
    });
  });

  it.each<[string, object, Record<string, number>]>([
    ['allocatable wins', { allocatable: { cpu: '1' }, capacity: { cpu: '2', memory: '1Gi' } }, { cpu: 1000 }],
    ['capacity when allocatable is absent', { capacity: { cpu: '2' } }, { cpu: 2000 }],
    ['capacity when allocatable is empty', { allocatable: {}, capacity: { cpu: '2' } }, { cpu: 2000 }],
    ['neither', {}, {}],
  ])('allocatable: %s', (_name, status, want) => {
    expect(node(rawNode({ status })).allocatable).toEqual(want);
  });

  it('schedulable by default and without labels', () => {
    const n = node({ metadata: { name: 'bare' } });
    expect(n).toEqual({ name: 'bare', labels: {}, taints: [], allocatable: {}, unschedulable: false });
  });

  it.each<[string, unknown, RegExp]>([
    [
      'bad allocatable',
      rawNode({ status: { allocatable: { cpu: '4 cores' } } }),
      /^node n1: status\.allocatable\["cpu"\]: "4 cores"/,
    ],
    [
      'bad capacity',
      rawNode({ status: { capacity: { memory: '1gb' } } }),
      /^node n1: status\.capacity\["memory"\]/,
    ],
    [
      'bad taint effect',
      rawNode({ spec: { taints: [{ key: 'a', effect: 'Never' }] } }),
      /^node n1: spec\.taints\[0\]\.effect "Never"/,
    ],
    ['labels not strings', rawNode({ labels: { a: 1 } }), /metadata\.labels\["a"\] is not a string/],
    ['not an object', null, /^node: not an object/],
    ['no name', { metadata: {} }, /^node: metadata\.name is missing/],
  ])('%s', (_name, raw, message) => {
    const r = simNodeFrom(raw);
    expect(r).toHaveProperty('error');
    expect((r as { error: string }).error).toMatch(message);
  });
});

describe('simPodFrom: properties', () => {
  const res = fc.dictionary(
    fc.constantFrom('cpu', 'memory', 'example.com/x'),
    fc.integer({ min: 0, max: 10_000 }),
    {
      maxKeys: 3,
    },
  );
  const milli = (r: Record<string, number>) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, `${v}m`]));
  const ctr = fc.record({ requests: res, sidecar: fc.boolean() });

  it('requests cover every container and the sum of everything running together', () => {
    fc.assert(
      fc.property(fc.array(res, { maxLength: 4 }), fc.array(ctr, { maxLength: 4 }), (containers, init) => {
        const p = pod(
          rawPod({
            containers: containers.map((r) => ({ requests: milli(r) })),
            init: init.map((c) => ({
              requests: milli(c.requests),
              ...(c.sidecar ? { restartPolicy: 'Always' } : {}),
            })),
          }),
        );
        const running: Record<string, number> = {};
        for (const r of [...containers, ...init.filter((c) => c.sidecar).map((c) => c.requests)])
          for (const [k, v] of Object.entries(r)) running[k] = (running[k] ?? 0) + v;
        for (const [k, v] of Object.entries(running)) expect(p.requests[k]).toBeGreaterThanOrEqual(v);
        for (const c of init)
          for (const [k, v] of Object.entries(c.requests)) expect(p.requests[k]).toBeGreaterThanOrEqual(v);
      }),
      { numRuns: 200 },
    );
  });

  it('without sidecars: max(sum of containers, largest init container)', () => {
    fc.assert(
      fc.property(fc.array(res, { maxLength: 4 }), fc.array(res, { maxLength: 4 }), (containers, init) => {
        const p = pod(
          rawPod({
            containers: containers.map((r) => ({ requests: milli(r) })),
            init: init.map((r) => ({ requests: milli(r) })),
          }),
        );
        const want: Record<string, number> = {};
        for (const r of containers) for (const [k, v] of Object.entries(r)) want[k] = (want[k] ?? 0) + v;
        for (const r of init) for (const [k, v] of Object.entries(r)) want[k] = Math.max(want[k] ?? 0, v);
        expect(p.requests).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });
});
