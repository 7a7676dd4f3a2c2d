// The scale-up decision over the sandbox demo's shape: md-general (4 CPU, 8 GiB), md-gpu (1 GPU, tainted),
// existing nodes with room, nodes being provisioned, limits, and the reasons a pod triggers nothing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { podMaker } from './fixtures/sim.ts';
import { POD_SLOT } from '../../src/autoscaler/estimator.ts';
import { staticFit } from '../../src/autoscaler/predicates.ts';
import {
  planScaleUp,
  type GroupCandidate,
  type Limits,
  type PlanInput,
} from '../../src/autoscaler/scaleup.ts';
import type { SimNode, SimPod, Taint } from '../../src/autoscaler/types.ts';

const GI = 2 ** 30 * 1000;
const GPU = 'nvidia.com/gpu';
const tmpl = (
  name: string,
  cpu: number,
  memGi: number,
  o: { gpu?: number; taints?: Taint[]; labels?: Record<string, string> } = {},
): SimNode => ({
  name,
  labels: o.labels ?? {},
  taints: o.taints ?? [],
  allocatable: {
    cpu: cpu * 1000,
    memory: memGi * GI,
    pods: 110 * POD_SLOT,
    ...(o.gpu ? { [GPU]: o.gpu * 1000 } : {}),
  },
});
const general = (o: Partial<GroupCandidate> = {}): GroupCandidate => ({
  id: 'MachineDeployment/capi-demo/md-general',
  minSize: 0,
  maxSize: 5,
  target: 0,
  upcoming: 0,
  template: tmpl('template-md-general', 4, 8),
  ...o,
});
const gpu = (o: Partial<GroupCandidate> = {}): GroupCandidate => ({
  id: 'MachineDeployment/capi-demo/md-gpu',
  minSize: 0,
  maxSize: 2,
  target: 0,
  upcoming: 0,
  template: tmpl('template-md-gpu', 8, 32, {
    gpu: 1,
    taints: [{ key: GPU, value: 'present', effect: 'NoSchedule' }],
  }),
  ...o,
});
const pod = podMaker('demo-apps');
const pods = (k: number, cpu: number, o: Partial<SimPod> = {}) =>
  Array.from({ length: k }, () => pod(cpu, o));
const gpuPod = (o: Partial<SimPod> = {}) =>
  pod(1, {
    ownerUid: 'trainer',
    requests: { cpu: 1000, memory: GI, [GPU]: 1000 },
    tolerations: [{ key: GPU, operator: 'Exists' }],
    ...o,
  });

const noLimits: Limits = {
  maxNodesTotal: 0,
  currentNodes: 1,
  maxCpuTotal: 0,
  currentCpu: 2000,
  maxMemoryTotal: 0,
  currentMemory: 4 * GI,
};
const plan = (o: Partial<PlanInput>) =>
  planScaleUp({
    pending: [],
    nodes: [],
    groups: [general(), gpu()],
    limits: noLimits,
    expander: 'least-waste',
    random: () => 0,
    now: 0,
    staticFit,
    ...o,
  });

describe('planScaleUp', () => {
  it('scales md-general from zero to the estimated count in one decision', () => {
    const p = plan({ pending: pods(5, 2) });
    expect(p.scaleUps.map((s) => [s.group.id, s.from, s.to, s.pods.length])).toEqual([
      ['MachineDeployment/capi-demo/md-general', 0, 3, 5],
    ]);
    expect(p.noScaleUp).toEqual([]);
  });

  it('GPU pods go only to md-gpu; pods without the toleration never trigger it', () => {
    const p = plan({ pending: [gpuPod(), gpuPod(), ...pods(2, 2)] });
    expect(p.scaleUps.map((s) => [s.group.id.split('/')[2], s.to, s.pods.length]).sort()).toEqual([
      ['md-general', 1, 2],
      ['md-gpu', 2, 2],
    ]);
    const big = plan({ groups: [gpu()], pending: pods(1, 6) });
    expect(big.scaleUps).toEqual([]);
    expect(big.noScaleUp[0]!.reasons['MachineDeployment/capi-demo/md-gpu']).toMatch(
      /untolerated taint \{nvidia.com\/gpu: present\}/,
    );
  });

  it('a pod no group can hold gets a reason from each group', () => {
    const p = plan({
      pending: [pod(16)],
      groups: [
        general(),
        gpu(),
        general({
          id: 'MachineDeployment/capi-demo/md-bad',
          disabled:
            'annotation cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size="x" is not an integer',
        }),
      ],
    });
    expect(p.scaleUps).toEqual([]);
    const r = p.noScaleUp[0]!.reasons;
    expect(r['MachineDeployment/capi-demo/md-general']).toMatch(/Insufficient cpu/);
    expect(r['MachineDeployment/capi-demo/md-gpu']).toMatch(/untolerated taint/);
    expect(r['MachineDeployment/capi-demo/md-bad']).toMatch(/not an integer/);
  });

  it('a disabled group is skipped while the others keep scaling', () => {
    const p = plan({
      pending: pods(2, 2),
      groups: [general({ id: 'MachineDeployment/capi-demo/md-bad', disabled: 'malformed' }), general()],
    });
    expect(p.scaleUps.map((s) => s.group.id)).toEqual(['MachineDeployment/capi-demo/md-general']);
  });

  it('a group in back-off is skipped and its pods are placed through another eligible group', () => {
    const p = plan({
      now: 1000,
      pending: pods(2, 2),
      groups: [general({ backoffUntil: 61_000 }), general({ id: 'MachineDeployment/capi-demo/md-other' })],
    });
    expect(p.scaleUps.map((s) => s.group.id)).toEqual(['MachineDeployment/capi-demo/md-other']);
  });

  it('a pod pinned to a node by name is checked against that node, not against a look-alike', () => {
    // Two nodes alike but for their hostname; the first is full, the pinned pod targets the second.
    const host = (name: string) => tmpl(name, 4, 8, { labels: { 'kubernetes.io/hostname': name } });
    const full = { node: host('node-a'), used: { cpu: 4000, memory: GI, pods: POD_SLOT }, ports: [] };
    const roomy = { node: host('node-b'), used: { cpu: 0, memory: 0, pods: 0 }, ports: [] };
    const bySelector = pod(1, { nodeSelector: { 'kubernetes.io/hostname': 'node-b' } });
    const byField = pod(1, {
      ownerUid: 'other',
      requiredAffinity: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-b'] }] }],
    });
    const p = plan({ pending: [bySelector, byField], nodes: [full, roomy] });
    expect(p.noScaleUp).toEqual([]);
    expect(p.scaleUps).toEqual([]);
    expect(p.waiting.map((w) => [w.pod.name, w.on])).toEqual([
      [bySelector.name, 'node node-b'],
      [byField.name, 'node node-b'],
    ]);
  });

  it('pods that fit existing nodes or nodes being provisioned trigger nothing (no double counting)', () => {
    const existing = {
      node: tmpl('node-a', 4, 8),
      used: { cpu: 2000, memory: GI, pods: POD_SLOT },
      ports: [],
    };
    const p = plan({ pending: pods(3, 2), nodes: [existing], groups: [general({ target: 1, upcoming: 1 })] });
    expect(p.scaleUps).toEqual([]);
    expect(p.waiting.map((w) => w.on)).toEqual([
      'node node-a',
      'a node of MachineDeployment/capi-demo/md-general being provisioned',
      'a node of MachineDeployment/capi-demo/md-general being provisioned',
    ]);
    const more = plan({
      pending: pods(5, 2),
      nodes: [existing],
      groups: [general({ target: 1, upcoming: 1 })],
    });
    expect(more.scaleUps.map((s) => [s.from, s.to])).toEqual([[1, 2]]);
  });

  it('caps at the group max, at max nodes total and at max cpu total, saying which', () => {
    const atMax = plan({ pending: pods(20, 2), groups: [general()] });
    expect(atMax.scaleUps[0]!.to).toBe(5);
    expect(atMax.noScaleUp[0]!.reasons['MachineDeployment/capi-demo/md-general']).toMatch(
      /at its max size 5/,
    );
    const total = plan({
      pending: pods(20, 2),
      groups: [general()],
      limits: { ...noLimits, maxNodesTotal: 3, currentNodes: 1 },
    });
    expect(total.scaleUps[0]!.to).toBe(2);
    expect(total.noScaleUp[0]!.reasons['MachineDeployment/capi-demo/md-general']).toMatch(
      /max nodes total 3/,
    );
    const cpu = plan({
      pending: pods(20, 2),
      groups: [general()],
      limits: { ...noLimits, maxCpuTotal: 14_000, currentCpu: 2000 },
    });
    expect(cpu.scaleUps[0]!.to).toBe(3);
  });

  it('without a template (malformed capacity), the group cannot scale from zero and says why', () => {
    const p = plan({
      pending: pods(1, 1),
      groups: [
        general({
          template: undefined,
          templateError:
            'annotation capacity.cluster-autoscaler.kubernetes.io/memory="500mb" is not a quantity',
        }),
      ],
    });
    expect(p.noScaleUp[0]!.reasons['MachineDeployment/capi-demo/md-general']).toMatch(/500mb/);
  });

  it('properties: never above max, never above the total limit, every pod accounted for exactly once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ cpu: fc.integer({ min: 1, max: 9 }), gpu: fc.boolean() }), { maxLength: 40 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 10 }),
        (spec, maxGeneral, target, maxTotal) => {
          const pending = spec.map((s) => (s.gpu ? gpuPod() : pod(s.cpu / 2)));
          const groups = [general({ maxSize: maxGeneral, target: Math.min(target, maxGeneral) }), gpu()];
          const p = plan({
            pending,
            groups,
            limits: { ...noLimits, maxNodesTotal: maxTotal, currentNodes: 1 },
          });
          for (const s of p.scaleUps) expect(s.to).toBeLessThanOrEqual(s.group.maxSize);
          const added = p.scaleUps.reduce((a, s) => a + s.to - s.from, 0);
          if (maxTotal > 0) expect(1 + added).toBeLessThanOrEqual(Math.max(1, maxTotal));
          const seen = [
            ...p.scaleUps.flatMap((s) => s.pods),
            ...p.waiting.map((w) => w.pod),
            ...p.noScaleUp.map((x) => x.pod),
          ].map((x) => x.uid);
          expect(seen.sort()).toEqual(pending.map((x) => x.uid).sort());
        },
      ),
      { numRuns: 300 },
    );
  });
});
