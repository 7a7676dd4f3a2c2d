// The scale-down controller: every scan interval, per workload cluster, read the caches, build the
// planner's input (scaledown-inputs.ts), plan (scaledown.ts), publish why each node stays, and start each
// removal in the background (scaledown-exec.ts). Removals run through the atomic delete protocol, whose
// marks are on the API objects: a crash or a new leader finds them there and the recovery controller
// finishes or undoes them. What lives only in memory is what cluster-autoscaler keeps in memory too: how
// long each node has been unneeded and when the last scale-up, deletion and failure happened.
import { fromObject } from '../capi/adapters/index.ts';
import { ANNOTATIONS, type Cluster } from '../capi/types.ts';
import { drainers } from '../drain/drainers.ts';
import { scaleDownPolicy } from '../drain/options.ts';
import type { PdbLike } from '../drain/filters.ts';
import { EventRecorder } from '../kube/events.ts';
import type { MachineDeleter } from '../machines/executor.ts';
import { Controller } from '../runtime/controller.ts';
import type { ControllerEnv } from '../service.ts';
import { recordDecision } from '../tracing/spans.ts';
import { discoverFromCaches } from './io.ts';
import { executeRemoval, SCALE_DOWN_CORDON_ANNOTATION } from './scaledown-exec.ts';
import { scaleDownInputs } from './scaledown-inputs.ts';
import { ScaleDownReporter, type ScaleDownReport } from './scaledown-report.ts';
import { formatDuration, planScaleDown } from './scaledown.ts';
import { formatShare } from './utilization.ts';

export interface ScaleDownDeps {
  /** The service's deleter (src/machines); absent in a dry run, where nothing is removed. */
  deleter?: MachineDeleter;
  dryRun?: boolean;
  /** When the autoscaler last scaled this cluster up (epoch ms): scale-down-delay-after-add. */
  lastScaleUp?: (cluster: string) => number | undefined;
}

export interface ScaleDown {
  controller: Controller;
  /**
   * A fresh evaluation with no write (`explain`). It has no history, so it takes every candidate as
   * unneeded long enough and ignores cooldowns: it shows what would go, and why the others stay.
   */
  explain(cluster: string): ScaleDownReport | undefined;
  /** The last evaluation per cluster (/status). */
  reports(): ScaleDownReport[];
}

interface Removing {
  group: string;
  machine: string;
  since: number;
  empty: boolean;
}

interface ClusterState {
  unneededSince: Map<string, number>;
  removing: Map<string, Removing>;
  /** The removals' promises (settled ones removed): stop() waits for them. */
  running: Set<Promise<unknown>>;
  lastDelete?: number;
  lastFailure?: { at: number; node: string; reason: string };
  /** Stops this cluster's removals (leadership lost, cluster gone, shutdown). */
  abort: AbortController;
}

export function createScaleDown(env: ControllerEnv, deps: ScaleDownDeps = {}): ScaleDown {
  const dryRun = deps.dryRun ?? env.dryRun;
  const cfg = env.config.autoscaler;
  const policy = scaleDownPolicy(cfg);
  const log = env.log.child({ controller: 'scale-down' });
  const mgmt = (r: string) => env.informers.get(`management/${r}`)!;
  const machineEvents = new EventRecorder(env.management, {
    onError: (e) => log.debug({ err: e.message }, 'event not recorded'),
  });
  const nodeEvents = new Map<string, EventRecorder>();
  const states = new Map<string, ClusterState>();
  /** Clusters whose caches were not synced at the last look (logged once). */
  const waiting = new Set<string>();
  /** Removals of clusters already forgotten, still reaching their safe point. */
  const stopping = new Set<Promise<unknown>>();
  const reporter = new ScaleDownReporter(env.metrics);
  // Scale-down starts as cluster-autoscaler does: as if a scale-up had just happened (delay-after-add).
  let activeSince = Date.now();
  env.publishStatus('scaleDown', () => ({ dryRun, clusters: reporter.all() }));

  const stateOf = (cluster: string): ClusterState => {
    let s = states.get(cluster);
    if (!s) {
      s = { unneededSince: new Map(), removing: new Map(), running: new Set(), abort: new AbortController() };
      states.set(cluster, s);
    }
    return s;
  };

  /** Inputs and plan for a cluster from the caches; undefined until they have synced. */
  function evaluate(cluster: string, mode: 'run' | 'explain') {
    const [namespace, name] = cluster.split('/') as [string, string];
    const names = ['nodes', 'pods', 'daemonsets', 'pdbs'];
    const inf = names.map((r) => env.informers.get(`${cluster}/${r}`));
    if (!inf.every((i) => i?.hasSynced())) {
      const missing = names.filter((_r, i) => !inf[i]?.hasSynced());
      if (!waiting.has(cluster)) log.info({ cluster, missing }, 'scale-down waits for caches to sync');
      waiting.add(cluster);
      return undefined;
    }
    waiting.delete(cluster);
    const [nodes, pods, daemonSets, pdbs] = inf as [NonNullable<(typeof inf)[0]>, ...typeof inf];
    const now = new Date();
    const state = stateOf(cluster);
    const discovered = discoverFromCaches(env);
    const inputs = scaleDownInputs({
      cluster: { namespace, name },
      clusterPaused: clusterPaused(mgmt('clusters').get(cluster)),
      groups: discovered.groups,
      machineSets: mgmt('machinesets').list(),
      machines: mgmt('machines').list(),
      nodes: nodes.list(),
      pods: pods!.list(),
      pdbs: pdbs!.list() as unknown as PdbLike[],
      daemonSets: new Set(daemonSets!.list().map((d) => `${d.metadata.namespace}/${d.metadata.name}`)),
      policy,
      now,
      removing: new Set(state.removing.keys()),
    });
    const explain = mode === 'explain';
    const cooldown = explain ? undefined : cooldownOf(cluster, state, now.getTime());
    const plan = planScaleDown({
      nodes: inputs.nodes,
      groups: inputs.groups,
      // explain has no history: every candidate counts as unneeded long enough.
      unneededSince: explain ? new Map(inputs.nodes.map((n) => [n.node.name, 0])) : state.unneededSince,
      now: now.getTime(),
      ...(cooldown !== undefined ? { cooldown } : {}),
      limits: {
        maxEmptyBulkDelete: cfg.maxEmptyBulkDelete,
        maxNonEmptyPerGroup: cfg.maxScaleDownDrainsPerNodeGroup,
        maxTotal: cfg.maxScaleDownParallelism,
      },
      pending: inputs.pending,
    });
    const report = reporter.build({
      cluster,
      now,
      dryRun,
      explain,
      plan,
      inputs,
      ...(cooldown !== undefined ? { cooldown } : {}),
      removing: [...state.removing].map(([node, r]) => ({ node, ...r })),
      ...(state.lastFailure ? { lastFailure: state.lastFailure } : {}),
    });
    return { now, state, inputs, plan, report, pods: pods!, pdbs: pdbs!, daemonSets: daemonSets! };
  }

  function cooldownOf(cluster: string, s: ClusterState, now: number): string | undefined {
    if (!cfg.scaleDownEnabled) return 'scale-down is disabled (autoscaler.scaleDownEnabled=false)';
    const since = (what: string, at: number | undefined, delay: number) =>
      at !== undefined && now - at < delay
        ? `${what} ${formatDuration(now - at)} ago (${formatDuration(delay)} delay)`
        : undefined;
    const up = Math.max(deps.lastScaleUp?.(cluster) ?? 0, activeSince);
    return (
      since('scale-up', up, cfg.scaleDownDelayAfterAdd) ??
      since('node deletion', s.lastDelete, cfg.scaleDownDelayAfterDelete) ??
      (s.lastFailure
        ? since(
            `failed scale-down of ${s.lastFailure.node}`,
            s.lastFailure.at,
            cfg.scaleDownDelayAfterFailure,
          )
        : undefined)
    );
  }

  const controller = new Controller({
    name: 'scale-down',
    workers: 1,
    log: env.log,
    metrics: env.metrics,
    // Removals were told to stop (onActiveChange); wait until each reached a safe point.
    onStop: async () => {
      await Promise.allSettled([...stopping, ...[...states.values()].flatMap((s) => [...s.running])]);
    },
    onActiveChange: (active) => {
      if (active) {
        activeSince = Date.now();
        return;
      }
      // A replica that stops leading stops its removals at their next safe point and forgets its timers.
      for (const cluster of [...states.keys()]) forget(cluster);
    },
    reconcile: async (cluster) => {
      // Connected means its informers exist (they do before the connection is listed as such).
      if (!env.informers.has(`${cluster}/nodes`)) {
        forget(cluster);
        return undefined;
      }
      const e = evaluate(cluster, 'run');
      if (!e) return { requeueAfterMs: 1000 };
      e.state.unneededSince = e.plan.unneededSince;
      reporter.publish(e.report);
      recordDecision(
        e.plan.remove.length ? 'scale-down' : 'no-scale-down',
        e.plan.remove.length ? 'unneeded' : e.report.cooldown ? 'cooldown' : 'nothing_unneeded',
        {
          'capi_autopilot.unneeded': e.plan.unneededSince.size,
          'capi_autopilot.removals': e.plan.remove.length,
        },
      );
      for (const p of e.inputs.problems) log.warn({ cluster, problem: p }, 'object not considered');
      const drainer = drainers(env).get(cluster);
      if (!dryRun && drainer) await undoLeftCordons(cluster, e, drainer);
      // Leadership lost or the cluster forgotten while this reconcile waited: start nothing.
      if (states.get(cluster) !== e.state || e.state.abort.signal.aborted) return undefined;
      for (const r of e.plan.remove) {
        if (dryRun || !deps.deleter) {
          log.info({ cluster, node: r.node, group: r.group, empty: r.empty }, 'dry run: would scale down');
          continue;
        }
        const machine = e.inputs.machines.get(r.node);
        const events = nodeEventsFor(cluster);
        // All exist for every planned node once caches synced, unless the cluster is disconnecting.
        if (!machine || !drainer || !events) {
          log.info({ cluster, node: r.node }, 'scale-down skipped: workload cluster not ready for it');
          continue;
        }
        const n = e.inputs.nodes.find((x) => x.node.name === r.node)!;
        const u = e.plan.utilization.get(r.node)!;
        e.state.removing.set(r.node, {
          group: r.group,
          machine: machine.name,
          since: e.now.getTime(),
          empty: r.empty,
        });
        const run = executeRemoval({
          cluster,
          removal: r,
          machine,
          ready: n.ready,
          utilizationText: formatShare(u.resource, u.value),
          config: env.config,
          policy,
          deleter: deps.deleter,
          drainer,
          nodes: env.informers.get(`${cluster}/nodes`)!,
          pods: e.pods,
          pdbs: () => e.pdbs.list() as unknown as PdbLike[],
          daemonSetExists: (ns, ds) => e.daemonSets.get(`${ns}/${ds}`) !== undefined,
          nodeEvents: events,
          machineEvents,
          machineRef: {
            apiVersion: `cluster.x-k8s.io/${env.capiVersion}`,
            kind: 'Machine',
            namespace: machine.namespace,
            name: machine.name,
            uid: machine.uid,
          },
          metrics: env.metrics,
          log,
          signal: e.state.abort.signal,
        })
          .then((o) => {
            if (o.kind === 'removed') e.state.lastDelete = Date.now();
            else if (o.kind === 'failed')
              e.state.lastFailure = { at: Date.now(), node: r.node, reason: o.reason };
          })
          .catch((err: Error) => log.error({ cluster, node: r.node, err: err.message }, 'scale-down crashed'))
          .finally(() => {
            e.state.removing.delete(r.node);
            e.state.unneededSince.delete(r.node);
            e.state.running.delete(run);
            controller.enqueue(cluster);
          });
        e.state.running.add(run);
      }
      return { requeueAfterMs: cfg.scanIntervalSeconds * 1000 };
    },
  });

  /**
   * A scale-down that crashed (or lost its lease) between cordon and deletion leaves its node cordoned;
   * the delete protocol's recovery undoes the claim on the Machine, this undoes the cordon: a node with
   * our cordon mark whose Machine nobody acts on (no claim, no remediation, not being deleted) is made usable.
   */
  async function undoLeftCordons(
    cluster: string,
    e: NonNullable<ReturnType<typeof evaluate>>,
    drainer: NonNullable<ReturnType<ReturnType<typeof drainers>['get']>>,
  ) {
    // A failed drain is meant to stay cordoned under this setting.
    if (env.config.drain.onFailure === 'leave-cordoned') return;
    const owned = new Set(e.inputs.nodes.filter((n) => n.owner !== undefined).map((n) => n.node.name));
    for (const raw of env.informers.get(`${cluster}/nodes`)!.list()) {
      const node = raw.metadata.name;
      if (!(SCALE_DOWN_CORDON_ANNOTATION in (raw.metadata.annotations ?? {}))) continue;
      // Anyone acting on it (a delete operation, remediation, its deletion) keeps the cordon.
      if (e.state.removing.has(node) || owned.has(node)) continue;
      // Only a node with a Machine of a group (a Machine being deleted or marked is owned, above).
      if (!e.inputs.machines.has(node)) continue;
      try {
        await drainer.uncordon(node, SCALE_DOWN_CORDON_ANNOTATION);
        log.info({ cluster, node }, 'uncordoned a node left cordoned by an interrupted scale-down');
      } catch (err) {
        log.warn(
          { cluster, node, err: (err as Error).message },
          'could not undo a left-over scale-down cordon',
        );
      }
    }
  }

  function nodeEventsFor(cluster: string): EventRecorder | undefined {
    let r = nodeEvents.get(cluster);
    if (!r) {
      const [namespace, name] = cluster.split('/') as [string, string];
      const conn = env.workload.get({ namespace, name });
      if (!conn) return undefined;
      r = new EventRecorder(conn.client, {
        onError: (e) => log.debug({ err: e.message }, 'event not recorded'),
      });
      nodeEvents.set(cluster, r);
    }
    return r;
  }

  function forget(cluster: string) {
    const s = states.get(cluster);
    s?.abort.abort();
    for (const p of s?.running ?? []) {
      stopping.add(p);
      void p.finally(() => stopping.delete(p));
    }
    states.delete(cluster);
    nodeEvents.delete(cluster);
    reporter.forget(cluster);
  }

  env.onWorkloadDisconnected(forget);
  env.onWorkloadConnected((cluster) => {
    nodeEvents.delete(cluster); // a reconnect brings a new client
    controller.enqueue(cluster);
  });

  return {
    controller,
    explain: (cluster) => evaluate(cluster, 'explain')?.report,
    reports: () => reporter.all(),
  };
}

function clusterPaused(raw: unknown): boolean {
  if (!raw) return false;
  try {
    const c = fromObject(raw) as Cluster;
    return c.paused || ANNOTATIONS.paused in c.meta.annotations;
  } catch {
    return true; // an unreadable Cluster is not acted on
  }
}
