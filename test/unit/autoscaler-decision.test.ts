// The decision record and its reason codes: every reason text the planner can produce has a code other
// than 'other'; group states, counts, notes and the plan's mapping; refusals and the /status cut.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { simNode } from './fixtures/scale-down.ts';
import { podMaker } from './fixtures/sim.ts';
import {
  abridged,
  buildDecision,
  reasonCode,
  REASON_CODES,
  refusals,
  type Decision,
  type DecisionInput,
  type GroupStatus,
  type ReasonCode,
} from '../../src/autoscaler/decision.ts';
import {
  discoverNodeGroups,
  OPTION_ANNOTATION_PREFIX,
  type NodeGroup,
} from '../../src/autoscaler/nodegroups.ts';
import {
  fits,
  insufficientReason,
  REASON_HOST_PORTS,
  REASON_NODE_AFFINITY,
  REASON_TOO_MANY_PODS,
  REASON_UNSCHEDULABLE,
  staticFit,
  untoleratedTaintReason,
  type NodeUsed,
} from '../../src/autoscaler/predicates.ts';
import {
  planScaleUp,
  type GroupCandidate,
  type Limits,
  type Plan,
  type PlanInput,
} from '../../src/autoscaler/scaleup.ts';
import { CAPACITY, templateNode } from '../../src/autoscaler/template.ts';
import type { SimNode, SimPod, Taint } from '../../src/autoscaler/types.ts';
import { parseNodeGroupSize } from '../../src/capi/node-group-size.ts';
import { DEFAULT_CONFIG } from '../../src/config/schema.ts';
import { metaJson, NS } from './fixtures/capi-common.ts';
import { bounds, scalable, type ScalableOptions } from './fixtures/node-groups.ts';
import { decisionOf } from './fixtures/decisions.ts';

const GI = 2 ** 30 * 1000; // milli-bytes
const GPU = 'nvidia.com/gpu';
const NOW = new Date('2026-05-01T12:00:00Z');
const T = NOW.getTime();
const MIN = 60_000;
const key = (name: string) => `MachineDeployment/${NS}/${name}`;
const GPU_TAINT: Taint = { key: GPU, value: 'present', effect: 'NoSchedule' };

// ---- scheduling fixtures (as autoscaler-scaleup.test.ts) ----

// A template node: the scale-down fixtures' node without its hostname label.
const tmpl = (cpu: number, memGi: number, o: Parameters<typeof simNode>[3] = {}): SimNode => ({
  ...simNode('template', cpu, memGi, o),
  labels: o.labels ?? {},
});
const cand = (name: string, o: Partial<GroupCandidate> = {}): GroupCandidate => ({
  id: key(name),
  minSize: 0,
  maxSize: 5,
  target: 0,
  upcoming: 0,
  template: tmpl(4, 8),
  ...o,
});
const gpuCand = (o: Partial<GroupCandidate> = {}) =>
  cand('md-gpu', { maxSize: 2, template: tmpl(8, 32, { gpu: 1, taints: [GPU_TAINT] }), ...o });

const pod = podMaker('apps');
const pods = (k: number, cpu: number, o: Partial<SimPod> = {}) =>
  Array.from({ length: k }, () => pod(cpu, o));

const noLimits: Limits = {
  maxNodesTotal: 0,
  currentNodes: 0,
  maxCpuTotal: 0,
  currentCpu: 0,
  maxMemoryTotal: 0,
  currentMemory: 0,
};
const plan = (o: Partial<PlanInput>): Plan =>
  planScaleUp({
    pending: [],
    nodes: [],
    groups: [cand('md-a')],
    limits: noLimits,
    expander: 'least-waste',
    random: () => 0,
    now: T,
    staticFit,
    ...o,
  });

// ---- node group fixtures (discovery, as autoscaler-inputs.test.ts) ----

const md = (name: string, o: Omit<ScalableOptions, 'owner'> = {}) =>
  scalable('MachineDeployment', name, { annotations: bounds('0', '5'), ...o });

function discover(machineDeployments: unknown[]): NodeGroup[] {
  const r = discoverNodeGroups({
    clusters: [
      { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', metadata: metaJson('prod'), spec: {} },
    ],
    machineDeployments,
    machineSets: [],
    discovery: [],
    defaults: DEFAULT_CONFIG.autoscaler,
  });
  return r.groups;
}

/** The discovered group of each candidate: same name, bounds and replicas. */
const groupsFor = (cands: readonly GroupCandidate[]): NodeGroup[] =>
  discover(
    cands.map((c) =>
      md(c.id.split('/')[2]!, {
        replicas: c.target,
        annotations: bounds(String(c.minSize), String(c.maxSize)),
      }),
    ),
  );

function decisionInput(o: Partial<DecisionInput> = {}): DecisionInput {
  return {
    cluster: `${NS}/prod`,
    now: NOW,
    dryRun: false,
    pendingPods: 0,
    groups: [],
    ignored: [],
    candidates: [],
    counts: new Map(),
    notes: [],
    templates: true,
    plan: { scaleUps: [], waiting: [], noScaleUp: [] },
    problems: [],
    ...o,
  };
}

/** The decision for a plan over `cands`, as the controller builds it. */
function decide(cands: readonly GroupCandidate[], p: Plan, o: Partial<DecisionInput> = {}): Decision {
  return buildDecision(decisionInput({ groups: groupsFor(cands), candidates: cands, plan: p, ...o }));
}

// ---- real texts ----

const errorOf = (r: { error: string } | object): string => {
  if (!('error' in r)) throw new Error('expected an error');
  return r.error;
};
const DISABLED_MIN = errorOf(parseNodeGroupSize('min-size', 'x'));
/** A capacity annotation that is no quantity: the template cannot be built. */
const TEMPLATE_ERROR = errorOf(
  templateNode({
    group: {
      kind: 'MachineDeployment',
      namespace: NS,
      name: 'md-a',
      annotations: { [CAPACITY.cpu]: '2', [CAPACITY.memory]: '500mb' },
      templateLabels: {},
    },
  }),
);
/** Nothing to build a template from at all. */
const TEMPLATE_MISSING = errorOf(
  templateNode({
    group: { kind: 'MachineDeployment', namespace: NS, name: 'md-a', annotations: {}, templateLabels: {} },
  }),
);
// Built inline in controller.ts (decide); written out here the same way.
const FIGHT = `another writer changed spec.replicas 3 times, last at ${new Date(T - MIN).toISOString()}: not fighting it`;
const BACKOFF = `in back-off after a failed scale-up until ${new Date(T + 5 * MIN).toISOString()}`;

describe('reasonCode: the predicates’ own texts', () => {
  const taint: Taint = { key: 'dedicated', value: 'db', effect: 'NoExecute' };
  it.each<[string, ReasonCode]>([
    [REASON_UNSCHEDULABLE, 'node_unschedulable'],
    [REASON_NODE_AFFINITY, 'node_selector_mismatch'],
    [REASON_HOST_PORTS, 'host_ports'],
    [REASON_TOO_MANY_PODS, 'too_many_pods'],
    [insufficientReason('cpu'), 'insufficient_cpu'],
    [insufficientReason('memory'), 'insufficient_memory'],
    [insufficientReason('ephemeral-storage'), 'insufficient_ephemeral_storage'],
    [insufficientReason(GPU), 'insufficient_extended_resource'],
    [insufficientReason('hugepages-2Mi'), 'insufficient_extended_resource'],
    [untoleratedTaintReason(GPU_TAINT), 'untolerated_taint'],
    [untoleratedTaintReason(taint), 'untolerated_taint'],
    [
      untoleratedTaintReason({ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }),
      'untolerated_taint',
    ],
  ])('%s -> %s', (text, code) => {
    expect(reasonCode(text)).toBe(code);
  });

  // The same texts as fits() returns them for real pods and nodes.
  const node = (o: Partial<SimNode> = {}): SimNode => ({ ...tmpl(4, 8, { labels: { zone: 'a' } }), ...o });
  const idle: NodeUsed = { requests: {}, pods: 0, hostPorts: [] };
  it.each<[string, SimPod, SimNode, NodeUsed, ReasonCode]>([
    ['cordoned', pod(1), node({ unschedulable: true }), idle, 'node_unschedulable'],
    ['tainted', pod(1), node({ taints: [GPU_TAINT] }), idle, 'untolerated_taint'],
    ['selector', pod(1, { nodeSelector: { zone: 'b' } }), node(), idle, 'node_selector_mismatch'],
    [
      'host port taken',
      pod(1, { hostPorts: [{ port: 80, protocol: 'TCP' }] }),
      node(),
      { ...idle, hostPorts: [{ port: 80, protocol: 'TCP' }] },
      'host_ports',
    ],
    ['pod slots', pod(1), node(), { ...idle, pods: 110 }, 'too_many_pods'],
    ['cpu', pod(3), node(), { ...idle, requests: { cpu: 2000 } }, 'insufficient_cpu'],
    ['memory', pod(1), node(), { ...idle, requests: { memory: 7.5 * GI } }, 'insufficient_memory'],
    [
      'ephemeral-storage',
      pod(1, { requests: { cpu: 1000, 'ephemeral-storage': 1000 } }),
      node(),
      idle,
      'insufficient_ephemeral_storage',
    ],
    ['gpu', pod(1, { requests: { cpu: 1000, [GPU]: 1000 } }), node(), idle, 'insufficient_extended_resource'],
  ])('fits(): %s', (_, p, nd, used, code) => {
    const r = fits(p, nd, used);
    if (r.fits) throw new Error('expected no fit');
    expect(reasonCode(r.reason)).toBe(code);
  });
});

describe('reasonCode: texts scaleup.ts appends to the estimator’s', () => {
  // The estimator's "would need more than N new node(s)" (built inside estimator.ts pack), with the binding
  // limit scaleup.ts appends in parentheses. Random plans never leave it in the final reasons (a group that
  // could still add a node is always an option), so these are written out.
  const raw = 'would need more than 2 new node(s)';
  it.each<[string, ReasonCode]>([
    ['max size 5', 'max_size'],
    ['max nodes total 12 reached', 'max_nodes_total'],
    ['max cpu total reached', 'max_cpu_total'],
    ['max memory total reached', 'max_memory_total'],
  ])(`"${raw} (%s)"`, (room, code) => {
    expect(reasonCode(`${raw} (${room})`)).toBe(code);
  });
  it('the bare estimator text is not a code of its own', () => {
    expect(reasonCode(raw)).toBe('other');
  });
});

describe('reasonCode: known texts', () => {
  it('disabled and template-error texts are only known through the sets', () => {
    expect(reasonCode(DISABLED_MIN)).toBe('other');
    expect(reasonCode(DISABLED_MIN, { disabled: new Set([DISABLED_MIN]) })).toBe('disabled');
    expect(reasonCode(TEMPLATE_ERROR)).toBe('other');
    expect(reasonCode(TEMPLATE_ERROR, { templateErrors: new Set([TEMPLATE_ERROR]) })).toBe('no_template');
    // disabled wins over a template error, and both over the patterns
    const both = { disabled: new Set(['x']), templateErrors: new Set(['x']) };
    expect(reasonCode('x', both)).toBe('disabled');
    expect(reasonCode(REASON_TOO_MANY_PODS, { templateErrors: new Set([REASON_TOO_MANY_PODS]) })).toBe(
      'no_template',
    );
    expect(reasonCode('something new')).toBe('other');
  });
});

describe('reasonCode: every reason planScaleUp produces', () => {
  const one = (cands: GroupCandidate[], o: Partial<PlanInput>) => ({ cands, o });
  const disabledCand = cand('md-a', { disabled: DISABLED_MIN });
  const cases: Array<[string, { cands: GroupCandidate[]; o: Partial<PlanInput> }, string, ReasonCode]> = [
    [
      'pod too big for the template',
      one([cand('md-a')], { pending: [pod(16)] }),
      'Insufficient cpu on a new node',
      'too_big_for_template',
    ],
    [
      'pod too big in two resources',
      one([cand('md-a')], { pending: [pod(16, { requests: { cpu: 16_000, memory: 64 * GI } })] }),
      'Insufficient cpu, memory on a new node',
      'too_big_for_template',
    ],
    [
      'an extended resource the template lacks',
      one([cand('md-a')], { pending: [pod(1, { requests: { cpu: 1000, [GPU]: 1000 } })] }),
      `${insufficientReason(GPU)} on a new node`,
      'too_big_for_template',
    ],
    [
      'no pod slot on the template',
      one([cand('md-a', { template: tmpl(4, 8, { pods: 0 }) })], { pending: [pod(1)] }),
      'no pod slot left on a new node',
      'too_big_for_template',
    ],
    [
      'host ports on a template without pod slots: the slot is the cause',
      one([cand('md-a', { template: tmpl(4, 8, { pods: 0 }) })], {
        pending: [pod(1, { hostPorts: [{ port: 80, protocol: 'TCP' }] })],
      }),
      'no pod slot left on a new node',
      'too_big_for_template',
    ],
    [
      'untolerated taint',
      one([gpuCand({ id: key('md-a') })], { pending: [pod(1)] }),
      untoleratedTaintReason(GPU_TAINT),
      'untolerated_taint',
    ],
    [
      'node selector',
      one([cand('md-a')], { pending: [pod(1, { nodeSelector: { disk: 'ssd' } })] }),
      REASON_NODE_AFFINITY,
      'node_selector_mismatch',
    ],
    [
      'unschedulable template',
      one([cand('md-a', { template: { ...tmpl(4, 8), unschedulable: true } })], { pending: [pod(1)] }),
      REASON_UNSCHEDULABLE,
      'node_unschedulable',
    ],
    [
      'already at max',
      one([cand('md-a', { target: 5 })], { pending: [pod(1)] }),
      'at its max size 5',
      'max_size',
    ],
    [
      'at max after scaling up',
      one([cand('md-a')], { pending: pods(20, 2) }),
      'at its max size 5',
      'max_size',
    ],
    [
      'max nodes total already reached',
      one([cand('md-a')], { pending: [pod(1)], limits: { ...noLimits, maxNodesTotal: 3, currentNodes: 3 } }),
      'max nodes total 3 reached',
      'max_nodes_total',
    ],
    [
      'max nodes total reached by scaling up',
      one([cand('md-a')], {
        pending: pods(20, 2),
        limits: { ...noLimits, maxNodesTotal: 3, currentNodes: 1 },
      }),
      'max nodes total 3 reached',
      'max_nodes_total',
    ],
    [
      'max cpu total reached',
      one([cand('md-a')], {
        pending: pods(20, 2),
        limits: { ...noLimits, maxCpuTotal: 12_000, currentCpu: 4000 },
      }),
      'max cpu total reached',
      'max_cpu_total',
    ],
    [
      'max memory total reached',
      one([cand('md-a')], {
        pending: pods(20, 2),
        limits: { ...noLimits, maxMemoryTotal: 16 * GI, currentMemory: 0 },
      }),
      'max memory total reached',
      'max_memory_total',
    ],
    [
      'back-off',
      one([cand('md-a', { backoffUntil: T + 5 * MIN })], { pending: [pod(1)] }),
      BACKOFF,
      'backoff',
    ],
    ['disabled by discovery', one([disabledCand], { pending: [pod(1)] }), DISABLED_MIN, 'disabled'],
    [
      'fighting another writer',
      one([cand('md-a', { disabled: FIGHT })], { pending: [pod(1)] }),
      FIGHT,
      'fighting',
    ],
    [
      'template error (bad capacity annotation)',
      one([cand('md-a', { template: undefined, templateError: TEMPLATE_ERROR })], { pending: [pod(1)] }),
      TEMPLATE_ERROR,
      'no_template',
    ],
    [
      'template error (nothing to build from)',
      one([cand('md-a', { template: undefined, templateError: TEMPLATE_MISSING })], { pending: [pod(1)] }),
      TEMPLATE_MISSING,
      'no_template',
    ],
    [
      'no template and no error',
      one([cand('md-a', { template: undefined })], { pending: [pod(1)] }),
      'no template node',
      'no_template',
    ],
  ];

  it.each(cases)('%s', (_, { cands, o }, text, code) => {
    const p = plan({ groups: cands, ...o });
    expect(p.noScaleUp.length).toBeGreaterThan(0);
    expect(p.noScaleUp[0]!.reasons).toEqual({ [key('md-a')]: text });
    // As the decision codes it (with the disabled and template-error texts it knows).
    const d = decide(cands, p);
    expect(d.noScaleUp[0]!.codes).toEqual({ [key('md-a')]: code });
    expect(
      reasonCode(text, {
        disabled: new Set([DISABLED_MIN]),
        templateErrors: new Set([TEMPLATE_ERROR, TEMPLATE_MISSING]),
      }),
    ).toBe(code);
  });

  it('every disabled text discovery produces is coded disabled', () => {
    const groups = discover([
      md('md-bad-min', { annotations: bounds('x', '3') }),
      md('md-zero', { annotations: bounds('0', '0') }),
      md('md-inverted', { annotations: bounds('4', '2') }),
      md('md-orphan', { cluster: 'ghost' }),
      md('md-option', {
        annotations: {
          ...bounds('0', '5'),
          [`${OPTION_ANNOTATION_PREFIX}scaledownutilizationthreshold`]: '2',
        },
      }),
      md('md-no-replicas', { replicas: null }),
      md('md-many', { annotations: bounds('-1', 'y'), cluster: 'ghost' }),
    ]);
    expect(groups.map((g) => [g.name, g.disabled])).toEqual([
      ['md-bad-min', 'min-size "x" is not an integer'],
      ['md-inverted', 'min-size 4 > max-size 2'],
      ['md-many', 'Cluster ghost not found; min-size "-1" is negative; max-size "y" is not an integer'],
      ['md-no-replicas', 'no spec.replicas'],
      ['md-option', `${OPTION_ANNOTATION_PREFIX}scaledownutilizationthreshold: "2" is not between 0 and 1`],
      ['md-orphan', 'Cluster ghost not found'],
      ['md-zero', 'max-size is 0'],
    ]);
    const cands = groups.map((g) => ({ ...cand(g.name), disabled: g.disabled }));
    const p = plan({ groups: cands, pending: [pod(1)] });
    const d = buildDecision(decisionInput({ groups, candidates: cands, plan: p }));
    expect(d.groups.map((g) => [g.state, g.code])).toEqual(groups.map(() => ['disabled', 'disabled']));
    expect(Object.values(d.noScaleUp[0]!.codes)).toEqual(groups.map(() => 'disabled'));
    expect(d.noScaleUp[0]!.reasons).toEqual(Object.fromEntries(groups.map((g) => [g.key, g.disabled])));
  });
});

describe('reasonCode: random plans (property)', () => {
  const arbCand = (name: string) =>
    fc
      .record({
        gpu: fc.boolean(),
        maxSize: fc.integer({ min: 1, max: 4 }),
        target: fc.integer({ min: 0, max: 4 }),
        upcoming: fc.integer({ min: 0, max: 2 }),
        state: fc.constantFrom(
          'ok',
          'ok',
          'ok',
          'disabled',
          'fighting',
          'templateError',
          'noTemplate',
          'backoff',
          'oldBackoff',
        ),
        labels: fc.constantFrom<Record<string, string>>({}, { disk: 'ssd' }),
        pods: fc.constantFrom(110, 2, 0),
      })
      .map((s): GroupCandidate => {
        const base = s.gpu ? gpuCand({ id: key(name) }) : cand(name);
        const template = s.gpu
          ? tmpl(8, 32, { gpu: 1, taints: [GPU_TAINT], labels: s.labels, pods: s.pods })
          : tmpl(4, 8, { labels: s.labels, pods: s.pods });
        const c: GroupCandidate = {
          ...base,
          maxSize: s.maxSize,
          target: Math.min(s.target, s.maxSize),
          upcoming: s.upcoming,
          template,
        };
        if (s.state === 'disabled') c.disabled = DISABLED_MIN;
        if (s.state === 'fighting') c.disabled = FIGHT;
        if (s.state === 'templateError')
          Object.assign(c, { template: undefined, templateError: TEMPLATE_ERROR });
        if (s.state === 'noTemplate') c.template = undefined;
        if (s.state === 'backoff') c.backoffUntil = T + MIN;
        if (s.state === 'oldBackoff') c.backoffUntil = T - MIN;
        return c;
      });
  const arbPod = fc
    .record({
      cpu: fc.integer({ min: 1, max: 12 }),
      memGi: fc.integer({ min: 0, max: 40 }),
      gpu: fc.boolean(),
      tolerate: fc.boolean(),
      ssd: fc.boolean(),
      port: fc.boolean(),
      owner: fc.constantFrom('a', 'b', 'c'),
    })
    .map((s) =>
      pod(s.cpu / 2, {
        ownerUid: s.owner,
        requests: { cpu: s.cpu * 500, memory: s.memGi * GI, ...(s.gpu ? { [GPU]: 1000 } : {}) },
        tolerations: s.tolerate ? [{ key: GPU, operator: 'Exists' }] : [],
        nodeSelector: s.ssd ? { disk: 'ssd' } : {},
        hostPorts: s.port ? [{ port: 8080, protocol: 'TCP' }] : [],
      }),
    );
  const arbLimits = fc.record({
    maxNodesTotal: fc.integer({ min: 0, max: 6 }),
    currentNodes: fc.integer({ min: 0, max: 3 }),
    maxCpuTotal: fc.constantFrom(0, 8000, 20_000),
    currentCpu: fc.constantFrom(0, 4000),
    maxMemoryTotal: fc.constantFrom(0, 24 * GI, 64 * GI),
    currentMemory: fc.constantFrom(0, 8 * GI),
  });
  const arbInput = fc.record({
    cands: fc.tuple(arbCand('md-a'), arbCand('md-b'), arbCand('md-c')),
    pending: fc.array(arbPod, { minLength: 1, maxLength: 25 }),
    limits: arbLimits,
  });

  const decisionOf = (i: { cands: GroupCandidate[]; pending: SimPod[]; limits: Limits }) => {
    const p = plan({ groups: i.cands, pending: i.pending, limits: i.limits });
    return { p, d: decide(i.cands, p, { pendingPods: i.pending.length }) };
  };

  it('every pod without a scale-up has a reason and a known code from every group', () => {
    fc.assert(
      fc.property(arbInput, ({ cands, pending, limits }) => {
        const { p, d } = decisionOf({ cands: [...cands], pending, limits });
        expect(d.noScaleUp).toHaveLength(p.noScaleUp.length);
        for (const x of d.noScaleUp) {
          expect(Object.keys(x.reasons).sort()).toEqual(cands.map((c) => c.id).sort());
          expect(Object.keys(x.codes).sort()).toEqual(Object.keys(x.reasons).sort());
          for (const c of Object.values(x.codes)) expect(REASON_CODES).toContain(c);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('no reason of a plan built from the standard predicates is coded other', () => {
    fc.assert(
      fc.property(arbInput, ({ cands, pending, limits }) => {
        const { d } = decisionOf({ cands: [...cands], pending, limits });
        const other = d.noScaleUp.flatMap((x) =>
          Object.entries(x.codes)
            .filter(([, c]) => c === 'other')
            .map(([g]) => `${g}: ${x.reasons[g]}`),
        );
        expect(other).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});

// ---- buildDecision ----

describe('buildDecision: group states', () => {
  const groups = discover([
    md('md-ok', { replicas: 2, annotations: bounds('1', '5') }),
    md('md-bad', { replicas: 1, annotations: bounds('x', '3') }),
    md('md-fight', { replicas: 2 }),
    md('md-none', { replicas: 0 }),
    md('md-bare', { replicas: 0 }),
    md('md-cool', { replicas: 1 }),
    md('md-expired', { replicas: 1 }),
    md('md-full', { replicas: 5 }),
    md('md-nocand', { replicas: 3 }),
  ]);
  const template = tmpl(4, 8, {
    gpu: 1,
    labels: { a: '1', b: '2', c: '3' },
    taints: [GPU_TAINT, { key: 'spot', effect: 'PreferNoSchedule' }],
  });
  const withZero: SimNode = { ...template, allocatable: { ...template.allocatable, 'ephemeral-storage': 0 } };
  const candidates: GroupCandidate[] = [
    cand('md-ok', { minSize: 1, target: 2, upcoming: 1, template: withZero }),
    cand('md-bad', { maxSize: 3, target: 1, disabled: DISABLED_MIN }),
    cand('md-fight', { target: 2, disabled: FIGHT }),
    cand('md-none', { template: undefined, templateError: TEMPLATE_ERROR }),
    cand('md-bare', { template: undefined }),
    cand('md-cool', { target: 1, backoffUntil: T + 5 * MIN }),
    cand('md-expired', { target: 1, backoffUntil: T - MIN }),
    cand('md-full', { target: 5 }),
  ];
  const counts = new Map([
    [key('md-ok'), { current: 3, ready: 2 }],
    [key('md-full'), { current: 5, ready: 5 }],
  ]);
  const notes = [
    `${key('md-ok')}: template from node n1`,
    `${key('md-ok')}: 1 of 2 replica(s) without a Ready node yet`,
    `${key('md-ok')}-2: belongs to another group`,
    `${key('md-none')}: no template node: ${TEMPLATE_ERROR}`,
    `Machine ${NS}/broken ignored: spec.bootstrap missing`,
  ];
  const d = buildDecision(decisionInput({ groups, candidates, counts, notes, pendingPods: 4, dryRun: true }));
  const byId = (id: string): GroupStatus => {
    const g = d.groups.find((x) => x.id === key(id));
    if (!g) throw new Error(`no group ${id}`);
    return g;
  };

  it('keeps the discovery order and the header fields', () => {
    expect(d.groups.map((g) => g.id)).toEqual(groups.map((g) => g.key));
    expect(d).toMatchObject({
      cluster: `${NS}/prod`,
      at: '2026-05-01T12:00:00.000Z',
      dryRun: true,
      pendingPods: 4,
      ignored: [],
      problems: [],
    });
  });

  it('ok: sizes, counts, upcoming, template summary and its own notes', () => {
    expect(byId('md-ok')).toEqual({
      id: key('md-ok'),
      min: 1,
      max: 5,
      target: 2,
      current: 3,
      ready: 2,
      upcoming: 1,
      state: 'ok',
      template: {
        allocatable: { cpu: '4', memory: '8Gi', pods: '110', [GPU]: '1' },
        labels: 3,
        taints: [`${GPU}=present:NoSchedule`, 'spot:PreferNoSchedule'],
      },
      notes: ['template from node n1', '1 of 2 replica(s) without a Ready node yet'],
    });
  });

  it('disabled by discovery: what could be read, the text, coded disabled', () => {
    expect(byId('md-bad')).toEqual({
      id: key('md-bad'),
      max: 3,
      target: 1,
      upcoming: 0,
      state: 'disabled',
      reason: DISABLED_MIN,
      code: 'disabled',
      template: expect.any(Object),
      notes: [],
    });
  });

  it('fighting another writer: state disabled, code fighting', () => {
    expect(byId('md-fight')).toMatchObject({ state: 'disabled', reason: FIGHT, code: 'fighting' });
  });

  it('no template: the template error, or "no template node"', () => {
    expect(byId('md-none')).toMatchObject({
      state: 'no-template',
      reason: TEMPLATE_ERROR,
      code: 'no_template',
    });
    expect(byId('md-none').template).toBeUndefined();
    expect(byId('md-none').notes).toEqual([`no template node: ${TEMPLATE_ERROR}`]);
    expect(byId('md-bare')).toMatchObject({
      state: 'no-template',
      reason: 'no template node',
      code: 'no_template',
    });
  });

  it('back-off only while it runs', () => {
    expect(byId('md-cool')).toMatchObject({ state: 'backoff', reason: BACKOFF, code: 'backoff' });
    expect(byId('md-expired').state).toBe('ok');
    expect(byId('md-expired').reason).toBeUndefined();
    expect(byId('md-expired').code).toBeUndefined();
  });

  it('at max: the candidate target reaches maxSize', () => {
    expect(byId('md-full')).toMatchObject({
      state: 'at-max',
      reason: 'at its max size 5',
      code: 'max_size',
      target: 5,
      current: 5,
      ready: 5,
    });
  });

  it('a group without a candidate: discovery sizes only, ok', () => {
    expect(byId('md-nocand')).toEqual({
      id: key('md-nocand'),
      min: 0,
      max: 5,
      target: 3,
      state: 'ok',
      notes: [],
    });
  });

  it('the candidate target (after planning) wins over spec.replicas', () => {
    const g = discover([md('md-a', { replicas: 1 })]);
    const r = buildDecision(decisionInput({ groups: g, candidates: [cand('md-a', { target: 4 })] }));
    expect(r.groups[0]).toMatchObject({ target: 4, state: 'ok' });
  });

  it('back-off is reported over at-max; disabled over everything', () => {
    const g = discover([md('md-a', { replicas: 5 }), md('md-b', { replicas: 5 })]);
    const r = buildDecision(
      decisionInput({
        groups: g,
        candidates: [
          cand('md-a', { target: 5, backoffUntil: T + MIN }),
          cand('md-b', { target: 5, backoffUntil: T + MIN, template: undefined, disabled: FIGHT }),
        ],
      }),
    );
    expect(r.groups.map((x) => [x.state, x.code])).toEqual([
      ['backoff', 'backoff'],
      ['disabled', 'fighting'],
    ]);
  });

  describe('templates: false (sizes only)', () => {
    const s = buildDecision(decisionInput({ groups, candidates, counts, notes, templates: false }));
    const state = (id: string) => s.groups.find((x) => x.id === key(id))!;

    it('no template summaries, and no no-template state', () => {
      expect(s.groups.every((g) => g.template === undefined)).toBe(true);
      expect(state('md-none')).toMatchObject({ state: 'ok' });
      expect(state('md-none').reason).toBeUndefined();
      expect(state('md-bare').state).toBe('ok');
    });

    it('disabled, back-off and at-max are still known', () => {
      expect(s.groups.map((g) => [g.id.split('/')[2], g.state])).toEqual([
        ['md-bad', 'disabled'],
        ['md-bare', 'ok'],
        ['md-cool', 'backoff'],
        ['md-expired', 'ok'],
        ['md-fight', 'disabled'],
        ['md-full', 'at-max'],
        ['md-nocand', 'ok'],
        ['md-none', 'ok'],
        ['md-ok', 'ok'],
      ]);
      expect(state('md-ok')).toMatchObject({ current: 3, ready: 2, upcoming: 1 });
    });
  });
});

describe('buildDecision: the plan', () => {
  const cands = [
    cand('md-a', { target: 1, upcoming: 1 }),
    gpuCand(),
    cand('md-off', { disabled: DISABLED_MIN }),
    cand('md-broken', { template: undefined, templateError: TEMPLATE_ERROR }),
  ];
  const web = pods(3, 2, { namespace: 'shop', ownerUid: 'web' });
  const big = pods(2, 16, { namespace: 'batch', ownerUid: 'big' });
  const p = plan({ groups: cands, pending: [...web, ...big] });
  const d = decide(cands, p, { pendingPods: 5 });
  const name = (x: SimPod) => `${x.namespace}/${x.name}`;

  it('waiting pods: namespace/name and where', () => {
    const on = `a node of ${key('md-a')} being provisioned`;
    expect(d.waiting).toEqual([
      { pod: name(web[0]!), on },
      { pod: name(web[1]!), on },
    ]);
  });

  it('scale-ups: group id, sizes, namespace/name pods and the expander notes', () => {
    expect(d.scaleUps).toEqual([
      { group: key('md-a'), from: 1, to: 2, pods: [name(web[2]!)], notes: p.scaleUps[0]!.notes },
    ]);
  });

  it('no scale-up: every group’s reason and its code', () => {
    expect(d.noScaleUp).toEqual(
      big.map((b) => ({
        pod: name(b),
        reasons: {
          [key('md-a')]: 'Insufficient cpu on a new node',
          [key('md-gpu')]: untoleratedTaintReason(GPU_TAINT),
          [key('md-off')]: DISABLED_MIN,
          [key('md-broken')]: TEMPLATE_ERROR,
        },
        codes: {
          [key('md-a')]: 'too_big_for_template',
          [key('md-gpu')]: 'untolerated_taint',
          [key('md-off')]: 'disabled',
          [key('md-broken')]: 'no_template',
        },
      })),
    );
  });

  it('copies ignored objects and problems', () => {
    const ignored = [
      { key: key('md-manual'), code: 'NotOptedIn' as const, reason: 'no min-size/max-size annotations' },
    ];
    const r = buildDecision(decisionInput({ ignored, problems: ['pod shop/x: bad quantity'] }));
    expect(r.ignored).toEqual(ignored);
    expect(r.ignored).not.toBe(ignored);
    expect(r.problems).toEqual(['pod shop/x: bad quantity']);
  });
});

// ---- refusals and abridged ----

const decisionWith = (o: Partial<Decision>): Decision =>
  decisionOf({ cluster: `${NS}/prod`, at: NOW.toISOString(), ...o });

describe('refusals', () => {
  it('counts each pod once per refusing group and code', () => {
    const A = key('md-a');
    const B = key('md-b');
    const d = decisionWith({
      noScaleUp: [
        { pod: 'x/1', reasons: {}, codes: { [A]: 'max_size', [B]: 'untolerated_taint' } },
        { pod: 'x/2', reasons: {}, codes: { [A]: 'max_size', [B]: 'untolerated_taint' } },
        { pod: 'x/3', reasons: {}, codes: { [A]: 'too_big_for_template' } },
        { pod: 'x/4', reasons: {}, codes: {} },
      ],
    });
    const r = refusals(d);
    expect([...r.keys()]).toEqual([A, B]);
    expect(Object.fromEntries(r.get(A)!)).toEqual({ max_size: 2, too_big_for_template: 1 });
    expect(Object.fromEntries(r.get(B)!)).toEqual({ untolerated_taint: 2 });
    expect(refusals(decisionWith({})).size).toBe(0);
  });

  it('agrees with a real decision', () => {
    const cands = [cand('md-a'), gpuCand()];
    const p = plan({ groups: cands, pending: pods(3, 16, { ownerUid: 'big' }) });
    const r = refusals(decide(cands, p));
    expect(Object.fromEntries([...r].map(([g, m]) => [g, Object.fromEntries(m)]))).toEqual({
      [key('md-a')]: { too_big_for_template: 3 },
      [key('md-gpu')]: { untolerated_taint: 3 },
    });
  });
});

describe('abridged', () => {
  const list = (k: number, p: string) => Array.from({ length: k }, (_, i) => `${p}/${i}`);
  const big = decisionWith({
    scaleUps: [
      { group: key('md-a'), from: 0, to: 5, pods: list(55, 'a'), notes: [] },
      { group: key('md-b'), from: 0, to: 5, pods: list(52, 'b'), notes: ['n'] },
      { group: key('md-c'), from: 0, to: 1, pods: list(3, 'c'), notes: [] },
    ],
    waiting: list(60, 'w').map((pod) => ({ pod, on: 'node n1' })),
    noScaleUp: list(51, 'n').map((pod) => ({ pod, reasons: {}, codes: {} })),
    problems: list(3, 'problem'),
  });

  it('cuts every list to the limit and counts what it left out', () => {
    const a = abridged(big);
    expect(a.omitted).toEqual({ scaleUpPods: 5 + 2, waiting: 10, noScaleUp: 1 });
    expect(a.scaleUps.map((s) => s.pods.length)).toEqual([50, 50, 3]);
    expect(a.scaleUps[0]!.pods.at(-1)).toBe('a/49');
    expect(a.waiting).toHaveLength(50);
    expect(a.waiting[49]!.pod).toBe('w/49');
    expect(a.noScaleUp).toHaveLength(50);
    expect(a.problems).toEqual(big.problems);
    expect(a.scaleUps[1]).toMatchObject({ group: key('md-b'), from: 0, to: 5, notes: ['n'] });
  });

  it('a smaller limit', () => {
    const a = abridged(big, 2);
    expect(a.omitted).toEqual({ scaleUpPods: 53 + 50 + 1, waiting: 58, noScaleUp: 49, problems: 1 });
    expect(a.problems).toEqual(['problem/0', 'problem/1']);
  });

  it('leaves the input alone', () => {
    abridged(big, 1);
    expect(big.scaleUps[0]!.pods).toHaveLength(55);
    expect(big.waiting).toHaveLength(60);
    expect(big).not.toHaveProperty('omitted');
  });

  it('a decision within the limit comes back equal, without omitted', () => {
    const small = decisionWith({
      scaleUps: [{ group: key('md-a'), from: 0, to: 1, pods: list(50, 'a'), notes: [] }],
      waiting: list(50, 'w').map((pod) => ({ pod, on: 'node n1' })),
      problems: ['p'],
    });
    const a = abridged(small);
    expect(a).toEqual(small);
    expect(a).not.toHaveProperty('omitted');
  });
});
