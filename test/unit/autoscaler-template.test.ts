import { describe, expect, it } from 'vitest';
import {
  allocatableAfterDaemonSets,
  CAPACITY,
  daemonSetPodsFor,
  parseLabels,
  parseTaints,
  templateGroupOf,
  templateNode,
  type TemplateGroup,
  type TemplateInput,
  type TemplateResult,
} from '../../src/autoscaler/template.ts';
import type { SimNode, SimPod } from '../../src/autoscaler/types.ts';
import type { MachineDeployment } from '../../src/capi/types.ts';

const GiB = 2 ** 30 * 1000; // milli-units
const MiB = 2 ** 20 * 1000;

const ann = (o: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(o).map(([k, v]) => [`capacity.cluster-autoscaler.kubernetes.io/${k}`, v]),
  );

function group(o: Partial<TemplateGroup> = {}): TemplateGroup {
  return {
    kind: 'MachineDeployment',
    namespace: 'default',
    name: 'md-general',
    annotations: {},
    templateLabels: {},
    ...o,
  };
}

function infra(capacity?: Record<string, string>, nodeInfo?: Record<string, string>, instanceType?: unknown) {
  return {
    apiVersion: 'infrastructure.capi-autopilot.io/v1alpha1',
    kind: 'SandboxMachineTemplate',
    metadata: { name: 'md-general-infra', namespace: 'default' },
    spec: { template: { spec: instanceType === undefined ? {} : { instanceType } } },
    status: { ...(capacity ? { capacity } : {}), ...(nodeInfo ? { nodeInfo } : {}) },
  };
}

function liveNode(o: {
  labels?: Record<string, string>;
  taints?: unknown[];
  allocatable?: Record<string, string>;
}) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'md-general-7d9f-abcde', labels: o.labels ?? {} },
    spec: { providerID: 'sandbox://md-general-7d9f-abcde', unschedulable: true, taints: o.taints ?? [] },
    status: { allocatable: o.allocatable ?? { cpu: '4', memory: '16Gi', pods: '110' } },
  };
}

function ok(r: TemplateResult) {
  if ('error' in r) throw new Error(`unexpected error: ${r.error}`);
  return r;
}

function errorOf(r: TemplateResult): string {
  if (!('error' in r)) throw new Error(`expected an error, got node ${JSON.stringify(r.node)}`);
  return r.error;
}

function dsPod(name: string, o: Partial<SimPod> = {}): SimPod {
  return {
    namespace: 'kube-system',
    name,
    uid: `uid-${name}`,
    requests: { cpu: 100, memory: 128 * MiB },
    nodeSelector: {},
    tolerations: [],
    hostPorts: [],
    daemonSet: true,
    ...o,
  };
}

function simNode(o: Partial<SimNode> = {}): SimNode {
  return {
    name: 'template-md-general',
    labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
    taints: [],
    allocatable: { cpu: 4000, memory: 16 * GiB, pods: 110_000 },
    ...o,
  };
}

describe('templateNode from annotations', () => {
  const base = { cpu: '4', memory: '16Gi' };
  const cases: { name: string; ann: Record<string, string>; alloc: Record<string, number> }[] = [
    {
      name: 'cpu and memory, maxPods defaults to 110',
      ann: base,
      alloc: { cpu: 4000, memory: 16 * GiB, pods: 110_000 },
    },
    {
      name: 'ephemeral-disk becomes ephemeral-storage',
      ann: { ...base, 'ephemeral-disk': '100Gi' },
      alloc: { cpu: 4000, memory: 16 * GiB, pods: 110_000, 'ephemeral-storage': 100 * GiB },
    },
    {
      name: 'maxPods',
      ann: { ...base, maxPods: '58' },
      alloc: { cpu: 4000, memory: 16 * GiB, pods: 58_000 },
    },
    {
      name: 'gpu-count with gpu-type',
      ann: { ...base, 'gpu-count': '2', 'gpu-type': 'amd.com/gpu' },
      alloc: { cpu: 4000, memory: 16 * GiB, pods: 110_000, 'amd.com/gpu': 2000 },
    },
    {
      name: 'gpu-count defaults to nvidia.com/gpu',
      ann: { ...base, 'gpu-count': '1' },
      alloc: { cpu: 4000, memory: 16 * GiB, pods: 110_000, 'nvidia.com/gpu': 1000 },
    },
    {
      name: 'milli cpu',
      ann: { cpu: '1500m', memory: '512Mi' },
      alloc: { cpu: 1500, memory: 512 * MiB, pods: 110_000 },
    },
  ];
  it.each(cases)('$name', ({ ann: a, alloc }) => {
    const r = ok(templateNode({ group: group({ name: 'md-gpu', annotations: ann(a) }) }));
    expect(r.source).toBe('annotations');
    expect(r.node.name).toBe('template-md-gpu');
    expect(r.node.allocatable).toEqual(alloc);
    expect(r.node.taints).toEqual([]);
    expect(r.node.labels).toEqual({
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/hostname': 'template-md-gpu',
    });
  });

  it('labels and taints', () => {
    const r = ok(
      templateNode({
        group: group({
          name: 'md-gpu',
          annotations: ann({
            ...base,
            labels: 'accelerator=a100,example.com/pool=gpu',
            taints: 'nvidia.com/gpu=present:NoSchedule,dedicated:NoExecute',
          }),
        }),
      }),
    );
    expect(r.node.labels).toMatchObject({ accelerator: 'a100', 'example.com/pool': 'gpu' });
    expect(r.node.taints).toEqual([
      { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' },
      { key: 'dedicated', effect: 'NoExecute' },
    ]);
  });

  it('warns about gpu-type without gpu-count', () => {
    const r = ok(
      templateNode({ group: group({ annotations: ann({ ...base, 'gpu-type': 'nvidia.com/gpu' }) }) }),
    );
    expect(r.warnings.join()).toContain('gpu-type');
    expect(r.node.allocatable['nvidia.com/gpu']).toBeUndefined();
  });
});

describe('templateNode from the infrastructure template status', () => {
  const capacity = { cpu: '2', memory: '8Gi', pods: '64', 'nvidia.com/gpu': '1' };
  it.each([
    { name: 'nodeInfo arm64', nodeInfo: { architecture: 'arm64', operatingSystem: 'linux' }, arch: 'arm64' },
    { name: 'no nodeInfo defaults to linux/amd64', nodeInfo: undefined, arch: 'amd64' },
  ])('$name', ({ nodeInfo, arch }) => {
    const r = ok(templateNode({ group: group(), infrastructureTemplate: infra(capacity, nodeInfo) }));
    expect(r.source).toBe('infrastructure');
    expect(r.node.allocatable).toEqual({ cpu: 2000, memory: 8 * GiB, pods: 64_000, 'nvidia.com/gpu': 1000 });
    expect(r.node.labels['kubernetes.io/arch']).toBe(arch);
    expect(r.node.labels['kubernetes.io/os']).toBe('linux');
    expect(r.warnings).toEqual([]);
  });

  it('defaults pods to 110 and skips unparsable status quantities with a warning', () => {
    const r = ok(
      templateNode({
        group: group(),
        infrastructureTemplate: infra({ cpu: '2', memory: '8Gi', 'example.com/x': 'lots' }),
      }),
    );
    expect(r.node.allocatable).toEqual({ cpu: 2000, memory: 8 * GiB, pods: 110_000 });
    expect(r.warnings.join()).toContain('example.com/x');
  });

  it('annotations override the status per resource', () => {
    const r = ok(
      templateNode({
        group: group({ annotations: ann({ memory: '12Gi', maxPods: '30', 'gpu-count': '4' }) }),
        infrastructureTemplate: infra(
          { ...capacity, 'ephemeral-storage': '50Gi' },
          { architecture: 'arm64' },
        ),
      }),
    );
    expect(r.source).toBe('annotations');
    expect(r.node.allocatable).toEqual({
      cpu: 2000, // status
      memory: 12 * GiB, // annotation
      pods: 30_000, // annotation
      'nvidia.com/gpu': 4000, // annotation
      'ephemeral-storage': 50 * GiB, // status
    });
    expect(r.node.labels['kubernetes.io/arch']).toBe('arm64');
    expect(r.node.labels['kubernetes.io/os']).toBe('linux'); // partial nodeInfo: default for the rest
  });
});

describe('templateNode cannot scale from zero', () => {
  it.each([
    { name: 'no cpu', input: { group: group({ annotations: ann({ memory: '8Gi' }) }) }, missing: 'cpu' },
    {
      name: 'no memory',
      input: { group: group(), infrastructureTemplate: infra({ cpu: '2' }) },
      missing: 'memory',
    },
    { name: 'nothing at all', input: { group: group() }, missing: 'cpu or memory' },
  ] satisfies { name: string; input: TemplateInput; missing: string }[])('$name', ({ input, missing }) => {
    const e = errorOf(templateNode(input));
    expect(e).toContain('MachineDeployment default/md-general cannot scale from zero');
    expect(e).toContain(`no ${missing} capacity`);
  });

  it.each([
    { key: 'memory', value: '500mb' },
    { key: 'cpu', value: 'two' },
    { key: 'ephemeral-disk', value: '-1Gi' },
    { key: 'maxPods', value: '1.5' },
    { key: 'labels', value: 'a=b,c' },
    { key: 'labels', value: 'a=b,' },
    { key: 'labels', value: 'bad key=v' },
    { key: 'taints', value: 'key=value:Sometimes' },
    { key: 'taints', value: 'key=value' },
    { key: 'gpu-count', value: 'x' },
    { key: 'gpu-count', value: '1.5' },
  ])('malformed $key: $value', ({ key, value }) => {
    const e = errorOf(
      templateNode({
        group: group({ name: 'md-gpu', annotations: ann({ cpu: '4', memory: '16Gi', [key]: value }) }),
        infrastructureTemplate: infra({ cpu: '4', memory: '16Gi' }),
      }),
    );
    expect(e).toContain(`MachineDeployment default/md-gpu`);
    expect(e).toContain(`capacity.cluster-autoscaler.kubernetes.io/${key}=${JSON.stringify(value)}`);
    expect(e).toContain('cannot scale from zero');
  });

  it('rejects a gpu-type that is not a resource name', () => {
    const e = errorOf(
      templateNode({
        group: group({ annotations: ann({ cpu: '4', memory: '16Gi', 'gpu-count': '1', 'gpu-type': 'a b' }) }),
      }),
    );
    expect(e).toContain(CAPACITY.gpuType);
  });
});

describe('templateNode labels', () => {
  it('well-known labels, zone from failureDomain, instance type from the infrastructure template', () => {
    const r = ok(
      templateNode({
        group: group({ failureDomain: 'zone-a' }),
        infrastructureTemplate: infra({ cpu: '2', memory: '8Gi' }, undefined, {
          name: 'sandbox.large',
          cpu: '2',
          memory: '8Gi',
        }),
      }),
    );
    expect(r.node.labels).toEqual({
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/hostname': 'template-md-general',
      'node.kubernetes.io/instance-type': 'sandbox.large',
      'topology.kubernetes.io/zone': 'zone-a',
    });
  });

  it('reads a string instanceType (AWS/GCP style)', () => {
    const r = ok(
      templateNode({
        group: group(),
        infrastructureTemplate: infra({ cpu: '2', memory: '8Gi' }, undefined, 'm5.large'),
      }),
    );
    expect(r.node.labels['node.kubernetes.io/instance-type']).toBe('m5.large');
  });

  it('syncs node labels from the machine template; the labels annotation wins', () => {
    const r = ok(
      templateNode({
        group: group({
          templateLabels: {
            'cluster.x-k8s.io/cluster-name': 'dev', // not synced
            app: 'web', // not synced
            'node-role.kubernetes.io/worker': '',
            'node-restriction.kubernetes.io/pool': 'general',
            'example.node-restriction.kubernetes.io/tier': 'gold',
            'node.cluster.x-k8s.io/pool': 'from-template',
            'team.node.cluster.x-k8s.io/owner': 'infra',
          },
          annotations: ann({
            cpu: '4',
            memory: '16Gi',
            labels: 'node.cluster.x-k8s.io/pool=from-annotation',
          }),
        }),
      }),
    );
    expect(r.node.labels).toEqual({
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/hostname': 'template-md-general',
      'node-role.kubernetes.io/worker': '',
      'node-restriction.kubernetes.io/pool': 'general',
      'example.node-restriction.kubernetes.io/tier': 'gold',
      'node.cluster.x-k8s.io/pool': 'from-annotation',
      'team.node.cluster.x-k8s.io/owner': 'infra',
    });
  });
});

describe('templateNode from a live node', () => {
  const node = liveNode({
    labels: {
      'kubernetes.io/hostname': 'md-general-7d9f-abcde',
      'kubernetes.io/arch': 'arm64',
      'topology.kubernetes.io/zone': 'zone-b',
      'node-role.kubernetes.io/worker': '',
    },
    taints: [
      { key: 'dedicated', value: 'batch', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' },
      { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' },
      { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' },
      { key: 'ToBeDeletedByClusterAutoscaler', value: '1700000000', effect: 'NoSchedule' },
      { key: 'DeletionCandidateOfClusterAutoscaler', value: '1700000000', effect: 'PreferNoSchedule' },
      { key: 'spot', effect: 'PreferNoSchedule' },
    ],
    allocatable: { cpu: '3900m', memory: '15Gi', pods: '110', 'ephemeral-storage': '95Gi' },
  });

  it('wins over annotations and the infrastructure status', () => {
    const r = ok(
      templateNode({
        group: group({
          failureDomain: 'zone-a',
          annotations: ann({ cpu: '8', memory: '32Gi', taints: 'x:NoSchedule' }),
        }),
        liveNode: node,
        infrastructureTemplate: infra({ cpu: '16', memory: '64Gi' }),
      }),
    );
    expect(r.source).toBe('node');
    expect(r.node).toEqual({
      name: 'template-md-general',
      labels: {
        'kubernetes.io/hostname': 'template-md-general',
        'kubernetes.io/arch': 'arm64',
        'topology.kubernetes.io/zone': 'zone-b',
        'node-role.kubernetes.io/worker': '',
      },
      taints: [
        { key: 'dedicated', value: 'batch', effect: 'NoSchedule' },
        { key: 'spot', effect: 'PreferNoSchedule' },
      ],
      allocatable: { cpu: 3900, memory: 15 * GiB, pods: 110_000, 'ephemeral-storage': 95 * GiB },
    });
    expect(r.warnings).toEqual([]);
  });

  it('still serves with malformed annotations, with a warning', () => {
    const r = ok(templateNode({ group: group({ annotations: ann({ memory: '500mb' }) }), liveNode: node }));
    expect(r.source).toBe('node');
    expect(r.warnings.join()).toContain(CAPACITY.memory);
  });
});

describe('parseLabels / parseTaints', () => {
  it.each([
    { raw: '', want: {} },
    { raw: 'a=b', want: { a: 'b' } },
    { raw: 'a=b, example.com/c=', want: { a: 'b', 'example.com/c': '' } },
  ])('labels $raw', ({ raw, want }) => expect(parseLabels(raw)).toEqual({ labels: want }));

  it.each(['a=b,c', 'a', '=b', 'a=b,a=c', 'a=b c', 'Example.com/a=b', `a=${'x'.repeat(64)}`])(
    'bad labels %s',
    (raw) => expect(parseLabels(raw)).toHaveProperty('error'),
  );

  it.each([
    { raw: 'k=v:NoSchedule', want: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] },
    { raw: 'k:PreferNoSchedule', want: [{ key: 'k', effect: 'PreferNoSchedule' }] },
    {
      raw: 'k:NoSchedule,k:NoExecute',
      want: [
        { key: 'k', effect: 'NoSchedule' },
        { key: 'k', effect: 'NoExecute' },
      ],
    },
  ])('taints $raw', ({ raw, want }) => expect(parseTaints(raw)).toEqual({ taints: want }));

  it.each(['k=v:Sometimes', 'k=v', ':NoSchedule', 'k:NoSchedule,k=v:NoSchedule', 'k=a b:NoSchedule'])(
    'bad taints %s',
    (raw) => expect(parseTaints(raw)).toHaveProperty('error'),
  );
});

describe('daemonSetPodsFor', () => {
  const node = simNode({
    labels: {
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'node-role.kubernetes.io/gpu': '',
      cores: '8',
    },
    taints: [
      { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' },
      { key: 'spot', effect: 'PreferNoSchedule' },
    ],
  });
  const tolerateGpu = [{ key: 'nvidia.com/gpu', operator: 'Exists' as const }];
  it.each([
    { name: 'no constraints but the taint is not tolerated', pod: dsPod('kube-proxy'), lands: false },
    {
      name: 'tolerates everything',
      pod: dsPod('kube-proxy', { tolerations: [{ operator: 'Exists' }] }),
      lands: true,
    },
    {
      name: 'tolerates the taint by key',
      pod: dsPod('gpu-plugin', { tolerations: tolerateGpu }),
      lands: true,
    },
    {
      name: 'Equal toleration with the wrong value',
      pod: dsPod('p', { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'absent' }] }),
      lands: false,
    },
    {
      name: 'toleration for another effect',
      pod: dsPod('p', { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoExecute' }] }),
      lands: false,
    },
    {
      name: 'nodeSelector matches',
      pod: dsPod('p', { tolerations: tolerateGpu, nodeSelector: { 'kubernetes.io/os': 'linux' } }),
      lands: true,
    },
    {
      name: 'nodeSelector does not match',
      pod: dsPod('p', { tolerations: tolerateGpu, nodeSelector: { 'kubernetes.io/os': 'windows' } }),
      lands: false,
    },
    {
      name: 'affinity In / Exists / Gt',
      pod: dsPod('p', {
        tolerations: tolerateGpu,
        requiredAffinity: [
          {
            matchExpressions: [
              { key: 'kubernetes.io/arch', operator: 'In', values: ['amd64', 'arm64'] },
              { key: 'node-role.kubernetes.io/gpu', operator: 'Exists' },
              { key: 'cores', operator: 'Gt', values: ['4'] },
            ],
          },
        ],
      }),
      lands: true,
    },
    {
      name: 'affinity terms are ORed',
      pod: dsPod('p', {
        tolerations: tolerateGpu,
        requiredAffinity: [
          { matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['arm64'] }] },
          { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'NotIn', values: ['windows'] }] },
        ],
      }),
      lands: true,
    },
    {
      name: 'affinity DoesNotExist fails',
      pod: dsPod('p', {
        tolerations: tolerateGpu,
        requiredAffinity: [
          { matchExpressions: [{ key: 'node-role.kubernetes.io/gpu', operator: 'DoesNotExist' }] },
        ],
      }),
      lands: false,
    },
    {
      name: 'matchFields pinned to another node',
      pod: dsPod('p', {
        tolerations: tolerateGpu,
        requiredAffinity: [
          { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['md-gpu-abc'] }] },
        ],
      }),
      lands: false,
    },
    {
      name: 'empty affinity term matches nothing',
      pod: dsPod('p', { tolerations: tolerateGpu, requiredAffinity: [{}] }),
      lands: false,
    },
  ])('$name', ({ pod, lands }) => {
    expect(daemonSetPodsFor(node, [pod])).toEqual(lands ? [pod] : []);
  });

  it('a NoExecute taint needs a toleration too; PreferNoSchedule does not', () => {
    const n = simNode({ taints: [{ key: 'dedicated', value: 'batch', effect: 'NoExecute' }] });
    const pods = [
      dsPod('a'),
      dsPod('b', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'batch' }] }),
    ];
    expect(daemonSetPodsFor(n, pods).map((p) => p.name)).toEqual(['b']);
    expect(
      daemonSetPodsFor(simNode({ taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] }), pods),
    ).toHaveLength(2);
  });
});

describe('allocatableAfterDaemonSets', () => {
  it('subtracts requests and a pod slot for each landing DaemonSet pod', () => {
    const node = simNode({
      allocatable: { cpu: 4000, memory: 16 * GiB, pods: 110_000, 'ephemeral-storage': 100 * GiB },
    });
    const pods = [
      dsPod('kube-proxy', { requests: { cpu: 100, memory: 128 * MiB } }),
      dsPod('log-agent', { requests: { cpu: 200, memory: 256 * MiB, 'ephemeral-storage': GiB } }),
      dsPod('windows-only', { nodeSelector: { 'kubernetes.io/os': 'windows' }, requests: { cpu: 1000 } }),
      dsPod('gpu-plugin', { requests: { 'nvidia.com/gpu': 1000 } }), // the node has no GPU: stays absent
    ];
    expect(allocatableAfterDaemonSets(node, pods)).toEqual({
      cpu: 3700,
      memory: 16 * GiB - 384 * MiB,
      pods: 107_000,
      'ephemeral-storage': 99 * GiB,
    });
  });

  it('floors at zero', () => {
    const node = simNode({ allocatable: { cpu: 500, memory: GiB, pods: 1000 } });
    const pods = [dsPod('a', { requests: { cpu: 400 } }), dsPod('b', { requests: { cpu: 400 } })];
    expect(allocatableAfterDaemonSets(node, pods)).toEqual({ cpu: 0, memory: GiB, pods: 0 });
  });
});

describe('templateGroupOf', () => {
  it('reads the group fields off a MachineDeployment', () => {
    const md = {
      kind: 'MachineDeployment',
      meta: { name: 'md-gpu', namespace: 'team-a', annotations: { [CAPACITY.cpu]: '4' } },
      template: { labels: { 'node-role.kubernetes.io/gpu': '' }, failureDomain: 'zone-c' },
    } as unknown as MachineDeployment;
    expect(templateGroupOf(md)).toEqual({
      kind: 'MachineDeployment',
      namespace: 'team-a',
      name: 'md-gpu',
      annotations: { [CAPACITY.cpu]: '4' },
      templateLabels: { 'node-role.kubernetes.io/gpu': '' },
      failureDomain: 'zone-c',
    });
  });
});
