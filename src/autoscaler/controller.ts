// The scale-up controller: the imperative shell around the pure planner. Event-driven: a pod turning
// unschedulable in a workload cluster opens a batch, which closes after `scaleUpBatchIdle` without new
// ones (at most `scaleUpBatchMax`); then one reconcile for that cluster reads the caches, builds the
// planner's input (inputs.ts), plans (scaleup.ts) and executes each scale-up as one write of
// spec.replicas with the group's resourceVersion, plus the events and metrics users look for.
import { fromObject } from '../capi/adapters/index.ts';
import type { MachineDeployment, MachineSet } from '../capi/types.ts';
import { isConflict } from '../kube/errors.ts';
import { EventRecorder } from '../kube/events.ts';
import type { KubeObject } from '../kube/informer.ts';
import { formatLedger, LEDGER_ANNOTATION, ledgerOf } from '../machines/records.ts';
import { groupPath } from '../machines/snapshot.ts';
import { Controller } from '../runtime/controller.ts';
import type { ControllerEnv } from '../service.ts';
import { actionAnnotations, recordDecision } from '../tracing/spans.ts';
import { parsePriorities, type Priorities } from './expander.ts';
import { clusterTotals, existingNodes, failedProvisioning, groupCandidates, pendingPods } from './inputs.ts';
import { discoverNodeGroups } from './nodegroups.ts';
import { staticFit } from './predicates.ts';
import { planScaleUp, type Plan } from './scaleup.ts';

const PRIORITY_CONFIGMAP = 'cluster-autoscaler-priority-expander';
const BACKOFF_INITIAL_MS = 5 * 60_000; // cluster-autoscaler's initial node group back-off
const BACKOFF_MAX_MS = 30 * 60_000;
const CORE = 1000;
const GIB = 2 ** 30 * 1000;

export interface Autoscaler {
  controller: Controller;
  /** The decision for a cluster now, without writing (explain, /status). */
  plan(cluster: string): Promise<Plan | undefined>;
}

export function createAutoscaler(
  env: ControllerEnv,
  o: { dryRun?: boolean; random?: () => number } = {},
): Autoscaler {
  const cfg = env.config.autoscaler;
  const mgmt = (r: string) => env.informers.get(`management/${r}`)!;
  const events = new EventRecorder(env.management, {
    onError: (e) => env.log.debug({ err: e.message }, 'event not recorded'),
  });
  const podEvents = new Map<string, EventRecorder>();
  const backoff = new Map<string, { until: number; step: number; machines: string }>();
  const batches = new Map<string, { first: number; idle?: NodeJS.Timeout; max?: NodeJS.Timeout }>();
  const log = env.log.child({ controller: 'autoscaler' });

  const plan = async (cluster: string): Promise<Plan | undefined> => {
    const [namespace, name] = cluster.split('/') as [string, string];
    const conn = env.workload.get({ namespace, name });
    const pods = env.informers.get(`${cluster}/pods`);
    const nodes = env.informers.get(`${cluster}/nodes`);
    if (!conn || !pods?.hasSynced() || !nodes?.hasSynced()) return undefined;
    const now = new Date();
    const pending = pendingPods(pods.list(), now, cfg.newPodScaleUpDelay);
    env.metrics.unschedulablePods.set({ cluster }, pending.pending.length);
    if (pending.pending.length === 0) return { scaleUps: [], waiting: [], noScaleUp: [] };
    const discovered = discoverNodeGroups({
      clusters: mgmt('clusters').list(),
      machineDeployments: mgmt('machinedeployments').list(),
      machineSets: mgmt('machinesets').list(),
      discovery: env.config.discovery,
      defaults: cfg,
    });
    const groups = discovered.groups.filter((g) => g.namespace === namespace && g.clusterName === name);
    const machines = mgmt('machines').list();
    const infraTemplates = await fetchTemplates(env, groups);
    const daemonSets = (await conn.client.get<{ items: unknown[] }>('/apis/apps/v1/daemonsets')).items;
    for (const g of groups) {
      const b = backoff.get(g.key);
      env.metrics.nodeGroupBackoff.set({ cluster, node_group: g.key }, b && b.until > now.getTime() ? 1 : 0);
    }
    const cands = groupCandidates({
      cluster: { namespace, name },
      groups,
      machineSets: mgmt('machinesets').list(),
      machines,
      nodes: nodes.list(),
      infraTemplates,
      daemonSets,
      now,
      backoff: new Map([...backoff].map(([k, b]) => [k, b.until])),
    });
    // Machines that never became nodes: the group backs off, and their room no longer counts as coming.
    const failedBy = new Map<string, number>();
    for (const [key, names] of cands.machineNames) {
      const ng = groups.find((g) => g.key === key);
      const limit = ng?.options?.maxNodeProvisionTime ?? cfg.maxNodeProvisionTime;
      const failed = failedProvisioning(machines, names, now, limit, namespace);
      if (failed.length) noteFailure(key, failed.join(','), now.getTime());
      failedBy.set(key, failed.length);
    }
    const existing = existingNodes(nodes.list(), pods.list());
    const totals = clusterTotals(existing.nodes);
    return planScaleUp({
      pending: pending.pending,
      nodes: existing.nodes,
      groups: cands.groups.map((g) => ({
        ...g,
        upcoming: Math.max(0, g.upcoming - (failedBy.get(g.id) ?? 0)),
        backoffUntil: backoff.get(g.id)?.until,
      })),
      limits: {
        maxNodesTotal: cfg.maxNodesTotal,
        currentNodes: totals.nodes + cands.groups.reduce((a, g) => a + g.upcoming, 0),
        maxCpuTotal: cfg.maxCoresTotal * CORE,
        currentCpu: totals.cpu,
        maxMemoryTotal: cfg.maxMemoryTotalGiB * GIB,
        currentMemory: totals.memory,
      },
      expander: cfg.expander,
      priorities: cfg.expander === 'priority' ? await priorities(env, log) : undefined,
      random: o.random ?? Math.random,
      now: now.getTime(),
      staticFit,
    });
  };

  /** A group whose machines did not become nodes in time backs off, doubling up to 30 minutes. */
  function noteFailure(key: string, machines: string, now: number) {
    const b = backoff.get(key);
    if (b && b.machines === machines) return; // the same failure, already counted
    const step = b ? b.step + 1 : 0;
    const until = now + Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** step);
    backoff.set(key, { until, step, machines });
    env.metrics.failedScaleUps.inc({ cluster: key.split('/')[1] ?? '', node_group: key, reason: 'timeout' });
    void events.record(
      groupRef(env, key),
      'Warning',
      'FailedScaleUp',
      `Machines ${machines} did not become Ready nodes within max-node-provision-time: ${key} backs off until ${new Date(until).toISOString()}`,
    );
    log.warn(
      { group: key, machines, until: new Date(until).toISOString() },
      'machines did not become nodes in time: group backs off',
    );
  }
  const controller = new Controller({
    name: 'autoscaler',
    workers: 1,
    log: env.log,
    metrics: env.metrics,
    reconcile: async (cluster) => {
      const p = await plan(cluster);
      if (!p) return;
      for (const s of p.scaleUps) {
        recordDecision('scale-up', 'pending-pods', { 'capi_autopilot.node_group': s.group.id });
        if (o.dryRun) {
          log.info(
            { group: s.group.id, from: s.from, to: s.to, pods: s.pods.length },
            'dry run: would scale up',
          );
          continue;
        }
        const r = await scaleUp(env, s.group.id, s.from, s.to);
        if (r === 'conflict') return { requeueAfterMs: 200 };
        env.metrics.scaledUpNodes.inc(
          { cluster, node_group: s.group.id, reason: 'pending_pods' },
          s.to - s.from,
        );
        const ref = groupRef(env, s.group.id);
        void events.record(
          ref,
          'Normal',
          'ScaledUpGroup',
          `Scale-up: ${s.group.id} ${s.from} -> ${s.to} (max: ${s.group.maxSize}) for ${s.pods.length} pending pod(s)`,
        );
        for (const pod of s.pods)
          void podRecorder(cluster).record(
            podRef(pod),
            'Normal',
            'TriggeredScaleUp',
            `pod triggered scale-up: [{${s.group.id} ${s.from}->${s.to} (max: ${s.group.maxSize})}]`,
          );
      }
      for (const n of p.noScaleUp) {
        const why = Object.entries(n.reasons)
          .map(([g, r]) => `${g}: ${r}`)
          .join('; ');
        void podRecorder(cluster).record(
          podRef(n.pod),
          'Normal',
          'NotTriggerScaleUp',
          `pod didn't trigger scale-up: ${why || 'no node group'}`,
        );
      }
      // Pods left pending are looked at again each scan interval (back-offs end, capacity frees up).
      return p.noScaleUp.length ? { requeueAfterMs: cfg.scanIntervalSeconds * 1000 } : undefined;
    },
  });

  const podRecorder = (cluster: string) => {
    let r = podEvents.get(cluster);
    if (!r) {
      const [namespace, name] = cluster.split('/') as [string, string];
      const c = env.workload.get({ namespace, name })!.client;
      r = new EventRecorder(c, { onError: (e) => log.debug({ err: e.message }, 'event not recorded') });
      podEvents.set(cluster, r);
    }
    return r;
  };

  // Batching: one decision per burst of unschedulable pods.
  const trigger = (cluster: string) => {
    const now = Date.now();
    let b = batches.get(cluster);
    if (!b) {
      b = { first: now };
      batches.set(cluster, b);
      b.max = setTimeout(() => fire(cluster), cfg.scaleUpBatchMax);
    }
    if (b.idle) clearTimeout(b.idle);
    b.idle = setTimeout(() => fire(cluster), cfg.scaleUpBatchIdle);
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
  env.onWorkloadConnected((cluster, i) => {
    i.pods.onChange((_t, pod) => {
      if (isUnschedulable(pod)) trigger(cluster);
    });
    // A node joining or leaving changes what fits: look again once things settle.
    i.nodes.onChange(() => {
      if (i.pods.list().some(isUnschedulable)) trigger(cluster);
    });
  });
  return { controller, plan };
}

function isUnschedulable(pod: KubeObject): boolean {
  const p = pod as {
    spec?: { nodeName?: string };
    status?: { conditions?: Array<{ type: string; status: string; reason?: string }> };
  };
  return (
    !p.spec?.nodeName &&
    (p.status?.conditions ?? []).some(
      (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
    )
  );
}

const podRef = (p: { namespace: string; name: string; uid: string }) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  namespace: p.namespace,
  name: p.name,
  uid: p.uid,
});

function groupRef(env: ControllerEnv, id: string) {
  const [kind, namespace, name] = id.split('/') as [string, string, string];
  return { apiVersion: `cluster.x-k8s.io/${env.capiVersion}`, kind, namespace, name };
}

/**
 * One write: spec.replicas, the delete protocol's ledger baseline (so this is not taken for a foreign
 * writer) and the trace context, under the resourceVersion that still shows `from` replicas. The scale
 * subresource cannot carry annotations, hence the main resource.
 */
async function scaleUp(env: ControllerEnv, id: string, from: number, to: number): Promise<'ok' | 'conflict'> {
  const [kind, namespace, name] = id.split('/') as ['MachineDeployment' | 'MachineSet', string, string];
  const path = groupPath(env.capiVersion, { kind, namespace, name });
  const cur = fromObject(await env.management.get(path)) as MachineDeployment | MachineSet;
  if (cur.replicas !== from) return 'conflict';
  const { ledger } = ledgerOf(cur.meta.annotations);
  try {
    await env.management.mergePatch(
      path,
      {
        metadata: {
          annotations: {
            ...(ledger ? { [LEDGER_ANNOTATION]: formatLedger({ ...ledger, replicas: to }) } : {}),
            ...actionAnnotations(new Date()),
          },
        },
        spec: { replicas: to },
      },
      cur.meta.resourceVersion,
    );
    return 'ok';
  } catch (e) {
    if (isConflict(e)) return 'conflict';
    throw e;
  }
}

async function fetchTemplates(
  env: ControllerEnv,
  groups: ReadonlyArray<{
    namespace: string;
    template: {
      infrastructureRef: {
        apiGroup: string;
        kind: string;
        name: string;
        apiVersion?: string;
        namespace?: string;
      };
    };
  }>,
): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const g of groups) {
    const ref = g.template.infrastructureRef;
    const ns = ref.namespace ?? g.namespace;
    const key = `${ns}/${ref.kind}/${ref.name}`;
    if (out.has(key)) continue;
    const version = ref.apiVersion ?? (await preferredVersion(env, ref.apiGroup));
    if (!version) continue;
    const plural = `${ref.kind.toLowerCase()}s`;
    const obj = await env.management.getOrNull(`/apis/${version}/namespaces/${ns}/${plural}/${ref.name}`);
    if (obj) out.set(key, obj);
  }
  return out;
}

const versions = new Map<string, string>();
async function preferredVersion(env: ControllerEnv, group: string): Promise<string | undefined> {
  if (!versions.has(group)) {
    const d = await env.management.getOrNull<{ preferredVersion?: { groupVersion?: string } }>(
      `/apis/${group}`,
    );
    if (d?.preferredVersion?.groupVersion) versions.set(group, d.preferredVersion.groupVersion);
  }
  return versions.get(group);
}

/** The priority expander's ConfigMap, read each decision (small, edited by hand); unreadable: none. */
async function priorities(
  env: ControllerEnv,
  log: { warn(o: object, m: string): void },
): Promise<Priorities | undefined> {
  const ns = env.config.autoscaler.priorityExpanderNamespace;
  const cm = await env.management.getOrNull<{ data?: Record<string, string> }>(
    `/api/v1/namespaces/${ns}/configmaps/${PRIORITY_CONFIGMAP}`,
  );
  const raw = cm?.data?.['priorities'];
  if (raw === undefined) return undefined;
  try {
    return parsePriorities(raw);
  } catch (e) {
    log.warn(
      { configMap: `${ns}/${PRIORITY_CONFIGMAP}`, err: (e as Error).message },
      'priority expander ConfigMap unreadable: every group ranks the same',
    );
    return undefined;
  }
}
