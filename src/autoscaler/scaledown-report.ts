// What each scale-down evaluation leaves besides its removals: a report per cluster (/status, explain) with
// every node that stays and why, the unneeded nodes and for how long, the removals in flight; and the
// gauges unneeded_nodes, unremovable_nodes{reason} and scale_down_in_cooldown. Series of groups or
// reasons that are gone are removed, not left at their last value.
import type { Metrics } from '../metrics/registry.ts';
import type { ScaleDownInputs } from './scaledown-inputs.ts';
import { formatDuration, type Kept, type ScaleDownPlan } from './scaledown.ts';
import { formatShare } from './utilization.ts';

/** /status lists at most this many kept nodes per cluster (all are counted). */
const MAX_KEPT_IN_STATUS = 100;

export interface ScaleDownReport {
  cluster: string;
  /** When the evaluation ran (RFC 3339). */
  at: string;
  dryRun: boolean;
  /** explain: there is no history, so candidates are taken as unneeded long enough and cooldowns ignored. */
  assumption?: string;
  /** Why nothing is removed now although nodes may be unneeded long enough. */
  cooldown?: string;
  /** What this evaluation chose to remove (in a dry run or explain: would remove). */
  removals: Array<{
    node: string;
    group: string;
    empty: boolean;
    utilization: string;
    destinations: Array<{ pod: string; to: string }>;
  }>;
  /** Removals running now. */
  removing: Array<{ node: string; group: string; machine: string; since: string; empty: boolean }>;
  /** Candidates and since when (not in explain, which has no history). */
  unneeded: Array<{ node: string; group?: string; since: string; for: string; utilization: string }>;
  kept: Kept[];
  /** /status only: how many kept nodes were left out of `kept`. */
  keptCut?: number;
  /** Kept nodes by reason code; `kept` may be cut in /status, these never are. */
  keptCounts: Record<string, number>;
  lastFailure?: { node: string; reason: string; at: string };
  problems: string[];
}

export interface BuildInput {
  cluster: string;
  now: Date;
  dryRun: boolean;
  explain: boolean;
  plan: ScaleDownPlan;
  inputs: ScaleDownInputs;
  cooldown?: string;
  removing: Array<{ node: string; group: string; machine: string; since: number; empty: boolean }>;
  lastFailure?: { node: string; reason: string; at: number };
}

export class ScaleDownReporter {
  readonly #metrics: Metrics;
  readonly #last = new Map<string, ScaleDownReport>();
  readonly #series = new Map<string, Array<{ m: keyof Metrics; labels: Record<string, string> }>>();

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
  }

  build(b: BuildInput): ScaleDownReport {
    const { plan, now } = b;
    const share = (node: string) => {
      const u = plan.utilization.get(node);
      return u ? formatShare(u.resource, u.value) : 'unknown';
    };
    const groupOf = new Map(b.inputs.nodes.map((n) => [n.node.name, n.group]));
    const kept = [...plan.kept, ...b.inputs.unreadable].sort((x, y) => (x.node < y.node ? -1 : 1));
    const keptCounts: Record<string, number> = {};
    for (const k of kept) keptCounts[k.code] = (keptCounts[k.code] ?? 0) + 1;
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      cluster: b.cluster,
      at: now.toISOString(),
      dryRun: b.dryRun,
      ...(b.explain
        ? {
            assumption:
              'explain has no history: every candidate is taken as unneeded long enough and cooldowns are ignored (the running service tracks both; see its /status)',
          }
        : {}),
      ...(b.cooldown !== undefined ? { cooldown: b.cooldown } : {}),
      removals: plan.remove.map((r) => ({
        node: r.node,
        group: r.group,
        empty: r.empty,
        utilization: share(r.node),
        destinations: r.destinations,
      })),
      removing: b.removing.map((r) => ({ ...r, since: iso(r.since) })),
      unneeded: b.explain
        ? []
        : [...plan.unneededSince]
            .sort(([a], [c]) => (a < c ? -1 : 1))
            .map(([node, since]) => {
              const group = groupOf.get(node);
              return {
                node,
                ...(group !== undefined ? { group } : {}),
                since: iso(since),
                for: formatDuration(now.getTime() - since),
                utilization: share(node),
              };
            }),
      kept,
      keptCounts,
      ...(b.lastFailure ? { lastFailure: { ...b.lastFailure, at: iso(b.lastFailure.at) } } : {}),
      problems: b.inputs.problems,
    };
  }

  /** Keeps the report and sets the gauges from it. */
  publish(r: ScaleDownReport): void {
    this.#last.set(r.cluster, r);
    const set: Array<{ m: keyof Metrics; labels: Record<string, string> }> = [];
    const gauge = (m: keyof Metrics, labels: Record<string, string>, v: number) => {
      (this.#metrics[m] as { set(l: Record<string, string>, v: number): void }).set(labels, v);
      set.push({ m, labels });
    };
    const cluster = r.cluster;
    const unneeded = new Map<string, number>();
    for (const u of r.unneeded) if (u.group) unneeded.set(u.group, (unneeded.get(u.group) ?? 0) + 1);
    // Every group with a node gets a sample, 0 included, so a group's line drops to 0 instead of ending.
    for (const k of r.kept) if (k.group && !unneeded.has(k.group)) unneeded.set(k.group, 0);
    for (const [g, n] of unneeded) gauge('unneededNodes', { cluster, node_group: g }, n);
    // Unremovable: kept and not unneeded (a node waiting for its time, a limit or the cooldown is counted
    // in unneeded_nodes), as cluster-autoscaler counts them.
    const isUnneeded = new Set(r.unneeded.map((u) => u.node));
    const unremovable = new Map<string, number>();
    for (const k of r.kept)
      if (!isUnneeded.has(k.node)) unremovable.set(k.code, (unremovable.get(k.code) ?? 0) + 1);
    for (const [code, n] of unremovable) gauge('unremovableNodes', { cluster, reason: code }, n);
    gauge('scaleDownInCooldown', { cluster }, r.cooldown !== undefined ? 1 : 0);
    this.#drop(cluster, set);
    this.#series.set(cluster, set);
  }

  forget(cluster: string): void {
    this.#last.delete(cluster);
    this.#drop(cluster, []);
    this.#series.delete(cluster);
  }

  /** The last report per cluster, with long kept lists cut (their counts stay whole). */
  all(): ScaleDownReport[] {
    return [...this.#last.values()].map((r) =>
      r.kept.length > MAX_KEPT_IN_STATUS
        ? { ...r, kept: r.kept.slice(0, MAX_KEPT_IN_STATUS), keptCut: r.kept.length - MAX_KEPT_IN_STATUS }
        : r,
    );
  }

  #drop(cluster: string, keep: Array<{ m: keyof Metrics; labels: Record<string, string> }>): void {
    const still = new Set(keep.map((s) => `${s.m}|${JSON.stringify(s.labels)}`));
    for (const s of this.#series.get(cluster) ?? [])
      if (!still.has(`${s.m}|${JSON.stringify(s.labels)}`))
        (this.#metrics[s.m] as { remove(l: Record<string, string>): void }).remove(s.labels);
  }
}
