// The sandbox infrastructure provider's reboot hook (src/remediation/contract.ts): a SandboxMachine whose
// reboot-requested token differs from its rebooted token is power-cycled after opts.rebootDelayMs, then
// answered with rebooted=<token>. A reboot clears what a restart of the instance clears: stopped
// heartbeats and the kubelet-owned conditions (Ready, the pressure conditions), and the Node reports a
// new boot ID. The tokens on the object are the state, so a restarted simulator answers each token once.
import { randomUUID } from 'node:crypto';
import { objectKey } from '../../kube/informer.ts';
import { REBOOTED_ANNOTATION, REBOOT_REQUESTED_ANNOTATION } from '../../remediation/contract.ts';
import type { ReconcileResult } from '../../runtime/queue.ts';
import { LABELS } from '../../capi/types.ts';
import {
  capiPath,
  clusterGate,
  CLUSTER_WAIT_MS,
  FAULTS,
  infraPath,
  splitKey,
  type InfraMachine,
  type SimContext,
} from './context.ts';
import { nodeCondition, type NodeObject } from './hollow-kubelet.ts';

export const REBOOT_KEY_PREFIX = 'reboot';

/** The conditions a kubelet owns and reposts healthy when it comes back up. */
const KUBELET_CONDITIONS: ReadonlyArray<
  [type: string, status: 'True' | 'False', reason: string, message: string]
> = [
  ['Ready', 'True', 'KubeletReady', 'hollow kubelet is posting ready status'],
  ['MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
  ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
  ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
];

type NodeCondition = NonNullable<NonNullable<NodeObject['status']>['conditions']>[number] & {
  lastTransitionTime?: string;
};

export interface RebootStats {
  /** Reboot requests answered (one per token), whatever the reboot did. */
  reboots: number;
  /** Of those, reboots that brought a Node back (no rebootDoesNotHelp fault, a Node to reboot). */
  effective: number;
}

export class RebootProvider {
  private readonly ctx: SimContext;
  /** When the reboot of a pending token completes; lost on restart, so a crash restarts the reboot. */
  private readonly pending = new Map<string, { token: string; at: number }>();
  /** The token answered last per object: our own write may not be in the cache yet. */
  private readonly answered = new Map<string, string>();
  private readonly counts: RebootStats = { reboots: 0, effective: 0 };

  constructor(ctx: SimContext) {
    this.ctx = ctx;
  }

  get stats(): Readonly<RebootStats> {
    return { ...this.counts };
  }

  /** Queues the object when it carries a request (including its deletion, to forget it). */
  infraMachineChanged(o: InfraMachine): void {
    if (REBOOT_REQUESTED_ANNOTATION in (o.metadata.annotations ?? {}))
      this.ctx.queue.add(`${REBOOT_KEY_PREFIX}:${objectKey(o)}`);
  }

  /** Every pending request of a namespace (its Cluster was paused or unpaused). */
  clusterChanged(namespace: string): void {
    for (const o of this.ctx.caches.infraMachines.list())
      if (o.metadata.namespace === namespace) this.infraMachineChanged(o);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.ctx.caches.infraMachines.get(key);
    const token = cached && pendingToken(cached);
    if (!cached || !token || this.answered.get(key) === token) {
      if (!cached) this.answered.delete(key);
      this.pending.delete(key);
      return;
    }
    const { namespace, name } = splitKey(key);
    const a = cached.metadata.annotations ?? {};
    const clusterName = cached.metadata.labels?.[LABELS.clusterName];
    if (clusterName) {
      // Providers leave the objects of a paused Cluster alone.
      const gate = clusterGate(this.ctx, namespace, clusterName, a);
      if (gate === 'paused') return;
      if (gate === 'wait') return { requeueAfterMs: CLUSTER_WAIT_MS };
    }
    const now = this.ctx.opts.now().getTime();
    let p = this.pending.get(key);
    if (!p || p.token !== token) {
      p = { token, at: now + this.ctx.opts.rebootDelayMs };
      this.pending.set(key, p);
    }
    if (now < p.at) return { requeueAfterMs: p.at - now };

    // Decide on fresh reads: the cache may trail our own answer, and a request must not be answered twice.
    const path = infraPath('sandboxmachines', namespace, name);
    const r = await this.ctx.mgmt.req<InfraMachine>('GET', path);
    if (r.status === 404) return;
    if (r.status !== 200) throw new Error(`get SandboxMachine ${key}: ${r.status} ${r.text}`);
    const live = r.body;
    const liveToken = pendingToken(live);
    if (liveToken !== token) return; // answered already, or a newer token (whose event brings us back)

    const outcome = await this.powerCycle(live);
    // Counted once the power cycle is done, before the answer: whoever sees the answer sees the count.
    this.counts.reboots++;
    if (outcome.effective) this.counts.effective++;
    await this.ctx.mgmt.mergePatch(path, { metadata: { annotations: { [REBOOTED_ANNOTATION]: token } } });
    this.answered.set(key, token);
    this.pending.delete(key);
    this.ctx.opts.log(`SandboxMachine ${key}: rebooted (token ${token}): ${outcome.what}`);
  }

  /** Restarts the instance's Node unless a fault says the reboot does not help; says what it did. */
  private async powerCycle(infra: InfraMachine): Promise<{ effective: boolean; what: string }> {
    const noop = (what: string) => ({ effective: false, what });
    const ns = infra.metadata.namespace!;
    const providerID = infra.spec.providerID;
    if (!providerID) return noop('no instance yet (not provisioned)');
    const machineName =
      infra.metadata.ownerReferences?.find((o) => o.kind === 'Machine')?.name ?? infra.metadata.name;
    const mr = await this.ctx.mgmt.req<{ metadata: { annotations?: Record<string, string> } }>(
      'GET',
      capiPath(this.ctx.version, 'machines', ns, machineName),
    );
    const machineFault =
      mr.status === 200 && FAULTS.rebootDoesNotHelp in (mr.body.metadata.annotations ?? {});
    const cachedNode = this.ctx.caches.nodes.list().find((n) => n.spec?.providerID === providerID);
    if (!cachedNode) return noop('no Node joined');
    const nodeName = cachedNode.metadata.name;
    const nr = await this.ctx.workload.req<NodeObject>('GET', `/api/v1/nodes/${nodeName}`);
    if (nr.status === 404) return noop(`Node ${nodeName} is gone`);
    if (nr.status !== 200) throw new Error(`get Node ${nodeName}: ${nr.status} ${nr.text}`);
    const node = nr.body;
    if (machineFault || FAULTS.rebootDoesNotHelp in (node.metadata.annotations ?? {}))
      return noop(`Node ${nodeName} unchanged (fault ${FAULTS.rebootDoesNotHelp})`);

    if (FAULTS.stopHeartbeats in (node.metadata.annotations ?? {})) {
      await this.ctx.workload.mergePatch(`/api/v1/nodes/${nodeName}`, {
        metadata: { annotations: { [FAULTS.stopHeartbeats]: null } },
      });
    }
    const kubelet = this.ctx.kubelet;
    kubelet.addNode(nodeName);
    kubelet.resume(nodeName);
    await kubelet.renewLease(nodeName);
    const now = this.ctx.opts.now();
    const old = new Map((node.status?.conditions ?? []).map((c) => [c.type, c as NodeCondition]));
    const conditions = KUBELET_CONDITIONS.map(([type, status, reason, message]) => {
      const c = nodeCondition(type, status, reason, message, now);
      // As a kubelet does: the heartbeat is fresh, the transition time moves only when the status does.
      const prev = old.get(type);
      return prev?.status === status && prev.lastTransitionTime
        ? { ...c, lastTransitionTime: prev.lastTransitionTime }
        : c;
    });
    // Strategic merge: conditions merge by type, so ones the kubelet does not own are kept.
    await this.ctx.workload.ok(
      'PATCH',
      `/api/v1/nodes/${nodeName}/status`,
      { status: { conditions, nodeInfo: { bootID: randomUUID() } } },
      'application/strategic-merge-patch+json',
    );
    return { effective: true, what: `Node ${nodeName} restarted, kubelet posting Ready` };
  }
}

function pendingToken(o: InfraMachine): string | undefined {
  const a = o.metadata.annotations ?? {};
  const want = a[REBOOT_REQUESTED_ANNOTATION];
  return want && a[REBOOTED_ANNOTATION] !== want ? want : undefined;
}
