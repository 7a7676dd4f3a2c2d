// Which node group grows when several could take the pending pods: cluster-autoscaler's expanders.
// least-waste (the default): least idle cpu + memory share on the new nodes; most-pods: most pods placed;
// priority: the highest priority whose regular expressions match the group id
// (`MachineDeployment/<namespace>/<name>`, cluster-autoscaler's id for Cluster API groups), from the
// `priorities` key of the cluster-autoscaler-priority-expander ConfigMap; random. Ties go to the next
// rule, and finally to a seeded random choice, so a decision is reproducible from its seed. Pure.
import { load } from 'js-yaml';
import { goRegExp } from './goregexp.ts';
import type { SimNode, SimPod } from './types.ts';

export type ExpanderName = 'least-waste' | 'most-pods' | 'priority' | 'random';

export interface Option {
  /** Group id as cluster-autoscaler spells it: `MachineDeployment/<namespace>/<name>`. */
  id: string;
  nodes: number;
  readonly placed: readonly SimPod[];
  /** placed.length, when known without building the list. */
  placedCount?: number;
  /** Sum of the placed pods' requests, when the estimator already has it. */
  requested?: Readonly<Record<string, number>>;
  template: SimNode;
}

export type Priorities = ReadonlyArray<{ priority: number; patterns: readonly RegExp[] }>;

export class PrioritiesError extends Error {
  override name = 'PrioritiesError';
}

/** The ConfigMap's `priorities` value: a YAML map of integer priority → list of regular expressions. */
export function parsePriorities(raw: string): Priorities {
  let doc: unknown;
  try {
    doc = load(raw);
  } catch (e) {
    throw new PrioritiesError(`priorities is not YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new PrioritiesError(
      'priorities must be a map of integer priority to a list of regular expressions',
    );
  const out: Array<{ priority: number; patterns: RegExp[] }> = [];
  for (const [k, v] of Object.entries(doc)) {
    if (!/^-?\d+$/.test(k)) throw new PrioritiesError(`priority "${k}" is not an integer`);
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw new PrioritiesError(`priority ${k} must list regular expressions (strings)`);
    const patterns = (v as string[]).map((p) => {
      try {
        // Go's regexp.MatchString finds a match anywhere, like RegExp.test without anchors; Go-only
        // syntax is translated or refused (goregexp.ts).
        return goRegExp(p);
      } catch (e) {
        throw new PrioritiesError(
          `priority ${k}: "${p}" is not a regular expression: ${(e as Error).message}`,
        );
      }
    });
    out.push({ priority: Number(k), patterns });
  }
  return out;
}

/** least-waste's score: idle share of cpu plus idle share of memory on the new nodes (lower is better). */
export function wasteScore(o: Option): number {
  const share = (r: string) => {
    const avail = (o.template.allocatable[r] ?? 0) * o.nodes;
    if (avail <= 0) return 0;
    const used = o.requested ? (o.requested[r] ?? 0) : o.placed.reduce((a, p) => a + (p.requests[r] ?? 0), 0);
    return (avail - used) / avail;
  };
  return share('cpu') + share('memory');
}

function best<T>(options: readonly T[], score: (o: T) => number, lowerIsBetter: boolean): T[] {
  if (options.length === 0) return [];
  const scores = options.map(score);
  const target = lowerIsBetter ? Math.min(...scores) : Math.max(...scores);
  const eps = 1e-9;
  return options.filter((_, i) => Math.abs(scores[i]! - target) < eps);
}

/**
 * The options the expander keeps (ties included). Priority: options no pattern matches are dropped, unless
 * none matches, in which case all stay (cluster-autoscaler falls back the same way); `notes` says so.
 */
export function filterOptions(
  name: ExpanderName,
  options: readonly Option[],
  priorities?: Priorities,
): { kept: Option[]; notes: string[] } {
  const notes: string[] = [];
  switch (name) {
    case 'random':
      return { kept: [...options], notes };
    case 'most-pods':
      return { kept: best(options, (o) => o.placedCount ?? o.placed.length, false), notes };
    case 'least-waste':
      return { kept: best(options, wasteScore, true), notes };
    case 'priority': {
      if (!priorities)
        return { kept: [...options], notes: ['no priorities configured: every group ranks the same'] };
      const prio = (o: Option) =>
        priorities
          .filter((p) => p.patterns.some((re) => re.test(o.id)))
          .reduce((a, p) => Math.max(a, p.priority), -Infinity);
      const matched = options.filter((o) => prio(o) > -Infinity);
      for (const o of options)
        if (!matched.includes(o)) notes.push(`${o.id} matches no priority and is not used`);
      if (matched.length === 0)
        return { kept: [...options], notes: [...notes, 'no group matches a priority: all stay'] };
      return { kept: best(matched, prio, false), notes };
    }
  }
}

/**
 * Picks one option: the expander, then least-waste and most-pods as tie-breakers, then a random choice
 * drawn from `random` (seeded by the caller).
 */
export function chooseOption(
  name: ExpanderName,
  options: readonly Option[],
  random: () => number,
  priorities?: Priorities,
): { option?: Option; notes: string[] } {
  if (options.length === 0) return { notes: ['no option'] };
  const first = filterOptions(name, options, priorities);
  const notes = first.notes;
  let kept = first.kept;
  // "random" means random among all; the others break their ties by waste, then by pods placed.
  if (name !== 'random')
    for (const next of ['least-waste', 'most-pods'] as const) {
      if (kept.length <= 1 || next === name) continue;
      kept = filterOptions(next, kept).kept;
    }
  const sorted = [...kept].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { option: sorted[Math.floor(random() * sorted.length)] ?? sorted[0], notes };
}
