// Workload clusters in scope: for every CAPI Cluster the service sees, a client (and the caller's
// informers) for its API server. Kubeconfigs come, as CAPI users expect, from the Cluster's
// `<name>-kubeconfig` Secret (key `value`), or from explicit files, or the management cluster itself
// serves as the workload cluster (cluster-autoscaler's single-cluster mode). Clusters come and go at runtime.
import { KubeConfig } from '@kubernetes/client-node';
import { LABELS } from '../capi/types.ts';
import type { KubeClient } from './client.ts';
import type { Informer, KubeObject } from './informer.ts';

export type WorkloadMode = 'same' | 'secret' | 'kubeconfig';

export interface ClusterRef {
  namespace: string;
  name: string;
}

export interface WorkloadConnection {
  ref: ClusterRef;
  client: KubeClient;
  /** Where the credentials came from, for /status and logs. */
  source: string;
  /** Stops what the caller started for this cluster (informers). */
  close(): Promise<void>;
}

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

export interface WorkloadClustersOptions {
  mode: WorkloadMode;
  secretKey: string;
  /** Name of a cluster's Secret: the Cluster's name + this (default `-kubeconfig`). */
  secretSuffix?: string;
  kubeconfigs: Readonly<Record<string, string>>;
  management: KubeClient;
  /** Builds a rate-limited client for a workload API server. */
  clientFor: (kc: KubeConfig, cluster: ClusterRef) => KubeClient;
  /** Which Clusters to connect to (default all). */
  only?: (r: ClusterRef) => boolean;
  /** Called for a new connection: start informers etc.; returns a closer. */
  onConnect: (c: Omit<WorkloadConnection, 'close'>) => Promise<() => Promise<void>>;
  log: (msg: string, extra?: Record<string, unknown>) => void;
}

export const kubeconfigSecretName = (cluster: string, suffix = '-kubeconfig'): string =>
  `${cluster}${suffix}`;
/** The type CAPI gives its kubeconfig Secrets; other Secrets of that name are not trusted. */
export const CAPI_SECRET_TYPE = 'cluster.x-k8s.io/secret';
const CLUSTER_NAME_LABEL = LABELS.clusterName;

/**
 * A kubeconfig from a Secret may carry only inline credentials. exec and auth-provider plugins would run
 * commands in this pod, and file references would read this pod's files (its service-account token
 * among them) and send them wherever the kubeconfig points: whoever can write that Secret must not get that.
 */
export function assertSelfContained(kc: KubeConfig, where: string): void {
  const bad: string[] = [];
  for (const u of kc.getUsers()) {
    if (u.exec) bad.push(`user ${u.name}: exec`);
    if (u.authProvider) bad.push(`user ${u.name}: auth-provider`);
    if (u.certFile || u.keyFile) bad.push(`user ${u.name}: client certificate files`);
    if ((u as { tokenFile?: string }).tokenFile) bad.push(`user ${u.name}: token file`);
  }
  for (const c of kc.getClusters()) if (c.caFile) bad.push(`cluster ${c.name}: certificate-authority file`);
  if (bad.length)
    throw new Error(`the kubeconfig in ${where} is not self-contained (${bad.join('; ')}); refusing it`);
}
const key = (r: ClusterRef): string => `${r.namespace}/${r.name}`;

export class WorkloadClusters {
  private readonly o: WorkloadClustersOptions;
  private readonly conns = new Map<string, WorkloadConnection>();
  /** Secret resourceVersion a connection was built from, so a rotated kubeconfig reconnects. */
  private readonly builtFrom = new Map<string, string>();
  private readonly problems = new Map<string, string>();
  private chain: Promise<void> = Promise.resolve();

  constructor(o: WorkloadClustersOptions) {
    this.o = o;
  }

  private get suffix(): string {
    return this.o.secretSuffix ?? '-kubeconfig';
  }

  get(r: ClusterRef): WorkloadConnection | undefined {
    return this.conns.get(key(r));
  }

  list(): WorkloadConnection[] {
    return [...this.conns.values()];
  }

  /** Clusters in scope that have no connection, with the reason (missing Secret, bad kubeconfig, ...). */
  waiting(): Array<{ cluster: string; reason: string }> {
    return [...this.problems].map(([cluster, reason]) => ({ cluster, reason }));
  }

  /**
   * Follows Clusters (and, in secret mode, the kubeconfig Secrets): call once both informers exist.
   * Events are applied one at a time, in order.
   */
  follow(clusters: Informer<KubeObject>, secrets?: Informer<Secret>): void {
    const sync = (r: ClusterRef) => {
      if (this.o.only && !this.o.only(r)) return;
      this.chain = this.chain
        .then(() => this.sync(r, clusters, secrets))
        .catch((e: Error) => this.o.log(`workload cluster ${key(r)}: ${e.message}`));
    };
    clusters.onChange((_t, o) => sync({ namespace: o.metadata.namespace!, name: o.metadata.name }));
    secrets?.onChange((_t, s) => {
      const suffix = this.suffix;
      const name = s.metadata.name;
      if (name.length > suffix.length && name.endsWith(suffix))
        sync({ namespace: s.metadata.namespace!, name: name.slice(0, -suffix.length) });
    });
  }

  /** Resolves once every event seen so far has been applied. */
  settled(): Promise<void> {
    return this.chain;
  }

  async closeAll(): Promise<void> {
    await this.chain;
    for (const k of [...this.conns.keys()]) await this.disconnect(k);
  }

  private async sync(
    r: ClusterRef,
    clusters: Informer<KubeObject>,
    secrets?: Informer<Secret>,
  ): Promise<void> {
    const k = key(r);
    const cluster = clusters.get(k);
    if (!cluster || cluster.metadata.deletionTimestamp) {
      this.problems.delete(k);
      await this.disconnect(k);
      return;
    }
    let kc: KubeConfig;
    let source: string;
    let version = '';
    try {
      if (this.o.mode === 'same') {
        if (this.conns.has(k)) return;
        await this.connect(r, this.o.management, 'management cluster (single-cluster mode)', '');
        return;
      }
      if (this.o.mode === 'kubeconfig') {
        const file = this.o.kubeconfigs[r.name] ?? this.o.kubeconfigs[k];
        if (!file)
          throw new Error(`no kubeconfig configured for cluster ${r.name} (workloadClusters.kubeconfigs)`);
        if (this.conns.has(k)) return;
        kc = new KubeConfig();
        kc.loadFromFile(file);
        source = `file ${file}`;
      } else {
        const where = `Secret ${r.namespace}/${kubeconfigSecretName(r.name, this.suffix)}`;
        const secret = secrets?.get(`${r.namespace}/${kubeconfigSecretName(r.name, this.suffix)}`);
        if (!secret) throw new Error(`waiting for ${where}`);
        version = secret.metadata.resourceVersion ?? '';
        if (this.conns.has(k) && this.builtFrom.get(k) === version) return;
        if ((secret as { type?: string }).type !== CAPI_SECRET_TYPE) {
          throw new Error(`${where} is not of type ${CAPI_SECRET_TYPE}; not trusted`);
        }
        // The name alone is not proof: with a suffix, cluster `foo` + `-autopilot-kubeconfig` is also CAPI's
        // admin Secret of a cluster named `foo-autopilot`. CAPI labels its Secrets with their cluster.
        const labelled = secret.metadata.labels?.[CLUSTER_NAME_LABEL];
        if (labelled !== r.name)
          throw new Error(
            `${where} is labelled ${CLUSTER_NAME_LABEL}=${labelled ?? '(none)'}, not ${r.name}; not trusted`,
          );
        const b64 = secret.data?.[this.o.secretKey];
        if (!b64) throw new Error(`${where} has no key '${this.o.secretKey}'`);
        kc = new KubeConfig();
        kc.loadFromString(Buffer.from(b64, 'base64').toString('utf8'));
        if (!kc.getCurrentCluster()) throw new Error(`the kubeconfig in ${where} names no current cluster`);
        assertSelfContained(kc, where);
        source = where;
      }
    } catch (e) {
      this.problems.set(k, (e as Error).message);
      await this.disconnect(k);
      return;
    }
    await this.disconnect(k);
    await this.connect(r, this.o.clientFor(kc, r), source, version);
  }

  private async connect(r: ClusterRef, client: KubeClient, source: string, version: string): Promise<void> {
    const k = key(r);
    const close = await this.o.onConnect({ ref: r, client, source });
    this.conns.set(k, { ref: r, client, source, close });
    this.builtFrom.set(k, version);
    this.problems.delete(k);
    this.o.log(`workload cluster ${k} connected`, { source });
  }

  private async disconnect(k: string): Promise<void> {
    const c = this.conns.get(k);
    if (!c) return;
    this.conns.delete(k);
    this.builtFrom.delete(k);
    await c.close();
    // Its own client's limiter timer would otherwise outlive it; the management client is shared.
    if (c.client !== this.o.management) await c.client.close();
    this.o.log(`workload cluster ${k} disconnected`);
  }
}
