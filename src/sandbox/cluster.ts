import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBinaries, type Binaries } from './binaries.ts';
import { controllerManagerArgs, etcdArgs, parseMinor, schedulerArgs, type EtcdPorts } from './flags.ts';
import { randomToken, serviceAccountKeyPair } from './pki.ts';
import { freePort } from './ports.ts';
import { runDir } from './paths.ts';
import { startProcess, type ManagedProcess } from './processes.ts';
import { readState, reapStale, selfOwner, writeState, type ClusterState } from './state.ts';
import { httpGet, waitUntil } from './wait.ts';
import { READY_TIMEOUT_MS, startApiserver, withPortRetry, type ApiserverHandle } from './apiserver.ts';

export interface Cluster {
  name: string;
  dir: string;
  binaries: Binaries;
  etcdUrl: string;
  /** The main apiserver (the workload cluster, and by default the management cluster too). */
  apiserver: ApiserverHandle;
  kubeconfigPath: string;
  processes(): ManagedProcess[];
  /** Records a process started beside the cluster (e.g. the CAPI simulator) so stop/down/reaping cover it. */
  adopt(p: ManagedProcess): Promise<void>;
  /** Another apiserver on the same etcd under its own prefix: a separate cluster's API. */
  startApiserver(name: string, etcdPrefix: string): Promise<ApiserverHandle>;
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  name: string;
  /** Attached: dies with this process. Detached: keeps running after it exits (`sandbox up`). */
  detached?: boolean;
  /** Start kube-controller-manager and kube-scheduler (default true). */
  controllers?: boolean;
  log?: (msg: string) => void;
  /** Progress of provisioning goes to stderr unless quiet. */
  quiet?: boolean;
  /** More flags for each apiserver, by its name (`main` or startApiserver's): e.g. an audit log per server. */
  apiserverArgs?: (name: string) => string[];
}

const run = promisify(execFile);

export class AlreadyRunningError extends Error {
  override name = 'AlreadyRunningError';
  readonly state: ClusterState;
  constructor(state: ClusterState) {
    super(`cluster ${state.name} is already running (kubeconfig ${state.kubeconfig})`);
    this.state = state;
  }
}

export async function startCluster(opts: StartClusterOptions): Promise<Cluster> {
  const log = opts.log ?? (() => {});
  const root = runDir();
  await reapStale(root, log);
  const dir = join(root, opts.name);
  const existing = await readState(dir);
  if (existing) throw new AlreadyRunningError(existing);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });

  const binaries = await ensureBinaries({ quiet: opts.quiet ?? false });
  const { stdout } = await run(binaries.path('kube-apiserver'), ['--version']);
  const minor = parseMinor(stdout);
  const attached = !opts.detached;
  const procs: ManagedProcess[] = [];
  const state: ClusterState = {
    name: opts.name,
    detached: !attached,
    owner: selfOwner(),
    kubeconfig: join(dir, 'kubeconfig'),
    server: '',
    binDir: binaries.dir,
    processes: [],
    createdAt: new Date().toISOString(),
  };
  const track = async (p: ManagedProcess): Promise<ManagedProcess> => {
    procs.push(p);
    state.processes.push({ name: p.name, pid: p.pid, exe: p.exe, startTicks: p.startTicks });
    await writeState(dir, state);
    return p;
  };
  await writeState(dir, state);

  const stopAll = async (): Promise<void> => {
    // Reverse order: clients before the apiserver, the apiserver before etcd.
    for (const p of [...procs].reverse()) await p.stop();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    log('starting etcd');
    const { etcdUrl } = await withPortRetry(async () => {
      const ports: EtcdPorts = { client: await freePort(), peer: await freePort() };
      const etcdUrl = `http://127.0.0.1:${ports.client}`;
      await rm(join(dir, 'etcd'), { recursive: true, force: true });
      const p = startProcess({
        name: 'etcd',
        exe: binaries.path('etcd'),
        args: etcdArgs(join(dir, 'etcd'), ports),
        logFile: join(dir, 'etcd.log'),
        attached,
      });
      await track(p);
      await waitUntil(
        'etcd health',
        p,
        async () => (await httpGet(`${etcdUrl}/health`)).body.includes('"true"'),
        READY_TIMEOUT_MS,
      );
      return { etcdUrl };
    });

    const sa = serviceAccountKeyPair();
    const saPrivateKey = join(dir, 'sa.key');
    const saPublicKey = join(dir, 'sa.pub');
    await writeFile(saPrivateKey, sa.privateKeyPem, { mode: 0o600 });
    await writeFile(saPublicKey, sa.publicKeyPem);
    const token = randomToken();

    const startApiserverOn = (name: string, etcdPrefix: string): Promise<ApiserverHandle> =>
      startApiserver({
        dir: join(dir, name),
        name: `${opts.name}-${name}`,
        binaries,
        minor,
        etcdUrl,
        etcdPrefix,
        saPublicKey,
        saPrivateKey,
        token,
        attached,
        extraArgs: opts.apiserverArgs?.(name) ?? [],
        onStarted: async (p) => void (await track(p)),
      });

    log('starting kube-apiserver');
    const apiserver = await startApiserverOn('main', '/registry');
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, await readFile(apiserver.kubeconfigPath, 'utf8'), { mode: 0o600 });
    state.server = apiserver.server;
    await writeState(dir, state);
    const rootCa = join(dir, 'main', 'certs', 'apiserver.crt');

    if (opts.controllers !== false) {
      log('starting kube-controller-manager and kube-scheduler');
      const cm = await track(
        startProcess({
          name: 'kube-controller-manager',
          exe: binaries.path('kube-controller-manager'),
          args: controllerManagerArgs({ kubeconfig: kubeconfigPath, saPrivateKey, rootCa, minor }),
          logFile: join(dir, 'kube-controller-manager.log'),
          attached,
        }),
      );
      const sched = await track(
        startProcess({
          name: 'kube-scheduler',
          exe: binaries.path('kube-scheduler'),
          args: schedulerArgs({ kubeconfig: kubeconfigPath, minor }),
          logFile: join(dir, 'kube-scheduler.log'),
          attached,
        }),
      );
      // Pods can only be created once the token controller made the namespace's default ServiceAccount.
      await waitUntil(
        'the default ServiceAccount (token controller running)',
        cm,
        async () => {
          const r = await httpGet(`${apiserver.server}/api/v1/namespaces/default/serviceaccounts/default`, {
            ca: apiserver.caPem,
            token,
          });
          // Before 1.24 pods are also refused until the account's token Secret exists.
          const secrets = (JSON.parse(r.body || '{}') as { secrets?: unknown[] }).secrets ?? [];
          return r.status === 200 && (minor >= 24 || secrets.length > 0) && !sched.hasExited();
        },
        READY_TIMEOUT_MS,
      );
    }

    return {
      name: opts.name,
      dir,
      binaries,
      etcdUrl,
      apiserver,
      kubeconfigPath,
      processes: () => [...procs],
      adopt: async (p) => void (await track(p)),
      startApiserver: startApiserverOn,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
