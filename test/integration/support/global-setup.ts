import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startCluster } from '../../../src/sandbox/cluster.ts';

export interface ClusterInfo {
  kubeconfigPath: string;
  server: string;
  token: string;
  caPem: string;
  etcdUrl: string;
  binDir: string;
  dir: string;
  processes: Array<{ name: string; pid: number }>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ClusterInfo;
  }
}

/** Starts one real cluster (etcd, apiserver, controller-manager, scheduler) for all integration tests. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  const cluster = await startCluster({
    name: `test-${process.pid}`,
    log: (m) => process.stderr.write(`[cluster] ${m}\n`),
  });
  process.stderr.write(
    `[cluster] ready in ${((Date.now() - t0) / 1000).toFixed(1)} s at ${cluster.apiserver.server}\n`,
  );
  project.provide('cluster', {
    kubeconfigPath: cluster.kubeconfigPath,
    server: cluster.apiserver.server,
    token: cluster.apiserver.token,
    caPem: cluster.apiserver.caPem,
    etcdUrl: cluster.etcdUrl,
    binDir: cluster.binaries.dir,
    dir: cluster.dir,
    processes: cluster.processes().map((p) => ({ name: p.name, pid: p.pid })),
  });
  return async () => {
    await cluster.stop();
  };
}
