import { join } from 'node:path';
import { AlreadyRunningError, startCluster, type Cluster } from './cluster.ts';
import { runDir } from './paths.ts';
import { isOurProcess, stopRecorded } from './processes.ts';
import { ownerIsAlive, readState, type ClusterState } from './state.ts';
import { rm } from 'node:fs/promises';
import { httpGet } from './wait.ts';
import { readFile } from 'node:fs/promises';

export const SANDBOX_NAME = 'sandbox';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const sandboxDir = (): string => join(runDir(), SANDBOX_NAME);

export function kubectlHint(binDir: string, kubeconfig: string): string {
  return `${join(binDir, 'kubectl')} --kubeconfig ${kubeconfig} get nodes,pods -A`;
}

/** `sandbox up`: starts the sandbox in the background (or reports the running one) and returns. */
export async function sandboxUp(io: Io, json: boolean): Promise<number> {
  let state: ClusterState;
  try {
    const c = await startCluster({ name: SANDBOX_NAME, detached: true, log: (m) => io.err(`sandbox: ${m}`) });
    state = (await readState(c.dir)) as ClusterState;
  } catch (e) {
    if (!(e instanceof AlreadyRunningError)) throw e;
    state = e.state;
    if (!json) io.err('sandbox: already running');
  }
  if (json) {
    io.out(JSON.stringify({ kubeconfig: state.kubeconfig, pids: state.processes.map((p) => p.pid) }));
  } else {
    io.out(`kubeconfig: ${state.kubeconfig}`);
    io.out(`try:        ${kubectlHint(state.binDir, state.kubeconfig)}`);
    io.out(`stop with:  capi-autopilot sandbox down`);
  }
  return 0;
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

/**
 * The sandbox a foreground command (`run`) works on: the running detached sandbox when there is one,
 * else a new one attached to this process and stopped when it exits.
 */
export async function attachSandbox(
  io: Io,
): Promise<{ kubeconfig: string; binDir: string; cluster: Cluster | null }> {
  const existing = await readState(sandboxDir());
  if (existing && existing.detached) {
    io.err('sandbox: using the running sandbox (started by `sandbox up`)');
    return { kubeconfig: existing.kubeconfig, binDir: existing.binDir, cluster: null };
  }
  const cluster = await startCluster({ name: SANDBOX_NAME, log: (m) => io.err(`sandbox: ${m}`) });
  return { kubeconfig: cluster.kubeconfigPath, binDir: cluster.binaries.dir, cluster };
}
