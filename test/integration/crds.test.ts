// Our CAPI and sandbox-provider CRDs on a real Kubernetes 1.20 apiserver. CRDs are cluster-wide and a
// cluster holds one cluster.x-k8s.io version at a time, so each version gets an apiserver of its own
// (same etcd, own prefix) instead of the shared test cluster.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApiserver, type ApiserverHandle } from '../../src/sandbox/apiserver.ts';
import { ensureBinaries, type Binaries } from '../../src/sandbox/binaries.ts';
import { installCrds } from '../../src/sandbox/crds.ts';
import { parseMinor } from '../../src/sandbox/flags.ts';
import { randomToken, serviceAccountKeyPair } from '../../src/sandbox/pki.ts';
import { isPidAlive } from '../../src/sandbox/processes.ts';
import { Api, clusterApi, uniqueName } from './support/kube.ts';
import { kubeTime } from '../../src/kube/time.ts';

const run = promisify(execFile);
const INFRA = 'infrastructure.sandbox.capi-autopilot.io';
const NS = 'capi';
const now = kubeTime(new Date());

type Version = 'v1beta2' | 'v1beta1';
type Obj = Record<string, unknown> & {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: unknown;
  status?: unknown;
};

/** A valid object of each kind, written as a user of that version would. */
function fixtures(v: Version): Record<string, Obj> {
  const v2 = v === 'v1beta2';
  const obj = (kind: string, name: string, spec: object): Obj => ({
    apiVersion: `cluster.x-k8s.io/${v}`,
    kind,
    metadata: { name },
    spec,
  });
  const ref = (kind: string, name: string) =>
    v2 ? { apiGroup: INFRA, kind, name } : { apiVersion: `${INFRA}/v1alpha1`, kind, name };
  const machineSpec = {
    clusterName: 'c1',
    bootstrap: { dataSecretName: 'bootstrap-data' },
    infrastructureRef: ref('SandboxMachineTemplate', 'small'),
    version: 'v1.30.2',
    ...(v2
      ? { minReadySeconds: 5, deletion: { nodeDrainTimeoutSeconds: 300, nodeDeletionTimeoutSeconds: 10 } }
      : { nodeDrainTimeout: '5m', nodeDeletionTimeout: '10s' }),
  };
  const group = { clusterName: 'c1', selector: { matchLabels: { pool: 'a' } } };
  const template = { metadata: { labels: { pool: 'a' } }, spec: machineSpec };
  const rollingUpdate = { maxSurge: 1, maxUnavailable: '25%' };
  return {
    clusters: obj('Cluster', 'c1', {
      paused: false,
      clusterNetwork: { pods: { cidrBlocks: ['10.244.0.0/16'] } },
      infrastructureRef: ref('SandboxCluster', 'c1'),
    }),
    machinedeployments: obj(
      'MachineDeployment',
      'md1',
      v2
        ? {
            ...group,
            replicas: 2,
            template,
            deletion: { order: 'Oldest' },
            rollout: { strategy: { type: 'RollingUpdate', rollingUpdate } },
            remediation: { maxInFlight: '50%' },
          }
        : {
            ...group,
            replicas: 2,
            template,
            minReadySeconds: 5,
            strategy: {
              type: 'RollingUpdate',
              rollingUpdate: { ...rollingUpdate, deletePolicy: 'Oldest' },
              remediation: { maxInFlight: '50%' },
            },
          },
    ),
    machinesets: obj('MachineSet', 'ms1', {
      ...group,
      replicas: 1,
      template,
      ...(v2 ? { deletion: { order: 'Newest' } } : { deletePolicy: 'Newest' }),
    }),
    machines: {
      ...obj('Machine', 'm1', {
        ...machineSpec,
        infrastructureRef: ref('SandboxMachine', 'm1'),
        providerID: 'sandbox://capi/m1',
      }),
      metadata: { name: 'm1', labels: { pool: 'a' } },
    },
    machinehealthchecks: obj(
      'MachineHealthCheck',
      'mhc1',
      v2
        ? {
            ...group,
            checks: { unhealthyNodeConditions: [{ type: 'Ready', status: 'Unknown', timeoutSeconds: 300 }] },
            remediation: { triggerIf: { unhealthyLessThanOrEqualTo: '40%' } },
          }
        : {
            ...group,
            unhealthyConditions: [{ type: 'Ready', status: 'Unknown', timeout: '5m' }],
            maxUnhealthy: '40%',
          },
    ),
  };
}

/** One status per kind in the version's own shape, including the other version's conditions. */
function statuses(v: Version): Record<string, unknown> {
  const v2 = v === 'v1beta2';
  // Non-empty messages: this sandbox's apiserver build decodes "" in a custom resource body as null.
  const metaCond = { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', lastTransitionTime: now };
  const capiCond = { type: 'Ready', status: 'False', severity: 'Warning', lastTransitionTime: now };
  const conds = v2
    ? { conditions: [metaCond], deprecated: { v1beta1: { conditions: [capiCond] } } }
    : { conditions: [capiCond], v1beta2: { conditions: [metaCond] } };
  const failure = { failureReason: 'CreateError', failureMessage: 'boom' };
  const machine = {
    phase: 'Running',
    addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
    deletion: { nodeDrainStartTime: now },
  };
  return {
    clusters: v2
      ? { ...conds, initialization: { infrastructureProvisioned: true, controlPlaneInitialized: true } }
      : { ...conds, infrastructureReady: true, controlPlaneReady: true },
    machinedeployments: { ...conds, replicas: 2, readyReplicas: 2, selector: 'pool=a', phase: 'Running' },
    machinesets: { ...conds, replicas: 1, readyReplicas: 1, selector: 'pool=a' },
    machines: v2
      ? {
          ...conds,
          ...machine,
          deprecated: { v1beta1: { conditions: [capiCond], ...failure } },
          initialization: { infrastructureProvisioned: true, bootstrapDataSecretCreated: true },
          nodeRef: { name: 'node-1' },
        }
      : {
          ...conds,
          ...machine,
          ...failure,
          bootstrapReady: true,
          infrastructureReady: true,
          nodeRef: { apiVersion: 'v1', kind: 'Node', name: 'node-1' },
        },
    machinehealthchecks: {
      ...conds,
      expectedMachines: 3,
      currentHealthy: 2,
      remediationsAllowed: 1,
      observedGeneration: 1,
      targets: ['m1'],
    },
  };
}

/** Sets (or, for undefined, deletes) the value at a dotted path. */
function setPath(o: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  const last = keys.pop() as string;
  const parent = keys.reduce((acc, k) => acc[k] as Record<string, unknown>, o);
  if (value === undefined) delete parent[last];
  else parent[last] = value;
}

/** Invalid objects: [what, resource, path, value (undefined: removed)]. */
function invalid(v: Version): Array<[string, string, string, unknown]> {
  const reserved = v === 'v1beta2' ? { timeoutSeconds: 1 } : { timeout: '1s' };
  const common: Array<[string, string, string, unknown]> = [
    ['a MachineDeployment without selector', 'machinedeployments', 'spec.selector', undefined],
    ['a Machine without infrastructureRef', 'machines', 'spec.infrastructureRef', undefined],
    ['a failureDomain over 256 characters', 'machines', 'spec.failureDomain', 'x'.repeat(257)],
    // No schema minimum upstream: the apiserver checks the scale subresource's specReplicasPath.
    ['negative replicas', 'machinesets', 'spec.replicas', -1],
    [
      'a reserved machine condition type (CEL upstream)',
      'machinehealthchecks',
      v === 'v1beta2' ? 'spec.checks.unhealthyMachineConditions' : 'spec.unhealthyMachineConditions',
      [{ type: 'Ready', status: 'False', ...reserved }],
    ],
  ];
  return v === 'v1beta2'
    ? [
        ...common,
        ['MachineSet deletion order Sideways', 'machinesets', 'spec.deletion.order', 'Sideways'],
        [
          'MachineDeployment deletion order Sideways',
          'machinedeployments',
          'spec.deletion.order',
          'Sideways',
        ],
        [
          'a template infrastructureRef without apiGroup',
          'machinedeployments',
          'spec.template.spec.infrastructureRef.apiGroup',
          undefined,
        ],
        [
          'an infrastructureRef with apiVersion instead of apiGroup',
          'machines',
          'spec.infrastructureRef',
          { apiVersion: `${INFRA}/v1alpha1`, kind: 'SandboxMachine', name: 'm1' },
        ],
        ['a negative nodeDrainTimeoutSeconds', 'machines', 'spec.deletion.nodeDrainTimeoutSeconds', -1],
        ['a negative minReadySeconds', 'machinesets', 'spec.template.spec.minReadySeconds', -1],
        ['rollout strategy Recreate', 'machinedeployments', 'spec.rollout.strategy.type', 'Recreate'],
        [
          'unhealthyInRange "1-3"',
          'machinehealthchecks',
          'spec.remediation.triggerIf',
          { unhealthyInRange: '1-3' },
        ],
        ['empty checks', 'machinehealthchecks', 'spec.checks', {}],
        ['a Cluster with an empty spec', 'clusters', 'spec', {}],
      ]
    : [
        ...common,
        ['MachineSet deletePolicy Sideways', 'machinesets', 'spec.deletePolicy', 'Sideways'],
        [
          'MachineDeployment deletePolicy Sideways',
          'machinedeployments',
          'spec.strategy.rollingUpdate.deletePolicy',
          'Sideways',
        ],
        ['strategy Recreate', 'machinedeployments', 'spec.strategy.type', 'Recreate'],
        ['unhealthyRange "[1-x]"', 'machinehealthchecks', 'spec.unhealthyRange', '[1-x]'],
      ];
}

let binaries: Binaries;
let minor: number;

describe.each(['v1beta2', 'v1beta1'] as const)('Cluster API %s CRDs on their own apiserver', (version) => {
  const other: Version = version === 'v1beta2' ? 'v1beta1' : 'v1beta2';
  let mgmt: ApiserverHandle;
  let api: Api;
  let dir: string;
  const base = (plural: string, group = 'cluster.x-k8s.io', v: string = version) =>
    `/apis/${group}/${v}/namespaces/${NS}/${plural}`;
  const patch = (path: string, body: unknown) => api.req('PATCH', path, body, 'application/merge-patch+json');
  const infra = (kind: string, name: string) => ({
    apiVersion: `${INFRA}/v1alpha1`,
    kind,
    metadata: { name },
  });

  beforeAll(async () => {
    const c = inject('cluster');
    binaries ??= await ensureBinaries({ quiet: true });
    minor ??= parseMinor((await run(binaries.path('kube-apiserver'), ['--version'])).stdout);
    dir = await mkdtemp(join(tmpdir(), `crds-${version}-`));
    const sa = serviceAccountKeyPair();
    await writeFile(join(dir, 'sa.key'), sa.privateKeyPem);
    await writeFile(join(dir, 'sa.pub'), sa.publicKeyPem);
    mgmt = await startApiserver({
      dir,
      name: `crds-${version}`,
      binaries,
      minor,
      etcdUrl: c.etcdUrl,
      etcdPrefix: `/${uniqueName(`crds-${version}`)}`,
      saPublicKey: join(dir, 'sa.pub'),
      saPrivateKey: join(dir, 'sa.key'),
      token: randomToken(),
      attached: true,
    });
    api = new Api(mgmt.server, mgmt.caPem, mgmt.token);
    await api.ok('POST', '/api/v1/namespaces', { metadata: { name: NS } });
    await installCrds(api, version);
  });

  afterAll(async () => {
    await mgmt?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`serves ${version} and the sandbox provider, and not ${other}`, async () => {
    expect((await api.req('GET', `/apis/cluster.x-k8s.io/${version}`)).status).toBe(200);
    expect((await api.req('GET', `/apis/cluster.x-k8s.io/${other}`)).status).toBe(404);
    const infra = await api.ok<{ resources: Array<{ name: string }> }>('GET', `/apis/${INFRA}/v1alpha1`);
    expect(infra.resources.map((r) => r.name)).toEqual(
      expect.arrayContaining(['sandboxmachines', 'sandboxmachines/status', 'sandboxmachinetemplates']),
    );
  });

  it('creates each kind, writes status through /status and reads both back unchanged', async () => {
    const objs = fixtures(version);
    const stat = statuses(version);
    for (const [plural, obj] of Object.entries(objs)) {
      const created = await api.ok<Obj>('POST', base(plural), obj);
      expect(created.spec, plural).toEqual(obj.spec);
      const patched = await api.mergePatch<Obj>(`${base(plural)}/${obj.metadata.name}/status`, {
        status: stat[plural],
      });
      expect(patched.status, plural).toEqual(stat[plural]);
      const read = await api.ok<Obj>('GET', `${base(plural)}/${obj.metadata.name}`);
      expect([read.spec, read.status], plural).toEqual([obj.spec, stat[plural]]);
    }
  });

  it('applies no schema defaults, as upstream (CAPI defaults replicas and timeouts by webhook)', async () => {
    const md = structuredClone(fixtures(version)['machinedeployments']) as Obj;
    md.metadata = { name: 'md-no-replicas' };
    setPath(md, 'spec.replicas', undefined);
    const created = await api.ok<{ spec: Record<string, unknown> }>('POST', base('machinedeployments'), md);
    expect(created.spec.replicas).toBeUndefined();
    const mhc = await api.ok<{
      spec: { checks?: { nodeStartupTimeoutSeconds?: number }; nodeStartupTimeout?: string };
    }>('GET', `${base('machinehealthchecks')}/mhc1`);
    expect(mhc.spec.checks?.nodeStartupTimeoutSeconds).toBeUndefined();
    expect(mhc.spec.nodeStartupTimeout).toBeUndefined();
  });

  it.each(invalid(version))('rejects %s with 422', async (_what, plural, path, value) => {
    const obj = structuredClone(fixtures(version)[plural]) as Obj;
    obj.metadata = { name: uniqueName('bad') };
    setPath(obj, path, value);
    const r = await api.req('POST', base(plural), obj);
    expect(r.status, r.text).toBe(422);
  });

  it('rejects an invalid status value with 422 (status is validated too)', async () => {
    const r = await patch(`${base('machines')}/m1/status`, { status: { phase: 'Exploding' } });
    expect(r.status, r.text).toBe(422);
  });

  it.each([
    ['machinedeployments', 'md1', 2],
    ['machinesets', 'ms1', 1],
  ])('scales %s/%s through /scale', async (plural, name, replicas) => {
    const path = `${base(plural)}/${name}`;
    const scale = await api.ok<object>('GET', `${path}/scale`);
    expect(scale).toMatchObject({
      kind: 'Scale',
      spec: { replicas },
      status: { replicas, selector: 'pool=a' },
    });
    for (const n of [5, 0]) {
      await api.mergePatch(`${path}/scale`, { spec: { replicas: n } });
      expect((await api.ok<{ spec: { replicas: number } }>('GET', path)).spec.replicas).toBe(n);
    }
    expect((await patch(`${path}/scale`, { spec: { replicas: -1 } })).status).toBe(422);
  });

  it('SandboxMachineTemplate: instance type defaults; capacity and nodeInfo through /status', async () => {
    const path = base('sandboxmachinetemplates', INFRA, 'v1alpha1');
    const instanceType = { name: 'sb.gpu', cpu: 8, memory: '32Gi', gpu: { count: 1 } };
    const created = await api.ok<{ spec: { template: { spec: { instanceType: object } } } }>('POST', path, {
      ...infra('SandboxMachineTemplate', 'gpu'),
      spec: { template: { spec: { instanceType } } },
    });
    expect(created.spec.template.spec.instanceType).toEqual({
      ...instanceType,
      gpu: { count: 1, type: 'nvidia.com/gpu' },
      maxPods: 110,
      architecture: 'amd64',
      operatingSystem: 'linux',
    });
    const capacity = {
      cpu: '8',
      memory: '32Gi',
      'ephemeral-storage': '100Gi',
      pods: '110',
      'nvidia.com/gpu': '1',
    };
    const status = { capacity, nodeInfo: { architecture: 'arm64', operatingSystem: 'linux' } };
    await api.mergePatch(`${path}/gpu/status`, { status });
    expect((await api.ok<{ status: unknown }>('GET', `${path}/gpu`)).status).toEqual(status);
    for (const bad of [
      { capacity: { memory: '500mb' } }, // the contract doc's own example is no quantity
      { nodeInfo: { architecture: 'sparc' } },
      { nodeInfo: { architecture: null, operatingSystem: null } }, // leaves {}: minProperties 1
    ]) {
      expect((await patch(`${path}/gpu/status`, { status: bad })).status, JSON.stringify(bad)).toBe(422);
    }
  });

  it('SandboxMachine: spec and status round-trip; an unknown taint effect is rejected', async () => {
    const path = base('sandboxmachines', INFRA, 'v1alpha1');
    const taint = { key: 'dedicated', value: 'batch', effect: 'NoSchedule' };
    const spec = {
      providerID: 'sandbox://capi/m1',
      failureDomain: 'zone-a',
      instanceType: {
        ...{ name: 'sb.small', cpu: '2', memory: '4Gi', ephemeralStorage: '20Gi', maxPods: 30 },
        ...{ architecture: 'arm64', operatingSystem: 'linux', taints: [taint] },
        labels: { 'node.kubernetes.io/instance-type': 'sb.small' },
      },
    };
    const created = await api.ok<{ spec: unknown }>('POST', path, { ...infra('SandboxMachine', 'm1'), spec });
    expect(created.spec).toEqual(spec);
    const status = {
      ready: true,
      initialization: { provisioned: true },
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Provisioned', message: 'ok', lastTransitionTime: now },
      ],
    };
    await api.mergePatch(`${path}/m1/status`, { status });
    expect((await api.ok<{ status: unknown }>('GET', `${path}/m1`)).status).toEqual(status);
    const bad = {
      ...spec,
      instanceType: { ...spec.instanceType, taints: [{ ...taint, effect: 'Sometimes' }] },
    };
    const r = await api.req('POST', path, { ...infra('SandboxMachine', 'm2'), spec: bad });
    expect(r.status, r.text).toBe(422);
  });

  it('kubectl finds the kinds by short name and prints our columns', async () => {
    const kubectl = [binaries.path('kubectl'), '--kubeconfig', mgmt.kubeconfigPath] as const;
    const { stdout } = await run(kubectl[0], [...kubectl.slice(1), 'get', 'md,ms,ma,mhc,cl', '-n', NS]);
    expect(stdout).toMatch(/NAME\s+CLUSTER\s+DESIRED\s+CURRENT\s+READY\s+AVAILABLE/);
    expect(stdout).toMatch(/machine\.cluster\.x-k8s\.io\/m1\s+c1\s+node-1\s+sandbox:\/\/capi\/m1/);
    expect(stdout).toContain('machinehealthcheck.cluster.x-k8s.io/mhc1');
    expect(stdout).toContain('cluster.cluster.x-k8s.io/c1');
  });

  it(`installing again is a no-op replace; installing ${other} over it is refused`, async () => {
    await installCrds(api, version, { timeoutMs: 30_000 });
    await expect(installCrds(api, other)).rejects.toThrow(
      new RegExp(`install Cluster API ${other} CRDs: .* already serves ${version}`),
    );
    // Nothing was touched: the CRD still serves only this version, and objects are still there.
    const crd = await api.ok<{ spec: { versions: Array<{ name: string; served: boolean }> } }>(
      'GET',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/machinedeployments.cluster.x-k8s.io',
    );
    expect(crd.spec.versions.map((v) => [v.name, v.served])).toEqual([[version, true]]);
    expect((await api.req('GET', `${base('machinedeployments')}/md1`)).status).toBe(200);
  });

  it('leaves both apiservers alive', async () => {
    expect(isPidAlive(mgmt.process.pid)).toBe(true);
    expect((await api.req('GET', '/readyz')).status).toBe(200);
    const main = inject('cluster');
    const pid = main.processes.find((p) => p.name.startsWith('kube-apiserver'))?.pid;
    expect(pid && isPidAlive(pid)).toBe(true);
    expect((await clusterApi().req('GET', '/readyz')).status).toBe(200);
  });
});
