// One scale-up decision as people and tools read it: the record kept per workload cluster for /status and
// `explain`, and the bounded reason codes that metric labels and spans carry. Pure; the controller fills
// it from what it planned, and the texts are the same ones the pods' NotTriggerScaleUp events carry.
import type { IgnoredObject, NodeGroup } from './nodegroups.ts';
import { groupBlock, type GroupBlock, type GroupCandidate, type Plan } from './scaleup.ts';
import type { SimNode, SimPod } from './types.ts';
import { formatMilli } from '../kube/quantity.ts';

/** Why a group takes no pod, or a pod no group: a small fixed set, safe as a metric label. */
export const REASON_CODES = [
  'insufficient_cpu',
  'insufficient_memory',
  'insufficient_ephemeral_storage',
  'insufficient_extended_resource',
  'too_many_pods',
  'too_big_for_template',
  'untolerated_taint',
  'node_selector_mismatch',
  'node_unschedulable',
  'host_ports',
  'max_size',
  'max_nodes_total',
  'max_cpu_total',
  'max_memory_total',
  'backoff',
  'disabled',
  'fighting',
  'no_template',
  'other',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

// Ordered: the first match wins. Texts are the ones predicates.ts, estimator.ts and scaleup.ts build.
const PATTERNS: ReadonlyArray<[RegExp, ReasonCode]> = [
  [/\(max size \d+\)$/, 'max_size'],
  // Group-wide when the limit is already reached, or appended to the estimator's text in parentheses.
  [/max nodes total \d+ reached\)?$/, 'max_nodes_total'],
  [/max cpu total reached\)?$/, 'max_cpu_total'],
  [/max memory total reached\)?$/, 'max_memory_total'],
  [/^at its max size \d+$/, 'max_size'],
  [/ on a new node$|^host ports taken$/, 'too_big_for_template'],
  [/^Insufficient cpu(,|$)/, 'insufficient_cpu'],
  [/^Insufficient memory(,|$)/, 'insufficient_memory'],
  [/^Insufficient ephemeral-storage(,|$)/, 'insufficient_ephemeral_storage'],
  [/^Insufficient /, 'insufficient_extended_resource'],
  [/^Too many pods$/, 'too_many_pods'],
  [/^node\(s\) had untolerated taint /, 'untolerated_taint'],
  [/^node\(s\) didn't match Pod's node affinity\/selector$/, 'node_selector_mismatch'],
  [/^node\(s\) were unschedulable$/, 'node_unschedulable'],
  [/^node\(s\) didn't have free ports /, 'host_ports'],
  [/^in back-off /, 'backoff'],
  [/^another writer changed spec\.replicas /, 'fighting'],
  [/^no template node/, 'no_template'],
];

/**
 * The code of a reason text. `disabledGroups` are the texts of groups discovery disabled (malformed
 * annotations, paused cluster, ...), and `templateErrors` those whose template could not be built.
 */
export function reasonCode(
  reason: string,
  known: { disabled?: ReadonlySet<string>; templateErrors?: ReadonlySet<string> } = {},
): ReasonCode {
  if (known.disabled?.has(reason)) return 'disabled';
  if (known.templateErrors?.has(reason)) return 'no_template';
  for (const [re, code] of PATTERNS) if (re.test(reason)) return code;
  return 'other';
}

export type GroupState = 'ok' | GroupBlock['kind'];

const BLOCK_CODES: Record<GroupBlock['kind'], ReasonCode> = {
  disabled: 'disabled',
  'no-template': 'no_template',
  backoff: 'backoff',
  'at-max': 'max_size',
};

export interface GroupStatus {
  id: string;
  min?: number;
  max?: number;
  /** spec.replicas. */
  target?: number;
  /** Machines not being deleted. */
  current?: number;
  /** Machines with a Ready node. */
  ready?: number;
  upcoming?: number;
  state: GroupState;
  /** Why it cannot scale up now (absent when ready). */
  reason?: string;
  code?: ReasonCode;
  /** The node a scale-up would add, when known. */
  template?: { allocatable: Record<string, string>; labels: number; taints: string[] };
  /** How the template was built, DaemonSet room, provisioning: lines for explain. */
  notes: string[];
}

export interface Decision {
  /** `<namespace>/<name>` of the CAPI Cluster. */
  cluster: string;
  at: string;
  dryRun: boolean;
  pendingPods: number;
  groups: GroupStatus[];
  /** Objects that look like node groups but are not (not opted in, paused, ...), with why. */
  ignored: IgnoredObject[];
  scaleUps: Array<{ group: string; from: number; to: number; pods: string[]; notes: string[] }>;
  waiting: Array<{ pod: string; on: string }>;
  noScaleUp: Array<{ pod: string; reasons: Record<string, string>; codes: Record<string, ReasonCode> }>;
  /** Objects that could not be read (a pod with an invalid quantity, ...), left out of the decision. */
  problems: string[];
  /** Whether template nodes were built (a planning decision); without, template states are not known. */
  templatesBuilt: boolean;
  /** When sizes and states were last refreshed between decisions (`at` stays the decision's time). */
  sizesAt?: string;
}

export interface DecisionInput {
  cluster: string;
  now: Date;
  dryRun: boolean;
  pendingPods: number;
  groups: readonly NodeGroup[];
  ignored: readonly IgnoredObject[];
  candidates: readonly GroupCandidate[];
  counts: ReadonlyMap<string, { current: number; ready: number }>;
  notes: readonly string[];
  /** Whether template nodes were built (a planning decision) or only sizes looked at. */
  templates: boolean;
  plan: Plan;
  problems: readonly string[];
}

const podName = (p: SimPod) => `${p.namespace}/${p.name}`;

export function buildDecision(i: DecisionInput): Decision {
  const now = i.now.getTime();
  const disabled = new Set<string>();
  const templateErrors = new Set<string>();
  const cands = new Map(i.candidates.map((c) => [c.id, c]));
  const groups: GroupStatus[] = i.groups.map((g) => {
    const c = cands.get(g.key);
    const counts = i.counts.get(g.key);
    const s: GroupStatus = {
      id: g.key,
      ...(g.minSize !== undefined ? { min: g.minSize } : {}),
      ...(g.maxSize !== undefined ? { max: g.maxSize } : {}),
      ...(g.replicas !== undefined ? { target: c?.target ?? g.replicas } : {}),
      ...(counts ? { current: counts.current, ready: counts.ready } : {}),
      ...(c ? { upcoming: c.upcoming } : {}),
      state: 'ok',
      notes: i.notes.filter((n) => n.startsWith(`${g.key}: `)).map((n) => n.slice(g.key.length + 2)),
    };
    if (c?.template && i.templates) s.template = templateSummary(c.template);
    // The planner's own rule (scaleup.ts), so /status and explain say what the plan did.
    const b: GroupBlock | undefined = c
      ? groupBlock(c, now, c.target, i.templates)
      : g.disabled !== undefined
        ? { kind: 'disabled', reason: g.disabled }
        : undefined;
    if (!b) return s;
    let code = BLOCK_CODES[b.kind];
    if (b.kind === 'disabled') {
      if (reasonCode(b.reason) === 'fighting') code = 'fighting';
      else disabled.add(b.reason);
    }
    if (b.kind === 'no-template') templateErrors.add(b.reason);
    return Object.assign(s, { state: b.kind, reason: b.reason, code });
  });
  const known = { disabled, templateErrors };
  return {
    cluster: i.cluster,
    at: i.now.toISOString(),
    dryRun: i.dryRun,
    pendingPods: i.pendingPods,
    groups,
    ignored: [...i.ignored],
    scaleUps: i.plan.scaleUps.map((s) => ({
      group: s.group.id,
      from: s.from,
      to: s.to,
      pods: s.pods.map(podName),
      notes: s.notes,
    })),
    waiting: i.plan.waiting.map((w) => ({ pod: podName(w.pod), on: w.on })),
    noScaleUp: i.plan.noScaleUp.map((n) => ({
      pod: podName(n.pod),
      reasons: n.reasons,
      codes: Object.fromEntries(Object.entries(n.reasons).map(([g, r]) => [g, reasonCode(r, known)])),
    })),
    problems: [...i.problems],
    templatesBuilt: i.templates,
  };
}

function templateSummary(n: SimNode): NonNullable<GroupStatus['template']> {
  return {
    allocatable: Object.fromEntries(
      Object.entries(n.allocatable)
        .filter(([, v]) => v > 0)
        .map(([r, v]) => [r, formatMilli(r, v)]),
    ),
    labels: Object.keys(n.labels).length,
    taints: n.taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`),
  };
}

/**
 * Pods without a scale-up counted per group and reason code: the `pods_without_scale_up` gauge. A pod
 * counts once for every group that refused it.
 */
export function refusals(d: Decision): Map<string, Map<ReasonCode, number>> {
  const out = new Map<string, Map<ReasonCode, number>>();
  for (const n of d.noScaleUp)
    for (const [g, code] of Object.entries(n.codes)) {
      const m = out.get(g) ?? new Map<ReasonCode, number>();
      m.set(code, (m.get(code) ?? 0) + 1);
      out.set(g, m);
    }
  return out;
}

/** A decision cut to size for /status: long pod lists keep their first `limit` entries and a count. */
export function abridged(d: Decision, limit = 50): Decision & { omitted?: Record<string, number> } {
  const omitted: Record<string, number> = {};
  const cut = <T>(name: string, list: T[]): T[] => {
    if (list.length > limit) omitted[name] = (omitted[name] ?? 0) + list.length - limit;
    return list.slice(0, limit);
  };
  const out = {
    ...d,
    scaleUps: d.scaleUps.map((s) => ({ ...s, pods: cut('scaleUpPods', s.pods) })),
    waiting: cut('waiting', d.waiting),
    noScaleUp: cut('noScaleUp', d.noScaleUp),
    problems: cut('problems', d.problems),
  };
  return Object.keys(omitted).length ? { ...out, omitted } : out;
}
