// `explain` as text: the overview, one pod, one node group; and how a group is named.
import { describe, expect, it } from 'vitest';
import { decisionOf } from './fixtures/decisions.ts';
import type { Decision } from '../../src/autoscaler/decision.ts';
import { explainLines, groupMatches } from '../../src/autoscaler/explain.ts';

const GENERAL = 'MachineDeployment/team-a/md-general';
const GPU = 'MachineDeployment/team-a/md-gpu';
const SOLO = 'MachineSet/team-a/ms-solo';
const IDLE = 'MachineDeployment/team-a/md-idle';
const MANUAL = 'MachineDeployment/team-a/md-manual';
const AT = '2026-05-01T12:00:00.000Z';

const TOO_BIG = 'Insufficient cpu on a new node';
const AT_MAX = 'at its max size 2';
const TAINT = 'node(s) had untolerated taint {nvidia.com/gpu: present}';
const BAD_MIN = 'min-size "x" is not an integer';

const D: Decision = {
  cluster: 'team-a/prod',
  at: AT,
  dryRun: true,
  pendingPods: 9,
  groups: [
    {
      id: GENERAL,
      min: 0,
      max: 5,
      target: 1,
      current: 1,
      ready: 1,
      upcoming: 0,
      state: 'ok',
      template: { allocatable: { cpu: '4', memory: '8Gi', pods: '110' }, labels: 3, taints: [] },
      notes: ['template from node n1', 'room for 2 DaemonSet pod(s) reserved on the template'],
    },
    {
      id: GPU,
      min: 0,
      max: 2,
      target: 2,
      current: 2,
      ready: 1,
      upcoming: 1,
      state: 'at-max',
      reason: AT_MAX,
      code: 'max_size',
      template: {
        allocatable: { cpu: '8', memory: '32Gi', 'nvidia.com/gpu': '1' },
        labels: 5,
        taints: ['nvidia.com/gpu=present:NoSchedule', 'spot:PreferNoSchedule'],
      },
      notes: [],
    },
    { id: SOLO, max: 3, target: 1, state: 'disabled', reason: BAD_MIN, code: 'disabled', notes: [] },
    { id: IDLE, min: 1, max: 4, target: 1, state: 'ok', notes: [] },
  ],
  ignored: [{ key: MANUAL, code: 'NotOptedIn', reason: 'no min-size/max-size annotations' }],
  scaleUps: [
    {
      group: GENERAL,
      from: 1,
      to: 3,
      pods: ['shop/web-0', 'shop/web-1', 'shop/web-2', 'shop/web-3'],
      notes: ['least-waste: md-general wastes least'],
    },
  ],
  waiting: [{ pod: 'shop/api-0', on: 'node n1' }],
  noScaleUp: [
    {
      pod: 'batch/big-0',
      reasons: { [GENERAL]: TOO_BIG, [GPU]: AT_MAX, [SOLO]: BAD_MIN },
      codes: { [GENERAL]: 'too_big_for_template', [GPU]: 'max_size', [SOLO]: 'disabled' },
    },
    {
      // the same reasons in another order: still the same line
      pod: 'batch/big-1',
      reasons: { [SOLO]: BAD_MIN, [GPU]: AT_MAX, [GENERAL]: TOO_BIG },
      codes: { [SOLO]: 'disabled', [GPU]: 'max_size', [GENERAL]: 'too_big_for_template' },
    },
    {
      // the same reason from md-general, another from md-gpu
      pod: 'batch/big-2',
      reasons: { [GENERAL]: TOO_BIG, [GPU]: TAINT, [SOLO]: BAD_MIN },
      codes: { [GENERAL]: 'too_big_for_template', [GPU]: 'untolerated_taint', [SOLO]: 'disabled' },
    },
  ],
  problems: ['pod shop/broken: spec.containers[0].resources.requests.cpu: "lots" is not a quantity'],
  templatesBuilt: true,
};

const HEAD = `Cluster team-a/prod: 9 pending pod(s), 4 node group(s); decision at ${AT} (no writes)`;
const PROBLEMS = ['Not considered (unreadable):', `  ${D.problems[0]}`];
const GENERAL_LINES = [
  `  ${GENERAL}  min 0 max 5 target 1 machines 1 ready 1  can scale up`,
  '      new node: cpu 4, memory 8Gi, pods 110',
  '      template from node n1',
  '      room for 2 DaemonSet pod(s) reserved on the template',
];
const GPU_LINES = [
  `  ${GPU}  min 0 max 2 target 2 machines 2 ready 1  at-max: ${AT_MAX}`,
  '      new node: cpu 8, memory 32Gi, nvidia.com/gpu 1; taints nvidia.com/gpu=present:NoSchedule, spot:PreferNoSchedule',
];
const SOLO_LINES = [`  ${SOLO}  max 3 target 1  disabled: ${BAD_MIN}`];
const IDLE_LINES = [`  ${IDLE}  min 1 max 4 target 1  can scale up`];
const SCALE_UP = `1 -> 3 for 4 pod(s): shop/web-0, shop/web-1, shop/web-2, … (1 more) (least-waste: md-general wastes least)`;

describe('explainLines: overview', () => {
  it('groups, ignored objects, scale-ups, waiting pods, refusals grouped by reasons, problems', () => {
    expect(explainLines(D)).toEqual([
      HEAD,
      'Node groups:',
      ...GENERAL_LINES,
      ...GPU_LINES,
      ...SOLO_LINES,
      ...IDLE_LINES,
      'Not node groups:',
      `  ${MANUAL}: no min-size/max-size annotations (NotOptedIn)`,
      'Would scale up:',
      `  ${GENERAL} ${SCALE_UP}`,
      'Waiting for room that exists or is coming:',
      '  shop/api-0 on node n1',
      'No scale-up possible:',
      '  batch/big-0 and 1 more with the same reasons:',
      `    ${GENERAL}: ${TOO_BIG}`,
      `    ${GPU}: ${AT_MAX}`,
      `    ${SOLO}: ${BAD_MIN}`,
      '  batch/big-2:',
      `    ${GENERAL}: ${TOO_BIG}`,
      `    ${GPU}: ${TAINT}`,
      `    ${SOLO}: ${BAD_MIN}`,
      ...PROBLEMS,
    ]);
  });

  it('nothing to do, no groups, writes allowed', () => {
    const empty = decisionOf({ cluster: D.cluster, at: D.at });
    expect(explainLines(empty)).toEqual([
      `Cluster team-a/prod: 0 pending pod(s), 0 node group(s); decision at ${AT}`,
      'Node groups:',
      '  none',
      'Nothing to do.',
    ]);
  });

  it('only waiting pods: no "Nothing to do."', () => {
    const waiting: Decision = { ...D, groups: [], scaleUps: [], noScaleUp: [], ignored: [], problems: [] };
    expect(explainLines(waiting).slice(1)).toEqual([
      'Node groups:',
      '  none',
      'Waiting for room that exists or is coming:',
      '  shop/api-0 on node n1',
    ]);
  });

  it('a pod refused with no node group at all; short pod lists print whole', () => {
    const d: Decision = {
      ...D,
      groups: [],
      ignored: [],
      scaleUps: [{ group: GENERAL, from: 0, to: 1, pods: ['a/1', 'a/2', 'a/3'], notes: [] }],
      waiting: [],
      noScaleUp: [{ pod: 'a/4', reasons: {}, codes: {} }],
      problems: [],
    };
    expect(explainLines(d).slice(1)).toEqual([
      'Node groups:',
      '  none',
      'Would scale up:',
      `  ${GENERAL} 0 -> 1 for 3 pod(s): a/1, a/2, a/3`,
      'No scale-up possible:',
      '  a/4:',
      '    no node group',
    ]);
  });
});

describe('explainLines --pod', () => {
  const pod = (name: string, group?: string, notPlanned?: string) =>
    explainLines(D, { pod: name, ...(group !== undefined ? { group } : {}) }, notPlanned);

  it('a pod a scale-up is for', () => {
    expect(pod('shop/web-3')).toEqual([
      HEAD,
      `shop/web-3: would trigger a scale-up of ${GENERAL} 1 -> 3 (least-waste: md-general wastes least)`,
      ...PROBLEMS,
    ]);
  });

  it('a pod waiting for room', () => {
    expect(pod('shop/api-0')).toEqual([HEAD, 'shop/api-0: fits on node n1; no scale-up needed', ...PROBLEMS]);
  });

  it('a pod no group takes: every group’s reason, in the decision’s order', () => {
    expect(pod('batch/big-1')).toEqual([
      HEAD,
      'batch/big-1: no node group can take it:',
      `  ${SOLO}: ${BAD_MIN}`,
      `  ${GPU}: ${AT_MAX}`,
      `  ${GENERAL}: ${TOO_BIG}`,
      ...PROBLEMS,
    ]);
  });

  it.each([['team-a/md-gpu'], [GPU]])('narrowed to one group (%s)', (group) => {
    expect(pod('batch/big-2', group)).toEqual([
      HEAD,
      'batch/big-2: no node group can take it:',
      `  ${GPU}: ${TAINT}`,
      ...PROBLEMS,
    ]);
  });

  it('a pod with no node group in the cluster', () => {
    const d: Decision = { ...D, problems: [], noScaleUp: [{ pod: 'a/x', reasons: {}, codes: {} }] };
    expect(explainLines(d, { pod: 'a/x' })).toEqual([
      HEAD,
      'a/x: no node group can take it:',
      '  no node group in this cluster',
    ]);
  });

  it('narrowed to a group that gave no reason: does not claim the cluster has no node group', () => {
    expect(pod('batch/big-0', 'team-a/md-other')).toEqual([
      HEAD,
      'batch/big-0: no node group can take it:',
      '  no reason from team-a/md-other: not a node group of this cluster',
      ...PROBLEMS,
    ]);
  });

  it('the group filter does not hide a scale-up or a waiting pod', () => {
    expect(pod('shop/web-0', 'team-a/md-gpu')[1]).toBe(
      `shop/web-0: would trigger a scale-up of ${GENERAL} 1 -> 3 (least-waste: md-general wastes least)`,
    );
    expect(pod('shop/api-0', 'team-a/md-gpu')[1]).toBe('shop/api-0: fits on node n1; no scale-up needed');
  });

  it('a pod that is not planned says why; an unknown pod is not found', () => {
    expect(pod('shop/done', undefined, 'bound to node n1: nothing to do')).toEqual([
      HEAD,
      'shop/done: bound to node n1: nothing to do',
      ...PROBLEMS,
    ]);
    expect(pod('shop/ghost')).toEqual([HEAD, 'shop/ghost: not found in this workload cluster', ...PROBLEMS]);
  });

  it('a pod in the decision ignores the not-planned text', () => {
    expect(pod('shop/api-0', undefined, 'stale')[1]).toBe('shop/api-0: fits on node n1; no scale-up needed');
  });

  it('scale-ups without notes print no parentheses', () => {
    const d: Decision = { ...D, problems: [], scaleUps: [{ ...D.scaleUps[0]!, notes: [] }] };
    expect(explainLines(d, { pod: 'shop/web-0' })).toEqual([
      HEAD,
      `shop/web-0: would trigger a scale-up of ${GENERAL} 1 -> 3`,
    ]);
  });
});

describe('explainLines --group', () => {
  const group = (g: string) => explainLines(D, { group: g });

  it.each([['team-a/md-general'], [GENERAL]])('a group that scales up and refuses pods (%s)', (g) => {
    expect(group(g)).toEqual([
      HEAD,
      ...GENERAL_LINES,
      `Would scale up ${SCALE_UP}`,
      'Pending pods it would not take:',
      // only this group's reason counts: all three pods share it
      '  batch/big-0 and 2 more with the same reasons:',
      `    ${GENERAL}: ${TOO_BIG}`,
      ...PROBLEMS,
    ]);
  });

  it('refused pods are grouped by this group’s reason only', () => {
    expect(group('team-a/md-gpu')).toEqual([
      HEAD,
      ...GPU_LINES,
      'Pending pods it would not take:',
      '  batch/big-0 and 1 more with the same reasons:',
      `    ${GPU}: ${AT_MAX}`,
      '  batch/big-2:',
      `    ${GPU}: ${TAINT}`,
      ...PROBLEMS,
    ]);
  });

  it('a MachineSet by its full id', () => {
    expect(group(SOLO)).toEqual([
      HEAD,
      ...SOLO_LINES,
      'Pending pods it would not take:',
      '  batch/big-0 and 2 more with the same reasons:',
      `    ${SOLO}: ${BAD_MIN}`,
      ...PROBLEMS,
    ]);
  });

  it('a group no pending pod concerns', () => {
    expect(group('team-a/md-idle')).toEqual([
      HEAD,
      ...IDLE_LINES,
      'No pending pod concerns it.',
      ...PROBLEMS,
    ]);
  });

  it.each([['team-a/md-manual'], [MANUAL]])('an ignored object says why it is not a group (%s)', (g) => {
    expect(group(g)).toEqual([
      HEAD,
      `${MANUAL} is not a node group: no min-size/max-size annotations (NotOptedIn)`,
      ...PROBLEMS,
    ]);
  });

  it.each([['team-a/md-nope'], ['md-general'], ['MachineSet/team-a/md-general'], ['other/md-general']])(
    'an unknown group (%s)',
    (g) => {
      expect(group(g)).toEqual([HEAD, `no node group ${g} here`, ...PROBLEMS]);
    },
  );

  it('--pod wins over --group', () => {
    expect(explainLines(D, { pod: 'shop/api-0', group: 'team-a/md-idle' })[1]).toBe(
      'shop/api-0: fits on node n1; no scale-up needed',
    );
  });
});

describe('groupMatches', () => {
  it.each<[string, string, boolean]>([
    ['MachineDeployment/ns/a', 'MachineDeployment/ns/a', true],
    ['MachineDeployment/ns/a', 'ns/a', true],
    ['MachineSet/ns/a', 'ns/a', true],
    ['MachineSet/ns/a', 'MachineSet/ns/a', true],
    ['MachineDeployment/ns/a', 'MachineSet/ns/a', false],
    ['MachineDeployment/ns/a', 'a', false],
    ['MachineDeployment/ns/a', 'ns', false],
    ['MachineDeployment/ns/a', 'ns/ab', false],
    ['MachineDeployment/ns/ab', 'ns/a', false],
    ['MachineDeployment/ns/a', 'other/a', false],
    ['MachineDeployment/ns/a', 'ns/A', false],
    ['MachineDeployment/ns/a', '/ns/a', false],
    ['MachineDeployment/ns/a', '', false],
  ])('%s ~ %s: %s', (id, wanted, expected) => {
    expect(groupMatches(id, wanted)).toBe(expected);
  });
});
