// MachineSet → Machines, as CAPI's MachineSet controller does it (CAPI-FACTS §1): deleting machines count
// as replicas, scale-down follows the delete priority, a new Machine gets an infrastructure machine cloned
// from the template, and own writes are remembered until the cache shows them (no duplicates).
import { randomBytes } from 'node:crypto';
import { fromObject, machineFromTemplate, replicaStatusPatch } from '../../capi/adapters/index.ts';
import { matchesSelector, selectorToString } from '../../capi/selectors.ts';
import { ANNOTATIONS, LABELS, type Machine, type MachineSet } from '../../capi/types.ts';
import type { KubeObject } from '../../kube/informer.ts';
import {
  capiPath,
  clusterGate,
  CLUSTER_WAIT_MS,
  INFRA_API_VERSION,
  INFRA_GROUP,
  infraPath,
  nsKey,
  splitKey,
  type InfraTemplate,
  type SimContext,
} from './context.ts';
import { machinesToDelete } from './delete-priority.ts';
import type { ReconcileResult } from '../../runtime/queue.ts';
import { sendPatch } from './patch.ts';

const EXPECTATION_TIMEOUT_MS = 30_000;

/**
 * Machines of a MachineSet, as CAPI's getAndAdoptMachinesForMachineSet: in its namespace, matching its
 * selector and cluster, and either controlled by it or by no one (orphans, which it adopts).
 */
export function machinesOf(ctx: SimContext, ms: MachineSet): { owned: Machine[]; orphans: Machine[] } {
  const owned: Machine[] = [];
  const orphans: Machine[] = [];
  for (const raw of ctx.caches.machines.list()) {
    if (raw.metadata.namespace !== ms.meta.namespace) continue;
    const labels = raw.metadata.labels ?? {};
    if (!matchesSelector(labels, ms.selector) || labels[LABELS.clusterName] !== ms.clusterName) continue;
    const owner = raw.metadata.ownerReferences?.find((r) => r.controller);
    if (owner && owner.uid !== ms.meta.uid) continue;
    (owner ? owned : orphans).push(fromObject(raw) as Machine);
  }
  return { owned, orphans };
}

export function isMachineReady(ctx: SimContext, m: Machine): boolean {
  if (!m.nodeRef || m.meta.deletionTimestamp) return false;
  const node = ctx.caches.nodes.get(m.nodeRef);
  return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function expectationsPending(ctx: SimContext, key: string): boolean {
  const e = ctx.expectations.get(key);
  if (!e) return false;
  if (Date.now() - e.since > EXPECTATION_TIMEOUT_MS) {
    ctx.expectations.delete(key);
    return false;
  }
  const { namespace } = splitKey(key);
  for (const name of e.create) if (ctx.caches.machines.get(nsKey(namespace, name))) e.create.delete(name);
  for (const name of e.del) {
    const m = ctx.caches.machines.get(nsKey(namespace, name));
    if (!m || m.metadata.deletionTimestamp) e.del.delete(name);
  }
  if (e.create.size === 0 && e.del.size === 0) {
    ctx.expectations.delete(key);
    return false;
  }
  return true;
}

export async function reconcileMachineSet(ctx: SimContext, key: string): Promise<ReconcileResult | void> {
  const raw = ctx.caches.machineSets.get(key);
  if (!raw || raw.metadata.deletionTimestamp) return;
  const ms = fromObject(raw) as MachineSet;
  const gate = clusterGate(ctx, ms.meta.namespace, ms.clusterName, ms.meta.annotations);
  if (gate === 'paused') return;
  if (gate === 'wait') return { requeueAfterMs: CLUSTER_WAIT_MS };
  if (expectationsPending(ctx, key)) return { requeueAfterMs: 100 };
  if (ms.replicas === undefined) {
    ctx.opts.log(`MachineSet ${key} has no spec.replicas; CAPI's webhook would have defaulted it`);
    return;
  }
  const { owned, orphans } = machinesOf(ctx, ms);
  for (const o of orphans) await adopt(ctx, ms, o);
  const machines = [...owned, ...orphans];
  const diff = machines.length - ms.replicas;
  if (diff < 0 && ms.meta.annotations[ANNOTATIONS.disableMachineCreate] !== 'true') {
    const created = new Set<string>();
    ctx.expectations.set(key, { create: created, del: new Set(), since: Date.now() });
    for (let i = 0; i < -diff; i++) {
      // Expect the name before the POST: if a later step fails, the next reconcile still waits for it.
      const name = `${ms.meta.name}-${randomBytes(3).toString('hex').slice(0, 5)}`;
      created.add(name);
      await createMachine(ctx, ms, name);
    }
  } else if (diff > 0) {
    const victims = machinesToDelete(
      machines.map((m) => ({
        name: m.meta.name,
        creationTimestamp: m.meta.creationTimestamp,
        deletionTimestamp: m.meta.deletionTimestamp,
        annotations: m.meta.annotations,
        nodeRef: m.nodeRef,
        // CAPI judges health on its v1beta2 conditions, which a v1beta1 object mirrors in status.v1beta2.
        conditions: [...m.conditions, ...(m.otherVersionConditions ?? [])],
      })),
      diff,
      ms.deletionOrder,
      ctx.opts.now(),
    ).filter((v) => !v.deletionTimestamp);
    const deleted = new Set<string>();
    ctx.expectations.set(key, { create: new Set(), del: deleted, since: Date.now() });
    for (const v of victims) {
      const r = await ctx.mgmt.req('DELETE', capiPath(ctx.version, 'machines', ms.meta.namespace, v.name));
      if (r.status < 300) deleted.add(v.name);
      ctx.opts.log(`MachineSet ${key}: deleting Machine ${v.name} (${r.status})`);
    }
  }
  await writeStatus(ctx, ms);
}

async function writeStatus(ctx: SimContext, ms: MachineSet): Promise<void> {
  const machines = machinesOf(ctx, ms).owned;
  const ready = machines.filter((m) => isMachineReady(ctx, m)).length;
  const want = {
    replicas: machines.length,
    readyReplicas: ready,
    availableReplicas: ready,
    upToDateReplicas: machines.length,
    selector: selectorToString(ms.selector),
    observedGeneration: ms.meta.generation,
  };
  const cur: Record<string, unknown> = { ...ms.status };
  if (Object.entries(want).every(([k, v]) => cur[k] === v)) return;
  await sendPatch(ctx.mgmt, capiPath(ctx.version, 'machinesets', ms.meta.namespace, ms.meta.name), [
    replicaStatusPatch(ctx.version, 'MachineSet', want),
  ]);
}

/** Creates the Machine and then its infrastructure machine; a crash in between is repaired by the Machine controller. */
async function createMachine(ctx: SimContext, ms: MachineSet, name: string): Promise<void> {
  const machine = machineFromTemplate(ctx.version, {
    machineSet: ms,
    name,
    infrastructureRef: {
      apiGroup: INFRA_GROUP,
      kind: 'SandboxMachine',
      name,
      apiVersion: INFRA_API_VERSION,
      namespace: ms.meta.namespace,
    },
  });
  const created = await ctx.mgmt.ok<KubeObject>(
    'POST',
    capiPath(ctx.version, 'machines', ms.meta.namespace),
    machine,
  );
  await ensureInfraMachine(ctx, ms, created);
  ctx.opts.log(`MachineSet ${ms.meta.namespace}/${ms.meta.name}: created Machine ${name}`);
}

/** Takes an orphan that matches the selector, guarded by the resourceVersion it was judged on. */
async function adopt(ctx: SimContext, ms: MachineSet, m: Machine): Promise<void> {
  const ref = {
    apiVersion: `cluster.x-k8s.io/${ctx.version}`,
    kind: 'MachineSet',
    name: ms.meta.name,
    uid: ms.meta.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
  await ctx.mgmt.mergePatch(capiPath(ctx.version, 'machines', m.meta.namespace, m.meta.name), {
    metadata: { ownerReferences: [...m.meta.ownerReferences, ref], resourceVersion: m.meta.resourceVersion },
  });
  ctx.opts.log(`MachineSet ${ms.meta.namespace}/${ms.meta.name}: adopted Machine ${m.meta.name}`);
}

/** Clones the MachineSet's SandboxMachineTemplate into the Machine's SandboxMachine (idempotent). */
export async function ensureInfraMachine(
  ctx: SimContext,
  ms: MachineSet,
  machine: KubeObject,
): Promise<void> {
  const ns = machine.metadata.namespace!;
  const tmplRef = ms.template.infrastructureRef;
  const tmpl = ctx.caches.infraTemplates.get(nsKey(ns, tmplRef.name)) as InfraTemplate | undefined;
  if (!tmpl)
    throw new Error(`SandboxMachineTemplate ${ns}/${tmplRef.name} not found for ${machine.metadata.name}`);
  const body = {
    apiVersion: INFRA_API_VERSION,
    kind: 'SandboxMachine',
    metadata: {
      name: machine.metadata.name,
      namespace: ns,
      labels: { ...(tmpl.spec.template.metadata?.labels ?? {}), [LABELS.clusterName]: ms.clusterName },
      annotations: {
        'cluster.x-k8s.io/cloned-from-name': tmplRef.name,
        'cluster.x-k8s.io/cloned-from-groupkind': `${tmplRef.kind}.${INFRA_GROUP}`,
      },
      ownerReferences: [
        {
          apiVersion: `cluster.x-k8s.io/${ctx.version}`,
          kind: 'Machine',
          name: machine.metadata.name,
          uid: machine.metadata.uid!,
        },
      ],
    },
    spec: structuredClone(tmpl.spec.template.spec),
  };
  const r = await ctx.mgmt.req('POST', infraPath('sandboxmachines', ns), body);
  if (r.status >= 300 && r.status !== 409)
    throw new Error(`create SandboxMachine ${machine.metadata.name}: ${r.status} ${r.text}`);
}
