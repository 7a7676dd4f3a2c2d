// Which volumes a drained node still holds, in Cluster API's terms (the Machine controller's wait for
// node volumes to detach before it deletes the infrastructure). Pure: the caller reads the Node, the
// VolumeAttachments and the PersistentVolumes, and passes the PVCs of pods the drain left on the node.
import { ANNOTATIONS, type Machine } from '../capi/types.ts';
import type { PodLike } from './filters.ts';

export const EXCLUDE_WAIT_FOR_NODE_VOLUME_DETACH_ANNOTATION = ANNOTATIONS.excludeWaitForNodeVolumeDetach;

export interface NodeLike {
  metadata: { name: string };
  status?: {
    conditions?: ReadonlyArray<{ type: string; status: string }>;
    volumesAttached?: ReadonlyArray<{ name: string; devicePath?: string }>;
  };
}

export interface VolumeAttachmentLike {
  metadata: { name: string };
  spec: { nodeName: string; attacher?: string; source: { persistentVolumeName?: string | null } };
  status?: { attached?: boolean };
}

export interface PersistentVolumeLike {
  metadata: { name: string };
  spec?: {
    csi?: { driver: string; volumeHandle: string } | null;
    claimRef?: { namespace?: string; name?: string } | null;
  };
}

/** What still keeps the node's volumes from counting as detached; all empty: done. Each list is sorted. */
export interface VolumesWaiting {
  /** `namespace/name` of the claims of attached PersistentVolumes. */
  persistentVolumeClaims: string[];
  /** Attached PersistentVolumes without a claimRef (always waited for: no pod tells whether to ignore them). */
  persistentVolumesWithoutClaim: string[];
  /** node.status.volumesAttached names that no PersistentVolume maps to. */
  nodeStatusVolumesWithoutPv: string[];
  /** PersistentVolume names of attached VolumeAttachments that do not exist. */
  attachmentPvsWithoutPv: string[];
  /**
   * Attached VolumeAttachments of the node without spec.source.persistentVolumeName (inline volumes).
   * CAPI fails the reconcile on them and retries; here they are reported and keep the wait going.
   */
  attachmentsWithoutPvName: string[];
}

export interface VolumesInput {
  node: NodeLike;
  /** Every VolumeAttachment (there is no field selector on spec.nodeName); other nodes' are skipped. */
  volumeAttachments: readonly VolumeAttachmentLike[];
  persistentVolumes: readonly PersistentVolumeLike[];
  /** `namespace/name` of claims used by pods the drain skipped (skippedClaims). */
  ignoredClaims: ReadonlySet<string> | readonly string[];
}

/** CAPI's noderefutil.IsNodeUnreachable: the Ready condition is Unknown (the node lifecycle controller lost it). */
export function isUnreachable(node: NodeLike): boolean {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  return ready?.status === 'Unknown';
}

/** The name the attach/detach controller records in node.status.volumesAttached for a CSI volume. */
export function csiUniqueName(pv: PersistentVolumeLike): string | undefined {
  const csi = pv.spec?.csi;
  return csi ? `kubernetes.io/csi/${csi.driver}^${csi.volumeHandle}` : undefined;
}

/** Whether anything still waits; the attachments without a PV name count too (CAPI retries on them). */
export function isDetached(w: VolumesWaiting): boolean {
  return Object.values(w).every((l: string[]) => l.length === 0);
}

export function noVolumesWaiting(): VolumesWaiting {
  return {
    persistentVolumeClaims: [],
    persistentVolumesWithoutClaim: [],
    nodeStatusVolumesWithoutPv: [],
    attachmentPvsWithoutPv: [],
    attachmentsWithoutPvName: [],
  };
}

/** The attached volumes the node must lose before its infrastructure goes (CAPI's four groups, plus one). */
export function volumesToWaitFor(input: VolumesInput): VolumesWaiting {
  const nodeName = input.node.metadata.name;
  const statusNames = new Set((input.node.status?.volumesAttached ?? []).map((v) => v.name));
  const vaPvNames = new Set<string>();
  const withoutPvName: string[] = [];
  for (const va of input.volumeAttachments) {
    if (va.spec.nodeName !== nodeName || va.status?.attached !== true) continue;
    const pv = va.spec.source.persistentVolumeName;
    if (pv) vaPvNames.add(pv);
    else withoutPvName.push(va.metadata.name);
  }
  const out = noVolumesWaiting();
  out.attachmentsWithoutPvName = withoutPvName;
  if (statusNames.size === 0 && vaPvNames.size === 0) return sortAll(out);

  const ignored = new Set(input.ignoredClaims);
  const foundStatus = new Set<string>();
  const foundVa = new Set<string>();
  const claims = new Set<string>();
  const unclaimed = new Set<string>();
  for (const pv of input.persistentVolumes) {
    let attached = false;
    if (vaPvNames.has(pv.metadata.name)) {
      foundVa.add(pv.metadata.name);
      attached = true;
    }
    // Only CSI unique names are derived. CAPI also derives the names in-tree volume plugins record
    // (kubernetes.io/<plugin>/...); an in-tree volume shows up here as a status name without a PV. A
    // fallback on the PV's own name could never match: PV names cannot contain the "/" every unique
    // volume name has.
    const unique = csiUniqueName(pv);
    if (unique !== undefined && statusNames.has(unique)) {
      foundStatus.add(unique);
      attached = true;
    }
    if (!attached) continue;
    const ref = pv.spec?.claimRef;
    if (!ref?.name) {
      unclaimed.add(pv.metadata.name);
      continue;
    }
    const key = `${ref.namespace ?? ''}/${ref.name}`;
    // A volume still used by a pod the drain left (a DaemonSet's, a static pod's) cannot detach before
    // the node goes; waiting for it would only run into the timeout.
    if (!ignored.has(key)) claims.add(key);
  }
  out.persistentVolumeClaims = [...claims];
  out.persistentVolumesWithoutClaim = [...unclaimed];
  out.nodeStatusVolumesWithoutPv = [...statusNames].filter((n) => !foundStatus.has(n));
  out.attachmentPvsWithoutPv = [...vaPvNames].filter((n) => !foundVa.has(n));
  return sortAll(out);
}

/**
 * `namespace/claimName` of the PersistentVolumeClaims the given pods mount (pass the pods the drain
 * skipped). A generic ephemeral volume's claim is named `<pod>-<volume>` by Kubernetes, so it is included.
 */
export function skippedClaims(pods: readonly PodLike[]): Set<string> {
  const out = new Set<string>();
  for (const p of pods) {
    for (const v of p.spec?.volumes ?? []) {
      const pvc = v.persistentVolumeClaim as { claimName?: string } | null | undefined;
      if (pvc?.claimName) out.add(`${p.metadata.namespace}/${pvc.claimName}`);
      else if (v.ephemeral != null) out.add(`${p.metadata.namespace}/${p.metadata.name}-${v.name}`);
    }
  }
  return out;
}

/** One line for logs, events and conditions, naming what is left (at most `max` names per group). */
export function describeWaiting(w: VolumesWaiting, max = 5): string {
  const parts: string[] = [];
  const add = (label: string, names: string[]) => {
    if (names.length === 0) return;
    const more = names.length > max ? ` and ${names.length - max} more` : '';
    parts.push(`${label} ${names.slice(0, max).join(', ')}${more}`);
  };
  add('PersistentVolumeClaims', w.persistentVolumeClaims);
  add('PersistentVolumes without a claim', w.persistentVolumesWithoutClaim);
  add('node status volumes without a PersistentVolume', w.nodeStatusVolumesWithoutPv);
  add('VolumeAttachments naming missing PersistentVolumes', w.attachmentPvsWithoutPv);
  add('VolumeAttachments without spec.source.persistentVolumeName', w.attachmentsWithoutPvName);
  return parts.length > 0 ? parts.join('; ') : 'no attached volumes';
}

export type VolumeDetachDecision = { wait: false; reason: string } | { wait: true; timeoutMs: number };

/**
 * From the Machine: the exclude annotation (any value) skips the wait; its nodeVolumeDetachTimeout, when
 * set (0: none), caps it, else the service's default (`drain.volumeDetachTimeout`, 0: none).
 */
export function volumeDetachFor(machine: Machine, defaultTimeoutMs = 0): VolumeDetachDecision {
  if (machine.meta.annotations[EXCLUDE_WAIT_FOR_NODE_VOLUME_DETACH_ANNOTATION] !== undefined) {
    return {
      wait: false,
      reason: `Machine ${machine.meta.namespace}/${machine.meta.name} has ${EXCLUDE_WAIT_FOR_NODE_VOLUME_DETACH_ANNOTATION}`,
    };
  }
  const own = machine.deletion.nodeVolumeDetachTimeoutSeconds;
  return { wait: true, timeoutMs: own !== undefined ? own * 1000 : defaultTimeoutMs };
}

function sortAll(w: VolumesWaiting): VolumesWaiting {
  for (const l of Object.values(w) as string[][]) l.sort();
  return w;
}
