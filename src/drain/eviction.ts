// Evicts one pod through the Eviction API and waits until it is gone: the unit every drain is made of.
// Semantics (kubectl drain, CAPI's machine drain, cluster-autoscaler): 429 means a PodDisruptionBudget
// would be violated and is retried until the per-pod timeout; 500 for a pod covered by more than one PDB
// is reported, never retried (no retry can succeed); 404 means already gone. The eviction carries the
// planned pod's UID as a precondition, so a same-named replacement is never evicted by mistake.
import type { KubeClient } from '../kube/client.ts';
import { KubeError } from '../kube/errors.ts';
import { TransportError } from '../kube/transport.ts';
import { sleepFor } from '../runtime/wait.ts';
import { ATTR, inSpan, recordDecision } from '../tracing/spans.ts';

export interface EvictablePod {
  metadata: { name: string; namespace: string; uid: string };
  spec?: { terminationGracePeriodSeconds?: number; nodeName?: string };
}

export interface EvictOptions {
  /** `policy/<version>` of the Eviction API the apiserver serves (src/kube/discovery.ts). */
  policyVersion: 'v1' | 'v1beta1';
  /** How long a refused (429) or failing eviction is retried, from the first attempt. */
  evictionTimeoutMs: number;
  /** How long to wait, once evicted, for the pod to disappear; 0: not at all. */
  deletionTimeoutMs: number;
  /** -1: the pod's own terminationGracePeriodSeconds, capped by maxGracePeriodSeconds. */
  gracePeriodSeconds: number;
  /** cluster-autoscaler's --max-graceful-termination-sec (600). */
  maxGracePeriodSeconds: number;
  /** Between attempts after a 429 (kubectl waits 5 s). */
  retryIntervalMs?: number;
  /** Resolves true once the pod (that UID) is gone, false at the deadline or on abort. */
  waitGone: (pod: EvictablePod, deadline: number, signal: AbortSignal) => Promise<boolean>;
  signal?: AbortSignal;
  /** Called on every PDB refusal (429), e.g. to record an EvictionBlocked event. */
  onRefused?: (pdb: string | undefined, message: string) => void;
  /**
   * Waits before retrying a PDB refusal: at most `ms`, less once the PDB allows a disruption again (a
   * drain passes one that follows the PDB's status by watch). Default: sleeps `ms`.
   */
  waitForPdb?: (pdb: string | undefined, ms: number, signal: AbortSignal) => Promise<void>;
  /** For span attributes. */
  cluster?: string;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export type EvictResult =
  /** Evicted and gone (or, with deletionTimeoutMs 0, accepted). */
  | { result: 'evicted'; attempts: number }
  /** Already gone, or replaced by a pod with another UID, before the eviction applied. */
  | { result: 'not_found'; attempts: number }
  /** Still refused by a PDB at the timeout; `pdb` when the apiserver named it. */
  | { result: 'blocked_by_pdb'; attempts: number; pdb?: string; message: string }
  /** Covered by more than one PDB: the Eviction API cannot evict it; not retried. */
  | { result: 'multiple_pdbs'; attempts: number; message: string }
  /** Evicted, but still there when the deletion wait ended. */
  | { result: 'not_deleted'; attempts: number }
  | { result: 'failed'; attempts: number; message: string }
  /** Stopped by the caller (e.g. the drain deadline); the last refusal, if any, is kept. */
  | { result: 'aborted'; attempts: number; pdb?: string; message?: string };

const DEFAULT_RETRY_MS = 5000;

export async function evictPod(client: KubeClient, pod: EvictablePod, o: EvictOptions): Promise<EvictResult> {
  const { name, namespace } = pod.metadata;
  return inSpan(
    'drain.evict',
    {
      attributes: {
        [ATTR.pod]: name,
        [ATTR.namespace]: namespace,
        ...(pod.spec?.nodeName ? { [ATTR.node]: pod.spec.nodeName } : {}),
        ...(o.cluster ? { [ATTR.cluster]: o.cluster } : {}),
      },
    },
    async () => {
      const r = await evictLoop(client, pod, o);
      recordDecision(r.result, ('message' in r && r.message ? r.message : r.result).slice(0, 200), {
        'capi_autopilot.attempts': r.attempts,
      });
      return r;
    },
  );
}

async function evictLoop(client: KubeClient, pod: EvictablePod, o: EvictOptions): Promise<EvictResult> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? sleepFor;
  const signal = o.signal ?? new AbortController().signal;
  const { name, namespace, uid } = pod.metadata;
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/eviction`;
  const body = {
    apiVersion: `policy/${o.policyVersion}`,
    kind: 'Eviction',
    metadata: { name, namespace },
    deleteOptions: { gracePeriodSeconds: gracePeriod(pod, o), preconditions: { uid } },
  };
  const deadline = now() + o.evictionTimeoutMs;
  let pdb: string | undefined;
  let last: string | undefined;
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) return { result: 'aborted', attempts: attempt - 1, pdb, message: last };
    try {
      // Retries are ours: a 429 here is a PDB's answer, not load, and waits kubectl's interval.
      await client.write('POST', path, body, { idempotent: true, maxRetries: 0 });
      if (o.deletionTimeoutMs <= 0) return { result: 'evicted', attempts: attempt };
      const gone = await o.waitGone(pod, now() + o.deletionTimeoutMs, signal);
      if (gone) return { result: 'evicted', attempts: attempt };
      return signal.aborted
        ? { result: 'aborted', attempts: attempt }
        : { result: 'not_deleted', attempts: attempt };
    } catch (e) {
      const c = classify(e);
      if (c.kind === 'gone') return { result: 'not_found', attempts: attempt };
      if (c.kind === 'multiple_pdbs')
        return { result: 'multiple_pdbs', attempts: attempt, message: c.message };
      if (c.kind === 'fatal') return { result: 'failed', attempts: attempt, message: c.message };
      if (c.kind === 'pdb') {
        pdb = c.pdb ?? pdb;
        o.onRefused?.(pdb, c.message);
      }
      const lastRefusal = c.message;
      last = lastRefusal;
      const wait = Math.min(
        c.retryAfterMs ?? o.retryIntervalMs ?? DEFAULT_RETRY_MS,
        Math.max(0, deadline - now()),
      );
      if (now() + wait >= deadline || wait <= 0) {
        return c.kind === 'pdb'
          ? { result: 'blocked_by_pdb', attempts: attempt, pdb, message: lastRefusal }
          : { result: 'failed', attempts: attempt, message: lastRefusal };
      }
      if (c.kind === 'pdb' && o.waitForPdb) await o.waitForPdb(pdb, wait, signal);
      else await sleep(wait, signal);
    }
  }
}

type Classified =
  | { kind: 'gone' }
  | { kind: 'pdb'; pdb?: string; message: string; retryAfterMs?: number }
  | { kind: 'multiple_pdbs'; message: string }
  | { kind: 'transient'; message: string; retryAfterMs?: number }
  | { kind: 'fatal'; message: string };

const MULTIPLE_PDBS = /more than one PodDisruptionBudget/i;
const PDB_NAME = /disruption budget (\S+?) needs/i;

function classify(e: unknown): Classified {
  if (e instanceof KubeError) {
    // 404: gone; 409: the UID precondition failed, the planned pod is gone and a namesake replaced it.
    if (e.kind === 'NotFound' || e.kind === 'Conflict') return { kind: 'gone' };
    const text = [e.message, ...e.causes].join(' ');
    if (e.status === 429) {
      const pdb = e.causes.map((m) => PDB_NAME.exec(m)?.[1]).find(Boolean);
      return { kind: 'pdb', pdb, message: e.causes[0] ?? e.message, retryAfterMs: e.retryAfterMs };
    }
    if (e.status === 500 && MULTIPLE_PDBS.test(text)) return { kind: 'multiple_pdbs', message: e.message };
    if (e.kind === 'Transient')
      return { kind: 'transient', message: e.message, retryAfterMs: e.retryAfterMs };
    return { kind: 'fatal', message: e.message };
  }
  if (e instanceof TransportError) return { kind: 'transient', message: e.message };
  return { kind: 'fatal', message: (e as Error).message ?? String(e) };
}

/** The grace period to request: the override, or the pod's own capped by the maximum (CA's rule). */
export function gracePeriod(
  pod: EvictablePod,
  o: Pick<EvictOptions, 'gracePeriodSeconds' | 'maxGracePeriodSeconds'>,
): number {
  if (o.gracePeriodSeconds >= 0) return o.gracePeriodSeconds;
  return Math.min(pod.spec?.terminationGracePeriodSeconds ?? 30, o.maxGracePeriodSeconds);
}

/** Polls until the pod with that UID is gone (404 or another UID), kubectl's way; drains use informers. */
export async function pollUntilGone(
  client: KubeClient,
  pod: EvictablePod,
  deadline: number,
  signal: AbortSignal,
  intervalMs = 1000,
): Promise<boolean> {
  const path = `/api/v1/namespaces/${encodeURIComponent(pod.metadata.namespace)}/pods/${encodeURIComponent(pod.metadata.name)}`;
  for (;;) {
    const cur = await client.getOrNull<{ metadata: { uid: string } }>(path);
    if (!cur || cur.metadata.uid !== pod.metadata.uid) return true;
    if (signal.aborted || Date.now() >= deadline) return false;
    await sleepFor(Math.min(intervalMs, Math.max(0, deadline - Date.now())), signal);
  }
}
