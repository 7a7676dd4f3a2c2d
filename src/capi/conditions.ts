// Condition list helpers. Writers must keep lastTransitionTime stable while a condition's status does not
// change (MHC timeouts count from it), so updates go through setCondition with an injected `now`.
import { kubeTime } from '../kube/time.ts';
import type { Condition } from './types.ts';

export { kubeTime };

export function findCondition(conditions: readonly Condition[], type: string): Condition | undefined {
  return conditions.find((c) => c.type === type);
}

/**
 * Returns a new list with `update` set: lastTransitionTime is kept when the status is unchanged and set to
 * `now` when it changes or the condition is new. Other conditions keep their order.
 */
export function setCondition(
  conditions: readonly Condition[],
  update: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  const previous = findCondition(conditions, update.type);
  const lastTransitionTime =
    previous && previous.status === update.status && previous.lastTransitionTime
      ? previous.lastTransitionTime
      : kubeTime(now);
  const next: Condition = { ...update, lastTransitionTime };
  return previous ? conditions.map((c) => (c === previous ? next : c)) : [...conditions, next];
}

/** Returns a new list without the condition of this type. */
export function removeCondition(conditions: readonly Condition[], type: string): Condition[] {
  return conditions.filter((c) => c.type !== type);
}
