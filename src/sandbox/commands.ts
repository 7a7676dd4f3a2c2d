import { rm, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CAPI_GROUP, type CapiVersion } from '../capi/types.ts';
import { CapiSimulator } from './capi-sim/simulator.ts';
import { AlreadyRunningError, startCluster, type Cluster } from './cluster.ts';
import { installCrds } from './crds.ts';
import { applyDemo, DEMO_NAMESPACE, DEMO_WORKLOAD_NAMESPACE } from './demo.ts';
import { runDir } from './paths.ts';
import { isOurProcess, startProcess, stopRecorded } from './processes.ts';
import { RestClient } from './rest.ts';
import { ownerIsAlive, readState, type ClusterState } from './state.ts';
import { httpGet } from './wait.ts';

export const SANDBOX_NAME = 'sandbox';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface SandboxOptions {
  capiVersion: CapiVersion;
  demo: boolean;
}

const sandboxDir = (): string => join(runDir(), SANDBOX_NAME);
const cliEntry = fileURLToPath(new URL('../../bin/capi-autopilot.js', import.meta.url));

export function printAccess(io: Io, binDir: string, kubeconfig: string, demo: boolean): void {
  const kubectl = `${join(binDir, 'kubectl')} --kubeconfig ${kubeconfig}`;
  io.out(`kubeconfig: ${kubeconfig}`);
  io.out(`try:        ${kubectl} get nodes,pods -A`);
  if (demo) {
    io.out(`demo:       ${kubectl} -n ${DEMO_NAMESPACE} get machinedeployments,machines`);
    io.out(
      `            ${kubectl} -n ${DEMO_WORKLOAD_NAMESPACE} get pods   (Pending until a node group scales up)`,
    );
  }
}

/** Installs the CAPI CRDs (one version) and the sandbox infrastructure provider's. */
async function prepareCapi(kubeconfig: string, opts: SandboxOptions, io: Io): Promise<RestClient> {
  const client = RestClient.fromKubeconfig(kubeconfig);
  io.err(`sandbox: installing Cluster API CRDs (cluster.x-k8s.io/${opts.capiVersion})`);
  await installCrds(client, opts.capiVersion);
  return client;
}

/** `sandbox up`: starts the sandbox in the background (or reports the running one) and returns. */
export async function sandboxUp(io: Io, json: boolean, opts: SandboxOptions): Promise<number> {
  let state: ClusterState;
  try {
    const c = await startCluster({ name: SANDBOX_NAME, detached: true, log: (m) => io.err(`sandbox: ${m}`) });
    try {
      const client = await prepareCapi(c.kubeconfigPath, opts, io);
      const sim = startProcess({
        name: 'capi-simulator',
        exe: process.execPath,
        args: [
          cliEntry,
          'sandbox',
          'simulate',
          '--kubeconfig',
          c.kubeconfigPath,
          '--capi-version',
          opts.capiVersion,
        ],
        logFile: join(c.dir, 'capi-simulator.log'),
        attached: false,
      });
      await c.adopt(sim);
      if (opts.demo) await applyDemo(client, opts.capiVersion);
    } catch (e) {
      await c.stop();
      throw e;
    }
    state = (await readState(c.dir)) as ClusterState;
  } catch (e) {
    if (!(e instanceof AlreadyRunningError)) throw e;
    state = e.state;
    if (!json) io.err('sandbox: already running');
    if (opts.demo) {
      const client = RestClient.fromKubeconfig(state.kubeconfig);
      await applyDemo(client, await servedCapiVersion(client));
    }
  }
  if (json) {
    io.out(JSON.stringify({ kubeconfig: state.kubeconfig, pids: state.processes.map((p) => p.pid) }));
  } else {
    printAccess(io, state.binDir, state.kubeconfig, opts.demo);
    io.out(`stop with:  capi-autopilot sandbox down`);
  }
  return 0;
}

async function servedCapiVersion(client: RestClient): Promise<CapiVersion> {
  const v = await client.preferredVersion(CAPI_GROUP);
  if (v === `${CAPI_GROUP}/v1beta1`) return 'v1beta1';
  if (v === `${CAPI_GROUP}/v1beta2`) return 'v1beta2';
  throw new Error(`the sandbox serves no Cluster API version this build knows (${v ?? 'none'})`);
}

export async function sandboxDown(io: Io): Promise<number> {
  const state = await readState(sandboxDir());
  if (!state) {
    io.out('sandbox: not running');
    return 0;
  }
  if (!state.detached && ownerIsAlive(state.owner)) {
    io.err(
      `sandbox: owned by a running 'capi-autopilot run' (pid ${state.owner.pid}); stop that process instead`,
    );
    return 1;
  }
  await stopRecorded(state.processes);
  await rm(sandboxDir(), { recursive: true, force: true });
  io.out(`sandbox: stopped pids ${state.processes.map((p) => p.pid).join(', ')}`);
  return 0;
}

export async function sandboxStatus(io: Io, json: boolean): Promise<number> {
  const state = await readState(sandboxDir());
  const processes = (state?.processes ?? []).map((p) => ({ ...p, running: isOurProcess(p) }));
  let ready = false;
  if (state?.server) {
    try {
      const ca = await readFile(join(sandboxDir(), 'main', 'certs', 'apiserver.crt'), 'utf8');
      ready = (await httpGet(`${state.server}/readyz`, { ca, timeoutMs: 2000 })).status === 200;
    } catch {
      ready = false;
    }
  }
  if (json) {
    io.out(JSON.stringify({ running: !!state, ready, kubeconfig: state?.kubeconfig ?? null, processes }));
  } else if (!state) {
    io.out('sandbox: not running');
  } else {
    io.out(`sandbox: ${ready ? 'ready' : 'NOT ready'} at ${state.server}`);
    io.out(`kubeconfig: ${state.kubeconfig}`);
    for (const p of processes) io.out(`  ${p.running ? 'running' : 'gone   '} ${p.pid} ${p.name}`);
  }
  return state && ready ? 0 : 3;
}

/** `sandbox simulate`: the CAPI simulator as its own process (what `sandbox up` starts). */
export async function sandboxSimulate(
  io: Io,
  kubeconfig: string,
  version: CapiVersion | undefined,
  untilSignal: Promise<unknown>,
): Promise<number> {
  const client = RestClient.fromKubeconfig(kubeconfig);
  const sim = await CapiSimulator.start({ management: client, version, log: (m) => io.err(`[sim] ${m}`) });
  await untilSignal;
  await sim.stop();
  return 0;
}

/**
 * The sandbox a foreground command (`run`) works on: the running detached sandbox when there is one,
 * else a new one attached to this process, with the simulator in-process, stopped when it exits.
 */
export async function attachSandbox(
  io: Io,
  opts: SandboxOptions,
): Promise<{ kubeconfig: string; binDir: string; stop: () => Promise<void> }> {
  const existing = await readState(sandboxDir());
  // A detached sandbox whose processes died (a reboot) is stale: the next start replaces it.
  if (existing && existing.detached && existing.processes.every(isOurProcess)) {
    io.err('sandbox: using the running sandbox (started by `sandbox up`)');
    if (opts.demo) {
      const client = RestClient.fromKubeconfig(existing.kubeconfig);
      await applyDemo(client, await servedCapiVersion(client));
    }
    return { kubeconfig: existing.kubeconfig, binDir: existing.binDir, stop: async () => {} };
  }
  const cluster: Cluster = await startCluster({ name: SANDBOX_NAME, log: (m) => io.err(`sandbox: ${m}`) });
  try {
    const client = await prepareCapi(cluster.kubeconfigPath, opts, io);
    const sim = await CapiSimulator.start({
      management: client,
      version: opts.capiVersion,
      log: (m) => io.err(`[sim] ${m}`),
    });
    if (opts.demo) await applyDemo(client, opts.capiVersion);
    return {
      kubeconfig: cluster.kubeconfigPath,
      binDir: cluster.binaries.dir,
      stop: async () => {
        await sim.stop();
        await cluster.stop();
      },
    };
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}

/**
 * The kubeconfig of a sandbox that is running now (`sandbox up`, or `npm start` in another terminal);
 * commands that only read (explain) use it and never start one.
 */
export async function runningSandboxKubeconfig(): Promise<string | undefined> {
  const state = await readState(sandboxDir());
  return state && state.processes.every(isOurProcess) ? state.kubeconfig : undefined;
}
