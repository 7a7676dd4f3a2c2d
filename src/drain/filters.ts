// Pure pod classification for a PDB-aware node drain. Semantics follow cluster-autoscaler's drainability
// rules (simulator/drainability/rules) for order and predicates, kubectl's drain filters (pkg/drain/filters.go)
// and CAPI's machine drain (internal/controllers/machine/drain) for what a forced drain does. No I/O, no
// clock: the caller passes `now` and a DaemonSet lookup.
import { matchesSelector } from '../capi/selectors.ts';
import type { LabelSelector } from '../capi/types.ts';

export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
export const SAFE_TO_EVICT_ANNOTATION = 'cluster-autoscaler.kubernetes.io/safe-to-evict';
export const SAFE_TO_EVICT_LOCAL_VOLUMES_ANNOTATION =
  'cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes';
/** CA treats pods carrying this (value "true") as DaemonSet pods even without a DaemonSet owner. */
export const DAEMONSET_POD_ANNOTATION = 'cluster-autoscaler.kubernetes.io/daemonset-pod';

/** core/v1 DefaultTerminationGracePeriodSeconds, used when the pod spec leaves it unset. */
const DEFAULT_TERMINATION_GRACE_SECONDS = 30;
/** CA's PodLongTerminatingExtraThreshold. */
const DEFAULT_TERMINATING_EXTRA_SECONDS = 30;

export interface OwnerReferenceLike {
  kind: string;
  name: string;
  controller?: boolean;
  apiVersion?: string;
}

export interface VolumeLike {
  name: string;
  emptyDir?: { medium?: string; sizeLimit?: string } | null;
  hostPath?: { path: string; type?: string } | null;
  [source: string]: unknown;
}

export interface PodLike {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReferenceLike[];
    /** RFC 3339. The API server sets it to request time + deletionGracePeriodSeconds. */
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
  };
  spec?: {
    volumes?: VolumeLike[];
    terminationGracePeriodSeconds?: number;
    nodeName?: string;
  };
  status?: { phase?: string };
}

export interface PdbLike {
  metadata: { name: string; namespace: string };
  spec: { selector?: LabelSelector | null };
}

export type PodAction = 'skip' | 'delete' | 'evict' | 'block';

/** Mapped to CA rule names / BlockingPodReason where CA has one (in brackets). */
export type PodReason =
  | 'MirrorPod' // [mirror]
  | 'LongTerminating' // [longterminating]
  | 'Terminal' // [terminal]
  | 'DaemonSetPod' // [daemonset]
  | 'DaemonSetNotFound' // [ControllerNotFound]
  | 'SafeToEvict' // [safetoevict]
  | 'NotReplicated' // [NotReplicated]
  | 'KubeSystemWithoutPdb' // [UnmovableKubeSystemPod]
  | 'NotSafeToEvict' // [NotSafeToEvictAnnotation]
  | 'LocalStorage' // [LocalStorageRequested]
  | 'Evictable';

export interface DrainPolicy {
  /** Pods with hostPath or disk-backed emptyDir volumes not listed in safe-to-evict-local-volumes. */
  localStorage: 'evict' | 'block';
  /** Running pods without a controller owner reference, and pods whose DaemonSet is gone. */
  notReplicated: 'evict' | 'delete' | 'block';
  /** kube-system pods that no PodDisruptionBudget in kube-system selects. */
  kubeSystemWithoutPdb: 'evict' | 'block';
  /** true: DaemonSet pods are left on the node (their controller would recreate them); false: they block. */
  ignoreDaemonSets: boolean;
  /**
   * 'block': a pod whose controller is not a ReplicationController, ReplicaSet, StatefulSet, Job or
   * DaemonSet counts as not replicated (cluster-autoscaler's --skip-nodes-with-custom-controller-pods);
   * unset: any controller counts.
   */
  customControllers?: 'block';
}

/** The controller kinds cluster-autoscaler knows to recreate a pod elsewhere. */
export const KNOWN_CONTROLLER_KINDS: readonly string[] = [
  'ReplicationController',
  'ReplicaSet',
  'StatefulSet',
  'Job',
  'DaemonSet',
];

/**
 * cluster-autoscaler scale-down defaults:
 * - localStorage: --skip-nodes-with-local-storage defaults to true (localstorage rule enabled).
 * - notReplicated: the replicated rule is always on; only safe-to-evict "true" lifts it. A pod whose
 *   DaemonSet is missing blocks as ControllerNotFound (replicacount rule, ahead of safe-to-evict).
 * - kubeSystemWithoutPdb: --skip-nodes-with-system-pods defaults to true (system rule enabled).
 * - ignoreDaemonSets: the daemonset rule marks DaemonSet pods drainable, so they never block.
 * - customControllers: --skip-nodes-with-custom-controller-pods defaults to true.
 */
export const SCALE_DOWN_POLICY: Readonly<DrainPolicy> = Object.freeze({
  localStorage: 'block',
  notReplicated: 'block',
  kubeSystemWithoutPdb: 'block',
  ignoreDaemonSets: true,
  customControllers: 'block',
});

/**
 * CAPI Machine deletion (internal/controllers/machine/drain):
 * - localStorage: localStorageFilter only warns ("evicting Pod with local storage") and drains.
 * - notReplicated: unreplicatedFilter warns ("evicting Pod that has no controller") and drains; orphaned
 *   DaemonSet pods are drained too. CAPI sends every drained pod through the Eviction API, hence evict.
 * - kubeSystemWithoutPdb: CAPI has no kube-system rule.
 * - ignoreDaemonSets: daemonSetFilter skips pods of an existing DaemonSet.
 */
export const MACHINE_DELETION_POLICY: Readonly<DrainPolicy> = Object.freeze({
  localStorage: 'evict',
  notReplicated: 'evict',
  kubeSystemWithoutPdb: 'evict',
  ignoreDaemonSets: true,
});

export interface ClassifyContext {
  /** Milliseconds since the epoch. */
  now: number;
  daemonSetExists(namespace: string, name: string): boolean;
  /** PDBs of the pod's namespace; PDBs from other namespaces are ignored, so passing all is safe. */
  pdbsInNamespace: readonly PdbLike[];
  policy: Readonly<DrainPolicy>;
  /** Slack after deletionTimestamp + terminationGracePeriodSeconds before a pod is ignored (default 30). */
  terminatingGraceExtraSeconds?: number;
  /**
   * Set when the node is unreachable: no kubelet will finish deletions there, so a pod whose deletion
   * started more than this many seconds ago counts as gone (CAPI's SkipWaitForDeleteTimeoutSeconds).
   */
  unreachableSkipWaitSeconds?: number;
}

export interface PodClassification {
  action: PodAction;
  reason: PodReason;
  detail: string;
}

export interface DrainPlanEntry extends PodClassification {
  pod: { namespace: string; name: string; uid: string };
}

export interface DrainPlan {
  entries: DrainPlanEntry[];
  blocked: boolean;
}

/** metav1.GetControllerOf: only an owner reference with controller: true counts. */
export function controllerOf(pod: PodLike): OwnerReferenceLike | undefined {
  return (pod.metadata.ownerReferences ?? []).find((r) => r.controller === true);
}

/** policy/v1: a missing selector selects no pod, an empty one selects every pod of the namespace. */
export function pdbMatchesPod(pdb: PdbLike, pod: PodLike): boolean {
  const selector = pdb.spec.selector;
  if (pdb.metadata.namespace !== pod.metadata.namespace || selector == null) return false;
  return matchesSelector(pod.metadata.labels ?? {}, selector);
}

/** Age test of CA's IsPodLongTerminating; it uses the spec grace, not deletionGracePeriodSeconds. */
function longTerminating(pod: PodLike, ctx: ClassifyContext): string | undefined {
  const ts = pod.metadata.deletionTimestamp;
  if (ts === undefined) return undefined;
  const deletedAt = Date.parse(ts);
  const grace = pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS;
  const extra = ctx.terminatingGraceExtraSeconds ?? DEFAULT_TERMINATING_EXTRA_SECONDS;
  if (!(deletedAt + (grace + extra) * 1000 < ctx.now)) return undefined;
  return `deletionTimestamp ${ts} is past the ${grace}s grace period plus ${extra}s; treated as gone`;
}

/** CA's HasBlockingLocalStorage: hostPath, or emptyDir not backed by memory, unless listed by name. */
function blockingLocalVolumes(pod: PodLike): { blocking: string[]; unknown: string[] } {
  const raw = pod.metadata.annotations?.[SAFE_TO_EVICT_LOCAL_VOLUMES_ANNOTATION] ?? '';
  // CA splits on "," without trimming, so "a, b" does not exempt "b"; unmatched names are reported.
  const listed = raw === '' ? [] : raw.split(',');
  const local = (pod.spec?.volumes ?? []).filter(
    (v) => v.hostPath != null || (v.emptyDir != null && v.emptyDir.medium !== 'Memory'),
  );
  return {
    blocking: local.filter((v) => !listed.includes(v.name)).map((v) => v.name),
    unknown: listed.filter((n) => !local.some((v) => v.name === n)),
  };
}

export function classifyPod(pod: PodLike, ctx: ClassifyContext): PodClassification {
  const { namespace, annotations = {} } = pod.metadata;
  const notes: string[] = [];
  const rawSafe = annotations[SAFE_TO_EVICT_ANNOTATION];
  // CA compares with == "true" / == "false"; anything else must not read as permission.
  const safeToEvict = rawSafe === 'true' || rawSafe === 'false' ? rawSafe : undefined;
  if (rawSafe !== undefined && safeToEvict === undefined) {
    notes.push(`${SAFE_TO_EVICT_ANNOTATION}=${JSON.stringify(rawSafe)} is not "true"/"false"; ignored`);
  }
  if (pod.metadata.deletionTimestamp !== undefined) {
    notes.push(`already terminating since ${pod.metadata.deletionTimestamp}`);
  }
  const result = (action: PodAction, reason: PodReason, detail: string): PodClassification => ({
    action,
    reason,
    detail: [detail, ...notes].join('; '),
  });

  // CA order: mirror and long-terminating come before every other rule.
  if (annotations[MIRROR_ANNOTATION] !== undefined) {
    return result('skip', 'MirrorPod', 'mirror of a static pod; only the kubelet can remove it');
  }
  const gone = longTerminating(pod, ctx);
  if (gone !== undefined) return { action: 'skip', reason: 'LongTerminating', detail: gone };
  const ts = pod.metadata.deletionTimestamp;
  if (ctx.unreachableSkipWaitSeconds !== undefined && ts !== undefined) {
    // deletionTimestamp is the request time plus the grace period: the deletion started that much earlier.
    const started = Date.parse(ts) - (pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000;
    if (ctx.now - started > ctx.unreachableSkipWaitSeconds * 1000) {
      return {
        action: 'skip',
        reason: 'LongTerminating',
        detail: `on an unreachable node, deletion started more than ${ctx.unreachableSkipWaitSeconds}s ago; treated as gone`,
      };
    }
  }

  // Finished pods disrupt nothing, so no eviction (and no PDB check) is needed; kubectl and CAPI also
  // drain them even when DaemonSet-owned. CA reaches the same "drainable" outcome via its terminal rule.
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') {
    return result('delete', 'Terminal', `phase ${phase}; deleted without eviction`);
  }

  const owner = controllerOf(pod);
  const findings: PodClassification[] = [];
  if (owner?.kind === 'DaemonSet' || annotations[DAEMONSET_POD_ANNOTATION] === 'true') {
    if (owner?.kind !== 'DaemonSet' || ctx.daemonSetExists(namespace, owner.name)) {
      const what =
        owner?.kind === 'DaemonSet'
          ? `managed by DaemonSet ${namespace}/${owner.name}`
          : `annotated ${DAEMONSET_POD_ANNOTATION}=true`;
      return ctx.policy.ignoreDaemonSets
        ? result('skip', 'DaemonSetPod', `${what}; left for its controller`)
        : result('block', 'DaemonSetPod', `${what}; policy does not ignore DaemonSet pods`);
    }
    // Orphaned: nothing recreates it, so it is as unreplicated as a bare pod (kubectl needs --force).
    const missing = `DaemonSet ${namespace}/${owner.name} no longer exists`;
    if (ctx.policy.notReplicated === 'block') return result('block', 'DaemonSetNotFound', missing);
    findings.push({ action: ctx.policy.notReplicated, reason: 'DaemonSetNotFound', detail: missing });
  }

  // safe-to-evict "true" lifts the not-replicated, kube-system and local-storage checks.
  if (safeToEvict === 'true') {
    return result('evict', 'SafeToEvict', `${SAFE_TO_EVICT_ANNOTATION}=true`);
  }

  // Blocking checks in CA order: replicated, system, notsafetoevict, localstorage. A check the policy
  // relaxes is remembered and the later checks still run, so a relaxation never hides a block.
  if (owner === undefined) {
    findings.push({
      action: ctx.policy.notReplicated,
      reason: 'NotReplicated',
      detail: 'no controller owner reference; nothing recreates it',
    });
  } else if (ctx.policy.customControllers === 'block' && !KNOWN_CONTROLLER_KINDS.includes(owner.kind)) {
    findings.push({
      action: ctx.policy.notReplicated,
      reason: 'NotReplicated',
      detail: `controlled by ${owner.kind} ${owner.name}, which is not known to recreate it elsewhere (custom controller)`,
    });
  }
  const pdbs = ctx.pdbsInNamespace.filter((p) => pdbMatchesPod(p, pod)).map((p) => p.metadata.name);
  if (namespace === 'kube-system' && pdbs.length === 0) {
    findings.push({
      action: ctx.policy.kubeSystemWithoutPdb,
      reason: 'KubeSystemWithoutPdb',
      detail: 'kube-system pod that no PodDisruptionBudget selects',
    });
  }
  if (safeToEvict === 'false') {
    findings.push({ action: 'block', reason: 'NotSafeToEvict', detail: `${SAFE_TO_EVICT_ANNOTATION}=false` });
  }
  const local = blockingLocalVolumes(pod);
  if (local.blocking.length > 0) {
    const unknown =
      local.unknown.length > 0
        ? ` (listed but not local: ${local.unknown.map((n) => JSON.stringify(n)).join(', ')})`
        : '';
    findings.push({
      action: ctx.policy.localStorage,
      reason: 'LocalStorage',
      detail: `local volumes lost with the node: ${local.blocking.join(', ')}${unknown}`,
    });
  }

  const block = findings.find((f) => f.action === 'block');
  if (block !== undefined) return result('block', block.reason, block.detail);
  // The first relaxed finding decides (CA order), so notReplicated: 'delete' wins over an evict.
  const { action, reason } = findings[0] ?? { action: 'evict', reason: 'Evictable' };
  const details = findings.map((f) => f.detail);
  if (action === 'evict') {
    details.push(pdbs.length > 0 ? `eviction honours PDB ${pdbs.join(', ')}` : 'no PDB selects it');
  } else {
    details.push('deleted without eviction, bypassing PDBs');
  }
  return result(action, reason, details.join('; '));
}

/** Every pod, in input order, with its classification; blocked when any pod blocks the drain. */
export function drainPlan(pods: readonly PodLike[], ctx: ClassifyContext): DrainPlan {
  const entries = pods.map((pod) => ({
    pod: { namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
    ...classifyPod(pod, ctx),
  }));
  return { entries, blocked: entries.some((e) => e.action === 'block') };
}
