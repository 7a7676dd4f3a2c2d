// What a decision leaves behind besides writes (report.ts): gauges per group and reason, series removed
// when their group goes, NodeGroupDisabled once per reason, and sizes-only looks that keep the last plan.
import { describe, expect, it } from 'vitest';
import type { Decision, GroupStatus } from '../../src/autoscaler/decision.ts';
import type { NodeGroup } from '../../src/autoscaler/nodegroups.ts';
import { DecisionReport } from '../../src/autoscaler/report.ts';
import type { EventRecorder } from '../../src/kube/events.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { decisionOf } from './fixtures/decisions.ts';

const C = 'fleet/c1';
const A = 'MachineDeployment/fleet/md-a';
const B = 'MachineDeployment/fleet/md-b';

const group = (id: string, o: Partial<GroupStatus> = {}): GroupStatus => ({
  id,
  min: 0,
  max: 5,
  target: 1,
  current: 1,
  ready: 1,
  upcoming: 0,
  state: 'ok',
  notes: [],
  ...o,
});
const decision = (o: Partial<Decision> = {}): Decision =>
  decisionOf({ cluster: C, groups: [group(A), group(B)], ...o });

function setup() {
  const metrics = createMetrics({ defaultMetrics: false });
  const events: string[] = [];
  const recorder = {
    record: async (ref: { name: string }, type: string, reason: string, message: string) =>
      void events.push(`${ref.name} ${type} ${reason} ${message}`),
  } as unknown as EventRecorder;
  const report = new DecisionReport(metrics, recorder, (id) => ({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'MachineDeployment',
    namespace: 'fleet',
    name: id.split('/')[2]!,
  }));
  const value = async (name: string, labels: Record<string, string>) => {
    const m = metrics.registry.getSingleMetric(`capi_autopilot_${name}`)!;
    const v = (await m.get()).values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
    return v?.value;
  };
  return { report, events, value };
}

const refusedBoth = {
  pod: 'apps/big',
  reasons: { [A]: 'Insufficient cpu on a new node', [B]: 'at its max size 5' },
  codes: { [A]: 'too_big_for_template' as const, [B]: 'max_size' as const },
};

describe('DecisionReport', () => {
  it('sets the group gauges and the per-reason refusals', async () => {
    const { report, value } = setup();
    report.publish(decision({ pendingPods: 2, noScaleUp: [refusedBoth, refusedBoth] }), []);
    expect(await value('node_group_target_size', { node_group: A })).toBe(1);
    expect(await value('node_group_max_size', { node_group: B })).toBe(5);
    expect(await value('node_group_healthy', { node_group: A })).toBe(1);
    expect(await value('unschedulable_pods', { cluster: C })).toBe(2);
    expect(await value('pods_without_scale_up', { node_group: A, reason: 'too_big_for_template' })).toBe(2);
    expect(await value('pods_without_scale_up', { node_group: B, reason: 'max_size' })).toBe(2);
  });

  it('removes the series of a group that is gone and of reasons no longer seen', async () => {
    const { report, value } = setup();
    report.publish(decision({ noScaleUp: [refusedBoth] }), []);
    report.publish(decision({ groups: [group(A)] }), []);
    expect(await value('node_group_target_size', { node_group: B })).toBeUndefined();
    expect(await value('pods_without_scale_up', { node_group: A })).toBeUndefined();
    expect(await value('node_group_target_size', { node_group: A })).toBe(1);
  });

  it('a sizes-only look updates sizes and keeps the last plan, reasons and template', async () => {
    const { report, value } = setup();
    const template = { allocatable: { cpu: '4' }, labels: 3, taints: [] };
    report.publish(
      decision({
        pendingPods: 1,
        groups: [group(A, { template, notes: ['template from capacity annotations'] }), group(B)],
        scaleUps: [{ group: A, from: 1, to: 2, pods: ['apps/p'], notes: [] }],
        noScaleUp: [refusedBoth],
      }),
      [],
    );
    report.publish(
      decision({
        at: '2026-11-26T10:05:00.000Z',
        pendingPods: 1,
        templatesBuilt: false,
        groups: [group(A, { target: 2 }), group(B)],
      }),
      [],
      true,
    );
    const last = report.last(C)!;
    // The reasons are as old as the decision; only sizes are newer.
    expect(last.at).toBe(decision().at);
    expect(last.sizesAt).toBe('2026-11-26T10:05:00.000Z');
    expect(last.scaleUps).toHaveLength(1);
    expect(last.noScaleUp).toEqual([refusedBoth]);
    expect(last.groups[0]).toMatchObject({
      target: 2,
      template,
      notes: ['template from capacity annotations'],
    });
    expect(await value('node_group_target_size', { node_group: A })).toBe(2);
    expect(await value('pods_without_scale_up', { node_group: B, reason: 'max_size' })).toBe(1);
  });

  it('a decision without templates (nothing pending) clears the reasons but keeps what templates told', async () => {
    const { report, value } = setup();
    const template = { allocatable: { cpu: '4' }, labels: 3, taints: [] };
    report.publish(
      decision({
        pendingPods: 1,
        groups: [
          group(A, { template }),
          group(B, { state: 'no-template', reason: 'bad cpu', code: 'no_template' }),
        ],
        noScaleUp: [refusedBoth],
      }),
      [],
    );
    report.publish(decision({ templatesBuilt: false }), []);
    const last = report.last(C)!;
    expect(last.noScaleUp).toEqual([]);
    expect(last.groups[0]!.template).toEqual(template);
    expect(last.groups[1]).toMatchObject({ state: 'no-template', reason: 'bad cpu' });
    expect(await value('pods_without_scale_up', { node_group: A })).toBeUndefined();
  });

  it('NodeGroupDisabled once per reason, again when the reason changes, and node_group_disabled', async () => {
    const { report, events, value } = setup();
    const disabledGroups = [{ key: A, disabledCode: 'InvalidBounds' }] as unknown as NodeGroup[];
    const off = (reason: string) =>
      decision({ groups: [group(A, { state: 'disabled', reason, code: 'disabled' }), group(B)] });
    report.publish(off('max-size "x" is not an integer'), disabledGroups);
    report.publish(off('max-size "x" is not an integer'), disabledGroups);
    expect(events).toEqual(['md-a Warning NodeGroupDisabled Not autoscaled: max-size "x" is not an integer']);
    expect(await value('node_group_disabled', { node_group: A, reason: 'InvalidBounds' })).toBe(1);
    expect(await value('node_group_healthy', { node_group: A })).toBe(0);
    report.publish(off('min-size "-1" is negative'), disabledGroups);
    expect(events).toHaveLength(2);
    // Fixed: the series goes; broken again with the first reason: a new event.
    report.publish(decision(), []);
    expect(await value('node_group_disabled', { node_group: A })).toBeUndefined();
    report.publish(off('max-size "x" is not an integer'), disabledGroups);
    expect(events).toHaveLength(3);
  });

  it('forget drops a cluster: its decision and every series', async () => {
    const { report, value } = setup();
    report.publish(decision({ pendingPods: 3, noScaleUp: [refusedBoth] }), []);
    report.forget(C);
    expect(report.last(C)).toBeUndefined();
    expect(await value('node_group_target_size', { node_group: A })).toBeUndefined();
    expect(await value('unschedulable_pods', { cluster: C })).toBeUndefined();
    expect(await value('pods_without_scale_up', { node_group: A })).toBeUndefined();
  });
});
