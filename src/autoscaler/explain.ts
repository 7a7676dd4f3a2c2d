// `capi-autopilot explain` as text: what the autoscaler would do now in one workload cluster and why,
// optionally narrowed to one pod or one node group. Pure: a Decision (decision.ts) in, lines out.
import type { Decision, GroupStatus } from './decision.ts';

export interface ExplainFilter {
  /** `namespace/name` of a pod in the workload cluster. */
  pod?: string;
  /** `namespace/name` of a MachineDeployment or MachineSet, or a full id `Kind/namespace/name`. */
  group?: string;
}

/** Whether `id` (`Kind/namespace/name`) is the group the user named. */
export function groupMatches(id: string, wanted: string): boolean {
  return id === wanted || id.slice(id.indexOf('/') + 1) === wanted;
}

/**
 * The explanation for one cluster. `podNotPlanned` is why the named pod is not part of the decision
 * (bound, too young, ...) when it exists but is not pending; undefined when it is pending or absent.
 */
export function explainLines(d: Decision, f: ExplainFilter = {}, podNotPlanned?: string): string[] {
  const out: string[] = [];
  const head = `Cluster ${d.cluster}: ${d.pendingPods} pending pod(s), ${d.groups.length} node group(s); decision at ${d.at}${d.dryRun ? ' (no writes)' : ''}`;
  out.push(head);
  if (f.pod !== undefined) out.push(...podLines(d, f.pod, podNotPlanned, f.group));
  else if (f.group !== undefined) out.push(...groupFocus(d, f.group));
  else out.push(...overview(d));
  if (d.problems.length) out.push('Not considered (unreadable):', ...d.problems.map((p) => `  ${p}`));
  return out;
}

function overview(d: Decision): string[] {
  const out = ['Node groups:', ...(d.groups.length ? d.groups.flatMap(groupLines) : ['  none'])];
  if (d.ignored.length)
    out.push('Not node groups:', ...d.ignored.map((i) => `  ${i.key}: ${i.reason} (${i.code})`));
  if (d.scaleUps.length)
    out.push(
      'Would scale up:',
      ...d.scaleUps.map((s) => `  ${s.group} ${s.from} -> ${s.to} for ${countPods(s.pods)}${notes(s.notes)}`),
    );
  if (d.waiting.length)
    out.push('Waiting for room that exists or is coming:', ...d.waiting.map((w) => `  ${w.pod} on ${w.on}`));
  if (d.noScaleUp.length) out.push('No scale-up possible:', ...refusedLines(d.noScaleUp));
  if (!d.scaleUps.length && !d.noScaleUp.length && !d.waiting.length) out.push('Nothing to do.');
  return out;
}

function groupFocus(d: Decision, wanted: string): string[] {
  const g = d.groups.find((x) => groupMatches(x.id, wanted));
  if (!g) {
    const ig = d.ignored.find((x) => groupMatches(x.key, wanted));
    return [ig ? `${ig.key} is not a node group: ${ig.reason} (${ig.code})` : `no node group ${wanted} here`];
  }
  const out = groupLines(g);
  const up = d.scaleUps.find((s) => s.group === g.id);
  if (up) out.push(`Would scale up ${up.from} -> ${up.to} for ${countPods(up.pods)}${notes(up.notes)}`);
  const refused = d.noScaleUp
    .filter((n) => n.reasons[g.id] !== undefined)
    .map((n) => ({ ...n, reasons: { [g.id]: n.reasons[g.id]! } }));
  if (refused.length) out.push('Pending pods it would not take:', ...refusedLines(refused));
  if (!up && !refused.length) out.push('No pending pod concerns it.');
  return out;
}

function podLines(d: Decision, pod: string, notPlanned: string | undefined, group?: string): string[] {
  const up = d.scaleUps.find((s) => s.pods.includes(pod));
  if (up) return [`${pod}: would trigger a scale-up of ${up.group} ${up.from} -> ${up.to}${notes(up.notes)}`];
  const w = d.waiting.find((x) => x.pod === pod);
  if (w) return [`${pod}: fits on ${w.on}; no scale-up needed`];
  const n = d.noScaleUp.find((x) => x.pod === pod);
  if (n) {
    const entries = Object.entries(n.reasons).filter(([g]) => group === undefined || groupMatches(g, group));
    return [
      `${pod}: no node group can take it:`,
      ...(entries.length
        ? entries.map(([g, r]) => `  ${g}: ${r}`)
        : [
            group !== undefined
              ? `  no reason from ${group}: not a node group of this cluster`
              : '  no node group in this cluster',
          ]),
    ];
  }
  const unreadable = d.problems.find((p) => p.startsWith(`pod ${pod}:`));
  if (unreadable) return [`${pod}: not considered: ${unreadable}`];
  return [`${pod}: ${notPlanned ?? 'not found in this workload cluster'}`];
}

function groupLines(g: GroupStatus): string[] {
  const size = [
    g.min !== undefined ? `min ${g.min}` : undefined,
    g.max !== undefined ? `max ${g.max}` : undefined,
    g.target !== undefined ? `target ${g.target}` : undefined,
    g.current !== undefined ? `machines ${g.current}` : undefined,
    g.ready !== undefined ? `ready ${g.ready}` : undefined,
  ].filter(Boolean);
  const state = g.state === 'ok' ? 'can scale up' : `${g.state}: ${g.reason ?? ''}`;
  const out = [`  ${g.id}  ${size.join(' ')}  ${state}`];
  if (g.template) {
    const alloc = Object.entries(g.template.allocatable)
      .map(([r, v]) => `${r} ${v}`)
      .join(', ');
    const taints = g.template.taints.length ? `; taints ${g.template.taints.join(', ')}` : '';
    out.push(`      new node: ${alloc}${taints}`);
  }
  for (const n of g.notes) out.push(`      ${n}`);
  return out;
}

/** Pods with the same reasons are one line: 500 replicas of a Deployment print once. */
function refusedLines(list: Decision['noScaleUp']): string[] {
  const byReasons = new Map<string, { pods: string[]; reasons: Record<string, string> }>();
  for (const n of list) {
    const k = JSON.stringify(Object.entries(n.reasons).sort());
    const e = byReasons.get(k) ?? { pods: [], reasons: n.reasons };
    e.pods.push(n.pod);
    byReasons.set(k, e);
  }
  const out: string[] = [];
  for (const { pods, reasons } of byReasons.values()) {
    out.push(`  ${pods[0]}${pods.length > 1 ? ` and ${pods.length - 1} more with the same reasons` : ''}:`);
    const entries = Object.entries(reasons).sort(([a], [b]) => (a < b ? -1 : 1));
    out.push(...(entries.length ? entries.map(([g, r]) => `    ${g}: ${r}`) : ['    no node group']));
  }
  return out;
}

function countPods(pods: readonly string[]): string {
  const shown = pods.slice(0, 3).join(', ');
  return `${pods.length} pod(s): ${shown}${pods.length > 3 ? `, … (${pods.length - 3} more)` : ''}`;
}

const notes = (n: readonly string[]) => (n.length ? ` (${n.join('; ')})` : '');
