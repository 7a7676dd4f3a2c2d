// The scale-up controller: the imperative shell around the pure planner. Event-driven: a pod turning
// unschedulable in a workload cluster opens a batch, which closes after `scaleUpBatchIdle` without new
// ones (at most `scaleUpBatchMax`); then one reconcile for that cluster reads the caches, builds the
// planner's input (inputs.ts), plans (scaleup.ts) and executes each scale-up (io.ts), with the events
// and metrics users know from cluster-autoscaler. While unschedulable pods remain, the cluster is looked
// at again every scan interval (back-offs end, machines join or fail, young pods come of age).
import { EventRecorder } from '../kube/events.ts';
import { fighting, ledgerOf } from '../machines/records.ts';
import { Controller } from '../runtime/controller.ts';
import type { ControllerEnv } from '../service.ts';
import { inSpan, recordDecision } from '../tracing/spans.ts';
import {
  clusterTotals,
  existingNodes,
  failedProvisioning,
  groupCandidates,
  isUnschedulablePod,
  nodeFitChanged,
  pendingPods,
} from './inputs.ts';
import { abridged, buildDecision, type Decision } from './decision.ts';
import { discoverFromCaches, fetchTemplates, readPriorities, scaleUp, TemplateCache } from './io.ts';
import type { NodeGroup } from './nodegroups.ts';
import { staticFit } from './predicates.ts';
import { DecisionReport } from './report.ts';
import { planScaleUp, type Plan } from './scaleup.ts';

const BACKOFF_INITIAL_MS = 5 * 60_000; // cluster-autoscaler's node group back-off: 5 min doubling to 30
const BACKOFF_MAX_MS = 30 * 60_000;
const BACKOFF_RESET_MS = 3 * 60 * 60_000;
const FIGHT_WINDOW_MS = 10 * 60_000;
const EVENT_EVERY_MS = 10 * 60_000; // one NotTriggerScaleUp per pod per this (not one per scan)
const CORE = 1000;
const GIB = 2 ** 30 * 1000;

export interface Autoscaler {
  controller: Controller;
  /**
   * What the autoscaler would do in a cluster now and why (`explain`), computed afresh with no write;
   * undefined while its caches have not synced.
   */
  explain(cluster: string): Promise<Decision | undefined>;
  /** The last decision per cluster (/status). */
  decisions(): Decision[];
  /** When this replica last scaled the cluster up (epoch ms): scale-down waits after it. */
  lastScaleUp(cluster: string): number | undefined;
}

/** A sizes-only look at a cluster's groups (gauges, /status), queued apart from scale-up decisions. */
const SIZES = 'sizes:';

export function createAutoscaler(
  env: ControllerEnv,
  o: { dryRun?: boolean; random?: () => number } = {},
): Autoscaler {
  const dryRun = o.dryRun ?? env.dryRun;
  const cfg = env.config.autoscaler;
  const mgmt = (r: string) => env.informers.get(`management/${r}`)!;
  const log = env.log.child({ controller: 'autoscaler' });
  const events = new EventRecorder(env.management, {
    onError: (e) => log.debug({ err: e.message }, 'event not recorded'),
  });
  const podEvents = new Map<string, EventRecorder>();
  const lastPodEvent = new Map<string, { at: number; message: string }>();
  const backoff = new Map<string, { until: number; step: number; failed: Set<string> }>();
  const batches = new Map<string, { idle?: NodeJS.Timeout; max?: NodeJS.Timeout }>();
  const scaledUpAt = new Map<string, number>();
  const templates = new TemplateCache();
  const report = new DecisionReport(env.metrics, events, (id) => groupRef(env, id));
  env.publishStatus('autoscaler', () => ({ dryRun, clusters: report.all().map((d) => abridged(d)) }));

  /**
   * Everything one decision needs, from the caches (and a few reads); undefined until they have synced.
   * `sizes` looks only at the groups' sizes and states (no template reads, no planning), as a decision
   * without pending pods does; `explain` asks for the whole picture even then.
   */
  async function decide(
    cluster: string,
    mode: 'sizes' | 'plan' | 'explain',
  ): Promise<{ plan: Plan; groups: Map<string, NodeGroup>; decision: Decision } | undefined> {
    const { namespace, name } = refOf(cluster);
    const pods = env.informers.get(`${cluster}/pods`);
    const nodes = env.informers.get(`${cluster}/nodes`);
    const synced = [pods, nodes, env.informers.get(`${cluster}/daemonsets`)].every((i) => i?.hasSynced());
    if (!pods || !nodes || !synced) return undefined;
    const now = new Date();
    const pending = pendingPods(pods.list(), now, cfg.newPodScaleUpDelay);
    for (const p of pending.problems) log.warn({ cluster, problem: p }, 'pod not considered');
    const discovered = discoverFromCaches(env);
    const groups = discovered.groups.filter((g) => g.namespace === namespace && g.clusterName === name);
    const ignored = discovered.ignored.filter((i) => i.key.split('/')[1] === namespace);
    const byKey = new Map(groups.map((g) => [g.key, g]));
    const plan: Plan = { scaleUps: [], waiting: [], noScaleUp: [] };
    // Without groups there is still a plan (every pending pod without a scale-up), but nothing to read.
    const planning = mode === 'explain' || (mode === 'plan' && pending.pending.length > 0);
    const reads = planning && groups.length > 0;

    const machines = mgmt('machines').list();
    const daemonSets = reads ? (env.informers.get(`${cluster}/daemonsets`)?.list() ?? []) : [];
    const cands = groupCandidates({
      cluster: { namespace, name },
      groups,
      machineSets: mgmt('machinesets').list(),
      machines,
      nodes: nodes.list(),
      infraTemplates: reads ? await fetchTemplates(env, groups, log, templates) : new Map(),
      daemonSets,
      now,
      backoff: new Map(),
    });
    // Machines that never became nodes: the group backs off and their room no longer counts as coming.
    const failedBy = new Map<string, number>();
    for (const [key, names] of cands.machineNames) {
      const limit = byKey.get(key)?.options?.maxNodeProvisionTime ?? cfg.maxNodeProvisionTime;
      const failed = failedProvisioning(machines, names, now, limit, namespace);
      // Back-off is a planning matter: a sizes look (any Machine change) must not start one.
      if (failed.length && planning) noteFailure(cluster, key, failed, now.getTime());
      failedBy.set(key, failed.length);
    }
    const existing = existingNodes(nodes.list(), pods.list());
    const totals = clusterTotals(existing.nodes);
    const candidates = cands.groups.map((g) => {
      const ledger = ledgerOf(byKey.get(g.id)?.object.meta.annotations ?? {}).ledger;
      const b = backoff.get(g.id);
      return {
        ...g,
        upcoming: Math.max(0, g.upcoming - (failedBy.get(g.id) ?? 0)),
        ...(b ? { backoffUntil: b.until } : {}),
        // Someone else keeps setting spec.replicas (GitOps, a ClusterClass topology): do not fight it.
        ...(!g.disabled && fighting(ledger, now, FIGHT_WINDOW_MS)
          ? {
              disabled: `another writer changed spec.replicas ${ledger?.foreignWrites} times, last at ${ledger?.lastForeignWrite}: not fighting it`,
            }
          : {}),
      };
    });
    const decisionOf = (p: Plan) =>
      buildDecision({
        cluster,
        now,
        dryRun,
        pendingPods: pending.pending.length,
        groups,
        ignored,
        candidates,
        counts: cands.counts,
        notes: planning ? cands.notes : [],
        templates: planning,
        plan: p,
        problems: pending.problems,
      });
    if (!planning) return { plan, groups: byKey, decision: decisionOf(plan) };
    const coming = (r: string) =>
      candidates.reduce((a, g) => a + (g.template?.allocatable[r] ?? 0) * g.upcoming, 0);
    const planned = planScaleUp({
      pending: pending.pending,
      nodes: existing.nodes,
      groups: candidates,
      limits: {
        maxNodesTotal: cfg.maxNodesTotal,
        currentNodes: totals.nodes + candidates.reduce((a, g) => a + g.upcoming, 0),
        maxCpuTotal: cfg.maxCoresTotal * CORE,
        currentCpu: totals.cpu + coming('cpu'),
        maxMemoryTotal: cfg.maxMemoryTotalGiB * GIB,
        currentMemory: totals.memory + coming('memory'),
      },
      expander: cfg.expander,
      priorities: cfg.expander === 'priority' ? await readPriorities(env, log) : undefined,
      random: o.random ?? Math.random,
      now: now.getTime(),
      staticFit,
    });
    return { plan: planned, groups: byKey, decision: decisionOf(planned) };
  }

  /** A group whose machines did not become nodes in time backs off, doubling up to 30 minutes. */
  function noteFailure(cluster: string, key: string, failed: string[], now: number) {
    const b = backoff.get(key);
    if (b && failed.every((m) => b.failed.has(m))) return; // nothing new failed
    const step = b && now - b.until < BACKOFF_RESET_MS ? b.step + 1 : 0;
    const until = now + Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** step);
    backoff.set(key, { until, step, failed: new Set([...(b?.failed ?? []), ...failed]) });
    env.metrics.failedScaleUps.inc({ cluster, node_group: key, reason: 'timeout' });
    const msg = `Machines ${failed.join(', ')} did not become Ready nodes within max-node-provision-time: ${key} backs off until ${new Date(until).toISOString()}`;
    void events.record(groupRef(env, key), 'Warning', 'FailedScaleUp', msg);
    log.warn({ group: key, machines: failed, until: new Date(until).toISOString() }, 'group backs off');
  }

  const controller = new Controller({
    name: 'autoscaler',
    workers: 1,
    log: env.log,
    metrics: env.metrics,
    // A replica that stops leading stops exporting what it decided: the new leader's numbers count.
    onActiveChange: (active) => {
      if (!active) for (const d of report.all()) report.forget(d.cluster);
    },
    reconcile: async (key) => {
      const sizes = key.startsWith(SIZES);
      const cluster = sizes ? key.slice(SIZES.length) : key;
      // Connected means its informers exist: they do before the connection is listed (the sizes look
      // queued on connect would otherwise find it missing and be dropped).
      if (!env.informers.has(`${cluster}/nodes`)) {
        report.forget(cluster); // the Cluster (or its connection) is gone
        return undefined;
      }
      const d = await decide(cluster, sizes ? 'sizes' : 'plan');
      if (!d) return { requeueAfterMs: 1000 }; // caches not synced yet
      report.publish(d.decision, [...d.groups.values()], sizes);
      if (sizes) return undefined;
      recordDecision(
        d.plan.scaleUps.length ? 'scale-up' : d.plan.noScaleUp.length ? 'no-scale-up' : 'none',
        d.plan.scaleUps.length
          ? 'pending_pods'
          : d.plan.noScaleUp.length
            ? 'no_group_fits'
            : 'nothing_pending',
      );
      for (const s of d.plan.scaleUps) {
        const g = d.groups.get(s.group.id)!;
        if (dryRun) {
          log.info(
            { group: s.group.id, from: s.from, to: s.to, pods: s.pods.length },
            'dry run: would scale up',
          );
          continue;
        }
        const r = await inSpan(
          'autoscaler.scale_up',
          {
            attributes: {
              'capi_autopilot.node_group': s.group.id,
              'capi_autopilot.decision': 'scale-up',
              'capi_autopilot.reason': 'pending_pods',
              'capi_autopilot.from': s.from,
              'capi_autopilot.to': s.to,
              'capi_autopilot.pods': s.pods.length,
            },
          },
          async () => {
            try {
              return await scaleUp(env, g, s.to);
            } catch (e) {
              // One group's refusal (a webhook, RBAC, the group gone) must not stop the others.
              noteFailure(cluster, s.group.id, [`(write failed: ${(e as Error).message})`], Date.now());
              return 'failed' as const;
            }
          },
        );
        if (r === 'failed') continue;
        if (r === 'conflict') return { requeueAfterMs: 200 }; // decide again on what changed
        scaledUpAt.set(cluster, Date.now());
        env.metrics.scaledUpNodes.inc(
          { cluster, node_group: s.group.id, reason: 'pending_pods' },
          s.to - s.from,
        );
        const change = `${s.group.id} ${s.from}->${s.to} (max: ${s.group.maxSize})`;
        void events.record(
          groupRef(env, s.group.id),
          'Normal',
          'ScaledUpGroup',
          `Scale-up: ${change} for ${s.pods.length} pending pod(s)`,
        );
        for (const pod of s.pods)
          podEvent(cluster, pod, 'TriggeredScaleUp', `pod triggered scale-up: [{${change}}]`);
      }
      if (d.groups.size > 0)
        for (const n of d.plan.noScaleUp) {
          const why = Object.entries(n.reasons)
            .map(([g, r]) => `${g}: ${r}`)
            .join('; ');
          podEvent(cluster, n.pod, 'NotTriggerScaleUp', `pod didn't trigger scale-up: ${why}`);
        }
      const pods = env.informers.get(`${cluster}/pods`);
      return pods?.list().some(isUnschedulablePod)
        ? { requeueAfterMs: cfg.scanIntervalSeconds * 1000 }
        : undefined;
    },
  });

  /** An event on a pod, at most once per pod per EVENT_EVERY_MS unless its message changed. */
  function podEvent(
    cluster: string,
    pod: { namespace: string; name: string; uid: string },
    reason: string,
    message: string,
  ) {
    if (dryRun) return; // it would be refused anyway; no need to queue it
    const key = `${pod.uid}/${reason}`;
    const last = lastPodEvent.get(key);
    const now = Date.now();
    // Entries older than the window say nothing any more: drop them, or every pod ever pending stays.
    if (lastPodEvent.size > 1000)
      for (const [k, v] of lastPodEvent) if (now - v.at >= EVENT_EVERY_MS) lastPodEvent.delete(k);
    if (last && last.message === message && now - last.at < EVENT_EVERY_MS) return;
    lastPodEvent.set(key, { at: now, message });
    let r = podEvents.get(cluster);
    if (!r) {
      const conn = env.workload.get(refOf(cluster));
      if (!conn) return;
      r = new EventRecorder(conn.client, {
        onError: (e) => log.debug({ err: e.message }, 'event not recorded'),
      });
      podEvents.set(cluster, r);
    }
    void r.record(
      { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid },
      'Normal',
      reason,
      message,
    );
  }

  // Batching: one decision per burst of unschedulable pods. Timers are unref'd: they never hold a stopping
  // process, and a key added after the controller stopped is dropped by its queue.
  const trigger = (cluster: string) => {
    let b = batches.get(cluster);
    if (!b) {
      b = {};
      batches.set(cluster, b);
      b.max = setTimeout(() => fire(cluster), cfg.scaleUpBatchMax);
      b.max.unref();
    }
    if (b.idle) clearTimeout(b.idle);
    b.idle = setTimeout(() => fire(cluster), cfg.scaleUpBatchIdle);
    b.idle.unref();
  };
  const fire = (cluster: string) => {
    const b = batches.get(cluster);
    if (b) {
      clearTimeout(b.idle);
      clearTimeout(b.max);
      batches.delete(cluster);
    }
    controller.enqueue(cluster);
  };
  env.onWorkloadDisconnected((cluster) => {
    report.forget(cluster);
    podEvents.delete(cluster);
    const b = batches.get(cluster);
    if (b) {
      clearTimeout(b.idle);
      clearTimeout(b.max);
      batches.delete(cluster);
    }
  });
  env.onWorkloadConnected((cluster, i) => {
    // A reconnect brings a new client: events go through it from now on.
    podEvents.delete(cluster);
    i.pods.onChange((type, pod) => {
      if (type !== 'DELETED' && isUnschedulablePod(pod)) trigger(cluster);
    });
    // A node joining, leaving or changing what fits: look again once things settle. It opens a batch
    // when none is open but never extends one (pods, not nodes, decide when a batch is complete).
    i.nodes.onChange((type, node, old) => {
      if (batches.has(cluster) || !nodeFitChanged(type, node, old)) return;
      if (i.pods.list().some(isUnschedulablePod)) trigger(cluster);
    });
  });
  // Group sizes and states follow their objects between decisions (gauges, /status): a debounced,
  // sizes-only look at the cluster whenever one of its groups, MachineSets or Machines changes.
  const sizesPending = new Map<string, NodeJS.Timeout>();
  const sizesSoon = (
    _t: unknown,
    o: { metadata: { namespace?: string; labels?: Record<string, string> } },
  ) => {
    const spec = (o as { spec?: { clusterName?: string } }).spec;
    const name = spec?.clusterName ?? o.metadata.labels?.['cluster.x-k8s.io/cluster-name'];
    if (!name || !o.metadata.namespace) return;
    const cluster = `${o.metadata.namespace}/${name}`;
    if (sizesPending.has(cluster)) return;
    const t = setTimeout(() => {
      sizesPending.delete(cluster);
      controller.enqueue(`${SIZES}${cluster}`);
    }, SIZES_DEBOUNCE_MS);
    t.unref();
    sizesPending.set(cluster, t);
  };
  for (const r of ['machinedeployments', 'machinesets', 'machines']) mgmt(r).onChange(sizesSoon);
  env.onWorkloadConnected((cluster) => controller.enqueue(`${SIZES}${cluster}`));

  return {
    controller,
    explain: async (cluster) => (await decide(cluster, 'explain'))?.decision,
    decisions: () => report.all(),
    lastScaleUp: (cluster) => scaledUpAt.get(cluster),
  };
}

const SIZES_DEBOUNCE_MS = 1000;

function refOf(cluster: string): { namespace: string; name: string } {
  const [namespace, name] = cluster.split('/') as [string, string];
  return { namespace, name };
}

function groupRef(env: ControllerEnv, id: string) {
  const [kind, namespace, name] = id.split('/') as [string, string, string];
  return { apiVersion: `cluster.x-k8s.io/${env.capiVersion}`, kind, namespace, name };
}
