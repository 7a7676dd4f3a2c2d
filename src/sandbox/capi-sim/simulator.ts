// The CAPI simulator: CAPI's MachineDeployment, MachineSet and Machine controllers plus a sandbox
// infrastructure provider and a hollow kubelet for every node, driven by watches. It keeps no state of
// its own beyond caches: stop it at any point (a crash) and a new one continues from the API objects.
import { reconcileClusterStatus } from './cluster-status.ts';
import { discoverCapiVersion } from '../../capi/adapters/index.ts';
import { CAPI_GROUP, type CapiVersion } from '../../capi/types.ts';
import { ApiError, StoppableClient, type RestClient } from '../rest.ts';
import { KubeClient } from '../../kube/client.ts';
import { Informer, objectKey, type EventType, type KubeObject } from '../../kube/informer.ts';
import { HttpsTransport } from '../../kube/transport.ts';
import {
  capiPath,
  controllerOwner,
  FAULTS,
  infraPath,
  nsKey,
  type Caches,
  type InfraMachine,
  type InfraTemplate,
  type SimContext,
  type SimOptions,
} from './context.ts';
import { HollowKubelet, nodeCondition, type NodeObject, type PodObject } from './hollow-kubelet.ts';
import { reconcileInfraTemplate } from './infra-template.ts';
import { reconcileMachine } from './machine.ts';
import { reconcileMachineDeployment } from './machinedeployment.ts';
import { reconcileMachineSet } from './machineset.ts';
import { HOLLOW_NODE_LABEL } from './node-template.ts';
import { REBOOT_KEY_PREFIX, RebootProvider, type RebootStats } from './reboot.ts';
import { LaggedCache, type CacheView } from './lagged-cache.ts';
import { WorkQueue } from '../../runtime/queue.ts';

export interface SimulatorConfig extends Partial<SimOptions> {
  /** Management cluster: CAPI and infrastructure objects. */
  management: RestClient;
  /** Workload cluster: Nodes, Pods, Leases (default: the management cluster). */
  workload?: RestClient;
  /** Use this CAPI version instead of discovering the preferred one. */
  version?: CapiVersion;
}

export const DEFAULT_SIM_OPTIONS: SimOptions = {
  name: 'sandbox',
  provisioningDelayMs: 2000,
  joinDelayMs: 1000,
  rebootDelayMs: 500,
  podTerminationScale: 1,
  heartbeatMs: 10_000,
  leaseDurationSeconds: 40,
  heartbeatConcurrency: 16,
  workers: 8,
  log: () => {},
  now: () => new Date(),
};

export class CapiSimulator {
  readonly ctx: SimContext;
  private readonly abort: AbortController;
  private readonly loops: Promise<void>[] = [];
  /** Fault injection: every MachineSet reconcile starts this much later. */
  private machineSetDelayMs = 0;
  /** The infrastructure provider's reboot hook. */
  private readonly reboot: RebootProvider;

  private constructor(ctx: SimContext, abort: AbortController) {
    this.ctx = ctx;
    this.abort = abort;
    this.reboot = new RebootProvider(ctx);
  }

  /** Reboot requests answered so far by this simulator process (one per token). */
  get rebootStats(): Readonly<RebootStats> {
    return this.reboot.stats;
  }

  static async start(cfg: SimulatorConfig): Promise<CapiSimulator> {
    const opts: SimOptions = { ...DEFAULT_SIM_OPTIONS, ...stripUndefined(cfg) };
    const abort = new AbortController();
    const mgmt = new StoppableClient(cfg.management, abort.signal);
    const workload = new StoppableClient(cfg.workload ?? cfg.management, abort.signal);
    const version = cfg.version ?? discoverCapiVersion(await mgmt.ok('GET', `/apis/${CAPI_GROUP}`));
    const queue = new WorkQueue((key) => sim.dispatch(key), {
      workers: opts.workers,
      // Conflicts are routine (the cache lags our own writes); the retry from a fresh read settles them.
      onError: (key, e) => {
        if (!(e instanceof ApiError && e.status === 409) && !abort.signal.aborted)
          opts.log(`reconcile ${key}: ${(e as Error).message}`);
      },
    });
    const kubelet = new HollowKubelet(workload, {
      heartbeatMs: opts.heartbeatMs,
      leaseDurationSeconds: opts.leaseDurationSeconds,
      concurrency: opts.heartbeatConcurrency,
      podTerminationScale: opts.podTerminationScale,
      log: opts.log,
    });
    const caches = {} as Caches;
    const ctx: SimContext = {
      mgmt,
      workload,
      version,
      caches,
      queue,
      kubelet,
      opts,
      expectations: new Map(),
    };
    const sim = new CapiSimulator(ctx, abort);
    // Reads go through src/kube's informers; a generous bucket, the simulator stands in for many controllers.
    const readClient = (c: RestClient) =>
      new KubeClient(new HttpsTransport(c), { qps: 10_000, burst: 10_000, timeoutMs: 30_000, maxRetries: 3 });
    const mgmtReads = readClient(cfg.management);
    const workloadReads = readClient(cfg.workload ?? cfg.management);
    const cache = <T extends KubeObject>(
      client: KubeClient,
      path: string,
      on: (o: T, type: EventType) => void,
    ) => {
      const inf = new Informer<T>(client, path, { log: (m) => opts.log(m) });
      inf.onChange((type, o) => on(o, type));
      return inf;
    };
    caches.clusters = cache(mgmtReads, capiPath(version, 'clusters'), (o) => sim.clusterChanged(o));
    caches.machineDeployments = cache(mgmtReads, capiPath(version, 'machinedeployments'), (o) =>
      queue.add(`md:${objectKey(o)}`),
    );
    caches.machineSets = cache(mgmtReads, capiPath(version, 'machinesets'), (o) => sim.machineSetChanged(o));
    const machineInformer = cache(mgmtReads, capiPath(version, 'machines'), () => {});
    caches.machines = new LaggedCache(machineInformer);
    caches.machines.onChange((_type, o) => sim.machineChanged(o));
    caches.infraTemplates = cache<InfraTemplate>(mgmtReads, infraPath('sandboxmachinetemplates'), (o) =>
      queue.add(`tmpl:${objectKey(o)}`),
    );
    caches.infraMachines = cache<InfraMachine>(mgmtReads, infraPath('sandboxmachines'), (o) => {
      queue.add(`m:${objectKey(o)}`);
      sim.reboot.infraMachineChanged(o);
    });
    caches.nodes = cache<NodeObject>(
      workloadReads,
      `/api/v1/nodes?labelSelector=${encodeURIComponent(`${HOLLOW_NODE_LABEL}=${opts.name}`)}`,
      (o, t) => sim.nodeChanged(o, t),
    );
    caches.pods = cache<PodObject>(
      workloadReads,
      `/api/v1/pods?fieldSelector=${encodeURIComponent('spec.nodeName!=')}`,
      (o) => queue.add(`pod:${objectKey(o)}`),
    );
    // Reconcile nothing before every cache has listed once: acting on a partial view creates duplicates.
    const informers: Informer<KubeObject>[] = [
      ...Object.values(caches).filter((c): c is Informer<KubeObject> => c instanceof Informer),
      machineInformer,
    ];
    const runs = informers.map((c) => c.run(sim.abort.signal));
    sim.loops.push(...runs.map((r) => r.done));
    await Promise.all(runs.map((r) => r.synced));
    for (const n of caches.nodes.list()) {
      kubelet.addNode(n.metadata.name);
      if (FAULTS.stopHeartbeats in (n.metadata.annotations ?? {})) kubelet.silence(n.metadata.name);
    }
    kubelet.start();
    queue.start();
    for (const o of caches.machineDeployments.list()) queue.add(`md:${objectKey(o)}`);
    for (const o of caches.machineSets.list()) queue.add(`ms:${objectKey(o)}`);
    for (const o of caches.machines.list()) queue.add(`m:${objectKey(o)}`);
    for (const o of caches.pods.list()) queue.add(`pod:${objectKey(o)}`);
    for (const o of caches.infraTemplates.list()) queue.add(`tmpl:${objectKey(o)}`);
    for (const o of caches.infraMachines.list()) sim.reboot.infraMachineChanged(o);
    opts.log(`simulator started (cluster.x-k8s.io/${version}, ${caches.nodes.list().length} hollow nodes)`);
    return sim;
  }

  /** Stops everything at once without tidying up, exactly like a crash; the API objects are the state. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.ctx.caches.machines.stop();
    this.ctx.kubelet.stop();
    // Requests already on the wire settle (a crashed process's last request may still land); nothing new is sent.
    await this.ctx.queue.stop();
    await Promise.allSettled(this.loops);
  }

  /** True once no reconcile is running or queued (timed requeues may still be pending). */
  get idle(): boolean {
    return this.ctx.queue.idle;
  }

  private async dispatch(key: string) {
    const i = key.indexOf(':');
    const kind = key.slice(0, i);
    const k = key.slice(i + 1);
    switch (kind) {
      case 'md':
        return reconcileMachineDeployment(this.ctx, k);
      case 'ms':
        if (this.machineSetDelayMs > 0) await new Promise((r) => setTimeout(r, this.machineSetDelayMs));
        return reconcileMachineSet(this.ctx, k);
      case 'm':
        return reconcileMachine(this.ctx, k);
      case 'tmpl':
        return reconcileInfraTemplate(this.ctx, k);
      case 'cl':
        return reconcileClusterStatus(this.ctx, k);
      case REBOOT_KEY_PREFIX:
        return this.reboot.reconcile(k);
      case 'pod': {
        const pod = this.ctx.caches.pods.get(k);
        return this.ctx.kubelet.podChanged(
          pod ?? ({ metadata: { name: k.split('/')[1]!, namespace: k.split('/')[0] } } as PodObject),
          !pod,
        );
      }
      case 'node': {
        const node = this.ctx.caches.nodes.get(k);
        if (node) await this.ctx.kubelet.nodeChanged(node);
        return;
      }
      default:
        throw new Error(`unknown queue key ${key}`);
    }
  }

  private clusterChanged(c: KubeObject): void {
    this.ctx.queue.add(`cl:${objectKey(c)}`);
    for (const cache of [
      this.ctx.caches.machineDeployments,
      this.ctx.caches.machineSets,
      this.ctx.caches.machines,
    ]) {
      for (const o of cache.list()) {
        if (o.metadata.namespace === c.metadata.namespace)
          this.ctx.queue.add(`${prefixOf(cache)}:${objectKey(o)}`);
      }
    }
    this.reboot.clusterChanged(c.metadata.namespace!);
  }

  private machineSetChanged(o: KubeObject): void {
    this.ctx.queue.add(`ms:${objectKey(o)}`);
    const md = controllerOwner(o, 'MachineDeployment');
    if (md) this.ctx.queue.add(`md:${nsKey(o.metadata.namespace!, md)}`);
  }

  private machineChanged(o: KubeObject): void {
    this.ctx.queue.add(`m:${objectKey(o)}`);
    const ms = controllerOwner(o, 'MachineSet');
    if (ms) this.ctx.queue.add(`ms:${nsKey(o.metadata.namespace!, ms)}`);
    else if (!o.metadata.ownerReferences?.some((r) => r.controller)) {
      // An orphan: any MachineSet of its namespace may adopt it.
      for (const s of this.ctx.caches.machineSets.list()) {
        if (s.metadata.namespace === o.metadata.namespace) this.ctx.queue.add(`ms:${objectKey(s)}`);
      }
    }
  }

  private nodeChanged(n: NodeObject, type: string): void {
    const name = n.metadata.name;
    const a = n.metadata.annotations ?? {};
    if (type === 'DELETED') {
      // Whoever deleted it, its kubelet is gone with it (no Lease renewals that would recreate the Lease).
      this.ctx.kubelet.removeNode(name);
    } else {
      if (FAULTS.stopHeartbeats in a) this.ctx.kubelet.silence(name);
      else this.ctx.kubelet.resume(name);
      this.ctx.queue.add(`node:${name}`);
    }
    const machine = a['cluster.x-k8s.io/machine'];
    const ns = a['cluster.x-k8s.io/cluster-namespace'];
    if (machine && ns) {
      this.ctx.queue.add(`m:${nsKey(ns, machine)}`);
      const raw = this.ctx.caches.machines.get(nsKey(ns, machine));
      const ms = raw && controllerOwner(raw, 'MachineSet');
      if (ms) this.ctx.queue.add(`ms:${nsKey(ns, ms)}`);
    }
  }

  // ---- fault injection: small typed wrappers over the fault annotations and status writes ----

  /** Makes the MachineSet controller slow: each reconcile starts `ms` late (0: at once). */
  setMachineSetDelay(ms: number): void {
    this.machineSetDelayMs = ms;
  }

  /** Makes every controller see Machine changes `ms` late (0: at once), as a trailing watch would. */
  setMachineWatchLag(ms: number): void {
    this.ctx.caches.machines.setLag(ms);
  }

  /** Stops (or resumes) a node's heartbeats; the real node lifecycle controller then marks it Unknown. */
  async setHeartbeats(node: string, on: boolean): Promise<void> {
    await this.ctx.workload.mergePatch(`/api/v1/nodes/${node}`, {
      metadata: { annotations: { [FAULTS.stopHeartbeats]: on ? null : 'true' } },
    });
    if (on) this.ctx.kubelet.resume(node);
    else this.ctx.kubelet.silence(node);
  }

  /** Sets any node condition (Ready=False also stops heartbeats so the kubelet does not undo it). */
  async setNodeCondition(
    node: string,
    type: string,
    status: 'True' | 'False' | 'Unknown',
    reason = 'SandboxFault',
    message = 'injected by the simulator',
  ): Promise<void> {
    if (type === 'Ready' && status !== 'True') await this.setHeartbeats(node, false);
    const cond = nodeCondition(type, status, reason, message);
    await this.ctx.workload.req(
      'PATCH',
      `/api/v1/nodes/${node}/status`,
      { status: { conditions: [cond] } },
      'application/strategic-merge-patch+json',
    );
  }

  /** Reports a machine failure the way a provider would: v1beta1 failureReason/Message, v1beta2 deprecated.v1beta1. */
  async failMachine(namespace: string, name: string, reason: string, message: string): Promise<void> {
    const failure = { failureReason: reason, failureMessage: message };
    const status = this.ctx.version === 'v1beta2' ? { deprecated: { v1beta1: failure } } : failure;
    await this.ctx.mgmt.mergePatch(capiPath(this.ctx.version, 'machines', namespace, name) + '/status', {
      status,
    });
  }

  /** Marks a machine whose provisioning never finishes, whose Node never joins, or whose reboots do not help. */
  async setMachineFault(
    namespace: string,
    name: string,
    fault: 'stallProvisioning' | 'neverJoin' | 'rebootDoesNotHelp',
    on = true,
  ): Promise<void> {
    await this.ctx.mgmt.mergePatch(capiPath(this.ctx.version, 'machines', namespace, name), {
      metadata: { annotations: { [FAULTS[fault]]: on ? 'true' : null } },
    });
  }

  /** Makes a pod take `seconds` longer to terminate (Infinity: never). */
  slowPodTermination(namespace: string, name: string, seconds: number): void {
    this.ctx.kubelet.slowTermination.set(
      nsKey(namespace, name),
      seconds === Infinity ? Infinity : seconds * 1000,
    );
  }
}

function prefixOf(cache: CacheView<KubeObject>): string {
  if (cache.path.includes('/machinedeployments')) return 'md';
  if (cache.path.includes('/machinesets')) return 'ms';
  return 'm';
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
