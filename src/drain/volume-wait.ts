// After a drain, before the Machine's infrastructure goes: wait until the node's volumes are detached, as
// CAPI's Machine controller does. Polls (CAPI requeues every few seconds too): VolumeAttachments have no
// field selector on the node, and the wait is rare and short-lived, so a watch would buy little.
import type { Metrics } from '../metrics/registry.ts';
import type { KubeClient } from '../kube/client.ts';
import { KubeError } from '../kube/errors.ts';
import type { Logger } from '../runtime/log.ts';
import { sleepFor } from '../runtime/wait.ts';
import { ATTR, inSpan, recordDecision } from '../tracing/spans.ts';
import {
  describeWaiting,
  isDetached,
  isUnreachable,
  noVolumesWaiting,
  volumesToWaitFor,
  type NodeLike,
  type PersistentVolumeLike,
  type VolumeAttachmentLike,
  type VolumesWaiting,
} from './volumes.ts';

export interface VolumeWaitDeps {
  /** The workload cluster's client. */
  client: KubeClient;
  log: Logger;
  metrics?: Pick<Metrics, 'volumeDetachSeconds'>;
  /** For span attributes, logs and metric labels. */
  cluster?: string;
}

export interface VolumeWaitOptions {
  /** CAPI's nodeVolumeDetachTimeout; 0: no limit. Exceeding it is not a failure: deletion goes on. */
  timeoutMs: number;
  /** `namespace/name` of claims used by pods the drain skipped (skippedClaims in volumes.ts). */
  ignoredClaims: ReadonlySet<string> | readonly string[];
  pollIntervalMs?: number;
  /** Page size of the VolumeAttachment and PersistentVolume lists. */
  pageSize?: number;
  signal?: AbortSignal;
}

export type VolumeWaitResult =
  'detached' | 'skipped-unreachable' | 'node-gone' | 'timed_out' | 'aborted' | 'forbidden';

export interface VolumeWaitReport {
  node: string;
  result: VolumeWaitResult;
  /** What the last successful poll found still attached (empty unless timed_out or aborted). */
  waiting: VolumesWaiting;
  polls: number;
  /** The last poll's error, when it failed. */
  error?: string;
  durationMs: number;
}

const DEFAULT_POLL_MS = 2000;
const DEFAULT_PAGE = 500;

interface List<T> {
  items: T[];
  metadata?: { continue?: string };
}

const REASONS: Record<VolumeWaitResult, string> = {
  detached: 'VolumesDetached',
  'skipped-unreachable': 'NodeUnreachable',
  'node-gone': 'NodeNotFound',
  timed_out: 'VolumeDetachTimedOut',
  aborted: 'Aborted',
  forbidden: 'Forbidden',
};

type Poll = { done: 'node-gone' | 'skipped-unreachable' | 'detached' } | { waiting: VolumesWaiting };

export async function waitForVolumeDetach(
  deps: VolumeWaitDeps,
  node: string,
  o: VolumeWaitOptions,
): Promise<VolumeWaitReport> {
  const t0 = Date.now();
  const cluster = deps.cluster ?? '';
  return inSpan(
    'drain.volume_detach',
    { attributes: { [ATTR.node]: node, ...(deps.cluster ? { [ATTR.cluster]: deps.cluster } : {}) } },
    async () => {
      // One signal for both ends of the wait, as in the drainer: the timeout (reason 'timeout') or the
      // caller's abort. A poll in flight is abandoned when it fires, so a slow apiserver (the client's
      // own retries) cannot stretch the timeout.
      const stop = new AbortController();
      const timer = o.timeoutMs > 0 ? setTimeout(() => stop.abort('timeout'), o.timeoutMs) : undefined;
      const onAbort = () => stop.abort('aborted');
      if (o.signal?.aborted) onAbort();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const report: VolumeWaitReport = {
        node,
        result: 'aborted',
        waiting: noVolumesWaiting(),
        polls: 0,
        durationMs: 0,
      };
      let lastLogged = '';
      let ended = false;
      try {
        for (;;) {
          if (stop.signal.aborted) break;
          report.polls++;
          const r = await untilAborted(
            poll(deps.client, node, o).catch((e: Error) => e),
            stop.signal,
          );
          if (r === undefined) break;
          if (r instanceof KubeError && r.status === 403) {
            // Not transient: without the grants (an older workload role) the wait cannot see anything;
            // waiting out the timeout (or forever, with none) would hold the claim and the cordon.
            report.result = 'forbidden';
            report.error = r.message;
            ended = true;
            deps.log.warn(
              { cluster, node, err: r.message },
              'volume detach wait skipped: not allowed to read volumes',
            );
            break;
          }
          if (r instanceof Error) {
            // Transient or not, the next poll tries again; only the timeout ends the wait.
            report.error = r.message;
            deps.log.warn({ cluster, node, err: r.message }, 'volume detach poll failed; retrying');
          } else if ('done' in r) {
            report.result = r.done;
            ended = true;
            report.waiting = noVolumesWaiting();
            delete report.error;
            break;
          } else {
            report.waiting = r.waiting;
            delete report.error;
            const line = describeWaiting(r.waiting);
            if (line !== lastLogged) {
              deps.log.info({ cluster, node, waiting: r.waiting }, `waiting for volumes to detach: ${line}`);
              lastLogged = line;
            }
          }
          await sleepFor(o.pollIntervalMs ?? DEFAULT_POLL_MS, stop.signal);
        }
        if (!ended) report.result = stop.signal.reason === 'timeout' ? 'timed_out' : 'aborted';
      } finally {
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
      }
      report.durationMs = Date.now() - t0;
      deps.metrics?.volumeDetachSeconds.observe(
        { cluster, result: report.result.replace('-', '_') },
        report.durationMs / 1000,
      );
      recordDecision(report.result, REASONS[report.result], {
        'capi_autopilot.volume_detach.polls': report.polls,
        'capi_autopilot.volume_detach.waiting_claims': report.waiting.persistentVolumeClaims.length,
      });
      // CAPI goes on deleting after the timeout; the caller does too, so this is a warning, not an error.
      deps.log[report.result === 'timed_out' ? 'warn' : 'info'](
        { cluster, ...report },
        report.result === 'timed_out'
          ? `volume detach timed out; still attached: ${describeWaiting(report.waiting)}`
          : `volume detach wait ended: ${report.result}`,
      );
      return report;
    },
  );
}

/** One look at the node, in CAPI's order: gone, unreachable, then its attachments mapped to claims. */
async function poll(client: KubeClient, node: string, o: VolumeWaitOptions): Promise<Poll> {
  const n = await client.getOrNull<NodeLike>(`/api/v1/nodes/${encodeURIComponent(node)}`);
  if (n === undefined) return { done: 'node-gone' };
  // Nothing can detach from a node no kubelet answers for; waiting would only block its deletion.
  if (isUnreachable(n)) return { done: 'skipped-unreachable' };
  const page = o.pageSize ?? DEFAULT_PAGE;
  const volumeAttachments = await listAll<VolumeAttachmentLike>(
    client,
    '/apis/storage.k8s.io/v1/volumeattachments',
    page,
  );
  const nothingAttached =
    (n.status?.volumesAttached ?? []).length === 0 &&
    !volumeAttachments.some((va) => va.spec.nodeName === node && va.status?.attached === true);
  // PersistentVolumes are only needed to name what is attached (CAPI skips the list too).
  const persistentVolumes = nothingAttached
    ? []
    : await listAll<PersistentVolumeLike>(client, '/api/v1/persistentvolumes', page);
  const waiting = volumesToWaitFor({
    node: n,
    volumeAttachments,
    persistentVolumes,
    ignoredClaims: o.ignoredClaims,
  });
  return isDetached(waiting) ? { done: 'detached' } : { waiting };
}

/** Every page of a list (limit/continue), so a cluster with many volumes is not read in one response. */
async function listAll<T>(client: KubeClient, path: string, limit: number): Promise<T[]> {
  const items: T[] = [];
  let cont: string | undefined;
  do {
    const q = `?limit=${limit}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
    const l = await client.get<List<T>>(path + q);
    items.push(...l.items);
    cont = l.metadata?.continue || undefined;
  } while (cont);
  return items;
}

/** p's value, or undefined as soon as the signal aborts (p then runs on, unobserved; it must not reject). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    void p.then((v) => {
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    });
  });
}
