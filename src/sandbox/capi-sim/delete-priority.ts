// Which Machines a MachineSet deletes when it has more than spec.replicas, exactly as CAPI's MachineSet
// controller orders them (core/reconcilers/machineset/machineset_deletion_order.go; CAPI-FACTS §1.2).
// The atomic mark-and-delete protocol depends on this order, so it is pure and table-tested.
import { ANNOTATIONS, type Condition, type DeletionOrder } from '../../capi/types.ts';

export const PRIORITY = {
  mustDelete: 100,
  shouldDeleteFirst: 80,
  shouldDelete: 75,
  betterDelete: 50,
  couldDelete: 20,
  mustNotDelete: 0,
} as const;

const IN_PLACE_UPDATE = 'in-place-updates.internal.cluster.x-k8s.io/update-in-progress';
const SECONDS_PER_10_DAYS = 864_000;

/** The facts about a Machine the ordering reads. */
export interface DeletionCandidate {
  name: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  annotations: Readonly<Record<string, string>>;
  nodeRef?: string;
  conditions: readonly Condition[];
}

/** Unhealthy: no nodeRef, or NodeHealthy / HealthCheckSucceeded False (Unknown counts as healthy). */
export function isMachineHealthy(m: DeletionCandidate): boolean {
  if (!m.nodeRef) return false;
  return !m.conditions.some(
    (c) => (c.type === 'NodeHealthy' || c.type === 'HealthCheckSucceeded') && c.status === 'False',
  );
}

function oldestScore(m: DeletionCandidate, now: Date): number {
  if (!m.creationTimestamp) return PRIORITY.mustNotDelete;
  const ageSeconds = (now.getTime() - Date.parse(m.creationTimestamp)) / 1000;
  if (!(ageSeconds >= 0)) return PRIORITY.mustNotDelete;
  return PRIORITY.betterDelete * (1 - Math.exp(-ageSeconds / SECONDS_PER_10_DAYS));
}

export function deletePriority(m: DeletionCandidate, order: DeletionOrder, now: Date): number {
  if (m.deletionTimestamp) return PRIORITY.mustDelete;
  // Presence is what counts; CAPI ignores the value (even "").
  if (ANNOTATIONS.deleteMachine in m.annotations) return PRIORITY.shouldDeleteFirst;
  if (IN_PLACE_UPDATE in m.annotations) return PRIORITY.shouldDelete;
  if (!isMachineHealthy(m)) return PRIORITY.betterDelete;
  switch (order) {
    case 'Random':
      return PRIORITY.couldDelete;
    case 'Oldest':
      return oldestScore(m, now);
    case 'Newest':
      return PRIORITY.betterDelete - oldestScore(m, now);
    default: {
      const never: never = order;
      throw new Error(`unknown deletion order ${String(never)}`);
    }
  }
}

/**
 * The `count` machines CAPI would pick: highest priority first, ties by ascending name (so "Random"
 * is deterministic: the alphabetically first healthy machine). Already-deleting machines are included
 * (they rank first), which is why a MachineSet does not delete more while earlier deletions run.
 */
export function machinesToDelete<T extends DeletionCandidate>(
  machines: readonly T[],
  count: number,
  order: DeletionOrder,
  now: Date,
): T[] {
  if (count <= 0) return [];
  const scored = machines.map((m) => ({ m, p: deletePriority(m, order, now) }));
  scored.sort((a, b) => b.p - a.p || (a.m.name < b.m.name ? -1 : a.m.name > b.m.name ? 1 : 0));
  return scored.slice(0, count).map((s) => s.m);
}
