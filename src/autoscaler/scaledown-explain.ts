// `capi-autopilot explain` for scale-down, as text: which nodes would go and why every other node stays,
// for a whole cluster, one node group or one node. Pure: a ScaleDownReport in, lines out.
import { groupMatches } from './explain.ts';
import type { ScaleDownReport } from './scaledown-report.ts';

/** Per reason, at most this many nodes are named in the overview (all are counted). */
const NODES_PER_REASON = 10;

export interface ScaleDownFilter {
  group?: string;
  node?: string;
}

export function scaleDownLines(r: ScaleDownReport, f: ScaleDownFilter = {}): string[] {
  if (f.node !== undefined) return nodeLines(r, f.node);
  const inGroup = (g: string | undefined) =>
    f.group === undefined || (g !== undefined && groupMatches(g, f.group));
  const out = ['Scale-down:'];
  if (r.assumption) out.push(`  (${r.assumption})`);
  if (r.cooldown) out.push(`  paused: ${r.cooldown}`);
  const removing = r.removing.filter((x) => inGroup(x.group));
  if (removing.length)
    out.push(
      '  Being removed:',
      ...removing.map((x) => `    ${x.node} (${x.group}, Machine ${x.machine}) since ${x.since}`),
    );
  const removals = r.removals.filter((x) => inGroup(x.group));
  out.push(
    removals.length ? `  ${r.dryRun ? 'Would remove' : 'Removing'}:` : '  Would remove: nothing',
    ...removals.map((x) => `    ${x.node} (${x.group}): ${removalText(x)}`),
  );
  const kept = r.kept.filter(
    (k) => inGroup(k.group) && (f.group !== undefined || k.code !== 'not_autoscaled'),
  );
  const others = f.group === undefined ? (r.keptCounts['not_autoscaled'] ?? 0) : 0;
  if (kept.length) {
    out.push('  Kept:');
    const byCode = new Map<string, typeof kept>();
    for (const k of kept) byCode.set(k.code, [...(byCode.get(k.code) ?? []), k]);
    for (const [code, list] of byCode) {
      for (const k of list.slice(0, NODES_PER_REASON))
        out.push(`    ${k.node}${k.group ? ` (${k.group})` : ''}: ${k.reason} [${code}]`);
      if (list.length > NODES_PER_REASON)
        out.push(`    and ${list.length - NODES_PER_REASON} more [${code}]`);
    }
  }
  if (others) out.push(`  ${others} other node(s) are not in an autoscaled node group`);
  if (r.lastFailure)
    out.push(`  Last failure: ${r.lastFailure.node} at ${r.lastFailure.at}: ${r.lastFailure.reason}`);
  return out;
}

function nodeLines(r: ScaleDownReport, node: string): string[] {
  const out = [`Node ${node}:`];
  if (r.assumption) out.push(`  (${r.assumption})`);
  const removing = r.removing.find((x) => x.node === node);
  if (removing)
    out.push(`  being removed since ${removing.since} (Machine ${removing.machine} of ${removing.group})`);
  const removal = r.removals.find((x) => x.node === node);
  if (removal)
    out.push(
      `  ${r.dryRun ? 'would be removed' : 'removing'} from ${removal.group}: ${removalText(removal)}`,
    );
  const unneeded = r.unneeded.find((x) => x.node === node);
  if (unneeded) out.push(`  unneeded for ${unneeded.for} (since ${unneeded.since}), ${unneeded.utilization}`);
  const kept = r.kept.find((x) => x.node === node);
  if (kept) out.push(`  kept${kept.group ? ` (${kept.group})` : ''}: ${kept.reason} [${kept.code}]`);
  if (r.cooldown && !removal) out.push(`  scale-down is paused: ${r.cooldown}`);
  return out;
}

function removalText(x: ScaleDownReport['removals'][number]): string {
  if (x.empty) return 'empty (nothing to move)';
  const moves = x.destinations.map((d) => `${d.pod} -> ${d.to}`);
  return `${x.utilization}; moves ${moves.length} pod(s): ${moves.slice(0, 5).join(', ')}${moves.length > 5 ? ', ...' : ''}`;
}

/** Whether the report knows the node (it is in the cluster's node cache when the report was made). */
export function reportHasNode(r: ScaleDownReport, node: string): boolean {
  return (
    r.kept.some((k) => k.node === node) ||
    r.removals.some((x) => x.node === node) ||
    r.removing.some((x) => x.node === node)
  );
}
