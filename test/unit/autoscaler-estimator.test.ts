// The estimator (first-fit decreasing over pod classes) and the expanders: table cases for the rules,
// properties for the guarantees (never a pod on a node it does not fit, never more nodes than allowed,
// same seed same choice).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimate, openNode, place, podClasses, roomFor, POD_SLOT } from '../../src/autoscaler/estimator.ts';
import {
  chooseOption,
  filterOptions,
  parsePriorities,
  wasteScore,
  type Option,
} from '../../src/autoscaler/expander.ts';
import type { SimNode, SimPod } from '../../src/autoscaler/types.ts';

const GI = 2 ** 30 * 1000;
const node = (cpu: number, memGi: number, extra: Record<string, number> = {}, pods = 110): SimNode => ({
  name: 'template-md',
  labels: {},
  taints: [],
  allocatable: { cpu: cpu * 1000, memory: memGi * GI, pods: pods * POD_SLOT, ...extra },
});
let n = 0;
const pod = (cpu: number, memGi: number, o: Partial<SimPod> = {}): SimPod => ({
  namespace: 'apps',
  name: `p${n++}`,
  uid: `u${n}`,
  requests: { cpu: cpu * 1000, memory: memGi * GI },
  nodeSelector: {},
  tolerations: [],
  hostPorts: [],
  ...o,
});
const replicas = (k: number, cpu: number, memGi: number, owner = 'web', o: Partial<SimPod> = {}) =>
  Array.from({ length: k }, () => pod(cpu, memGi, { ownerUid: owner, ...o }));
const anywhere = () => undefined;

describe('estimate', () => {
  it.each<[string, SimPod[], SimNode, number, { nodes: number; placed: number; reason?: RegExp }]>([
    ['nothing pending', [], node(4, 8), 10, { nodes: 0, placed: 0 }],
    ['4 pods of 2 CPU on 4-CPU nodes: 2 nodes', replicas(4, 2, 1), node(4, 8), 10, { nodes: 2, placed: 4 }],
    [
      '5 pods of 2 CPU: 3 nodes, the last half full',
      replicas(5, 2, 1),
      node(4, 8),
      10,
      { nodes: 3, placed: 5 },
    ],
    ['memory binds before cpu', replicas(6, 0.5, 3), node(4, 8), 10, { nodes: 3, placed: 6 }],
    [
      'max nodes caps it; the rest stay with a reason',
      replicas(10, 2, 1),
      node(4, 8),
      2,
      { nodes: 2, placed: 4, reason: /more than 2 new node/ },
    ],
    [
      'a pod bigger than the node never opens one',
      [pod(8, 1)],
      node(4, 8),
      10,
      { nodes: 0, placed: 0, reason: /Insufficient cpu/ },
    ],
    [
      'a GPU pod on a node without GPUs',
      [pod(1, 1, { requests: { cpu: 1000, 'nvidia.com/gpu': 1000 } })],
      node(4, 8),
      10,
      { nodes: 0, placed: 0, reason: /Insufficient nvidia.com\/gpu/ },
    ],
    ['pod slots bind: maxPods 3', replicas(7, 0.1, 0.1), node(4, 8, {}, 3), 10, { nodes: 3, placed: 7 }],
    [
      'a host port allows one per node',
      replicas(3, 0.1, 0.1, 'ds', { hostPorts: [{ port: 80, protocol: 'TCP' }] }),
      node(4, 8),
      10,
      { nodes: 3, placed: 3 },
    ],
  ])('%s', (_name, pods, template, max, want) => {
    const e = estimate(podClasses(pods), template, max, anywhere);
    expect(e.nodes).toBe(want.nodes);
    expect(e.placed).toHaveLength(want.placed);
    if (want.reason) expect(e.left.map((l) => l.reason).join('; ')).toMatch(want.reason);
    else expect(e.left).toEqual([]);
  });

  it('fills larger pods first and packs smaller ones into the gaps (first-fit decreasing)', () => {
    // 3 × 3 CPU + 3 × 1 CPU on 4-CPU nodes: 3 nodes, each 3 + 1.
    const e = estimate(
      podClasses([...replicas(3, 1, 0.5, 'small'), ...replicas(3, 3, 0.5, 'big')]),
      node(4, 8),
      10,
      anywhere,
    );
    expect(e.nodes).toBe(3);
    expect(e.placed).toHaveLength(6);
  });

  it('a static predicate failure keeps the whole class out with its reason', () => {
    const e = estimate(
      podClasses(replicas(3, 1, 1)),
      node(4, 8),
      10,
      () => 'node(s) had untolerated taint {nvidia.com/gpu: present}',
    );
    expect(e.nodes).toBe(0);
    expect(e.left).toEqual([
      {
        key: expect.any(String),
        pods: expect.any(Array),
        reason: expect.stringMatching(/untolerated taint/),
      },
    ]);
  });

  it('groups equivalent pods: one class per owner and shape', () => {
    const cs = podClasses([...replicas(50, 1, 1, 'a'), ...replicas(20, 2, 1, 'b'), pod(1, 1)]);
    expect(cs.map((c) => c.pods.length).sort((x, y) => x - y)).toEqual([1, 20, 50]);
  });

  const arbPod = fc.record({
    cpu: fc.integer({ min: 0, max: 6000 }),
    mem: fc.integer({ min: 0, max: 10 * 1024 }),
    gpu: fc.constantFrom(0, 0, 0, 1000),
    port: fc.constantFrom(0, 0, 0, 8080),
    owner: fc.constantFrom('a', 'b', 'c', 'd'),
  });

  it('never puts a pod on a node it does not fit, never opens more nodes than allowed', () => {
    fc.assert(
      fc.property(
        fc.array(arbPod, { maxLength: 60 }),
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 1, max: 12 }),
        (spec, max, maxPods) => {
          const pods = spec.map((s) =>
            pod(0, 0, {
              ownerUid: s.owner,
              requests: {
                cpu: s.cpu,
                memory: s.mem * 2 ** 20 * 1000,
                ...(s.gpu ? { 'nvidia.com/gpu': s.gpu } : {}),
              },
              hostPorts: s.port ? [{ port: s.port, protocol: 'TCP' }] : [],
            }),
          );
          const template = node(4, 8, { 'nvidia.com/gpu': 1000 }, maxPods);
          const e = estimate(podClasses(pods), template, max, anywhere);
          expect(e.nodes).toBeLessThanOrEqual(max);
          expect(e.placed.length + e.left.reduce((a, l) => a + l.pods.length, 0)).toBe(pods.length);
          // Replay the placement: a first-fit replay of exactly the placed pods must fit into e.nodes nodes.
          const nodes = Array.from({ length: e.nodes }, () => openNode(template));
          for (const p of e.placed) {
            const target = nodes.find((x) => roomFor(p, x) > 0);
            expect(target, `${JSON.stringify(p.requests)} fits somewhere`).toBeDefined();
            place(p, target!, 1);
          }
          for (const x of nodes) for (const v of Object.values(x.free)) expect(v).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is deterministic: the same pods in any order give the same estimate', () => {
    fc.assert(
      fc.property(fc.array(arbPod, { maxLength: 40 }), fc.integer(), (spec, seed) => {
        const pods = spec.map((s, i) =>
          pod(0, 0, { name: `d${i}`, ownerUid: s.owner, requests: { cpu: s.cpu, memory: s.mem } }),
        );
        const shuffled = fc.sample(fc.shuffledSubarray(pods, { minLength: pods.length }), {
          numRuns: 1,
          seed,
        })[0]!;
        const a = estimate(podClasses(pods), node(4, 8), 20, anywhere);
        const b = estimate(podClasses(shuffled), node(4, 8), 20, anywhere);
        expect(b.nodes).toBe(a.nodes);
        expect(b.placed.length).toBe(a.placed.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe('expanders', () => {
  const option = (id: string, nodes: number, placed: SimPod[], template = node(4, 8)): Option => ({
    id,
    nodes,
    placed,
    template,
  });
  const big = option('MachineDeployment/demo/md-big', 1, replicas(2, 2, 2), node(16, 64));
  const small = option('MachineDeployment/demo/md-small', 1, replicas(2, 2, 2), node(4, 8));
  const many = option('MachineDeployment/demo/md-many', 3, replicas(6, 2, 2), node(4, 8));

  it('least-waste picks the group whose new nodes idle least (cpu + memory shares)', () => {
    expect(wasteScore(small)).toBeCloseTo(0 + 0.5);
    expect(wasteScore(big)).toBeCloseTo(0.75 + 0.9375);
    expect(filterOptions('least-waste', [big, small]).kept).toEqual([small]);
  });

  it('most-pods picks the group placing the most pods', () => {
    expect(filterOptions('most-pods', [big, small, many]).kept).toEqual([many]);
  });

  it('priority: the highest matching priority wins; unmatched groups are dropped unless none matches', () => {
    const p = parsePriorities('10:\n  - .*small.*\n50:\n  - ^MachineDeployment/demo/md-big$\n');
    expect(filterOptions('priority', [small, big, many], p).kept).toEqual([big]);
    const only = parsePriorities('5:\n  - md-small\n');
    const r = filterOptions('priority', [small, many], only);
    expect(r.kept).toEqual([small]);
    expect(r.notes.join()).toMatch(/md-many matches no priority/);
    expect(filterOptions('priority', [big, many], only).kept).toEqual([big, many]);
  });

  it.each([
    ['not YAML', '10: [', /not YAML/],
    ['not a map', '- a', /must be a map/],
    ['a priority that is not an integer', 'high:\n  - a', /"high" is not an integer/],
    ['patterns not a list', '10: md-a', /must list regular expressions/],
    ['an invalid regular expression', '10:\n  - "md-("', /not a regular expression/],
  ])('rejects a priorities ConfigMap that is %s', (_n, raw, re) => {
    expect(() => parsePriorities(raw)).toThrow(re);
  });

  it('chooses deterministically for a seed, and only among the tied best', () => {
    const tiedA = option('MachineDeployment/demo/a', 1, replicas(2, 2, 4));
    const tiedB = option('MachineDeployment/demo/b', 1, replicas(2, 2, 4));
    const seq = (seed: number) => {
      let s = seed;
      return () => ((s = (s * 16807) % 2147483647) - 1) / 2147483646;
    };
    for (let seed = 1; seed < 50; seed++) {
      const a = chooseOption('least-waste', [big, tiedA, tiedB], seq(seed)).option!;
      const b = chooseOption('least-waste', [tiedB, big, tiedA], seq(seed)).option!;
      expect(a.id).toBe(b.id);
      expect([tiedA.id, tiedB.id]).toContain(a.id);
    }
    expect(chooseOption('random', [], Math.random).option).toBeUndefined();
  });
});
