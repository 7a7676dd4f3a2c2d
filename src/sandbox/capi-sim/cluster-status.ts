// The part of CAPI's Cluster controller the MachineHealthCheck depends on: once a Cluster exists (and is
// not paused), its infrastructure is ready and its control plane initialized (the sandbox's workload
// cluster is up before any Cluster object), reported as CAPI does in each version: the status flags and
// the InfrastructureReady / ControlPlaneInitialized conditions (v1beta1: also mirrored under status.v1beta2).
import { conditionsJson } from '../../capi/adapters/patches.ts';
import { fromObjectOfKind } from '../../capi/adapters/index.ts';
import { setCondition } from '../../capi/conditions.ts';
import type { Condition } from '../../capi/types.ts';
import { capiPath, clusterGate, splitKey, type SimContext } from './context.ts';

const TYPES = ['InfrastructureReady', 'ControlPlaneInitialized'] as const;

export async function reconcileClusterStatus(ctx: SimContext, key: string): Promise<void> {
  const raw = ctx.caches.clusters.get(key);
  if (!raw) return;
  const { namespace, name } = splitKey(key);
  if (clusterGate(ctx, namespace, name, {}) !== 'act') return;
  const c = fromObjectOfKind(raw, 'Cluster');
  const own = c.conditions;
  const mirror = c.otherVersionConditions ?? [];
  const done = (l: readonly Condition[]) =>
    TYPES.every((t) => l.some((x) => x.type === t && x.status === 'True'));
  const v1 = ctx.version === 'v1beta1';
  if (c.infrastructureReady && c.controlPlaneInitialized && done(own) && (!v1 || done(mirror))) return;
  const now = ctx.opts.now();
  const set = (l: readonly Condition[], metav1: boolean) =>
    TYPES.reduce<Condition[]>(
      (acc, type) =>
        setCondition(acc, { type, status: 'True', ...(metav1 ? { reason: type, message: '' } : {}) }, now),
      [...l],
    );
  const status: Record<string, unknown> = v1
    ? {
        infrastructureReady: true,
        controlPlaneReady: true,
        conditions: conditionsJson('v1beta1', set(own, false)),
        v1beta2: { conditions: conditionsJson('v1beta2', set(mirror, true)) },
      }
    : {
        initialization: { infrastructureProvisioned: true, controlPlaneInitialized: true },
        conditions: conditionsJson('v1beta2', set(own, true)),
      };
  await ctx.mgmt.mergePatch(capiPath(ctx.version, 'clusters', namespace, name) + '/status', { status });
}
