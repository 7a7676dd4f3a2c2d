// Machine lifecycle (CAPI-FACTS §3 phases, delete workflow): infrastructure machine → provisioned
// (providerID) → Node joins (nodeRef, Running); deletion waits on pre-drain and pre-terminate hooks,
// deletes the infrastructure machine and the Node, then removes the finalizer. Every step is derived
// from the API objects, so it resumes after a simulator restart.
import { fromObject, machineStatusPatch, type MachinePhase } from '../../capi/adapters/index.ts';
import { findCondition, setCondition } from '../../capi/conditions.ts';
import {
  ANNOTATIONS,
  MACHINE_FINALIZER,
  type Condition,
  type Machine,
  type MachineSet,
} from '../../capi/types.ts';
import type { KubeObject } from '../../kube/informer.ts';
import {
  capiPath,
  clusterGate,
  CLUSTER_WAIT_MS,
  FAULTS,
  infraPath,
  nsKey,
  type InfraMachine,
  type SimContext,
} from './context.ts';
import { ensureInfraMachine } from './machineset.ts';
import { buildNode, type InstanceType } from './node-template.ts';
import type { ReconcileResult } from '../../runtime/queue.ts';
import { sendPatch } from './patch.ts';

const hasPrefix = (annotations: Readonly<Record<string, string>>, prefix: string): boolean =>
  Object.keys(annotations).some((k) => k.startsWith(prefix));

export const providerIdFor = (namespace: string, name: string): string => `sandbox://${namespace}/${name}`;

export async function reconcileMachine(ctx: SimContext, key: string): Promise<ReconcileResult | void> {
  const raw = ctx.caches.machines.get(key);
  if (!raw) return;
  const m = fromObject(raw) as Machine;
  const gate = clusterGate(ctx, m.meta.namespace, m.clusterName, m.meta.annotations);
  if (gate === 'paused') return;
  if (gate === 'wait') return { requeueAfterMs: CLUSTER_WAIT_MS };
  if (m.meta.deletionTimestamp) return reconcileDelete(ctx, m);
  if (!m.meta.finalizers.includes(MACHINE_FINALIZER)) {
    await ctx.mgmt.mergePatch(capiPath(ctx.version, 'machines', m.meta.namespace, m.meta.name), {
      metadata: {
        finalizers: [...m.meta.finalizers, MACHINE_FINALIZER],
        resourceVersion: m.meta.resourceVersion,
      },
    });
    return;
  }
  return reconcileNormal(ctx, m, raw);
}

async function reconcileNormal(
  ctx: SimContext,
  m: Machine,
  raw: KubeObject,
): Promise<ReconcileResult | void> {
  const ns = m.meta.namespace;
  const infraKey = nsKey(ns, m.infrastructureRef.name);
  let infra = ctx.caches.infraMachines.get(infraKey);
  if (!infra) {
    // Created by the MachineSet right after the Machine; a crash in between leaves it to us.
    const ms = m.ownerMachineSet ? ctx.caches.machineSets.get(nsKey(ns, m.ownerMachineSet)) : undefined;
    if (!ms || m.providerID) {
      // Nothing to clone it from, or it existed and was deleted: CAPI reports the machine, it does not loop.
      ctx.opts.log(
        `Machine ${ns}/${m.meta.name}: infrastructure machine ${m.infrastructureRef.name} is missing`,
      );
      return;
    }
    await ensureInfraMachine(ctx, fromObject(ms) as MachineSet, raw);
    await patchMachineStatus(ctx, m, { phase: 'Provisioning', bootstrapReady: true });
    return; // the SandboxMachine's ADDED event brings us back
  }
  const now = ctx.opts.now().getTime();
  const stalled = FAULTS.stallProvisioning in m.meta.annotations;
  if (!infra.spec.providerID) {
    const created = Date.parse(infra.metadata.creationTimestamp ?? '') || now;
    const readyAt = created + ctx.opts.provisioningDelayMs;
    await patchMachineStatus(ctx, m, { phase: 'Provisioning', bootstrapReady: true });
    if (stalled) return;
    if (now < readyAt) return { requeueAfterMs: readyAt - now };
    infra = await provisionInfra(ctx, infra, providerIdFor(ns, m.meta.name));
  }
  const providerID = infra.spec.providerID!;
  if (!m.providerID) {
    await ctx.mgmt.mergePatch(capiPath(ctx.version, 'machines', ns, m.meta.name), { spec: { providerID } });
  }
  const nodeName = m.nodeRef ?? m.meta.name;
  let node = ctx.caches.nodes.get(nodeName);
  if (!node && m.nodeRef) {
    // The machine's node was deleted from outside: a real machine does not re-register under the same
    // object, so report it (MachineHealthCheck's NodeDeleted case) instead of recreating it.
    await patchMachineStatus(ctx, m, { phase: 'Running', nodeReady: 'Unknown', nodeDeleted: true });
    return;
  }
  if (!node) {
    if (FAULTS.neverJoin in m.meta.annotations) {
      await patchMachineStatus(ctx, m, {
        phase: 'Provisioned',
        bootstrapReady: true,
        infrastructureProvisioned: true,
      });
      return;
    }
    const joinAt =
      (Date.parse(infra.metadata.creationTimestamp ?? '') || now) +
      ctx.opts.provisioningDelayMs +
      ctx.opts.joinDelayMs;
    if (now < joinAt) {
      await patchMachineStatus(ctx, m, {
        phase: 'Provisioned',
        bootstrapReady: true,
        infrastructureProvisioned: true,
      });
      return { requeueAfterMs: joinAt - now };
    }
    const body = buildNode({
      name: nodeName,
      providerID,
      instanceType: (infra.spec.instanceType ?? { cpu: '2', memory: '4Gi' }) as unknown as InstanceType,
      machine: { name: m.meta.name, namespace: ns, clusterName: m.clusterName, labels: m.meta.labels },
      owner: m.ownerMachineSet ? { kind: 'MachineSet', name: m.ownerMachineSet } : undefined,
      failureDomain: m.failureDomain ?? infra.spec.failureDomain,
      simulator: ctx.opts.name,
      now: ctx.opts.now(),
    });
    const r = await ctx.workload.req('POST', '/api/v1/nodes', body);
    if (r.status >= 300 && r.status !== 409)
      throw new Error(`create Node ${nodeName}: ${r.status} ${r.text}`);
    // A Node's status is not taken on create by every apiserver; write it through /status too.
    await ctx.workload.mergePatch(`/api/v1/nodes/${nodeName}/status`, {
      status: (body as { status: unknown }).status,
    });
    ctx.kubelet.addNode(nodeName);
    await ctx.kubelet.renewLease(nodeName);
    node = ctx.caches.nodes.get(nodeName);
  }
  const nodeReady = node?.status?.conditions?.find((c) => c.type === 'Ready');
  await patchMachineStatus(ctx, m, {
    phase: 'Running',
    bootstrapReady: true,
    infrastructureProvisioned: true,
    nodeRef: nodeName,
    nodeReady: (nodeReady?.status as 'True' | 'False' | 'Unknown' | undefined) ?? 'Unknown',
  });
}

async function provisionInfra(
  ctx: SimContext,
  infra: InfraMachine,
  providerID: string,
): Promise<InfraMachine> {
  const path = infraPath('sandboxmachines', infra.metadata.namespace, infra.metadata.name);
  // Status first: providerID is what marks the step done, so a crash in between repeats the whole step.
  await ctx.mgmt.mergePatch(path + '/status', {
    status: {
      ready: true,
      initialization: { provisioned: true },
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
    },
  });
  return ctx.mgmt.mergePatch<InfraMachine>(path, { spec: { providerID } });
}

async function reconcileDelete(ctx: SimContext, m: Machine): Promise<ReconcileResult | void> {
  const ns = m.meta.namespace;
  if (!m.meta.finalizers.includes(MACHINE_FINALIZER)) return;
  await patchMachineStatus(ctx, m, { phase: 'Deleting' });
  // Hooks block the workflow as long as any key with the prefix is present (value ignored).
  if (hasPrefix(m.meta.annotations, ANNOTATIONS.preDrainHookPrefix)) return;
  if (hasPrefix(m.meta.annotations, ANNOTATIONS.preTerminateHookPrefix)) return;
  const infraKey = nsKey(ns, m.infrastructureRef.name);
  if (ctx.caches.infraMachines.get(infraKey)) {
    const r = await ctx.mgmt.req('DELETE', infraPath('sandboxmachines', ns, m.infrastructureRef.name));
    if (r.status >= 300 && r.status !== 404) throw new Error(`delete SandboxMachine: ${r.status} ${r.text}`);
  }
  const nodeName = m.nodeRef ?? (ctx.caches.nodes.get(m.meta.name) ? m.meta.name : undefined);
  if (nodeName) {
    ctx.kubelet.removeNode(nodeName);
    const r = await ctx.workload.req('DELETE', `/api/v1/nodes/${nodeName}`);
    if (r.status >= 300 && r.status !== 404)
      throw new Error(`delete Node ${nodeName}: ${r.status} ${r.text}`);
    await ctx.workload.req(
      'DELETE',
      `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodeName}`,
    );
  }
  // Remove only our finalizer, guarded by the resourceVersion we decided on.
  await ctx.mgmt.mergePatch(capiPath(ctx.version, 'machines', ns, m.meta.name), {
    metadata: {
      finalizers: m.meta.finalizers.filter((f) => f !== MACHINE_FINALIZER),
      resourceVersion: m.meta.resourceVersion,
    },
  });
  ctx.opts.log(`Machine ${ns}/${m.meta.name} deleted`);
}

interface MachineStatusInput {
  phase: MachinePhase;
  bootstrapReady?: boolean;
  infrastructureProvisioned?: boolean;
  nodeRef?: string;
  /** The Node's Ready status, mirrored into the Machine's NodeReady and NodeHealthy conditions. */
  nodeReady?: 'True' | 'False' | 'Unknown';
  /** The Node behind nodeRef is gone: NodeHealthy=False with CAPI's NodeDeleted reason. */
  nodeDeleted?: boolean;
}

/** Writes the Machine status fields the sandbox owns, in the served version's shape, only when they change. */
async function patchMachineStatus(ctx: SimContext, m: Machine, s: MachineStatusInput): Promise<void> {
  const now = ctx.opts.now();
  let conditions: Condition[] | undefined;
  if (s.nodeReady !== undefined) {
    const ok = s.nodeReady === 'True';
    // Only the conditions the simulator owns change; others (HealthCheckSucceeded, ...) are kept as they are.
    conditions = [...m.conditions];
    // Ready summarises the machine; in the sandbox that is whether its node is Ready.
    for (const type of ['NodeReady', 'NodeHealthy', 'Ready']) {
      const deleted = s.nodeDeleted === true && type !== 'NodeReady';
      conditions = setCondition(
        conditions,
        {
          type,
          status: deleted ? 'False' : s.nodeReady,
          reason: deleted ? 'NodeDeleted' : ok ? 'NodeReady' : 'NodeNotReady',
          message: deleted ? 'Node has been deleted' : ok ? 'Node is Ready' : 'Node is not Ready',
          ...(ctx.version === 'v1beta1' && (!ok || deleted) ? { severity: 'Warning' } : {}),
          ...(ctx.version === 'v1beta2' ? { observedGeneration: m.meta.generation } : {}),
        },
        now,
      );
    }
  }
  const same =
    m.phase === s.phase &&
    (s.bootstrapReady === undefined || m.bootstrapReady === s.bootstrapReady) &&
    (s.infrastructureProvisioned === undefined ||
      m.infrastructureProvisioned === s.infrastructureProvisioned) &&
    (s.nodeRef === undefined || m.nodeRef === s.nodeRef) &&
    (s.nodeReady === undefined || findCondition(m.conditions, 'NodeReady')?.status === s.nodeReady) &&
    (s.nodeDeleted === undefined || findCondition(m.conditions, 'NodeHealthy')?.reason === 'NodeDeleted');
  if (same) return;
  const patches = machineStatusPatch(ctx.version, { ...s, conditions });
  // The resourceVersion turns a concurrent write of the conditions into a 409 and a retry.
  for (const p of patches) p.body.metadata = { resourceVersion: m.meta.resourceVersion };
  await sendPatch(ctx.mgmt, capiPath(ctx.version, 'machines', m.meta.namespace, m.meta.name), patches);
}
