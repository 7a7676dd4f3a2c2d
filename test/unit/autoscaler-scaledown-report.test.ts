// What a scale-down evaluation leaves besides its removals: the report (ScaleDownReporter.build), the
// gauges it publishes on a real prom-client registry (series of gone groups and reasons removed), the cut
// /status list, and the explain text (scaleDownLines).
import { describe, expect, it } from 'vitest';
import type { ScaleDownInputs } from '../../src/autoscaler/scaledown-inputs.ts';
import { reportHasNode, scaleDownLines } from '../../src/autoscaler/scaledown-explain.ts';
import { ScaleDownReporter, type ScaleDownReport } from '../../src/autoscaler/scaledown-report.ts';
import { planScaleDown, type Kept, type ScaleDownInput } from '../../src/autoscaler/scaledown.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { blocking, entry, evict, GROUP, input, MIN, NOW, OTHER, simNode } from './fixtures/scale-down.ts';

const C = 'capi-demo/prod';
const iso = (ms: number) => new Date(ms).toISOString();
const UNREADABLE: Kept = { node: 'z', code: 'unreadable', reason: 'node unreadable: node z: bad' };

/**
 * a: empty, unneeded for an hour (removed); b, c: blocked by a pod; d: busy, in OTHER; e: in no group;
 * f: empty, unneeded for 90 s only; z: unreadable (from the inputs).
 */
function setup(o: Partial<ScaleDownInput> = {}) {
  const nodes = [
    entry(simNode('a')),
    entry(simNode('b'), [blocking(0.1, 'bare pod', 'db-0')]),
    entry(simNode('c'), [blocking(0.1, 'bare pod', 'db-1')]),
    entry(simNode('d'), [evict(3, 1)], { group: OTHER }),
    entry(simNode('e'), [], { group: undefined }),
    entry(simNode('f')),
  ];
  const i = input(nodes, {
    unneededSince: new Map([
      ['a', NOW - 60 * MIN],
      ['f', NOW - 90_000],
    ]),
    ...o,
  });
  const plan = planScaleDown(i);
  const inputs: ScaleDownInputs = {
    nodes,
    groups: new Map(i.groups),
    machines: new Map(),
    unreadable: [UNREADABLE],
    pending: [],
    problems: ['Machine capi-demo/m-x unreadable: spec is missing'],
  };
  const metrics = createMetrics({ defaultMetrics: false });
  const reporter = new ScaleDownReporter(metrics);
  const value = async (name: string, labels: Record<string, string>) => {
    const m = metrics.registry.getSingleMetric(`capi_autopilot_${name}`)!;
    const v = (await m.get()).values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
    return v?.value;
  };
  const series = async (name: string) =>
    (await metrics.registry.getSingleMetric(`capi_autopilot_${name}`)!.get()).values.map(
      (v): Record<string, string | number | undefined> => ({ ...v.labels, value: v.value }),
    );
  const build = (b: { explain?: boolean; dryRun?: boolean; cooldown?: string; cluster?: string } = {}) =>
    reporter.build({
      cluster: b.cluster ?? C,
      now: new Date(NOW),
      dryRun: b.dryRun ?? false,
      explain: b.explain ?? false,
      plan,
      inputs,
      ...(b.cooldown !== undefined ? { cooldown: b.cooldown } : {}),
      removing: [{ node: 'r', group: GROUP, machine: 'm-r', since: NOW - 2 * MIN, empty: false }],
      lastFailure: { node: 'x', reason: 'drain timed out', at: NOW - 5 * MIN },
    });
  return { plan, inputs, reporter, build, value, series };
}

describe('ScaleDownReporter.build', () => {
  it('counts kept nodes per code, the unreadable ones from the inputs included', () => {
    const r = setup().build();
    expect(r.keptCounts).toEqual({
      blocked_by_pod: 2,
      utilization: 1,
      not_autoscaled: 1,
      unneeded_not_long_enough: 1,
      unreadable: 1,
    });
    expect(r.kept.map((k) => k.node)).toEqual(['b', 'c', 'd', 'e', 'f', 'z']);
    expect(r.kept.at(-1)).toEqual(UNREADABLE);
  });

  it('lists the unneeded nodes with their group, since when and for how long', () => {
    const r = setup().build();
    // Empty nodes: cpu and memory tie at 0, and on a tie memory is named (as upstream).
    expect(r.unneeded).toEqual([
      {
        node: 'a',
        group: GROUP,
        since: iso(NOW - 60 * MIN),
        for: '1h',
        utilization: 'memory utilization 0.00',
      },
      {
        node: 'f',
        group: GROUP,
        since: iso(NOW - 90_000),
        for: '1m30s',
        utilization: 'memory utilization 0.00',
      },
    ]);
    expect(r.assumption).toBeUndefined();
  });

  it('carries removals, removals in flight and the last failure, times in ISO', () => {
    const r = setup().build({ dryRun: true });
    expect(r).toMatchObject({
      cluster: C,
      at: iso(NOW),
      dryRun: true,
      removals: [
        { node: 'a', group: GROUP, empty: true, utilization: 'memory utilization 0.00', destinations: [] },
      ],
      removing: [{ node: 'r', group: GROUP, machine: 'm-r', since: iso(NOW - 2 * MIN), empty: false }],
      lastFailure: { node: 'x', reason: 'drain timed out', at: '2026-05-01T11:55:00.000Z' },
      problems: ['Machine capi-demo/m-x unreadable: spec is missing'],
    });
    expect(r.cooldown).toBeUndefined();
    expect(setup().build({ cooldown: 'after a scale-up' }).cooldown).toBe('after a scale-up');
  });

  it('explain: says what it assumes and lists no unneeded times (it has no history)', () => {
    const r = setup().build({ explain: true });
    expect(r.assumption).toMatch(/^explain has no history: every candidate is taken as unneeded long enough/);
    expect(r.unneeded).toEqual([]);
    expect(r.removals.map((x) => x.node)).toEqual(['a']);
  });
});

describe('ScaleDownReporter.publish', () => {
  it('sets unneeded_nodes per group (0 for a group with only kept nodes), unremovable_nodes per reason, cooldown', async () => {
    const s = setup();
    s.reporter.publish(s.build());
    expect(await s.series('unneeded_nodes')).toEqual(
      expect.arrayContaining([
        { cluster: C, node_group: GROUP, value: 2 },
        { cluster: C, node_group: OTHER, value: 0 },
      ]),
    );
    expect(await s.series('unneeded_nodes')).toHaveLength(2);
    expect(await s.series('unremovable_nodes')).toEqual(
      expect.arrayContaining([
        { cluster: C, reason: 'blocked_by_pod', value: 2 },
        { cluster: C, reason: 'utilization', value: 1 },
        { cluster: C, reason: 'not_autoscaled', value: 1 },
        { cluster: C, reason: 'unreadable', value: 1 },
      ]),
    );
    // An unneeded node waiting for its time is unneeded, not unremovable (as cluster-autoscaler counts).
    expect(await s.series('unremovable_nodes')).toHaveLength(4);
    expect(await s.value('scale_down_in_cooldown', { cluster: C })).toBe(0);
    s.reporter.publish(s.build({ cooldown: 'after a scale-up' }));
    expect(await s.value('scale_down_in_cooldown', { cluster: C })).toBe(1);
  });

  it('a later report without a reason or a group removes that series instead of leaving it', async () => {
    const s = setup();
    s.reporter.publish(s.build());
    const r = s.build();
    s.reporter.publish({
      ...r,
      unneeded: [],
      kept: r.kept.filter((k) => k.code !== 'blocked_by_pod' && k.group !== OTHER),
      keptCounts: { not_autoscaled: 1, unneeded_not_long_enough: 1, unreadable: 1 },
    });
    expect(await s.value('unremovable_nodes', { cluster: C, reason: 'blocked_by_pod' })).toBeUndefined();
    expect(await s.value('unremovable_nodes', { cluster: C, reason: 'utilization' })).toBeUndefined();
    expect(await s.value('unremovable_nodes', { cluster: C, reason: 'unreadable' })).toBe(1);
    expect(await s.value('unneeded_nodes', { cluster: C, node_group: OTHER })).toBeUndefined();
    // f is still kept in GROUP: its line drops to 0 instead of ending.
    expect(await s.value('unneeded_nodes', { cluster: C, node_group: GROUP })).toBe(0);
  });

  it('forget() removes every series of the cluster and its report, and only those', async () => {
    const s = setup();
    s.reporter.publish(s.build());
    s.reporter.publish(s.build({ cluster: 'other/c2' }));
    s.reporter.forget(C);
    for (const m of ['unneeded_nodes', 'unremovable_nodes', 'scale_down_in_cooldown'])
      expect((await s.series(m)).filter((x) => x.cluster === C)).toEqual([]);
    expect(await s.value('unremovable_nodes', { cluster: 'other/c2', reason: 'blocked_by_pod' })).toBe(2);
    expect(await s.value('scale_down_in_cooldown', { cluster: 'other/c2' })).toBe(0);
    expect(s.reporter.all().map((r) => r.cluster)).toEqual(['other/c2']);
  });
});

describe('ScaleDownReporter.all', () => {
  const many = (n: number) => {
    const nodes = Array.from({ length: n }, (_, i) =>
      entry(simNode(`n-${String(i).padStart(3, '0')}`), [], { group: undefined }),
    );
    const i = input(nodes);
    const inputs: ScaleDownInputs = {
      nodes,
      groups: new Map(),
      machines: new Map(),
      unreadable: [],
      pending: [],
      problems: [],
    };
    const reporter = new ScaleDownReporter(createMetrics({ defaultMetrics: false }));
    reporter.publish(
      reporter.build({
        cluster: C,
        now: new Date(NOW),
        dryRun: false,
        explain: false,
        plan: planScaleDown(i),
        inputs,
        removing: [],
      }),
    );
    return reporter.all();
  };

  it.each<[number, number, number | undefined]>([
    [100, 100, undefined],
    [101, 100, 1],
    [130, 100, 30],
  ])('%d kept nodes: %d listed, keptCut %s, counts whole', (n, listed, cut) => {
    const [r] = many(n);
    expect(r!.kept).toHaveLength(listed);
    expect(r!.keptCut).toBe(cut);
    expect(r!.keptCounts).toEqual({ not_autoscaled: n });
    expect(r!.kept[0]!.node).toBe('n-000');
  });
});

describe('scaleDownLines', () => {
  const BLOCKED_B =
    '    b (MachineDeployment/capi-demo/md-general): pod demo-apps/db-0 cannot be moved: bare pod [blocked_by_pod]';

  it('overview: being removed, removals, kept grouped by code, others counted, last failure', () => {
    expect(scaleDownLines(setup().build())).toEqual([
      'Scale-down:',
      '  Being removed:',
      `    r (${GROUP}, Machine m-r) since ${iso(NOW - 2 * MIN)}`,
      '  Removing:',
      `    a (${GROUP}): empty (nothing to move)`,
      '  Kept:',
      BLOCKED_B,
      `    c (${GROUP}): pod demo-apps/db-1 cannot be moved: bare pod [blocked_by_pod]`,
      `    d (${OTHER}): cpu utilization 0.75 ≥ threshold 0.5 [utilization]`,
      `    f (${GROUP}): unneeded for 1m30s of 10m (no pods to move) [unneeded_not_long_enough]`,
      '    z: node unreadable: node z: bad [unreadable]',
      '  1 other node(s) are not in an autoscaled node group',
      `  Last failure: x at ${iso(NOW - 5 * MIN)}: drain timed out`,
    ]);
  });

  it('dry run and explain: "Would remove", the assumption and the pause', () => {
    const lines = scaleDownLines(
      setup().build({ dryRun: true, explain: true, cooldown: 'after a scale-up' }),
    );
    expect(lines.slice(0, 3)).toEqual([
      'Scale-down:',
      expect.stringMatching(/^ {2}\(explain has no history: /),
      '  paused: after a scale-up',
    ]);
    expect(lines).toContain('  Would remove:');
    expect(lines).not.toContain('  Removing:');
  });

  it('nothing to remove says so', () => {
    const r = setup().build();
    expect(scaleDownLines({ ...r, removals: [] })).toContain('  Would remove: nothing');
  });

  const report = (kept: Kept[]): ScaleDownReport => {
    const keptCounts: Record<string, number> = {};
    for (const k of kept) keptCounts[k.code] = (keptCounts[k.code] ?? 0) + 1;
    return {
      cluster: C,
      at: iso(NOW),
      dryRun: false,
      removals: [],
      removing: [],
      unneeded: [],
      kept,
      keptCounts,
      problems: [],
    };
  };

  it('names at most 10 nodes per reason and counts the rest; not_autoscaled nodes only counted', () => {
    const kept: Kept[] = [
      ...Array.from({ length: 12 }, (_, i) => ({
        node: `m-${String(i).padStart(2, '0')}`,
        group: GROUP,
        code: 'min_size' as const,
        reason: 'at min',
      })),
      ...['x-1', 'x-2', 'x-3'].map((node) => ({
        node,
        code: 'not_autoscaled' as const,
        reason: 'not in an autoscaled node group',
      })),
      { node: 'y', group: OTHER, code: 'limit', reason: 'max reached' },
    ];
    const lines = scaleDownLines(report(kept));
    expect(lines.filter((l) => l.endsWith('[min_size]'))).toEqual([
      ...Array.from(
        { length: 10 },
        (_, i) => `    m-${String(i).padStart(2, '0')} (${GROUP}): at min [min_size]`,
      ),
      '    and 2 more [min_size]',
    ]);
    expect(lines.filter((l) => l.includes('x-'))).toEqual([]);
    expect(lines).toContain('  3 other node(s) are not in an autoscaled node group');
    expect(lines).toContain(`    y (${OTHER}): max reached [limit]`);
    // Exactly 10 of a reason: no "and 0 more".
    expect(scaleDownLines(report(kept.slice(2))).filter((l) => l.startsWith('    and'))).toEqual([]);
  });

  it.each([GROUP, 'capi-demo/md-general'])('--group %s: only that group, no other-node count', (g) => {
    const lines = scaleDownLines(setup().build(), { group: g });
    expect(lines).toContain(`    a (${GROUP}): empty (nothing to move)`);
    expect(lines).toContain(BLOCKED_B);
    expect(lines.some((l) => l.includes(OTHER))).toBe(false);
    expect(lines.some((l) => l.includes('z:'))).toBe(false);
    expect(lines.some((l) => l.includes('other node(s)'))).toBe(false);
  });

  it('--group of a group with nothing to remove', () => {
    const lines = scaleDownLines(setup().build(), { group: OTHER });
    expect(lines.slice(0, 4)).toEqual([
      'Scale-down:',
      '  Would remove: nothing',
      '  Kept:',
      `    d (${OTHER}): cpu utilization 0.75 ≥ threshold 0.5 [utilization]`,
    ]);
  });

  describe('--node', () => {
    it.each<[string, { dryRun?: boolean; explain?: boolean; cooldown?: string }, string[]]>([
      [
        'a kept node',
        {},
        ['Node b:', `  kept (${GROUP}): pod demo-apps/db-0 cannot be moved: bare pod [blocked_by_pod]`],
      ],
      [
        'a removed node',
        {},
        [
          'Node a:',
          `  removing from ${GROUP}: empty (nothing to move)`,
          `  unneeded for 1h (since ${iso(NOW - 60 * MIN)}), memory utilization 0.00`,
        ],
      ],
      [
        'a node a dry run would remove',
        { dryRun: true },
        [
          'Node a:',
          `  would be removed from ${GROUP}: empty (nothing to move)`,
          `  unneeded for 1h (since ${iso(NOW - 60 * MIN)}), memory utilization 0.00`,
        ],
      ],
      [
        'a node being removed',
        {},
        ['Node r:', `  being removed since ${iso(NOW - 2 * MIN)} (Machine m-r of ${GROUP})`],
      ],
      [
        'a kept node in explain',
        { explain: true },
        [
          'Node e:',
          expect.stringMatching(/^ {2}\(explain has no history/),
          '  kept: not in an autoscaled node group [not_autoscaled]',
        ],
      ],
      [
        'a kept node while paused',
        { cooldown: 'after a scale-up' },
        [
          'Node d:',
          `  kept (${OTHER}): cpu utilization 0.75 ≥ threshold 0.5 [utilization]`,
          '  scale-down is paused: after a scale-up',
        ],
      ],
    ])('%s', (_, b, expected) => {
      const r = setup().build(b);
      const name = (expected[0] as string).slice('Node '.length, -1);
      expect(scaleDownLines(r, { node: name })).toEqual(expected);
      expect(reportHasNode(r, name)).toBe(true);
    });

    it('a removal that moves pods names them, at most 5', () => {
      const pods = Array.from({ length: 6 }, (_, i) => evict(0.1, 0.1, { name: `w-${i}` }));
      const i = input([entry(simNode('g'), pods), entry(simNode('h'), [evict(3, 1)], { group: undefined })]);
      const reporter = new ScaleDownReporter(createMetrics({ defaultMetrics: false }));
      const r = reporter.build({
        cluster: C,
        now: new Date(NOW),
        dryRun: true,
        explain: false,
        plan: planScaleDown(i),
        inputs: {
          nodes: i.nodes as ScaleDownInputs['nodes'],
          groups: new Map(i.groups),
          machines: new Map(),
          unreadable: [],
          pending: [],
          problems: [],
        },
        removing: [],
      });
      const [, line] = scaleDownLines(r, { node: 'g' });
      expect(line).toBe(
        `  would be removed from ${GROUP}: cpu utilization 0.15; moves 6 pod(s): ` +
          'demo-apps/w-0 -> h, demo-apps/w-1 -> h, demo-apps/w-2 -> h, demo-apps/w-3 -> h, demo-apps/w-4 -> h, ...',
      );
    });

    it('a node the report does not know', () => {
      const r = setup().build();
      expect(scaleDownLines(r, { node: 'nope' })).toEqual(['Node nope:']);
      expect(reportHasNode(r, 'nope')).toBe(false);
    });
  });
});
