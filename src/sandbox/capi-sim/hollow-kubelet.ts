// The part of a kubelet the service can observe, for every simulated node at once: Lease renewals and
// the Ready condition (so the real node lifecycle controller keeps nodes Ready), pods bound to the node
// becoming Running and Ready, and pods with a deletionTimestamp removed after their grace period.
import { ApiError, type RestClient } from '../rest.ts';
import type { KubeObject } from '../../kube/informer.ts';
import { kubeMicroTime, kubeTime } from '../../kube/time.ts';
import { FAULTS } from './context.ts';

export interface PodObject extends KubeObject {
  spec: {
    nodeName?: string;
    terminationGracePeriodSeconds?: number;
    containers: Array<{ name: string; image?: string }>;
  };
  status?: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }> };
  metadata: KubeObject['metadata'] & { deletionGracePeriodSeconds?: number };
}

export interface NodeObject extends KubeObject {
  spec?: { providerID?: string; unschedulable?: boolean; taints?: unknown[] };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

export interface HollowKubeletOptions {
  /** Lease renewal period; a kubelet renews every 10 s a lease of 40 s. */
  heartbeatMs: number;
  leaseDurationSeconds: number;
  /** Concurrent heartbeat writes; bounds the burst on the apiserver. */
  concurrency: number;
  /** Multiplies pods' termination grace periods (1 = real time). */
  podTerminationScale: number;
  log: (msg: string) => void;
}

/** A node condition as a kubelet posts it, heartbeat and transition stamped now. */
export function nodeCondition(
  type: string,
  status: 'True' | 'False' | 'Unknown',
  reason: string,
  message: string,
  now = new Date(),
) {
  const t = kubeTime(now);
  return { type, status, reason, message, lastHeartbeatTime: t, lastTransitionTime: t };
}

/** The pod's injected termination delay: seconds, or "never". Garbage counts as none. */
export function terminationDelayMs(pod: PodObject): number {
  const v = pod.metadata.annotations?.[FAULTS.terminationDelay];
  if (v === undefined) return 0;
  if (v === 'never') return Infinity;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n * 1000 : 0;
}

export class HollowKubelet {
  private readonly client: RestClient;
  private readonly opts: HollowKubeletOptions;
  private readonly nodes = new Set<string>();
  /** Nodes whose heartbeats a fault stopped. */
  private readonly silenced = new Set<string>();
  /** Pods deleted while their node's kubelet was silenced: nothing terminates them until it resumes. */
  private readonly deferred = new Map<string, PodObject>();
  /** Extra termination delay a fault adds per pod key (ms); Infinity never terminates. */
  slowTermination = new Map<string, number>();
  private readonly terminating = new Map<string, NodeJS.Timeout>();
  private readonly podIps = new Map<string, string>();
  private nextIp = 1;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Count of heartbeat rounds and failed writes, for tests and the benchmark. */
  stats = { rounds: 0, leaseWrites: 0, leaseErrors: 0, lastRoundMs: 0 };

  constructor(client: RestClient, opts: HollowKubeletOptions) {
    this.client = client;
    this.opts = opts;
  }

  manages(node: string): boolean {
    return this.nodes.has(node);
  }

  addNode(node: string): void {
    this.nodes.add(node);
  }

  removeNode(node: string): void {
    this.nodes.delete(node);
    this.silenced.delete(node);
    for (const [key, pod] of this.deferred) if (pod.spec.nodeName === node) this.deferred.delete(key);
  }

  silence(node: string): void {
    this.silenced.add(node);
  }

  resume(node: string): void {
    this.silenced.delete(node);
    // Back alive, the kubelet finishes the deletions requested while it was gone.
    for (const [key, pod] of this.deferred) {
      if (pod.spec.nodeName !== node) continue;
      this.deferred.delete(key);
      this.scheduleTermination(pod, key);
    }
  }

  isSilenced(node: string): boolean {
    return this.silenced.has(node);
  }

  start(): void {
    const tick = async (): Promise<void> => {
      const t0 = performance.now();
      await this.heartbeatAll();
      this.stats.rounds++;
      this.stats.lastRoundMs = performance.now() - t0;
      if (this.stopped) return;
      this.timer = setTimeout(() => void tick(), Math.max(0, this.opts.heartbeatMs - this.stats.lastRoundMs));
      this.timer.unref();
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const t of this.terminating.values()) clearTimeout(t);
    this.terminating.clear();
  }

  /** Renews every live node's Lease, `concurrency` writes at a time. */
  async heartbeatAll(): Promise<void> {
    const names = [...this.nodes].filter((n) => !this.silenced.has(n));
    let i = 0;
    const worker = async (): Promise<void> => {
      while (i < names.length) {
        const name = names[i++]!;
        try {
          await this.renewLease(name);
          this.stats.leaseWrites++;
        } catch (e) {
          this.stats.leaseErrors++;
          this.opts.log(`lease ${name}: ${(e as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, names.length) }, worker));
  }

  async renewLease(name: string): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`;
    const spec = {
      holderIdentity: name,
      leaseDurationSeconds: this.opts.leaseDurationSeconds,
      renewTime: kubeMicroTime(new Date()),
    };
    const r = await this.client.req('PATCH', path, { spec }, 'application/merge-patch+json');
    if (r.status === 404) {
      await this.client.ok('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace: 'kube-node-lease' },
        spec,
      });
    } else if (r.status >= 300) {
      throw new ApiError('PATCH', path, r.status, r.text);
    }
  }

  /** A live node whose Ready condition is not True (e.g. after heartbeats resumed) is reported Ready again. */
  async nodeChanged(node: NodeObject): Promise<void> {
    const name = node.metadata.name;
    if (!this.nodes.has(name) || this.silenced.has(name)) return;
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True') return;
    await this.renewLease(name);
    // Strategic merge: conditions merge by type, so injected ones (DiskPressure, ...) stay.
    await this.client.ok(
      'PATCH',
      `/api/v1/nodes/${name}/status`,
      {
        status: {
          conditions: [
            nodeCondition('Ready', 'True', 'KubeletReady', 'hollow kubelet is posting ready status'),
          ],
        },
      },
      'application/strategic-merge-patch+json',
    );
  }

  /** Starts bound pods and terminates deleting ones, as a kubelet would. */
  async podChanged(pod: PodObject, deleted: boolean): Promise<void> {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (deleted) {
      const t = this.terminating.get(key);
      if (t) clearTimeout(t);
      this.terminating.delete(key);
      this.deferred.delete(key);
      this.podIps.delete(key);
      return;
    }
    const node = pod.spec.nodeName;
    if (!node || !this.nodes.has(node)) return;
    // A dead kubelet starts nothing and finishes no deletion (pods on an unreachable node stay
    // Terminating, as they do for real); it catches up when it resumes.
    if (this.silenced.has(node)) {
      if (pod.metadata.deletionTimestamp) this.deferred.set(key, pod);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      this.scheduleTermination(pod, key);
      return;
    }
    const phase = pod.status?.phase;
    const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if ((phase === 'Running' && ready) || phase === 'Succeeded' || phase === 'Failed') return;
    await this.startPod(pod, key, node);
  }

  private async startPod(pod: PodObject, key: string, node: string): Promise<void> {
    let ip = this.podIps.get(key);
    if (!ip) {
      const n = this.nextIp++;
      ip = `10.244.${(n >> 8) & 255}.${n & 255}`;
      this.podIps.set(key, ip);
    }
    const t = kubeTime(new Date());
    const cond = (type: string) => ({ type, status: 'True', lastTransitionTime: t });
    const r = await this.client.req(
      'PATCH',
      `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`,
      {
        metadata: { uid: pod.metadata.uid },
        status: {
          phase: 'Running',
          hostIP: '127.0.0.1',
          podIP: ip,
          podIPs: [{ ip }],
          startTime: t,
          conditions: [cond('PodScheduled'), cond('Initialized'), cond('ContainersReady'), cond('Ready')],
          containerStatuses: pod.spec.containers.map((c) => ({
            name: c.name,
            image: c.image ?? '',
            imageID: '',
            ready: true,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: t } },
          })),
        },
      },
      'application/strategic-merge-patch+json',
    );
    // 404/409: the pod went away or was replaced meanwhile; the next event decides.
    if (r.status >= 300 && r.status !== 404 && r.status !== 409) {
      throw new ApiError('PATCH', `pods/${key}/status`, r.status, r.text);
    }
    void node;
  }

  private scheduleTermination(pod: PodObject, key: string): void {
    if (this.terminating.has(key)) return;
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    const extra = this.slowTermination.get(key) ?? terminationDelayMs(pod);
    if (extra === Infinity) return;
    const delayMs = grace * 1000 * this.opts.podTerminationScale + extra;
    const t = setTimeout(() => {
      void this.client
        .req('DELETE', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, {
          kind: 'DeleteOptions',
          apiVersion: 'v1',
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata.uid },
        })
        .then((r) => {
          // 404: already gone; 409: a new pod of the same name (its own deletion will be seen).
          if (r.status >= 300 && r.status !== 404 && r.status !== 409) {
            this.opts.log(`terminate ${key}: ${r.status} ${r.text}`);
          }
        })
        .catch((e: Error) => this.opts.log(`terminate ${key}: ${e.message}`))
        .finally(() => this.terminating.delete(key));
    }, delayMs);
    t.unref();
    this.terminating.set(key, t);
  }
}
