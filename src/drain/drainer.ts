// Drains one node: cordon, plan every pod (filters.ts), evict or delete what may go, wait for it to be
// gone, repeat until the node holds nothing that must leave, all under a drain deadline. Level-triggered
// in spirit: each pass re-reads the node's pods from the informer, so pods scheduled before the cordon,
// replaced, or deleted by someone else are handled by the next pass. One drain per node at a time: a
// second request for the same node joins the first instead of evicting twice.
import type Bottleneck from 'bottleneck';
import type { KubeClient } from '../kube/client.ts';
import type { EventRecorder, EventType, ObjectRef } from '../kube/events.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import type { Informer, KubeObject } from '../kube/informer.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { Logger } from '../runtime/log.ts';
import { KeyedWaiters, sleepFor } from '../runtime/wait.ts';
import { actionAnnotations, ATTR, inSpan, recordDecision } from '../tracing/spans.ts';
import { evictPod, type EvictablePod, type EvictResult } from './eviction.ts';
import {
  controllerOf,
  drainPlan,
  type DrainPlanEntry,
  type DrainPolicy,
  type PdbLike,
  type PodLike,
} from './filters.ts';
import { waitForVolumeDetach, type VolumeWaitReport } from './volume-wait.ts';
import { skippedClaims } from './volumes.ts';

export interface DrainerDeps {
  client: KubeClient;
  cluster: string;
  /** The workload cluster's pods, indexed by node name (`node`). */
  pods: Informer<KubeObject>;
  /**
   * The workload cluster's PodDisruptionBudgets (policy/<policyVersion>), when watched: plans read them
   * from the cache, and a refused eviction is retried as soon as its PDB allows a disruption instead of
   * after the full retry interval. Without it, each pass lists them.
   */
  pdbs?: Informer<KubeObject>;
  policyVersion: 'v1' | 'v1beta1';
  /** Global eviction rate (token bucket over all drains). */
  limiter: Bottleneck;
  perNodeConcurrency: number;
  log: Logger;
  metrics?: Metrics;
  /** Events on the Node (workload cluster). */
  events?: EventRecorder;
}

export interface DrainOptions {
  policy: Readonly<DrainPolicy>;
  /** Whole drain; 0: no limit. */
  timeoutMs: number;
  podEvictionTimeoutMs: number;
  /** -1: each pod's own, capped by maxGracePeriodSeconds. */
  gracePeriodSeconds: number;
  maxGracePeriodSeconds: number;
  /** After a drain that did not succeed: make the node schedulable again, or leave it cordoned. */
  onFailure: 'uncordon' | 'leave-cordoned';
  retryIntervalMs?: number;
  /** How long to wait for an evicted pod to disappear; default: the drain timeout. */
  deletionTimeoutMs?: number;
  /** Unreachable node: pods whose deletion started this long ago count as gone (default 1, CAPI's). */
  skipWaitForDeleteTimeoutSeconds?: number;
  signal?: AbortSignal;
  /**
   * An annotation set on the node with the cordon and removed with it: who cordoned it, so a cordon left
   * by a crash can be found and undone later (a person's cordon carries no such mark).
   */
  cordonAnnotation?: { key: string; value: string };
  /** More objects to put the drain's events on, e.g. the Machine (management cluster, its recorder). */
  eventTargets?: ReadonlyArray<{ recorder: EventRecorder; ref: ObjectRef }>;
}

export type DrainResult = 'succeeded' | 'blocked' | 'failed' | 'timed_out' | 'aborted';

export interface DrainReport {
  node: string;
  result: DrainResult;
  /** Pods that kept the drain from succeeding, and why (filter reason, PDB name, eviction error). */
  blocking: Array<{ namespace: string; name: string; reason: string; detail: string; pdb?: string }>;
  evicted: number;
  deleted: number;
  passes: number;
  durationMs: number;
  /** Whether the node was cordoned when the drain ended. */
  cordoned: boolean;
  /** Whether this drain set the cordon (one already there, e.g. a person's, is not ours to undo). */
  cordonedByDrain: boolean;
}

/** A drain that did not succeed, in one line: its result and the first pods that kept it. */
export function drainFailureText(rep: DrainReport): string {
  const pods = rep.blocking
    .slice(0, 3)
    .map((b) => (b.name ? `${b.namespace}/${b.name}: ${b.detail}` : b.detail))
    .join('; ');
  return `drain ${rep.result.replace('_', ' ')}${pods ? ` (${pods})` : ''}`;
}

type PodObject = KubeObject & PodLike;

export class Drainer {
  private readonly d: DrainerDeps;
  private readonly inFlight = new Map<string, Promise<DrainReport>>();
  private readonly podWaiters = new KeyedWaiters();
  private readonly pdbWaiters = new KeyedWaiters();

  constructor(d: DrainerDeps) {
    this.d = d;
    // Deletion waits follow the informer (watch, don't poll): a pod is gone on DELETED or a new UID.
    d.pods.onChange((_type, obj) => this.podWaiters.notify(`${obj.metadata.namespace}/${obj.metadata.name}`));
    d.pdbs?.onChange((_type, obj) =>
      this.pdbWaiters.notify(`${obj.metadata.namespace}/${obj.metadata.name}`),
    );
  }

  /** Drains `node`; concurrent calls for the same node share one drain (and its options). */
  drain(node: string, o: DrainOptions): Promise<DrainReport> {
    const running = this.inFlight.get(node);
    if (running) return running;
    const p = this.run(node, o).finally(() => this.inFlight.delete(node));
    this.inFlight.set(node, p);
    return p;
  }

  private async run(node: string, o: DrainOptions): Promise<DrainReport> {
    const t0 = Date.now();
    return inSpan(
      'drain',
      { attributes: { [ATTR.node]: node, [ATTR.cluster]: this.d.cluster } },
      async () => {
        const stop = new AbortController();
        const timer = o.timeoutMs > 0 ? setTimeout(() => stop.abort('timeout'), o.timeoutMs) : undefined;
        const onAbort = () => stop.abort('aborted');
        o.signal?.addEventListener('abort', onAbort, { once: true });
        const report: DrainReport = {
          node,
          result: 'failed',
          blocking: [],
          evicted: 0,
          deleted: 0,
          passes: 0,
          durationMs: 0,
          cordoned: false,
          cordonedByDrain: false,
        };
        let cordonedByUs = false;
        try {
          cordonedByUs = await this.cordon(node, true, o.cordonAnnotation);
          report.cordoned = true;
          report.cordonedByDrain = cordonedByUs;
          await this.event(
            node,
            o,
            'Normal',
            'DrainStarted',
            `Draining node ${node}${cordonedByUs ? '; cordoned it' : '; already cordoned'}`,
          );
          report.result = await this.passes(node, o, stop.signal, report);
        } catch (e) {
          report.result = stop.signal.aborted
            ? stop.signal.reason === 'timeout'
              ? 'timed_out'
              : 'aborted'
            : 'failed';
          report.blocking.push({ namespace: '', name: '', reason: 'Error', detail: (e as Error).message });
        } finally {
          clearTimeout(timer);
          o.signal?.removeEventListener('abort', onAbort);
        }
        if (report.result !== 'succeeded' && o.onFailure === 'uncordon' && cordonedByUs) {
          // Only a cordon this drain set is undone; one a person set stays.
          await this.cordon(node, false, o.cordonAnnotation).then(
            () => (report.cordoned = false),
            (e: Error) => this.d.log.warn({ node, err: e.message }, 'uncordon after a failed drain failed'),
          );
        }
        report.durationMs = Date.now() - t0;
        await this.event(node, o, ...outcomeEvent(report));
        this.d.metrics?.drainSeconds.observe(
          { cluster: this.d.cluster, result: report.result },
          report.durationMs / 1000,
        );
        recordDecision(report.result, report.blocking[0]?.reason ?? 'Drained', {
          'capi_autopilot.drain.evicted': report.evicted,
          'capi_autopilot.drain.blocking': report.blocking.length,
        });
        this.d.log[report.result === 'succeeded' ? 'info' : 'warn'](
          { cluster: this.d.cluster, ...report, blocking: report.blocking.slice(0, 10) },
          `drain ${report.result}`,
        );
        return report;
      },
    );
  }

  /** One event on the Node and on every extra target (the Machine); failures are logged by the recorders. */
  private async event(node: string, o: DrainOptions, type: EventType, reason: string, message: string) {
    const targets = [
      ...(this.d.events
        ? [{ recorder: this.d.events, ref: { apiVersion: 'v1', kind: 'Node', name: node } }]
        : []),
      ...(o.eventTargets ?? []),
    ];
    await Promise.all(targets.map((t) => t.recorder.record(t.ref, type, reason, message)));
  }

  /**
   * After a drain, before the Machine goes: waits for the node's volumes to detach (CAPI's rule),
   * ignoring claims of the pods the drain left on it (DaemonSet, mirror). Never fails the deletion.
   */
  waitForVolumes(node: string, timeoutMs: number, signal: AbortSignal): Promise<VolumeWaitReport> {
    const left = this.d.pods.byIndex('node', node) as PodObject[];
    const { client, log, metrics, cluster } = this.d;
    return waitForVolumeDetach({ client, log, ...(metrics ? { metrics } : {}), cluster }, node, {
      timeoutMs,
      ignoredClaims: skippedClaims(left),
      signal,
    });
  }

  /**
   * Makes the node schedulable again (undoing a drain's cordon, and removing `annotation` if given);
   * answers whether it was cordoned.
   */
  uncordon(node: string, annotation?: string): Promise<boolean> {
    return this.cordon(node, false, annotation ? { key: annotation, value: '' } : undefined);
  }

  /** Sets spec.unschedulable (and sets or removes the mark); answers whether this call changed it. */
  private async cordon(node: string, on: boolean, mark?: { key: string; value: string }): Promise<boolean> {
    const path = `/api/v1/nodes/${encodeURIComponent(node)}`;
    const cur = await this.d.client.get<{
      metadata?: { annotations?: Record<string, string> };
      spec?: { unschedulable?: boolean };
    }>(path);
    const marked = mark !== undefined && mark.key in (cur.metadata?.annotations ?? {});
    if ((cur.spec?.unschedulable ?? false) === on && (on || !marked)) return false;
    const changes = (cur.spec?.unschedulable ?? false) !== on;
    await this.d.client.mergePatch(path, {
      metadata: {
        annotations: {
          ...actionAnnotations(new Date()),
          ...(mark ? { [mark.key]: on ? mark.value : null } : {}),
        },
      },
      spec: { unschedulable: on ? true : null },
    });
    return changes;
  }

  private async passes(
    node: string,
    o: DrainOptions,
    signal: AbortSignal,
    report: DrainReport,
  ): Promise<DrainResult> {
    for (;;) {
      if (signal.aborted) return signal.reason === 'timeout' ? 'timed_out' : 'aborted';
      report.passes++;
      const unreachable = await this.unreachable(node);
      const skipWait = o.skipWaitForDeleteTimeoutSeconds ?? 1;
      const pods = this.d.pods.byIndex('node', node) as PodObject[];
      const plan = drainPlan(pods, {
        now: Date.now(),
        daemonSetExists: await this.daemonSets(pods),
        pdbsInNamespace: await this.pdbs(),
        policy: o.policy,
        unreachableSkipWaitSeconds: unreachable ? skipWait : undefined,
      });
      const blocked = plan.entries.filter((e) => e.action === 'block');
      if (blocked.length > 0) {
        report.blocking = blocked.map((e) => ({ ...e.pod, reason: e.reason, detail: e.detail }));
        return 'blocked';
      }
      const work = plan.entries.filter((e) => e.action === 'evict' || e.action === 'delete');
      if (work.length === 0) return 'succeeded';
      // No kubelet finishes deletions on an unreachable node: evict with a 1 s grace period (CAPI), wait
      // only briefly, and let the next pass count the pod as gone once its deletion is old enough.
      const eff = unreachable ? { ...o, gracePeriodSeconds: 1, deletionTimeoutMs: (skipWait + 1) * 1000 } : o;
      const results = await this.removeAll(work, pods, eff, signal);
      const progress = ['evicted', 'not_found', 'deleted', ...(unreachable ? ['not_deleted'] : [])];
      const failed = results.filter((r) => !progress.includes(r.r.result));
      report.evicted += results.filter(
        // On an unreachable node an accepted eviction is all there is: no kubelet will finish it.
        (r) => r.r.result === 'evicted' || (unreachable && r.r.result === 'not_deleted'),
      ).length;
      report.deleted += results.filter((r) => r.r.result === 'deleted').length;
      if (failed.length > 0) {
        report.blocking = failed.map(({ e, r }) => ({
          ...e.pod,
          reason: r.result,
          detail: ('message' in r && r.message) || r.result,
          ...('pdb' in r && r.pdb ? { pdb: r.pdb } : {}),
        }));
        if (signal.aborted) return signal.reason === 'timeout' ? 'timed_out' : 'aborted';
        return 'failed';
      }
    }
  }

  private async removeAll(work: DrainPlanEntry[], pods: PodObject[], o: DrainOptions, signal: AbortSignal) {
    const byUid = new Map(pods.map((p) => [p.metadata.uid, p]));
    const out: Array<{ e: DrainPlanEntry; r: EvictResult | { result: 'deleted'; attempts: number } }> = [];
    let next = 0;
    const worker = async () => {
      while (next < work.length && !signal.aborted) {
        const e = work[next++]!;
        const pod = byUid.get(e.pod.uid)!;
        const r =
          e.action === 'delete' ? await this.deletePod(pod, o, signal) : await this.evict(pod, o, signal);
        this.d.metrics?.evictedPods.inc({ cluster: this.d.cluster, result: r.result });
        out.push({ e, r });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.d.perNodeConcurrency, work.length) }, worker));
    return out;
  }

  /** The global limiter meters eviction starts (its 429 retries are spaced by retryIntervalMs). */
  private evict(pod: PodObject, o: DrainOptions, signal: AbortSignal): Promise<EvictResult> {
    return this.d.limiter.schedule(() =>
      evictPod(this.d.client, pod, {
        policyVersion: this.d.policyVersion,
        evictionTimeoutMs: o.podEvictionTimeoutMs,
        // Waiting is bounded by the drain deadline (the signal), not per pod.
        deletionTimeoutMs: o.deletionTimeoutMs ?? (o.timeoutMs > 0 ? o.timeoutMs : 365 * 24 * 3600_000),
        gracePeriodSeconds: o.gracePeriodSeconds,
        maxGracePeriodSeconds: o.maxGracePeriodSeconds,
        retryIntervalMs: o.retryIntervalMs,
        waitGone: (p, deadline, s) => this.waitGone(p, deadline, s),
        waitForPdb: (pdb, ms, s) => this.waitForPdb(pod.metadata.namespace, pdb, ms, s),
        onRefused: (pdb, message) =>
          void this.event(
            pod.spec?.nodeName ?? '',
            o,
            'Warning',
            'EvictionBlocked',
            `Eviction of pod ${pod.metadata.namespace}/${pod.metadata.name} refused${pdb ? ` by PodDisruptionBudget ${pod.metadata.namespace}/${pdb}` : ''}: ${message}`,
          ),
        signal,
        cluster: this.d.cluster,
      }),
    );
  }

  /** Terminal pods: a plain delete (no PDB applies to a finished pod), UID-checked. */
  private async deletePod(pod: PodObject, o: DrainOptions, signal: AbortSignal) {
    const path = `/api/v1/namespaces/${encodeURIComponent(pod.metadata.namespace)}/pods/${encodeURIComponent(pod.metadata.name)}`;
    try {
      await this.d.client.delete(path, {
        uid: pod.metadata.uid,
        gracePeriodSeconds: o.gracePeriodSeconds >= 0 ? o.gracePeriodSeconds : undefined,
      });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) {
        return { result: 'failed' as const, attempts: 1, message: (e as Error).message };
      }
      return { result: 'not_found' as const, attempts: 1 };
    }
    const gone = await this.waitGone(pod, Number.MAX_SAFE_INTEGER, signal);
    return gone
      ? { result: 'deleted' as const, attempts: 1 }
      : { result: signal.aborted ? ('aborted' as const) : ('not_deleted' as const), attempts: 1 };
  }

  /** Resolves true once the informer no longer holds this pod (that UID); false at the deadline or abort. */
  private waitGone(pod: EvictablePod, deadline: number, signal: AbortSignal): Promise<boolean> {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const gone = () => this.d.pods.get(key)?.metadata.uid !== pod.metadata.uid;
    if (gone()) return Promise.resolve(true);
    return this.podWaiters.wait(key, gone, deadline - Date.now(), signal);
  }

  /** CAPI's test: the node's Ready condition is Unknown (its kubelet stopped reporting). */
  private async unreachable(node: string): Promise<boolean> {
    const n = await this.d.client.get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
      `/api/v1/nodes/${encodeURIComponent(node)}`,
    );
    return (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'Unknown');
  }

  /** Which DaemonSets of the node's DaemonSet pods exist (a GET each; drains are rare). */
  private async daemonSets(pods: PodObject[]): Promise<(ns: string, name: string) => boolean> {
    const wanted = new Set<string>();
    for (const p of pods) {
      const c = controllerOf(p);
      if (c?.kind === 'DaemonSet') wanted.add(`${p.metadata.namespace}/${c.name}`);
    }
    const exists = new Map<string, boolean>();
    await Promise.all(
      [...wanted].map(async (k) => {
        const [ns, name] = k.split('/') as [string, string];
        const ds = await this.d.client.getOrNull(
          `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/daemonsets/${encodeURIComponent(name)}`,
        );
        exists.set(k, ds !== undefined);
      }),
    );
    return (ns, name) => exists.get(`${ns}/${name}`) ?? false;
  }

  /** Resolves after `ms`, or earlier once the PDB's status allows a disruption (seen by watch). */
  private async waitForPdb(namespace: string, pdb: string | undefined, ms: number, signal: AbortSignal) {
    const inf = this.d.pdbs;
    if (!inf || !pdb) return sleepFor(ms, signal);
    const key = `${namespace}/${pdb}`;
    // Not checked before waiting: the refusal came from the apiserver just now, so only a change seen
    // after it counts.
    const allows = () =>
      ((inf.get(key) as { status?: { disruptionsAllowed?: number } } | undefined)?.status
        ?.disruptionsAllowed ?? 0) > 0;
    await this.pdbWaiters.wait(key, allows, ms, signal);
  }

  private async pdbs(): Promise<PdbLike[]> {
    if (this.d.pdbs?.hasSynced()) return this.d.pdbs.list() as unknown as PdbLike[];
    const l = await this.d.client.get<{ items: PdbLike[] }>(
      `/apis/policy/${this.d.policyVersion}/poddisruptionbudgets`,
    );
    return l.items;
  }
}

/** The closing event of a drain: type, reason and a message naming what blocked it. */
function outcomeEvent(r: DrainReport): [EventType, string, string] {
  const blocking = r.blocking
    .slice(0, 5)
    .map((b) => `${b.namespace}/${b.name} (${b.reason}${b.pdb ? `, PodDisruptionBudget ${b.pdb}` : ''})`)
    .join(', ');
  const more = r.blocking.length > 5 ? ` and ${r.blocking.length - 5} more` : '';
  const secs = Math.round(r.durationMs / 1000);
  switch (r.result) {
    case 'succeeded':
      return [
        'Normal',
        'DrainSucceeded',
        `Drained node ${r.node} in ${secs}s: ${r.evicted} evicted, ${r.deleted} deleted`,
      ];
    case 'timed_out':
      return [
        'Warning',
        'DrainTimedOut',
        `Drain of node ${r.node} timed out after ${secs}s; blocking: ${blocking}${more}`,
      ];
    case 'blocked':
      return ['Warning', 'DrainBlocked', `Node ${r.node} cannot be drained: ${blocking}${more}`];
    case 'aborted':
      return ['Normal', 'DrainAborted', `Drain of node ${r.node} stopped after ${secs}s`];
    default:
      return [
        'Warning',
        'DrainFailed',
        `Drain of node ${r.node} failed after ${secs}s; blocking: ${blocking}${more}`,
      ];
  }
}
