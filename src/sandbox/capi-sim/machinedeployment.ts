// MachineDeployment → MachineSets (CAPI-FACTS §2): one MachineSet per template revision (named and
// labelled by the template hash), replicas propagated 1:1 in steady state, a basic rolling update
// bounded by maxSurge/maxUnavailable when the template changes, and status summed from the MachineSets.
import { fromObject, replicaStatusPatch } from '../../capi/adapters/index.ts';
import { selectorToString } from '../../capi/selectors.ts';
import { LABELS, type MachineDeployment, type MachineSet } from '../../capi/types.ts';
import type { KubeObject } from '../../kube/informer.ts';
import { capiPath, clusterGate, CLUSTER_WAIT_MS, type SimContext } from './context.ts';
import { templateHash } from './node-template.ts';
import type { ReconcileResult } from '../../runtime/queue.ts';
import { sendPatch } from './patch.ts';

/** int-or-percent of `total`, rounding as Kubernetes does (up for surge, down for unavailable). */
export function resolveIntOrPercent(
  v: number | string | undefined,
  total: number,
  roundUp: boolean,
  dflt: number,
): number {
  if (v === undefined) return dflt;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m?.[1]) return Number.parseInt(v, 10) || 0;
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

interface Plan {
  newReplicas: number;
  old: Array<{ name: string; replicas: number }>;
}

/**
 * Pure rollout step: the new MachineSet grows while the total stays within replicas+maxSurge, old
 * MachineSets (oldest first) shrink while available replicas stay at or above replicas-maxUnavailable.
 */
export function planRollout(
  desired: number,
  maxSurge: number,
  maxUnavailable: number,
  current: { replicas: number; available: number },
  old: ReadonlyArray<{ name: string; replicas: number; available: number }>,
): Plan {
  const oldTotal = old.reduce((a, o) => a + o.replicas, 0);
  if (oldTotal === 0) return { newReplicas: desired, old: [] };
  const maxTotal = desired + maxSurge;
  const newReplicas = Math.min(desired, Math.max(current.replicas, maxTotal - oldTotal));
  const available = current.available + old.reduce((a, o) => a + o.available, 0);
  let canRemove = Math.max(0, available - (desired - maxUnavailable));
  // Replicas that are not available can go at once: removing them costs no availability.
  const out = old.map((o) => {
    const unavailable = Math.max(0, o.replicas - o.available);
    const take = Math.min(o.replicas, unavailable + canRemove);
    canRemove -= Math.max(0, take - unavailable);
    return { name: o.name, replicas: o.replicas - take };
  });
  return { newReplicas, old: out };
}

export async function reconcileMachineDeployment(
  ctx: SimContext,
  key: string,
): Promise<ReconcileResult | void> {
  const raw = ctx.caches.machineDeployments.get(key);
  if (!raw || raw.metadata.deletionTimestamp) return;
  const md = fromObject(raw) as MachineDeployment;
  const gate = clusterGate(ctx, md.meta.namespace, md.clusterName, md.meta.annotations);
  if (gate === 'paused') return;
  if (gate === 'wait') return { requeueAfterMs: CLUSTER_WAIT_MS };
  if (md.replicas === undefined) {
    ctx.opts.log(`MachineDeployment ${key} has no spec.replicas; CAPI's webhook would have defaulted it`);
    return;
  }
  // Only the machine spec makes a new revision; template labels/annotations and the deletion order are
  // propagated to the existing MachineSets in place, as CAPI does (no rollout for metadata).
  const rawTemplate = (raw as unknown as { spec: { template: { spec: unknown } } }).spec.template;
  const hash = templateHash(rawTemplate.spec);
  const owned = ctx.caches.machineSets
    .list()
    .filter(
      (s) =>
        s.metadata.namespace === md.meta.namespace &&
        s.metadata.ownerReferences?.some((o) => o.controller && o.uid === md.meta.uid),
    )
    .map((s) => fromObject(s) as MachineSet);
  let current = owned.find((s) => s.meta.labels[LABELS.templateHash] === hash);
  if (!current) {
    await createMachineSet(ctx, md, raw, hash);
    return { requeueAfterMs: 100 };
  }
  const old = owned
    .filter((s) => s !== current)
    .sort(
      (a, b) =>
        (a.meta.creationTimestamp ?? '').localeCompare(b.meta.creationTimestamp ?? '') ||
        a.meta.name.localeCompare(b.meta.name),
    );
  const plan = md.paused
    ? { newReplicas: old.length === 0 ? md.replicas : (current.replicas ?? 0), old: [] }
    : planRollout(
        md.replicas,
        resolveIntOrPercent(md.strategy.maxSurge, md.replicas, true, 1),
        resolveIntOrPercent(md.strategy.maxUnavailable, md.replicas, false, 0),
        { replicas: current.replicas ?? 0, available: current.status.availableReplicas ?? 0 },
        old.map((o) => ({
          name: o.meta.name,
          replicas: o.replicas ?? 0,
          available: o.status.availableReplicas ?? 0,
        })),
      );
  for (const ms of owned) await propagateInPlace(ctx, md, ms);
  if (current.replicas !== plan.newReplicas) await scaleMachineSet(ctx, current, plan.newReplicas);
  for (const o of plan.old) {
    const ms = old.find((x) => x.meta.name === o.name)!;
    if (ms.replicas !== o.replicas) await scaleMachineSet(ctx, ms, o.replicas);
  }
  // An old revision scaled to zero whose machines are all gone has served its purpose.
  for (const ms of old) {
    if (ms.replicas === 0 && (ms.status.replicas ?? 0) === 0 && machinesLeft(ctx, ms) === 0) {
      await ctx.mgmt.req('DELETE', capiPath(ctx.version, 'machinesets', ms.meta.namespace, ms.meta.name));
    }
  }
  current = owned.find((s) => s.meta.labels[LABELS.templateHash] === hash)!;
  await writeStatus(ctx, md, raw, owned, current);
  return old.length > 0 ? { requeueAfterMs: 500 } : undefined;
}

/** A merge patch turning map `cur` into `want` (null removes a key); undefined when they are equal. */
export function mapPatch(
  cur: Readonly<Record<string, string>>,
  want: Readonly<Record<string, string>>,
): Record<string, string | null> | undefined {
  const patch: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(want)) if (cur[k] !== v) patch[k] = v;
  for (const k of Object.keys(cur)) if (!(k in want)) patch[k] = null;
  return Object.keys(patch).length ? patch : undefined;
}

/** Copies the MachineDeployment's template metadata and deletion order into a MachineSet. */
async function propagateInPlace(ctx: SimContext, md: MachineDeployment, ms: MachineSet): Promise<void> {
  const hash = ms.meta.labels[LABELS.templateHash];
  const wantLabels = { ...md.template.labels, ...(hash ? { [LABELS.templateHash]: hash } : {}) };
  const labels = mapPatch(ms.template.labels, wantLabels);
  const annotations = mapPatch(ms.template.annotations, md.template.annotations);
  const orderChanged = ms.deletionOrder !== md.deletionOrder;
  if (!labels && !annotations && !orderChanged) return;
  const spec: Record<string, unknown> = {};
  if (labels || annotations)
    spec.template = { metadata: { ...(labels && { labels }), ...(annotations && { annotations }) } };
  if (orderChanged) {
    if (ctx.version === 'v1beta2') spec.deletion = { order: md.deletionOrder };
    else spec.deletePolicy = md.deletionOrder;
  }
  await ctx.mgmt.mergePatch(capiPath(ctx.version, 'machinesets', ms.meta.namespace, ms.meta.name), {
    metadata: { resourceVersion: ms.meta.resourceVersion },
    spec,
  });
}

function machinesLeft(ctx: SimContext, ms: MachineSet): number {
  return ctx.caches.machines
    .list()
    .filter(
      (m) =>
        m.metadata.namespace === ms.meta.namespace &&
        m.metadata.ownerReferences?.some((o) => o.uid === ms.meta.uid),
    ).length;
}

async function scaleMachineSet(ctx: SimContext, ms: MachineSet, replicas: number): Promise<void> {
  await ctx.mgmt.mergePatch(
    capiPath(ctx.version, 'machinesets', ms.meta.namespace, ms.meta.name) + '/scale',
    {
      spec: { replicas },
    },
  );
}

async function createMachineSet(
  ctx: SimContext,
  md: MachineDeployment,
  raw: KubeObject,
  hash: string,
): Promise<void> {
  const spec = structuredClone((raw as unknown as { spec: Record<string, unknown> }).spec);
  const template = spec.template as { metadata?: { labels?: Record<string, string> } };
  template.metadata = {
    ...template.metadata,
    labels: { ...template.metadata?.labels, [LABELS.templateHash]: hash },
  };
  const selector = structuredClone(md.selector);
  selector.matchLabels = { ...selector.matchLabels, [LABELS.templateHash]: hash };
  const body: Record<string, unknown> = {
    apiVersion: `cluster.x-k8s.io/${ctx.version}`,
    kind: 'MachineSet',
    metadata: {
      name: `${md.meta.name}-${hash}`,
      namespace: md.meta.namespace,
      labels: {
        ...md.template.labels,
        [LABELS.clusterName]: md.clusterName,
        [LABELS.deploymentName]: md.meta.name,
        [LABELS.templateHash]: hash,
      },
      ownerReferences: [
        {
          apiVersion: `cluster.x-k8s.io/${ctx.version}`,
          kind: 'MachineDeployment',
          name: md.meta.name,
          uid: md.meta.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      clusterName: md.clusterName,
      // A new MachineSet starts at 0 and is scaled by the rollout, as CAPI does.
      replicas: 0,
      selector,
      template,
      ...(ctx.version === 'v1beta2'
        ? { deletion: { order: md.deletionOrder } }
        : { deletePolicy: md.deletionOrder }),
    },
  };
  const r = await ctx.mgmt.req('POST', capiPath(ctx.version, 'machinesets', md.meta.namespace), body);
  if (r.status >= 300 && r.status !== 409)
    throw new Error(`create MachineSet for ${md.meta.name}: ${r.status} ${r.text}`);
  ctx.opts.log(`MachineDeployment ${md.meta.namespace}/${md.meta.name}: MachineSet ${md.meta.name}-${hash}`);
}

async function writeStatus(
  ctx: SimContext,
  md: MachineDeployment,
  raw: KubeObject,
  owned: MachineSet[],
  current: MachineSet,
): Promise<void> {
  const sum = (f: (s: MachineSet) => number | undefined) => owned.reduce((a, s) => a + (f(s) ?? 0), 0);
  const replicas = sum((s) => s.status.replicas);
  const desired = md.replicas ?? 0;
  const want = {
    replicas,
    readyReplicas: sum((s) => s.status.readyReplicas),
    availableReplicas: sum((s) => s.status.availableReplicas),
    upToDateReplicas: current.status.replicas ?? 0,
    selector: selectorToString(md.selector),
    observedGeneration: md.meta.generation,
  };
  const phase = replicas < desired ? 'ScalingUp' : replicas > desired ? 'ScalingDown' : 'Running';
  const cur: Record<string, unknown> = { ...md.status };
  const curPhase = (raw as { status?: { phase?: string } }).status?.phase;
  if (curPhase === phase && Object.entries(want).every(([k, v]) => cur[k] === v)) return;
  const patch = replicaStatusPatch(ctx.version, 'MachineDeployment', want);
  (patch.body.status as Record<string, unknown>).phase = phase;
  await sendPatch(ctx.mgmt, capiPath(ctx.version, 'machinedeployments', md.meta.namespace, md.meta.name), [
    patch,
  ]);
}
