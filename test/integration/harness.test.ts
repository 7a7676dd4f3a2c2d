// The harness itself: separate API servers on one etcd, and no process left behind, even when
// the process that started a cluster is killed.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startApiserver } from '../../src/sandbox/apiserver.ts';
import { ensureBinaries } from '../../src/sandbox/binaries.ts';
import { parseMinor } from '../../src/sandbox/flags.ts';
import { randomToken, serviceAccountKeyPair } from '../../src/sandbox/pki.ts';
import { isOurProcess, isPidAlive, type ProcessRecord } from '../../src/sandbox/processes.ts';
import { runDir } from '../../src/sandbox/paths.ts';
import { reapStale } from '../../src/sandbox/state.ts';
import { Api, clusterApi, eventually, uniqueName } from './support/kube.ts';

const api = clusterApi();
const run = promisify(execFile);

describe('cluster harness', () => {
  it('a second apiserver on the same etcd with its own prefix is a separate cluster', async () => {
    const c = inject('cluster');
    const binaries = await ensureBinaries({ quiet: true });
    const minor = parseMinor((await run(binaries.path('kube-apiserver'), ['--version'])).stdout);
    const dir = await mkdtemp(join(tmpdir(), 'second-apiserver-'));
    const sa = serviceAccountKeyPair();
    await writeFile(join(dir, 'sa.key'), sa.privateKeyPem);
    await writeFile(join(dir, 'sa.pub'), sa.publicKeyPem);
    const mgmt = await startApiserver({
      dir,
      name: 'management',
      binaries,
      minor,
      etcdUrl: c.etcdUrl,
      etcdPrefix: `/${uniqueName('mgmt')}`,
      saPublicKey: join(dir, 'sa.pub'),
      saPrivateKey: join(dir, 'sa.key'),
      token: randomToken(),
      attached: true,
    });
    onTestFinished(async () => {
      await mgmt.stop();
      await rm(dir, { recursive: true, force: true });
    });
    expect(mgmt.server).not.toBe(c.server);
    const other = new Api(mgmt.server, mgmt.caPem, mgmt.token);

    const inMain = uniqueName('only-main');
    await api.ok('POST', '/api/v1/namespaces', { metadata: { name: inMain } });
    onTestFinished(async () => void (await api.req('DELETE', `/api/v1/namespaces/${inMain}`)));
    await other.ok('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'only-mgmt' } });

    expect((await other.req('GET', `/api/v1/namespaces/${inMain}`)).status).toBe(404);
    expect((await api.req('GET', '/api/v1/namespaces/default/configmaps/only-mgmt')).status).toBe(404);
    const otherNs = await other.ok<{ items: Array<{ metadata: { name: string } }> }>(
      'GET',
      '/api/v1/namespaces',
    );
    expect(otherNs.items.map((n) => n.metadata.name)).not.toContain(inMain);
    // It is a full API server of its own: the same object name lives independently on each side.
    expect((await api.req('GET', '/api/v1/namespaces/default')).status).toBe(200);
    expect((await other.req('GET', '/api/v1/namespaces/default')).status).toBe(200);

    await mgmt.stop();
    expect(isPidAlive(mgmt.process.pid)).toBe(false);
  });

  it('a cluster whose owner is killed dies with it, and the next start cleans up its folder', async () => {
    const name = uniqueName('orphan');
    // A separate Node process starts a cluster, reports its PIDs, then is SIGKILLed: no exit handler runs.
    const script = `
      import { startCluster } from ${JSON.stringify(new URL('../../src/sandbox/cluster.ts', import.meta.url).href)};
      const c = await startCluster({ name: ${JSON.stringify(name)}, controllers: false, quiet: true });
      console.log(JSON.stringify(c.processes().map((p) => ({ name: p.name, pid: p.pid, exe: p.exe }))));
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    onTestFinished(() => void child.kill('SIGKILL'));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`cluster process exited early (${code})`)));
    });
    const procs = JSON.parse(line) as ProcessRecord[];
    expect(procs.map((p) => p.name)).toEqual(['etcd', `kube-apiserver(${name}-main)`]);
    expect(procs.every(isOurProcess)).toBe(true);

    const childGone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await childGone;
    await eventually(
      'the orphaned cluster processes to die',
      async () => procs.every((p) => !isOurProcess(p)),
      15_000,
    );

    const folder = join(runDir(), name);
    expect(existsSync(folder)).toBe(true);
    await reapStale(runDir());
    expect(existsSync(folder)).toBe(false);
  });
});
