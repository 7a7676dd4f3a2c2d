// metav1.LabelSelector semantics (apimachinery LabelSelectorAsSelector + labels.Requirement):
// matchLabels and matchExpressions are ANDed, an empty selector matches everything, NotIn and
// DoesNotExist match objects without the key. Adapters have validated operators and value counts.
import type { LabelSelector, LabelSelectorRequirement } from './types.ts';

type Labels = Readonly<Record<string, string>>;

function has(labels: Labels, key: string): boolean {
  return Object.hasOwn(labels, key);
}

function matchesRequirement(labels: Labels, r: LabelSelectorRequirement): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return has(labels, r.key) && values.includes(labels[r.key] as string);
    case 'NotIn':
      return !has(labels, r.key) || !values.includes(labels[r.key] as string);
    case 'Exists':
      return has(labels, r.key);
    case 'DoesNotExist':
      return !has(labels, r.key);
    default: {
      const never: never = r.operator;
      throw new RangeError(`unknown label selector operator ${String(never)}`);
    }
  }
}

export function matchesSelector(labels: Labels, selector: LabelSelector): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (!has(labels, k) || labels[k] !== v) return false;
  }
  return (selector.matchExpressions ?? []).every((r) => matchesRequirement(labels, r));
}

function requirementString(r: LabelSelectorRequirement): string {
  // Values are sorted on output, as labels.Requirement.String does.
  const values = [...(r.values ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).join(',');
  switch (r.operator) {
    case 'In':
      return `${r.key} in (${values})`;
    case 'NotIn':
      return `${r.key} notin (${values})`;
    case 'Exists':
      return r.key;
    case 'DoesNotExist':
      return `!${r.key}`;
    default: {
      const never: never = r.operator;
      throw new RangeError(`unknown label selector operator ${String(never)}`);
    }
  }
}

/**
 * The string form CAPI writes to status.selector (and the scale subresource returns): requirements sorted
 * by key, e.g. `a=b,c in (x,y),!d`. An empty selector is "" (labels.Everything()).
 */
export function selectorToString(selector: LabelSelector): string {
  const reqs: { key: string; text: string }[] = [
    ...Object.entries(selector.matchLabels ?? {}).map(([key, v]) => ({ key, text: `${key}=${v}` })),
    ...(selector.matchExpressions ?? []).map((r) => ({ key: r.key, text: requirementString(r) })),
  ];
  // Array.prototype.sort is stable: equal keys keep matchLabels-then-expressions order.
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return reqs.map((r) => r.text).join(',');
}
