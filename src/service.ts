// The long-running service: clients, informers, workload clusters, leader election and HTTP endpoints.
// Controllers (autoscaler, drain, remediation) plug in as they are built; they run only while leading
// and write only through the guarded client.
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { discoverCapiVersion } from './capi/adapters/index.ts';
import { CAPI_GROUP, type CapiVersion } from './capi/types.ts';
import type { Config } from './config/schema.ts';
import { KubeClient, type RequestEvent } from './kube/client.ts';
import { WorkloadClusters } from './kube/clusters.ts';
import { Informer, type KubeObject } from './kube/informer.ts';
import { LeaderElector } from './kube/leader.ts';
import { HttpsTransport, kubeConfigFrom } from './kube/transport.ts';
import { discoverGroup, evictionVersion } from './kube/discovery.ts';
import {
  REMEDIATION_API_VERSION,
  REMEDIATION_GROUP,
  REMEDIATION_VERSION,
  REQUEST_RESOURCE,
} from './remediation/contract.ts';
import { sleepFor } from './runtime/wait.ts';
import { createMetrics, type Metrics } from './metrics/registry.ts';
import type { Controller } from './runtime/controller.ts';
import type { Logger } from './runtime/log.ts';
import { startHttpServer, type HttpServer, type Readiness } from './server/http.ts';
import { resourceLabel } from './kube/apipath.ts';
import { tracingSettingsFromEnv, type TracingSettings } from './tracing/settings.ts';
import { startTracing, type Tracing, type TracingHooks } from './tracing/setup.ts';

export interface ServiceOptions {
  config: Config;
  log: Logger;
  /** Listen on this port instead of config.server.port (0: any free port; tests). */
  portOverride?: number;
  /** Override the management kubeconfig (the sandbox's, when none is configured). */
  managementKubeconfig?: string;
  /**
   * Controllers to run, built once the clients and caches exist. They reconcile only while this replica
   * leads and every informer has synced; a standby keeps their queues but runs nothing.
   */
  controllers?: (env: ControllerEnv) => Controller[];
  /** Tracing settings (from the OTEL_* variables); absent: tracing off, as in most tests. */
  tracing?: TracingSettings;
  /** Span batching; tests shorten the delay. */
  tracingBatch?: TracingHooks['batch'];
  /**
   * No writes at all: every write is refused by the client before it is sent, no lease is taken (this
   * replica acts as if it led), controllers only report what they would do.
   */
  dryRun?: boolean;
  /** Serve /healthz, /metrics, /status (default true; `explain` runs without). */
  serve?: boolean;
  /** Connect only to these workload clusters (`namespace/name`); default all. */
  clusters?: readonly string[];
}

export interface ControllerEnv {
  management: KubeClient;
  /** This replica (the leader election identity): operations it records on objects carry it. */
  identity: string;
  capiVersion: CapiVersion;
  informers: ReadonlyMap<string, Informer<KubeObject>>;
  workload: WorkloadClusters;
  metrics: Metrics;
  log: Logger;
  config: Config;
  /** The service runs with --dry-run: controllers must only report what they would do. */
  dryRun: boolean;
  /** Adds a section to /status, computed at each request. */
  publishStatus(section: string, fn: () => unknown): void;
  /**
   * Calls `cb` for every workload cluster whose informers exist, now and whenever one connects (key
   * `<namespace>/<cluster>`); controllers subscribe to its pods and nodes this way.
   */
  onWorkloadConnected(cb: (cluster: string, informers: WorkloadInformers) => void): void;
  /** Calls `cb` when a workload cluster's connection is closed (Cluster deleted, Secret gone, stop). */
  onWorkloadDisconnected(cb: (cluster: string) => void): void;
}

export interface WorkloadInformers {
  nodes: Informer<KubeObject>;
  pods: Informer<KubeObject>;
  /** apps/v1 DaemonSets: whether a DaemonSet pod's controller still exists (drain filters). */
  daemonSets: Informer<KubeObject>;
  /**
   * The policy API version (Eviction, PDBs) and the PDB informer, both unset until discovery on the
   * workload cluster succeeded (it is retried while the connection lasts).
   */
  policy: { version?: 'v1' | 'v1beta1'; pdbs?: Informer<KubeObject> };
}

export interface Service {
  port: number;
  metrics: Metrics;
  capiVersion: CapiVersion;
  informers: ReadonlyMap<string, Informer<KubeObject>>;
  workload: WorkloadClusters;
  leader: LeaderElector | undefined;
  controllers: readonly Controller[];
  tracing: Tracing;
  readiness(): Readiness;
  status(): unknown;
  /** Stops new work, releases the lease, closes informers and the HTTP server. */
  stop(): Promise<void>;
}

const MGMT = 'management';

export async function startService(o: ServiceOptions): Promise<Service> {
  const { config, log } = o;
  const metrics = createMetrics();
  const identity = config.leaderElection.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
  const abort = new AbortController();
  let elector: LeaderElector | undefined;
  // A dry run takes no lease (that is a write too): it acts as if it led, and its writes are all refused.
  const election = config.leaderElection.enabled && !o.dryRun;
  const statusSections = new Map<string, () => unknown>();

  const observe = (cluster: string) => (e: RequestEvent) => {
    metrics.kubeRequests.inc({
      cluster,
      verb: e.method,
      resource: resourceLabel(e.path),
      code: String(e.status),
    });
    metrics.kubeRequestSeconds.observe({ cluster, verb: e.method }, e.durationMs / 1000);
    metrics.kubeThrottleSeconds.observe({ cluster }, e.throttledMs / 1000);
  };
  const clientOpts = (cluster: string, guarded: boolean) => ({
    cluster,
    qps: config.kubeClient.qps,
    burst: config.kubeClient.burst,
    timeoutMs: config.kubeClient.timeoutSeconds * 1000,
    maxRetries: config.kubeClient.maxRetries,
    onRequest: observe(cluster),
    // With election on, nothing is written until this replica leads (also before the elector exists).
    writeGuard: guarded
      ? () =>
          o.dryRun
            ? 'dry run: no writes'
            : !election || elector?.isLeader()
              ? null
              : 'this replica is not the leader'
      : undefined,
  });
  const makeClient = (kc: KubeConfig, cluster: string) =>
    new KubeClient(new HttpsTransport(kc), clientOpts(cluster, true));

  const mgmtKc = kubeConfigFrom({
    kubeconfig: o.managementKubeconfig ?? config.management.kubeconfig,
    context: config.management.context,
    inCluster: config.management.inCluster,
  });
  const mgmt = makeClient(mgmtKc, MGMT);
  const capiVersion = discoverCapiVersion(await mgmt.get(`/apis/${CAPI_GROUP}`));
  log.info({ capiVersion, server: mgmt.transport.server }, 'management cluster');
  // Remediation needs our CRDs; without them it is off (with the reason), and nothing else waits on it.
  const remediationServed =
    config.remediation.mode !== 'off' &&
    (await discoverGroup(mgmt, REMEDIATION_GROUP)).served.includes(REMEDIATION_VERSION);
  if (config.remediation.mode !== 'off' && !remediationServed)
    log.warn(
      { group: REMEDIATION_GROUP, version: REMEDIATION_VERSION },
      'remediation off: the AutopilotRemediation CRDs are not installed in the management cluster (deploy/crds/remediation)',
    );

  // ---- informers ----
  const informers = new Map<string, Informer<KubeObject>>();
  const informer = (cluster: string, resource: string, path: string, signal: AbortSignal) => {
    const inf = new Informer<KubeObject>(mgmtClientFor(cluster), path, {
      log: (m) => log.warn({ cluster, resource }, m),
    });
    informers.set(`${cluster}/${resource}`, inf);
    return { inf, start: () => trackInformer(inf, cluster, resource, signal) };
  };
  const workloadClientByCluster = new Map<string, KubeClient>();
  const workloadInformers = new Map<string, WorkloadInformers>();
  const workloadListeners: Array<(cluster: string, i: WorkloadInformers) => void> = [];
  const disconnectListeners: Array<(cluster: string) => void> = [];
  const mgmtClientFor = (cluster: string) =>
    cluster === MGMT ? mgmt : workloadClientByCluster.get(cluster)!;
  const trackInformer = (
    inf: Informer<KubeObject>,
    cluster: string,
    resource: string,
    signal: AbortSignal,
  ) => {
    const run = inf.run(signal);
    void run.synced.then(() => metrics.informerSynced.set({ cluster, resource }, 1));
    return run;
  };
  const refreshGauges = () => {
    for (const [k, i] of informers) {
      const cut = k.lastIndexOf('/');
      metrics.informerLists.set({ cluster: k.slice(0, cut), resource: k.slice(cut + 1) }, i.stats.lists);
    }
    metrics.workloadClusters.set({ state: 'connected' }, workload.list().length);
    metrics.workloadClusters.set({ state: 'waiting' }, workload.waiting().length);
  };

  const capi = (r: string) => `/apis/${CAPI_GROUP}/${capiVersion}/${r}`;
  const clusters = informer(MGMT, 'clusters', capi('clusters'), abort.signal);
  const mds = informer(MGMT, 'machinedeployments', capi('machinedeployments'), abort.signal);
  const mss = informer(MGMT, 'machinesets', capi('machinesets'), abort.signal);
  const machines = informer(MGMT, 'machines', capi('machines'), abort.signal);
  mss.inf.addIndex('ownerMachineDeployment', (o) =>
    (o.metadata.ownerReferences ?? [])
      .filter((r) => r.controller && r.kind === 'MachineDeployment')
      .map((r) => `${o.metadata.namespace}/${r.name}`),
  );
  machines.inf.addIndex('nodeRef', (o) => {
    const n = (o as { status?: { nodeRef?: { name?: string } } }).status?.nodeRef?.name;
    return n ? [`${(o.metadata.labels ?? {})['cluster.x-k8s.io/cluster-name'] ?? ''}/${n}`] : [];
  });
  machines.inf.addIndex('providerID', (o) => {
    const p = (o as { spec?: { providerID?: string } }).spec?.providerID;
    return p ? [p] : [];
  });
  // Remediation: MachineHealthChecks (evaluated here in standalone mode) and our remediation requests.
  const remediation = !remediationServed
    ? []
    : [
        ...(config.remediation.mode === 'standalone'
          ? [informer(MGMT, 'machinehealthchecks', capi('machinehealthchecks'), abort.signal)]
          : []),
        informer(
          MGMT,
          REQUEST_RESOURCE,
          `/apis/${REMEDIATION_API_VERSION}/${REQUEST_RESOURCE}`,
          abort.signal,
        ),
      ];
  const secrets =
    config.workloadClusters.mode === 'secret'
      ? informer(
          MGMT,
          'kubeconfig-secrets',
          '/api/v1/secrets?labelSelector=cluster.x-k8s.io%2Fcluster-name',
          abort.signal,
        )
      : undefined;

  const workload = new WorkloadClusters({
    mode: config.workloadClusters.mode,
    secretKey: config.workloadClusters.secretKey,
    secretSuffix: config.workloadClusters.secretSuffix,
    kubeconfigs: config.workloadClusters.kubeconfigs ?? {},
    ...(o.clusters ? { only: (r) => o.clusters!.includes(`${r.namespace}/${r.name}`) } : {}),
    management: mgmt,
    clientFor: (kc, r) => makeClient(kc, `${r.namespace}/${r.name}`),
    log: (m, extra) => log.info(extra ?? {}, m),
    onConnect: async ({ ref, client }) => {
      const name = `${ref.namespace}/${ref.name}`;
      workloadClientByCluster.set(name, client);
      const stop = new AbortController();
      abort.signal.addEventListener('abort', () => stop.abort(), { once: true });
      const nodes = informer(name, 'nodes', '/api/v1/nodes', stop.signal);
      nodes.inf.addIndex('providerID', (n) => {
        const p = (n as { spec?: { providerID?: string } }).spec?.providerID;
        return p ? [p] : [];
      });
      const pods = informer(name, 'pods', '/api/v1/pods', stop.signal);
      pods.inf.addIndex('node', (p) => {
        const n = (p as { spec?: { nodeName?: string } }).spec?.nodeName;
        return n ? [n] : [];
      });
      const daemonSets = informer(name, 'daemonsets', '/apis/apps/v1/daemonsets', stop.signal);
      const runs = [nodes.start(), pods.start(), daemonSets.start()];
      const policy: WorkloadInformers['policy'] = {};
      // PDBs are served as policy/v1 or v1beta1 depending on the cluster's version: discover first,
      // retrying while the connection lasts (an unreachable cluster must not be given up on).
      void (async () => {
        for (let attempt = 0; !stop.signal.aborted; attempt++) {
          try {
            const version = evictionVersion(await discoverGroup(client, 'policy'));
            // Closed meanwhile: an informer registered now would outlive its connection (never run).
            if (stop.signal.aborted) return;
            const pdbs = informer(name, 'pdbs', `/apis/policy/${version}/poddisruptionbudgets`, stop.signal);
            runs.push(pdbs.start());
            Object.assign(policy, { version, pdbs: pdbs.inf });
            return;
          } catch (e) {
            log.warn({ cluster: name, err: (e as Error).message }, 'policy API discovery failed; retrying');
            await sleepFor(Math.min(30_000, 1000 * 2 ** attempt), stop.signal);
          }
        }
      })();
      const wi: WorkloadInformers = { nodes: nodes.inf, pods: pods.inf, daemonSets: daemonSets.inf, policy };
      workloadInformers.set(name, wi);
      for (const l of workloadListeners) l(name, wi);
      return async () => {
        workloadInformers.delete(name);
        stop.abort();
        await Promise.allSettled(runs.map((r) => r.done));
        for (const r of ['nodes', 'pods', 'daemonsets', 'pdbs']) {
          informers.delete(`${name}/${r}`);
          metrics.informerSynced.remove({ cluster: name, resource: r });
          metrics.informerLists.remove({ cluster: name, resource: r });
        }
        workloadClientByCluster.delete(name);
        for (const l of disconnectListeners) l(name);
      };
    },
  });
  workload.follow(
    clusters.inf,
    secrets?.inf as Informer<KubeObject & { data?: Record<string, string> }> | undefined,
  );
  const mgmtRuns = [clusters, mds, mss, machines, ...remediation, ...(secrets ? [secrets] : [])].map((i) =>
    i.start(),
  );

  // ---- tracing: before the controllers, so their first reconcile is traced ----
  const tracing = startTracing(o.tracing ?? OFF_SETTINGS, {
    batch: o.tracingBatch,
    serviceVersion: SERVICE_VERSION,
    onExport: exportObserver(metrics, log),
  });
  if (tracing.enabled) log.info({ exporters: tracing.destinations }, 'tracing on');

  // ---- controllers: active only while leading, and only on synced caches ----
  let controllers: Controller[];
  try {
    controllers =
      o.controllers?.({
        management: mgmt,
        identity,
        capiVersion,
        informers,
        workload,
        metrics,
        log,
        config,
        dryRun: o.dryRun ?? false,
        publishStatus: (section, fn) => statusSections.set(section, fn),
        onWorkloadDisconnected: (cb) => disconnectListeners.push(cb),
        onWorkloadConnected: (cb) => {
          workloadListeners.push(cb);
          for (const [name, i] of workloadInformers) cb(name, i);
        },
      }) ?? [];
  } catch (e) {
    abort.abort();
    await tracing.shutdown().catch(() => {});
    throw e;
  }
  let leading = !election;
  const activate = async (): Promise<void> => {
    await Promise.all(mgmtRuns.map((r) => r.synced));
    if (leading && !abort.signal.aborted) for (const c of controllers) c.setActive(true);
  };
  if (leading) void activate();

  // ---- leader election ----
  if (election) {
    // No retries and a timeout below the renew deadline: a renewal either lands in time or counts as missed.
    const electorClient = new KubeClient(new HttpsTransport(mgmtKc), {
      ...clientOpts(MGMT, false),
      maxRetries: 0,
      timeoutMs: Math.max(
        1000,
        Math.min(
          config.kubeClient.timeoutSeconds * 1000,
          config.leaderElection.renewDeadlineSeconds * 1000 - 1000,
        ),
      ),
    });
    elector = new LeaderElector(electorClient, {
      namespace: config.leaderElection.namespace,
      name: config.leaderElection.leaseName,
      identity,
      leaseDurationMs: config.leaderElection.leaseDurationSeconds * 1000,
      renewDeadlineMs: config.leaderElection.renewDeadlineSeconds * 1000,
      retryPeriodMs: config.leaderElection.retryPeriodSeconds * 1000,
      onStartedLeading: () => {
        leading = true;
        void activate();
        metrics.leader.set(1);
        log.info({ identity }, 'started leading');
      },
      onStoppedLeading: () => {
        leading = false;
        for (const c of controllers) c.setActive(false);
        metrics.leader.set(0);
        log.warn({ identity }, 'stopped leading');
      },
      onNewLeader: (l) => log.info({ leader: l }, 'leader observed'),
      log: electionLog(log, `${config.leaderElection.namespace}/${config.leaderElection.leaseName}`),
    });
  }
  const electing = elector?.run();

  // Ready = the management caches have synced. A workload cluster that is still provisioning, unreachable
  // or without its Secret must not take every replica out of service; /status and the
  // capi_autopilot_workload_clusters gauge report it, and controllers check that cluster's caches.
  const mgmtInformers = [...informers].filter(([k]) => k.startsWith(`${MGMT}/`));
  const readiness = (): Readiness => {
    const reasons = mgmtInformers.filter(([, i]) => !i.hasSynced()).map(([k]) => `informer ${k} not synced`);
    return { ready: reasons.length === 0, reasons };
  };

  const status = () => {
    return {
      identity,
      leader: elector
        ? { leading: elector.isLeader(), holder: elector.leaderIdentity ?? null }
        : { leading: true, holder: identity, election: o.dryRun ? 'off (dry run)' : 'disabled' },
      capiVersion,
      management: mgmt.transport.server,
      tracing: { enabled: tracing.enabled, exporters: tracing.destinations },
      workloadClusters: {
        connected: workload.list().map((c) => ({
          cluster: `${c.ref.namespace}/${c.ref.name}`,
          server: c.client.transport.server,
          source: c.source,
        })),
        waiting: workload.waiting(),
      },
      informers: Object.fromEntries(
        [...informers].map(([k, i]) => [k, { synced: i.hasSynced(), objects: i.list().length, ...i.stats }]),
      ),
      ...(o.dryRun ? { dryRun: true } : {}),
      controllers: controllers.map((c) => ({ name: c.name, ...c.counts })),
      ...Object.fromEntries([...statusSections].map(([k, fn]) => [k, fn()])),
    };
  };

  let http: HttpServer | undefined;
  try {
    if (o.serve !== false)
      http = await startHttpServer({
        bindAddress: config.server.bindAddress,
        port: o.portOverride ?? config.server.port,
        registry: metrics.registry,
        readiness,
        status,
        beforeScrape: refreshGauges,
      });
  } catch (e) {
    // Undo what started: no controller, elector or informer may outlive a failed start.
    for (const c of controllers) c.setActive(false);
    await Promise.all(controllers.map((c) => c.stop()));
    await elector?.stop();
    await electing;
    abort.abort();
    await tracing.shutdown().catch(() => {});
    throw e;
  }
  log.info({ port: http?.port, identity }, 'service started');

  return {
    port: http?.port ?? 0,
    metrics,
    capiVersion,
    informers,
    workload,
    leader: elector,
    controllers,
    tracing,
    readiness,
    status,
    async stop() {
      log.info('stopping');
      for (const c of controllers) c.setActive(false);
      await Promise.all(controllers.map((c) => c.stop()));
      await elector?.stop();
      await electing;
      abort.abort();
      await workload.closeAll();
      await Promise.allSettled(mgmtRuns.map((r) => r.done));
      await http?.close();
      // Last: spans of the final reconciles and of the shutdown itself are flushed to the exporters.
      await tracing.shutdown().catch((e: Error) => log.warn({ err: e.message }, 'tracing shutdown failed'));
      log.info('stopped');
    },
  };
}

const SERVICE_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

const OFF_SETTINGS: TracingSettings = tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: 'none' });

/** Counts exported spans; logs the first failure of an exporter, then at most one line a minute. */
function exportObserver(metrics: Metrics, log: Logger): NonNullable<TracingHooks['onExport']> {
  const lastLogged = new Map<string, number>();
  const suppressed = new Map<string, number>();
  return (exporter, ok, spans, error) => {
    metrics.traceSpansExported.inc({ exporter, result: ok ? 'success' : 'failure' }, spans);
    if (ok) return;
    const now = Date.now();
    if (now - (lastLogged.get(exporter) ?? 0) < 60_000) {
      suppressed.set(exporter, (suppressed.get(exporter) ?? 0) + 1);
      return;
    }
    lastLogged.set(exporter, now);
    const earlier = suppressed.get(exporter) ?? 0;
    suppressed.set(exporter, 0);
    log.warn(
      { exporter, spans, err: error?.message, failedExportsNotLogged: earlier },
      'trace export failed (spans dropped); OTEL_TRACES_EXPORTER=none turns tracing off',
    );
  };
}

/**
 * Leader election's messages: failures (a 403 from a Role naming another Lease, an unreachable
 * apiserver) at warn, since nothing acts while no replica leads, but the same one at most once a minute
 * (it repeats every retry period); the rest at debug.
 */
function electionLog(log: Logger, lease: string): (m: string) => void {
  let last = '';
  let lastAt = 0;
  return (m) => {
    if (/ is now the leader$| stepping down: /.test(m)) return log.debug({ lease }, m);
    const now = Date.now();
    if (m === last && now - lastAt < 60_000) return;
    last = m;
    lastAt = now;
    log.warn({ lease }, m);
  };
}
