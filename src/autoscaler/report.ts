// What each decision leaves behind besides writes: the node group gauges, the per-reason gauge of pods no
// group took, a Warning event on each disabled group (once per reason), the span events, and the last
// decision per cluster for /status. Series of groups that are gone are removed, not left at their last
// value.
import type { EventRecorder } from '../kube/events.ts';
import type { Metrics } from '../metrics/registry.ts';
import { recordingSpan } from '../tracing/spans.ts';
import { refusals, type Decision } from './decision.ts';
import type { NodeGroup } from './nodegroups.ts';

type ObjectRef = { apiVersion: string; kind: string; namespace: string; name: string };

/** At most this many span events per decision for pods without a scale-up (one per distinct reasons). */
const MAX_SPAN_EVENTS = 20;

export class DecisionReport {
  readonly #metrics: Metrics;
  readonly #events: EventRecorder;
  readonly #ref: (groupId: string) => ObjectRef;
  readonly #last = new Map<string, Decision>();
  /** Label sets set per cluster at its last decision, to remove those that are gone. */
  readonly #series = new Map<string, Array<{ m: keyof Metrics; labels: Record<string, string> }>>();
  /** Cluster → group id → the disabled text last reported by an event. */
  readonly #disabledEvent = new Map<string, Map<string, string>>();

  constructor(metrics: Metrics, events: EventRecorder, ref: (groupId: string) => ObjectRef) {
    this.#metrics = metrics;
    this.#events = events;
    this.#ref = ref;
  }

  /**
   * `sizesOnly`: a look at sizes between decisions; it updates the groups' sizes and states and keeps
   * the last decision's plan, reasons and template nodes.
   */
  publish(fresh: Decision, groups: readonly NodeGroup[], sizesOnly = false): void {
    const prev = this.#last.get(fresh.cluster);
    const d = !prev ? fresh : sizesOnly ? mergeSizes(prev, fresh) : carryTemplates(prev, fresh);
    this.#last.set(d.cluster, d);
    const cluster = d.cluster;
    const set: Array<{ m: keyof Metrics; labels: Record<string, string> }> = [];
    const gauge = (m: keyof Metrics, labels: Record<string, string>, v: number) => {
      (this.#metrics[m] as { set(l: Record<string, string>, v: number): void }).set(labels, v);
      set.push({ m, labels });
    };
    const byId = new Map(groups.map((g) => [g.key, g]));
    for (const g of d.groups) {
      const l = { cluster, node_group: g.id };
      if (g.min !== undefined) gauge('nodeGroupMinSize', l, g.min);
      if (g.max !== undefined) gauge('nodeGroupMaxSize', l, g.max);
      if (g.target !== undefined) gauge('nodeGroupTargetSize', l, g.target);
      if (g.current !== undefined) gauge('nodeGroupCurrentSize', l, g.current);
      // Healthy: able to scale now (a group without a template node cannot grow from zero).
      const unhealthy = g.state === 'disabled' || g.state === 'backoff' || g.state === 'no-template';
      gauge('nodeGroupHealthy', l, unhealthy ? 0 : 1);
      gauge('nodeGroupBackoff', l, g.state === 'backoff' ? 1 : 0);
      const disabledCode = byId.get(g.id)?.disabledCode;
      if (disabledCode !== undefined) gauge('nodeGroupDisabled', { ...l, reason: disabledCode }, 1);
      this.#disabledEventFor(cluster, g.id, g.state === 'disabled' ? g.reason : undefined);
    }
    for (const [group, codes] of refusals(d))
      for (const [reason, n] of codes) gauge('podsWithoutScaleUp', { cluster, node_group: group, reason }, n);
    this.#metrics.unschedulablePods.set({ cluster }, d.pendingPods);
    const key = (x: { m: string; labels: Record<string, string> }) => `${x.m}|${JSON.stringify(x.labels)}`;
    const now = new Set(set.map(key));
    for (const old of this.#series.get(cluster) ?? [])
      if (!now.has(key(old)))
        (this.#metrics[old.m] as { remove(l: Record<string, string>): void }).remove(old.labels);
    this.#series.set(cluster, set);
    this.#spanEvents(d);
  }

  /** Forgets a cluster that is gone: its series and its decision. */
  forget(cluster: string): void {
    for (const old of this.#series.get(cluster) ?? [])
      (this.#metrics[old.m] as { remove(l: Record<string, string>): void }).remove(old.labels);
    this.#series.delete(cluster);
    this.#last.delete(cluster);
    this.#disabledEvent.delete(cluster);
    this.#metrics.unschedulablePods.remove({ cluster });
  }

  last(cluster: string): Decision | undefined {
    return this.#last.get(cluster);
  }

  all(): Decision[] {
    return [...this.#last.values()].sort((a, b) => (a.cluster < b.cluster ? -1 : 1));
  }

  #disabledEventFor(cluster: string, id: string, reason: string | undefined): void {
    let seen = this.#disabledEvent.get(cluster);
    if (!seen) this.#disabledEvent.set(cluster, (seen = new Map()));
    if (reason === undefined) {
      seen.delete(id);
      return;
    }
    if (seen.get(id) === reason) return;
    seen.set(id, reason);
    void this.#events.record(this.#ref(id), 'Warning', 'NodeGroupDisabled', `Not autoscaled: ${reason}`);
  }

  /** The reasons of pods without a scale-up on the reconcile span, one event per distinct set of reasons. */
  #spanEvents(d: Decision): void {
    const span = recordingSpan();
    if (!span || d.noScaleUp.length === 0) return;
    const seen = new Map<string, { pod: string; count: number; codes: string[] }>();
    for (const n of d.noScaleUp) {
      const text = Object.entries(n.reasons)
        .map(([g, r]) => `${g}: ${r}`)
        .join('; ');
      const e = seen.get(text);
      if (e) e.count++;
      else seen.set(text, { pod: n.pod, count: 1, codes: [...new Set(Object.values(n.codes))].sort() });
    }
    let i = 0;
    for (const [text, e] of seen) {
      if (i++ >= MAX_SPAN_EVENTS) break;
      span.addEvent('no_scale_up', {
        'k8s.pod.name': e.pod,
        'capi_autopilot.pods': e.count,
        'capi_autopilot.reason': e.codes.join(','),
        'capi_autopilot.reasons': text,
      });
    }
  }
}

/**
 * The last decision's plan and reasons with the groups' sizes and states of a sizes-only look; `at` stays
 * the decision's time (its reasons are that old), `sizesAt` says when sizes were refreshed.
 */
function mergeSizes(prev: Decision, sizes: Decision): Decision {
  return {
    ...carryTemplates(prev, sizes),
    at: prev.at,
    sizesAt: sizes.at,
    scaleUps: prev.scaleUps,
    waiting: prev.waiting,
    noScaleUp: prev.noScaleUp,
    problems: prev.problems,
  };
}

/**
 * A decision made without building templates (no pending pods, or sizes only) keeps what only a
 * planning decision knows: each group's template node, its notes, and whether it could be built.
 */
function carryTemplates(prev: Decision, fresh: Decision): Decision {
  if (fresh.templatesBuilt) return fresh;
  const before = new Map(prev.groups.map((g) => [g.id, g]));
  return {
    ...fresh,
    templatesBuilt: prev.templatesBuilt,
    groups: fresh.groups.map((g) => {
      const p = before.get(g.id);
      if (!p) return g;
      const keep = g.state === 'ok' && p.state === 'no-template';
      return {
        ...g,
        ...(p.template ? { template: p.template } : {}),
        notes: p.notes,
        ...(keep ? { state: p.state, reason: p.reason, code: p.code } : {}),
      };
    }),
  };
}
