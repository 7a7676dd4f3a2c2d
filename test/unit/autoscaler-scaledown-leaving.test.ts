// planScaleDown with removals in progress (`leaving` nodes): their evictable pods need room on the nodes
// that stay, so the simulation places them before any removal of this loop. Every case is run with and
// without `leaving`, so a planner that ignores the field fails here.
import { describe, expect, it } from 'vitest';
import { planScaleDown, type ClassifiedPod, type ScaleDownPlan } from '../../src/autoscaler/scaledown.ts';
import {
  blocking,
  daemon,
  entry,
  evict,
  finished,
  GROUP,
  input,
  OTHER,
  simNode,
} from './fixtures/scale-down.ts';

const OWNER = 'this service (scale-down in progress)';
const keptOf = (p: ScaleDownPlan, node: string) => p.kept.find((k) => k.node === node);
const removed = (p: ScaleDownPlan) => p.remove.map((r) => r.node);
/** A node outside any group with `freeCpu` of its 4 cores left: a destination only. */
const dest = (name: string, freeCpu: number) =>
  entry(simNode(name), [evict(4 - freeCpu, 1)], { group: undefined });
/**
 * A node being removed by an earlier loop: owned, and (with `leaving`) its pods need a place. In another
 * group than the candidates, so the per-group drain limit stays out of these cases.
 */
const going = (name: string, pods: ClassifiedPod[], leaving: boolean) =>
  entry(simNode(name), pods, { group: OTHER, owner: OWNER, ...(leaving ? { leaving: true } : {}) });

describe('leaving nodes take room first', () => {
  // d has 1.5 cores free; the leaving node's 1.5-core pod and candidate c's 1.5-core pod both fit there,
  // but not together.
  const nodes = (leaving: boolean) => [
    going('l', [evict(1.5, 0.5)], leaving),
    entry(simNode('c'), [evict(1.5, 0.5)]),
    dest('d', 1.5),
  ];

  it.each([
    [false, ['c'], undefined],
    [true, [], 'no_place_for_pods'],
  ])('leaving=%s: removed %j, c kept with %s', (leaving, gone, code) => {
    const p = planScaleDown(input(nodes(leaving)));
    expect(removed(p)).toEqual(gone);
    expect(keptOf(p, 'c')?.code).toBe(code);
    expect(keptOf(p, 'l')).toMatchObject({ code: 'owned', reason: `owned by ${OWNER}` });
  });

  it('the kept candidate says which of its pods found no place and that the room is taken', () => {
    const p = planScaleDown(input(nodes(true)));
    const c = nodes(true)[1]!.pods[0]!.pod;
    expect(keptOf(p, 'c')!.reason).toMatch(
      new RegExp(`^pod ${c.namespace}/web-\\d+ cannot move: 0/2 nodes are available: `),
    );
    expect(keptOf(p, 'c')!.reason).toContain('1 Insufficient cpu');
    expect(keptOf(p, 'c')!.reason).toContain('1 node(s) owned by another operation');
  });

  it('a leaving node is never a destination itself', () => {
    // l has all the room c needs, but it is going away.
    const p = planScaleDown(input([going('l', [], true), entry(simNode('c'), [evict(1, 0.5)])]));
    expect(removed(p)).toEqual([]);
    expect(keptOf(p, 'c')).toMatchObject({ code: 'no_place_for_pods' });
    expect(keptOf(p, 'c')!.reason).toMatch(
      /0\/1 nodes are available: 1 node\(s\) owned by another operation$/,
    );
  });
});

describe('a candidate that takes a leaving node’s pods stays', () => {
  it.each([
    [false, ['c'], undefined, undefined],
    [true, [], 'received_pods', 'takes pods of l, being removed'],
  ])('leaving=%s: removed %j, c kept with %s', (leaving, gone, code, reason) => {
    // c is empty (a candidate) and the only place for l's pod.
    const p = planScaleDown(input([going('l', [evict(1, 0.5)], leaving), entry(simNode('c'))]));
    expect(removed(p)).toEqual(gone);
    expect(keptOf(p, 'c')?.code).toBe(code);
    expect(keptOf(p, 'c')?.reason).toBe(reason);
  });

  it('names every leaving node it takes pods of, sorted', () => {
    const p = planScaleDown(
      input([going('l2', [evict(1, 0.5)], true), going('l1', [evict(1, 0.5)], true), entry(simNode('c'))]),
    );
    expect(keptOf(p, 'c')).toMatchObject({
      code: 'received_pods',
      reason: 'takes pods of l1, l2, being removed',
    });
  });

  it('non-candidates are tried first: a leaving pod that fits on one spares the candidate', () => {
    const p = planScaleDown(input([going('l', [evict(1, 0.5)], true), entry(simNode('c')), dest('d', 2)]));
    expect(removed(p)).toEqual(['c']);
  });

  it('only evictable pods of a leaving node need room (DaemonSet, terminal and blocking pods do not)', () => {
    const pods = [daemon(1), finished(3), blocking(1, 'bare pod')];
    const p = planScaleDown(input([going('l', pods, true), entry(simNode('c'))]));
    expect(removed(p)).toEqual(['c']);
  });
});

describe('a leaving pod that fits nowhere', () => {
  it.each([false, true])('does not block unrelated removals (leaving=%s)', (leaving) => {
    const p = planScaleDown(
      input([
        // 10 cores fit on no 4-core node.
        going('l', [evict(10, 0.5)], leaving),
        entry(simNode('e')),
        entry(simNode('c'), [evict(1, 0.5)]),
        dest('d', 2),
      ]),
    );
    expect(removed(p)).toEqual(['e', 'c']);
    expect(p.remove[1]!.destinations).toEqual([{ pod: expect.stringMatching(/^demo-apps\/web-/), to: 'd' }]);
    expect(p.kept.map((k) => [k.node, k.code])).toEqual([
      ['d', 'not_autoscaled'],
      ['l', 'owned'],
    ]);
  });

  it('its other pods are still placed, one at a time, and take their room', () => {
    // The 10-core pod fails alone; the 1-core pod of l is placed on its own (one pod at a time) and
    // takes d's room, so c (1.5 cores) finds none.
    const p = planScaleDown(
      input([
        going('l', [evict(10, 0.5), evict(1, 0.5)], true),
        entry(simNode('c'), [evict(1.5, 0.5)]),
        dest('d', 2),
      ]),
    );
    expect(removed(p)).toEqual([]);
    expect(keptOf(p, 'c')).toMatchObject({ code: 'no_place_for_pods' });
  });
});

describe('leaving with nothing removable', () => {
  it('a leaving node alone changes nothing and reports the group’s nodes as before', () => {
    const p = planScaleDown(input([going('l', [evict(1, 0.5)], true)]));
    expect(p.remove).toEqual([]);
    expect(p.kept).toEqual([{ node: 'l', group: OTHER, code: 'owned', reason: `owned by ${OWNER}` }]);
  });
});

describe('a node that could not be read fully is no destination', () => {
  it.each([
    [undefined, ['c']],
    [{ code: 'unreadable' as const, reason: 'pod x/y could not be read' }, []],
  ])('d unremovable %j: removed %j', (unremovable, gone) => {
    // d has room for c's pod, but with an unreadable pod its room is unknown.
    const d = { ...dest('d', 2), ...(unremovable ? { unremovable } : {}) };
    const p = planScaleDown(input([entry(simNode('c'), [evict(1, 0.5)]), d]));
    expect(removed(p)).toEqual(gone);
    if (unremovable) expect(keptOf(p, 'c')!.reason).toMatch(/1 node\(s\) with something unreadable/);
  });
});

describe('drains in progress count against the per-group limit', () => {
  // c needs a drain and has room on d; a drain of l is running.
  const nodes = (group: string) => [
    entry(simNode('l'), [evict(0.5, 0.5)], { group, owner: OWNER, leaving: true }),
    entry(simNode('c'), [evict(1, 0.5)]),
    dest('d', 3),
  ];

  it.each([
    [OTHER, ['c'], undefined],
    [GROUP, [], 'limit'],
  ])('a drain running in %s: removed %j, c kept with %s', (group, gone, code) => {
    const p = planScaleDown(input(nodes(group)));
    expect(removed(p)).toEqual(gone);
    expect(keptOf(p, 'c')?.code).toBe(code);
    if (code)
      expect(keptOf(p, 'c')!.reason).toBe(
        `max 1 non-empty node removal(s) per node group at a time reached (l in ${GROUP})`,
      );
  });

  it('a larger limit lets the next drain start', () => {
    const p = planScaleDown(
      input(nodes(GROUP), { limits: { maxEmptyBulkDelete: 10, maxTotal: 10, maxNonEmptyPerGroup: 2 } }),
    );
    expect(removed(p)).toEqual(['c']);
  });

  it('an empty candidate is not held back by a running drain', () => {
    const p = planScaleDown(input([nodes(GROUP)[0]!, entry(simNode('e')), dest('d', 3)]));
    expect(removed(p)).toEqual(['e']);
  });
});

describe('pending pods take room first', () => {
  const pendingPod = () => evict(1.5, 0.5).pod;
  it.each([
    [[], ['c']],
    [[pendingPod()], []],
  ])('pending %#: removed %j', (pending, gone) => {
    // d has 1.5 cores free: room for c's pod or the pending pod, not both.
    const p = planScaleDown(input([entry(simNode('c'), [evict(1.5, 0.5)]), dest('d', 1.5)], { pending }));
    expect(removed(p)).toEqual(gone);
  });

  it('an empty node the pending pod would land on stays, saying so', () => {
    const p = planScaleDown(input([entry(simNode('e'))], { pending: [pendingPod()] }));
    expect(removed(p)).toEqual([]);
    expect(keptOf(p, 'e')).toMatchObject({
      code: 'received_pods',
      reason: 'takes pending pods the scheduler will place',
    });
  });
});
