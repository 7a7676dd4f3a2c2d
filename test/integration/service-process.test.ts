// The service as a process: it survives its apiserver restarting (informers recover, caches converge),
// and SIGTERM stops it cleanly (exit 0, lease released).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createLogger } from '../../src/runtime/log.ts';
import { installCrds } from '../../src/sandbox/crds.ts';
import { freePort } from '../../src/sandbox/ports.ts';
import { RestClient } from '../../src/sandbox/rest.ts';
import { httpGet } from '../../src/sandbox/wait.ts';
import { startService } from '../../src/service.ts';
import { startExtraApiserver } from './support/capi.ts';
import { eventually, serviceConfig, untilLeading } from './support/kube.ts';

async function managementWithCapi(name: string) {
  const server = await startExtraApiserver(name);
  onTestFinished(() => server.stop());
  const api = new RestClient(server.server, server.caPem, server.token);
  await installCrds(api, 'v1beta2');
  return { server, api };
}

const config = (kubeconfig: string) => serviceConfig(kubeconfig);

describe('service process', () => {
  it('survives an apiserver restart: informers recover and caches converge', async () => {
    const { server, api } = await managementWithCapi('restart');
    const logs: string[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (logs.push(c.toString()), cb()) });
    const svc = await startService({
      config: config(server.kubeconfigPath),
      log: createLogger({ level: 'info', format: 'json' }, sink),
      portOverride: 0,
    });
    onTestFinished(() => svc.stop());
    const get = (p: string) => httpGet(`http://127.0.0.1:${svc.port}${p}`);
    await eventually('ready', async () => (await get('/readyz')).status === 200);
    await server.restart(2000);
    // While it was down and after: the process is alive and answers.
    expect((await get('/healthz')).status).toBe(200);
    await api.ok('POST', '/apis/cluster.x-k8s.io/v1beta2/namespaces/default/clusters', {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'after-restart' },
      spec: { paused: false },
    });
    await eventually(
      'the cache to see a Cluster created after the restart',
      async () => !!svc.informers.get('management/clusters')?.get('default/after-restart'),
      60_000,
    );
    const stats = svc.informers.get('management/clusters')!.stats;
    expect(stats.watchErrors + stats.relistsAfterGone).toBeGreaterThan(0);
    await eventually('ready again', async () => (await get('/readyz')).status === 200, 60_000);
    expect(svc.leader?.isLeader()).toBe(true);
  });

  it('an unreachable management apiserver at start: exit 1 with the reason, not a silent exit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dead-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort(); // nothing listens there
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'c', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
        ],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'c',
      }),
    );
    const bin = fileURLToPath(new URL('../../bin/capi-autopilot.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'run', '--kubeconfig', kubeconfig], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    onTestFinished(() => void child.kill('SIGKILL'));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(stderr).toContain('ECONNREFUSED');
    expect(code).toBe(1);
  });

  it('SIGTERM: stops, releases the lease and exits 0', async () => {
    const { server, api } = await managementWithCapi('sigterm');
    const port = await freePort();
    const bin = fileURLToPath(new URL('../../bin/capi-autopilot.js', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        bin,
        'run',
        '--kubeconfig',
        server.kubeconfigPath,
        '--port',
        String(port),
        '--set',
        'leaderElection.namespace=default',
        '--set',
        'server.bindAddress=127.0.0.1',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        // Tests run without tracing unless they test it (the default exporter would try localhost:4318).
        env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' },
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    onTestFinished(() => void child.kill('SIGKILL'));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await untilLeading(port);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lease = await api.ok<{ spec: { holderIdentity?: string } }>(
      'GET',
      '/apis/coordination.k8s.io/v1/namespaces/default/leases/capi-autopilot',
    );
    expect(lease.spec.holderIdentity ?? '').toBe('');
    expect(stderr).toContain('"msg":"stopped"');
  });
});
