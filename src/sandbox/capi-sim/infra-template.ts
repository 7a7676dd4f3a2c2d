// The sandbox infrastructure provider's template controller: publishes status.capacity and
// status.nodeInfo on SandboxMachineTemplates, as CAPI's opt-in autoscaling-from-zero contract asks
// of an infrastructure provider (CAPI-FACTS §5).
import { infraPath, type InfraTemplate, type SimContext } from './context.ts';
import { capacityOf, type InstanceType } from './node-template.ts';
import type { ReconcileResult } from '../../runtime/queue.ts';

export function templateStatus(t: InstanceType): {
  capacity: Record<string, string>;
  nodeInfo: { architecture: string; operatingSystem: string };
} {
  return {
    capacity: capacityOf(t),
    nodeInfo: { architecture: t.architecture || 'amd64', operatingSystem: t.operatingSystem || 'linux' },
  };
}

export async function reconcileInfraTemplate(ctx: SimContext, key: string): Promise<ReconcileResult | void> {
  const tmpl = ctx.caches.infraTemplates.get(key) as
    (InfraTemplate & { status?: Record<string, unknown> }) | undefined;
  if (!tmpl || tmpl.metadata.deletionTimestamp) return;
  const it = tmpl.spec.template.spec.instanceType as InstanceType | undefined;
  if (!it?.cpu || !it.memory) {
    ctx.opts.log(`SandboxMachineTemplate ${key}: no instanceType cpu/memory; not publishing capacity`);
    return;
  }
  const want = templateStatus(it);
  if (
    JSON.stringify(tmpl.status?.capacity) === JSON.stringify(want.capacity) &&
    JSON.stringify(tmpl.status?.nodeInfo) === JSON.stringify(want.nodeInfo)
  )
    return;
  await ctx.mgmt.mergePatch(
    infraPath('sandboxmachinetemplates', tmpl.metadata.namespace, tmpl.metadata.name) + '/status',
    {
      status: want,
    },
  );
}
