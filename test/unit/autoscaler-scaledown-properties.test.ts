// Properties of the scale-down decision over random clusters: min sizes and limits hold, every moved pod
// fits where it was sent (re-checked with fits()), nothing moves to a node that goes, only candidates go,
// and the plan depends on the input alone.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fits, NodeUsage } from '../../src/autoscaler/predicates.ts';
import {
  planScaleDown,
  SCALE_DOWN_REASON_CODES,
  type ClassifiedPod,
  type ScaleDownInput,
  type ScaleDownNode,
} from '../../src/autoscaler/scaledown.ts';
import type { SimPod } from '../../src/autoscaler/types.ts';
import { GI, group, GROUP, MIN, NOW, OTHER, simNode } from './fixtures/scale-down.ts';

const KINDS = ['evict', 'evict', 'evict', 'evict', 'daemon', 'mirror', 'finished', 'gone', 'block'] as const;
const arbPod = fc.record({
  cpu: fc.integer({ min: 0, max: 1500 }),
  mem: fc.integer({ min: 0, max: 6 }),
  kind: fc.constantFrom(...KINDS),
  port: fc.constantFrom(0, 0, 0, 80),
  zone: fc.constantFrom(undefined, undefined, undefined, 'a'),
  /** Pinned to node n<pin> by its hostname label. */
  pin: fc.constantFrom(-1, -1, -1, -1, -1, -1, 0, 1, 2),
  tolerates: fc.boolean(),
});
const arbNode = fc.record({
  cpu: fc.constantFrom(2, 4, 8),
  mem: fc.constantFrom(4, 8, 16),
  slots: fc.integer({ min: 1, max: 8 }),
  group: fc.constantFrom(GROUP, GROUP, OTHER, undefined),
  ready: fc.constantFrom(true, true, true, false),
  readyAgo: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
  owned: fc.constantFrom(false, false, false, false, true),
  disabled: fc.constantFrom(false, false, false, false, true),
  cordoned: fc.constantFrom(false, false, false, true),
  tainted: fc.constantFrom(false, false, false, true),
  zone: fc.constantFrom('a', 'b'),
  sinceAgo: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined, freq: 5 }),
  pods: fc.array(arbPod, { maxLength: 6 }),
});
const arbGroup = fc.record({
  minSize: fc.integer({ min: 0, max: 2 }),
  target: fc.integer({ min: 2, max: 10 }),
  pendingRemovals: fc.constantFrom(0, 0, 1, 2),
  threshold: fc.constantFrom(0.3, 0.5, 0.8),
  unneeded: fc.integer({ min: 0, max: 10 }),
  unready: fc.integer({ min: 0, max: 30 }),
  off: fc.constantFrom(false, false, false, true),
});
const arbInput = fc
  .record({
    nodes: fc.array(arbNode, { minLength: 1, maxLength: 10 }),
    groups: fc.tuple(arbGroup, arbGroup),
    cooldown: fc.constantFrom(undefined, undefined, undefined, 'scale-down-delay-after-add'),
    limits: fc.record({
      maxEmptyBulkDelete: fc.integer({ min: 1, max: 4 }),
      maxNonEmptyPerGroup: fc.integer({ min: 1, max: 3 }),
      maxTotal: fc.integer({ min: 1, max: 8 }),
    }),
  })
  .map((r): ScaleDownInput => {
    const since = new Map<string, number>();
    const nodes = r.nodes.map((n, i): ScaleDownNode => {
      const name = `n${i}`;
      if (n.sinceAgo !== undefined) since.set(name, NOW - n.sinceAgo * MIN);
      const taint = { key: 'dedicated', value: 'x', effect: 'NoSchedule' as const };
      const node = simNode(name, n.cpu, n.mem, {
        pods: n.slots,
        labels: { zone: n.zone },
        cordoned: n.cordoned,
        ...(n.tainted ? { taints: [taint] } : {}),
      });
      const pods = n.pods.map((p, k): ClassifiedPod => {
        const pod: SimPod = {
          namespace: 'demo-apps',
          name: `${name}-p${k}`,
          uid: `${name}-p${k}`,
          requests: { cpu: p.cpu, memory: (p.mem * GI) / 4 },
          nodeSelector: {
            ...(p.zone ? { zone: p.zone } : {}),
            ...(p.pin >= 0 ? { 'kubernetes.io/hostname': `n${p.pin}` } : {}),
          },
          tolerations: p.tolerates ? [{ key: 'dedicated', operator: 'Exists' }] : [],
          hostPorts: p.port ? [{ port: p.port, protocol: 'TCP' }] : [],
        };
        const action = {
          evict: 'evict',
          daemon: 'skip',
          mirror: 'skip',
          finished: 'delete',
          gone: 'skip',
          block: 'block',
        } as const;
        return {
          pod,
          action: action[p.kind],
          detail: p.kind,
          daemonSet: p.kind === 'daemon',
          mirror: p.kind === 'mirror',
        };
      });
      return {
        node,
        ...(n.group ? { group: n.group } : {}),
        ready: n.ready,
        ...(n.readyAgo !== undefined ? { readyChangedAt: NOW - n.readyAgo * MIN } : {}),
        scaleDownDisabled: n.disabled,
        ...(n.owned ? { owner: 'remediation' } : {}),
        pods,
      };
    });
    const groups = new Map(
      [GROUP, OTHER].map((id, i) => {
        const g = r.groups[i]!;
        const options = {
          scaleDownUtilizationThreshold: g.threshold,
          scaleDownUnneededTime: g.unneeded * MIN,
          scaleDownUnreadyTime: g.unready * MIN,
        };
        return [id, group({ ...g, options, ...(g.off ? { disabled: 'off' } : {}) })] as const;
      }),
    );
    return { nodes, groups, unneededSince: since, now: NOW, cooldown: r.cooldown, limits: r.limits };
  });

/**
 * Every node an autoscaled, idle-ish candidate that is removable now, limits wide open: pods can only
 * move onto other candidates, which is where "received pods in this loop" decides.
 */
const arbCrowd = arbInput.map((i): ScaleDownInput => {
  const nodes = i.nodes.map(({ owner: _o, ...n }) => ({
    ...n,
    group: GROUP,
    ready: true,
    scaleDownDisabled: false,
    pods: n.pods.filter((p) => p.action !== 'block'),
  }));
  const options = { scaleDownUtilizationThreshold: 1, scaleDownUnneededTime: 0, scaleDownUnreadyTime: 0 };
  return {
    ...i,
    nodes,
    groups: new Map([[GROUP, group({ minSize: 0, target: 20, options })]]),
    cooldown: undefined,
    limits: { maxEmptyBulkDelete: 20, maxNonEmptyPerGroup: 20, maxTotal: 20 },
  };
});
const arbAny = fc.oneof(arbInput, arbCrowd);

const RUNS = { numRuns: 400 };
const podKey = (p: SimPod) => `${p.namespace}/${p.name}`;

describe('planScaleDown properties', () => {
  it('never takes a group below its min size, and keeps within the limits', () => {
    fc.assert(
      fc.property(arbAny, (input) => {
        const plan = planScaleDown(input);
        let inFlight = 0;
        for (const g of input.groups.values()) inFlight += g.pendingRemovals;
        expect(plan.remove.length).toBeLessThanOrEqual(Math.max(0, input.limits.maxTotal - inFlight));
        expect(plan.remove.filter((r) => r.empty).length).toBeLessThanOrEqual(
          input.limits.maxEmptyBulkDelete,
        );
        for (const [id, g] of input.groups) {
          const mine = plan.remove.filter((r) => r.group === id);
          if (mine.length > 0)
            expect(g.target - g.pendingRemovals - mine.length).toBeGreaterThanOrEqual(g.minSize);
          const drained = mine.filter((r) => !r.empty).length;
          expect(drained).toBeLessThanOrEqual(input.limits.maxNonEmptyPerGroup!);
        }
        if (input.cooldown !== undefined) expect(plan.remove).toEqual([]);
      }),
      RUNS,
    );
  });

  it('every moved pod fits its destination given everything moved there; no removed node received pods', () => {
    fc.assert(
      fc.property(arbAny, (input) => {
        const plan = planScaleDown(input);
        const byName = new Map(input.nodes.map((n) => [n.node.name, n]));
        const pods = new Map(input.nodes.flatMap((n) => n.pods.map((p) => [podKey(p.pod), p.pod] as const)));
        const usage = new Map(
          input.nodes.map((n) => [
            n.node.name,
            NodeUsage.of(n.pods.filter((p) => p.action !== 'delete').map((p) => p.pod)),
          ]),
        );
        const gone = new Set(plan.remove.map((r) => r.node));
        for (const r of plan.remove) {
          const src = byName.get(r.node)!;
          const evicted = src.pods.filter((p) => p.action === 'evict').map((p) => podKey(p.pod));
          expect(r.empty).toBe(evicted.length === 0);
          expect(r.destinations.map((d) => d.pod).sort()).toEqual(evicted.sort());
          for (const d of r.destinations) {
            const to = byName.get(d.to)!;
            expect(gone.has(d.to)).toBe(false);
            expect(to.ready && to.owner === undefined).toBe(true);
            const pod = pods.get(d.pod)!;
            expect(fits(pod, to.node, usage.get(d.to)!)).toEqual({ fits: true });
            usage.get(d.to)!.add(pod);
          }
        }
      }),
      RUNS,
    );
  });

  it('only candidates unneeded long enough go; every other node has exactly one reason', () => {
    fc.assert(
      fc.property(arbAny, (input) => {
        const plan = planScaleDown(input);
        const names = input.nodes.map((n) => n.node.name).sort();
        expect([...plan.remove.map((r) => r.node), ...plan.kept.map((k) => k.node)].sort()).toEqual(names);
        expect([...plan.utilization.keys()].sort()).toEqual(names);
        for (const k of plan.kept) {
          expect(SCALE_DOWN_REASON_CODES).toContain(k.code);
          expect(k.reason.length).toBeGreaterThan(0);
        }
        for (const r of plan.remove) {
          const n = input.nodes.find((x) => x.node.name === r.node)!;
          const g = input.groups.get(n.group!)!;
          expect(g.disabled).toBeUndefined();
          expect(n.owner === undefined && !n.scaleDownDisabled).toBe(true);
          expect(n.pods.some((p) => p.action === 'block')).toBe(false);
          if (n.ready)
            expect(plan.utilization.get(r.node)!.value).toBeLessThan(g.options.scaleDownUtilizationThreshold);
          const wait = n.ready ? g.options.scaleDownUnneededTime : g.options.scaleDownUnreadyTime;
          expect(NOW - plan.unneededSince.get(r.node)!).toBeGreaterThanOrEqual(wait);
        }
        for (const name of plan.unneededSince.keys())
          expect([
            'utilization',
            'owned',
            'scale_down_disabled',
            'not_autoscaled',
            'group_disabled',
            'blocked_by_pod',
          ]).not.toContain(plan.kept.find((k) => k.node === name)?.code);
      }),
      RUNS,
    );
  });

  it('is deterministic: the same input, in any node order, gives the same plan', () => {
    fc.assert(
      fc.property(arbAny, fc.integer({ min: 0, max: 1000 }), (input, seed) => {
        const a = planScaleDown(input);
        expect(planScaleDown(input)).toEqual(a);
        const shuffled = [...input.nodes];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = (seed * (i + 7)) % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        expect(planScaleDown({ ...input, nodes: shuffled })).toEqual(a);
      }),
      RUNS,
    );
  });
});
