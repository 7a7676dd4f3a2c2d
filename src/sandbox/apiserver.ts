import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Binaries } from './binaries.ts';
import { apiserverArgs } from './flags.ts';
import { renderKubeconfig } from './kubeconfig.ts';
import { tokenFileLine } from './pki.ts';
import { freePort } from './ports.ts';
import { startProcess, type ManagedProcess } from './processes.ts';
import { httpGet, StartupError, waitUntil } from './wait.ts';

export const READY_TIMEOUT_MS = 90_000;

export interface ApiserverHandle {
  name: string;
  server: string;
  kubeconfigPath: string;
  token: string;
  caPem: string;
  etcdPrefix: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
  /** Stops the apiserver, waits downMs, and starts it again on the same port with the same certificates. */
  restart(downMs?: number): Promise<void>;
}

export interface StartApiserverOptions {
  /** Folder for its certificates, token file, log and kubeconfig. */
  dir: string;
  /** Names the kubeconfig's cluster/context. */
  name: string;
  binaries: Binaries;
  minor: number;
  etcdUrl: string;
  etcdPrefix: string;
  saPublicKey: string;
  saPrivateKey: string;
  /** Bearer token of an admin in system:masters. */
  token: string;
  attached: boolean;
  /** Further kube-apiserver flags (tests use them for e.g. `--watch-cache=false`). */
  extraArgs?: string[];
  /** Called as soon as the process exists, so a crash during start-up still leaves a record. */
  onStarted?: (p: ManagedProcess) => Promise<void> | void;
}

/** Starts a kube-apiserver on a free loopback port and waits for /readyz; writes a kubeconfig for it. */
export async function startApiserver(o: StartApiserverOptions): Promise<ApiserverHandle> {
  await mkdir(o.dir, { recursive: true });
  const tokenFile = join(o.dir, 'tokens.csv');
  await writeFile(tokenFile, tokenFileLine(o.token, 'sandbox-admin', 'sandbox-admin', ['system:masters']), {
    mode: 0o600,
  });
  return withPortRetry(async () => {
    const securePort = await freePort();
    const server = `https://127.0.0.1:${securePort}`;
    // The serving certificate is generated at the first start; read it once it exists to trust it.
    let caPem = '';
    const launch = async (): Promise<ManagedProcess> => {
      const p = startProcess({
        name: `kube-apiserver(${o.name})`,
        exe: o.binaries.path('kube-apiserver'),
        args: apiserverArgs({
          etcdUrl: o.etcdUrl,
          etcdPrefix: o.etcdPrefix,
          securePort,
          certDir: join(o.dir, 'certs'),
          tokenFile,
          saPublicKey: o.saPublicKey,
          saPrivateKey: o.saPrivateKey,
          serviceClusterIpRange: '10.96.0.0/16',
          minor: o.minor,
        }).concat(o.extraArgs ?? []),
        logFile: join(o.dir, 'kube-apiserver.log'),
        attached: o.attached,
      });
      await o.onStarted?.(p);
      await waitUntil(
        `apiserver ${o.name} /readyz`,
        p,
        async () => {
          caPem ||= await readFile(join(o.dir, 'certs', 'apiserver.crt'), 'utf8');
          return (await httpGet(`${server}/readyz`, { ca: caPem, token: o.token })).status === 200;
        },
        READY_TIMEOUT_MS,
      );
      return p;
    };
    let p = await launch();
    const kubeconfigPath = join(o.dir, 'kubeconfig');
    await writeFile(kubeconfigPath, renderKubeconfig({ name: o.name, server, caPem, token: o.token }), {
      mode: 0o600,
    });
    return {
      name: o.name,
      server,
      kubeconfigPath,
      token: o.token,
      caPem,
      etcdPrefix: o.etcdPrefix,
      get process() {
        return p;
      },
      stop: () => p.stop(),
      async restart(downMs = 0) {
        await p.stop();
        if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
        p = await launch();
      },
    };
  });
}

/** Retries a start-up that lost a race for its port (picked free, then bound by someone else first). */
export async function withPortRetry<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (e) {
      const portClash = e instanceof StartupError && /address already in use/i.test(e.message);
      if (!portClash || i >= attempts) throw e;
    }
  }
}
