// A management cluster for CAPI tests: its own apiserver on the test etcd (so each test file can install
// the CAPI CRDs of the version it tests) plus the CAPI simulator writing Nodes into the real workload cluster.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, inject } from 'vitest';
import type { CapiVersion } from '../../../src/capi/types.ts';
import { startApiserver } from '../../../src/sandbox/apiserver.ts';
import { ensureBinaries } from '../../../src/sandbox/binaries.ts';
import { installCrds } from '../../../src/sandbox/crds.ts';
import { parseMinor } from '../../../src/sandbox/flags.ts';
import { randomToken, serviceAccountKeyPair } from '../../../src/sandbox/pki.ts';
import { RestClient } from '../../../src/sandbox/rest.ts';
import { CapiSimulator, type SimulatorConfig } from '../../../src/sandbox/capi-sim/simulator.ts';
import { clusterApi, uniqueName } from './kube.ts';

const run = promisify(execFile);

export interface Management {
  api: RestClient;
  kubeconfigPath: string;
  version: CapiVersion;
  stop(): Promise<void>;
}

/** Another apiserver on the test etcd under its own prefix: a separate, empty cluster API. */
export async function startExtraApiserver(name: string, extraArgs: string[] = []) {
  const c = inject('cluster');
  const binaries = await ensureBinaries({ quiet: true });
  const minor = parseMinor((await run(binaries.path('kube-apiserver'), ['--version'])).stdout);
  const dir = await mkdtemp(join(tmpdir(), `${name}-`));
  const sa = serviceAccountKeyPair();
  await writeFile(join(dir, 'sa.key'), sa.privateKeyPem);
  await writeFile(join(dir, 'sa.pub'), sa.publicKeyPem);
  const server = await startApiserver({
    dir,
    name,
    binaries,
    minor,
    etcdUrl: c.etcdUrl,
    etcdPrefix: `/${uniqueName(name)}`,
    saPublicKey: join(dir, 'sa.pub'),
    saPrivateKey: join(dir, 'sa.key'),
    token: randomToken(),
    attached: true,
    extraArgs,
  });
  return {
    ...server,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startManagement(version: CapiVersion): Promise<Management> {
  const server = await startExtraApiserver(`mgmt-${version}`);
  const api = new RestClient(server.server, server.caPem, server.token);
  await installCrds(api, version);
  return { api, version, kubeconfigPath: server.kubeconfigPath, stop: server.stop };
}

/** Fast timings for tests: provisioning in a fraction of a second, heartbeats every 2 s. */
export function startSimulator(mgmt: Management, workload: RestClient, extra: Partial<SimulatorConfig> = {}) {
  return CapiSimulator.start({
    management: mgmt.api,
    workload,
    version: mgmt.version,
    name: uniqueName('sim'),
    provisioningDelayMs: 300,
    joinDelayMs: 100,
    heartbeatMs: 2000,
    podTerminationScale: 1,
    log: process.env.SIM_LOG ? (m) => process.stderr.write(`[sim] ${m}\n`) : () => {},
    ...extra,
  });
}

export const INFRA_API_VERSION = 'infrastructure.sandbox.capi-autopilot.io/v1alpha1';

/** A Cluster, a SandboxMachineTemplate and a MachineDeployment in `version`'s shape. */
export function fixtures(
  version: CapiVersion,
  ns: string,
  opts: { md: string; replicas: number; pool: string; cpu?: string },
) {
  const cluster = {
    apiVersion: `cluster.x-k8s.io/${version}`,
    kind: 'Cluster',
    metadata: { name: 'c1', namespace: ns },
    // v1beta2 requires a non-empty spec.
    spec: { paused: false },
  };
  const template = {
    apiVersion: INFRA_API_VERSION,
    kind: 'SandboxMachineTemplate',
    metadata: { name: `${opts.md}-tmpl`, namespace: ns },
    spec: {
      template: {
        spec: {
          instanceType: {
            name: 'sandbox.large',
            cpu: opts.cpu ?? '4',
            memory: '8Gi',
            maxPods: 110,
            labels: { 'test.capi-autopilot.io/pool': opts.pool },
          },
        },
      },
    },
  };
  const infraRef =
    version === 'v1beta2'
      ? {
          apiGroup: 'infrastructure.sandbox.capi-autopilot.io',
          kind: 'SandboxMachineTemplate',
          name: `${opts.md}-tmpl`,
        }
      : {
          apiVersion: INFRA_API_VERSION,
          kind: 'SandboxMachineTemplate',
          name: `${opts.md}-tmpl`,
          namespace: ns,
        };
  const md = {
    apiVersion: `cluster.x-k8s.io/${version}`,
    kind: 'MachineDeployment',
    metadata: { name: opts.md, namespace: ns },
    spec: {
      clusterName: 'c1',
      replicas: opts.replicas,
      selector: { matchLabels: { 'cluster.x-k8s.io/deployment-name': opts.md } },
      template: {
        metadata: { labels: { 'cluster.x-k8s.io/deployment-name': opts.md } },
        spec: {
          clusterName: 'c1',
          version: 'v1.20.2',
          bootstrap: { dataSecretName: 'bootstrap-data' },
          infrastructureRef: infraRef,
        },
      },
    },
  };
  return { cluster, template, md };
}

/**
 * A namespace of its own in the management cluster with a Cluster `c1`, a SandboxMachineTemplate and a
 * MachineDeployment `md-a` whose nodes carry a unique pool label.
 */
export async function createDeployment(
  mgmt: Management,
  o: { replicas: number; machineAnnotations?: Record<string, string>; paused?: boolean; prefix?: string },
): Promise<{ ns: string; pool: string }> {
  const ns = uniqueName(o.prefix ?? 'capi');
  const pool = uniqueName('pool');
  await mgmt.api.ok('POST', '/api/v1/namespaces', { metadata: { name: ns } });
  const f = fixtures(mgmt.version, ns, { md: 'md-a', replicas: o.replicas, pool });
  f.cluster.spec = { paused: o.paused ?? false };
  if (o.machineAnnotations) {
    (f.md.spec.template.metadata as { annotations?: Record<string, string> }).annotations =
      o.machineAnnotations;
  }
  const capi = (r: string) => `/apis/cluster.x-k8s.io/${mgmt.version}/namespaces/${ns}/${r}`;
  await mgmt.api.ok('POST', capi('clusters'), f.cluster);
  await mgmt.api.ok(
    'POST',
    `/apis/infrastructure.sandbox.capi-autopilot.io/v1alpha1/namespaces/${ns}/sandboxmachinetemplates`,
    f.template,
  );
  await mgmt.api.ok('POST', capi('machinedeployments'), f.md);
  return { ns, pool };
}

/**
 * A management apiserver with the CAPI CRDs of `version` and a simulator writing into the shared workload
 * cluster, started before and stopped after the calling describe block.
 */
export function useSimulator(version: CapiVersion, extra: Partial<SimulatorConfig> = {}) {
  const env = {} as { mgmt: Management; sim: CapiSimulator };
  beforeAll(async () => {
    env.mgmt = await startManagement(version);
    env.sim = await startSimulator(env.mgmt, clusterApi(), extra);
  });
  afterAll(async () => {
    await env.sim?.stop();
    await env.mgmt?.stop();
  });
  return env;
}
