// The shipped RBAC, proven by running under it. A sandbox of its own: a workload cluster (apiserver,
// controller-manager, scheduler) and a management apiserver, both writing an audit log of what the
// service's ServiceAccounts do. The service runs as a process with the ServiceAccount of
// deploy/overlays/management (token from the TokenRequest API) and reaches the workload cluster through
// the Cluster's kubeconfig Secret holding the token of deploy/workload's ServiceAccount (from its
// service-account-token Secret). Through the demo: scale from zero, a scale-down with a drain, a
// remediation (reboot, then reprovision). Then, from the audit logs: no request refused; every grant of
// every rule used; and for each rule, the real authorizer (SubjectAccessReview) refuses some request the
// service made to a user holding the roles without that rule, so removing any one rule breaks this test.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapiSimulator } from '../../src/sandbox/capi-sim/simulator.ts';
import { startCluster, type Cluster } from '../../src/sandbox/cluster.ts';
import { installCrds } from '../../src/sandbox/crds.ts';
import { DEMO_NAMESPACE, DEMO_WORKLOAD_NAMESPACE, demoObjects } from '../../src/sandbox/demo.ts';
import { freePort } from '../../src/sandbox/ports.ts';
import { RestClient } from '../../src/sandbox/rest.ts';
import { httpGet } from '../../src/sandbox/wait.ts';
import {
  analyse,
  auditedRequests,
  grantKey,
  grantsOf,
  ruleId,
  type AuditedRequest,
  type BoundRole,
} from '../support/rbac-audit.ts';
import { eventually, uniqueName, untilLeading } from './support/kube.ts';
import {
  applyAsAdmin,
  bindAllRulesBut,
  boundRoles,
  RBAC_KINDS,
  render,
  subjectAccess,
  tokenKubeconfig,
  type Obj,
} from './support/rbac.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const NS = 'capi-autopilot';
const SA_USER = `system:serviceaccount:${NS}:capi-autopilot`;
const CAPI = `/apis/cluster.x-k8s.io/v1beta2/namespaces/${DEMO_NAMESPACE}`;
/**
 * Grants the demo does not exercise, each with the code that needs it (checked to be still there): a
 * grant whose code is gone fails here, and so does a role without a grant one of these needs.
 */
const CODE_PATHS: Array<{ grant: string; file: string; uses: RegExp; why: string }> = [
  {
    grant: 'ClusterRole/capi-autopilot-management: get infrastructure.cluster.x-k8s.io/*',
    file: 'src/autoscaler/io.ts',
    uses: /getOrNull\(kindPath\(version, g\.namespace, ref\.kind, ref\.name\)\)/,
    why: "real providers' infrastructure templates (the sandbox provider's group takes the same path)",
  },
  ...['get', 'patch'].map((verb) => ({
    grant: `ClusterRole/capi-autopilot-management: ${verb} cluster.x-k8s.io/machinesets`,
    file: 'src/machines/snapshot.ts',
    uses: /g\.kind === 'MachineDeployment' \? 'machinedeployments' : 'machinesets'/,
    why: 'node groups that are MachineSets (the demo has MachineDeployments only)',
  })),
  ...['management', 'workload'].map((c) => ({
    grant: `ClusterRole/capi-autopilot-${c}: patch core/events`,
    file: 'src/kube/events.ts',
    uses: /mergePatch\(\s*`\/api\/v1\/namespaces\/\$\{encodeURIComponent\(seen\.namespace\)\}\/events\//,
    why: 'the same event again within 10 minutes (its count)',
  })),
  {
    grant: 'ClusterRole/capi-autopilot-workload: delete core/pods',
    file: 'src/drain/drainer.ts',
    uses: /private async deletePod\([^]*?this\.d\.client\.delete\(path/,
    why: 'finished pods on a drained node',
  },
];
const exempt = new Set(CODE_PATHS.map((c) => c.grant));

interface Machine {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  status?: { phase?: string; nodeRef?: { name: string } };
}
interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status?: { phase?: string };
}

describe('shipped RBAC: the service under its own ServiceAccounts', () => {
  let dir: string;
  let cluster: Cluster;
  let mgmtServer: Awaited<ReturnType<Cluster['startApiserver']>>;
  let mgmt: RestClient;
  let workload: RestClient;
  let sim: CapiSimulator;
  let child: ReturnType<typeof spawn> | undefined;
  let port: number;
  let output = '';
  let managementObjs: Obj[];
  let workloadObjs: Obj[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rbac-'));
    // Metadata of every request by the service's accounts, nothing else.
    const policy = join(dir, 'audit-policy.json');
    await writeFile(
      policy,
      JSON.stringify({
        apiVersion: 'audit.k8s.io/v1',
        kind: 'Policy',
        omitStages: ['RequestReceived'],
        rules: [{ level: 'Metadata', userGroups: [`system:serviceaccounts:${NS}`] }, { level: 'None' }],
      }),
    );
    cluster = await startCluster({
      name: uniqueName('rbac'),
      quiet: true,
      apiserverArgs: (name) => [
        `--audit-policy-file=${policy}`,
        `--audit-log-path=${join(dir, `audit-${name}.log`)}`,
      ],
    });
    workload = new RestClient(cluster.apiserver.server, cluster.apiserver.caPem, cluster.apiserver.token);
    mgmtServer = await cluster.startApiserver('mgmt', `/${uniqueName('mgmt')}`);
    mgmt = new RestClient(mgmtServer.server, mgmtServer.caPem, mgmtServer.token);
    await installCrds(mgmt, 'v1beta2');

    const kubectl = join(cluster.binaries.dir, 'kubectl');
    managementObjs = (await render('overlays/management', kubectl)).objs;
    workloadObjs = (await render('workload', kubectl)).objs;
    await applyAsAdmin(
      mgmt,
      managementObjs.filter((o) => RBAC_KINDS.has(o.kind)),
    );
    await applyAsAdmin(workload, workloadObjs);

    // The demo, split as CAPI would have it: CAPI objects in management, workloads in the workload cluster.
    for (const o of demoObjects('v1beta2')) {
      // Web runs on general nodes only (so the node scale-down removes has a pod to evict), and its pods
      // leave a drained node at once (the hollow kubelet honours the grace period).
      if ((o.body.metadata as { name: string }).name === 'web')
        Object.assign((o.body as { spec: { template: { spec: object } } }).spec.template.spec, {
          nodeSelector: { 'sandbox.capi-autopilot.io/pool': 'general' },
          terminationGracePeriodSeconds: 1,
        });
      const inWorkload =
        o.path.startsWith('/apis/apps/') ||
        (o.path === '/api/v1/namespaces' &&
          (o.body.metadata as { name: string }).name === DEMO_WORKLOAD_NAMESPACE);
      await (inWorkload ? workload : mgmt).ok('POST', o.path, o.body);
    }
    // A DaemonSet, whose pods a drain checks against their DaemonSet.
    await workload.ok('POST', `/apis/apps/v1/namespaces/${DEMO_WORKLOAD_NAMESPACE}/daemonsets`, {
      metadata: { name: 'node-agent' },
      spec: {
        selector: { matchLabels: { app: 'node-agent' } },
        template: {
          metadata: { labels: { app: 'node-agent' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              { name: 'a', image: 'registry.invalid/agent', resources: { requests: { cpu: '10m' } } },
            ],
          },
        },
      },
    });
    // Faster health checking than the demo's minutes: Ready not True for 2 s is unhealthy; a reboot gets 5 s.
    await mgmt.mergePatch(`${CAPI}/machinehealthchecks/demo-nodes`, {
      spec: {
        checks: {
          unhealthyNodeConditions: ['False', 'Unknown'].map((status) => ({
            type: 'Ready',
            status,
            timeoutSeconds: 2,
          })),
        },
      },
    });
    await mgmt.mergePatch(
      `/apis/remediation.capi-autopilot.io/v1alpha1/namespaces/${DEMO_NAMESPACE}/autopilotremediationtemplates/reboot-then-reprovision`,
      {
        spec: {
          template: {
            spec: {
              steps: [
                { action: 'Reboot', timeout: '5s' },
                { action: 'Reprovision', timeout: '3m' },
              ],
            },
          },
        },
      },
    );
    // The priority expander's ConfigMap, where the shipped Role lets the service read it.
    await mgmt.ok('POST', `/api/v1/namespaces/${NS}/configmaps`, {
      metadata: { name: 'cluster-autoscaler-priority-expander' },
      data: { priorities: '10:\n  - .*\n' },
    });

    // Credentials: the management account's from the TokenRequest API; the workload account's from the
    // token Secret deploy/workload ships, in the Cluster's kubeconfig Secret.
    const { status } = await mgmt.ok<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${NS}/serviceaccounts/capi-autopilot/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    );
    const mgmtKubeconfig = join(dir, 'management.kubeconfig');
    await writeFile(mgmtKubeconfig, tokenKubeconfig(mgmtServer.server, mgmtServer.caPem, status.token));
    const workloadToken = await eventually('the workload token Secret to be filled', async () => {
      const s = await workload.ok<{ data?: { token?: string } }>(
        'GET',
        `/api/v1/namespaces/${NS}/secrets/capi-autopilot-token`,
      );
      return s.data?.token && Buffer.from(s.data.token, 'base64').toString();
    });
    // CAPI's admin kubeconfig is there too, as in a real management cluster; the service is told to use
    // the least-privilege one (workloadClusters.secretSuffix), which the audit log then shows it did.
    const admin = cluster.apiserver;
    await mgmt.ok('POST', `/api/v1/namespaces/${DEMO_NAMESPACE}/secrets`, {
      metadata: { name: 'demo-kubeconfig', labels: { 'cluster.x-k8s.io/cluster-name': 'demo' } },
      type: 'cluster.x-k8s.io/secret',
      data: {
        value: Buffer.from(tokenKubeconfig(admin.server, admin.caPem, admin.token)).toString('base64'),
      },
    });
    await mgmt.ok('POST', `/api/v1/namespaces/${DEMO_NAMESPACE}/secrets`, {
      metadata: { name: 'demo-autopilot-kubeconfig', labels: { 'cluster.x-k8s.io/cluster-name': 'demo' } },
      type: 'cluster.x-k8s.io/secret',
      data: {
        value: Buffer.from(
          tokenKubeconfig(cluster.apiserver.server, cluster.apiserver.caPem, workloadToken),
        ).toString('base64'),
      },
    });

    sim = await CapiSimulator.start({
      management: mgmt,
      workload,
      version: 'v1beta2',
      name: uniqueName('sim'),
      provisioningDelayMs: 300,
      joinDelayMs: 100,
      heartbeatMs: 2000,
      podTerminationScale: 1,
      log: () => {},
    });

    port = await freePort();
    child = spawn(
      process.execPath,
      [
        join(root, 'bin/capi-autopilot.js'),
        'run',
        '--kubeconfig',
        mgmtKubeconfig,
        '--port',
        String(port),
        ...[
          'server.bindAddress=127.0.0.1',
          `leaderElection.namespace=${NS}`,
          'workloadClusters.mode=secret',
          'workloadClusters.secretSuffix=-autopilot-kubeconfig',
          'remediation.mode=standalone',
          'autoscaler.expander=priority',
          `autoscaler.priorityExpanderNamespace=${NS}`,
          'autoscaler.scaleUpBatchIdle=500ms',
          'autoscaler.scanIntervalSeconds=1',
          'autoscaler.scaleDownUnneededTime=3s',
          'autoscaler.scaleDownDelayAfterAdd=0s',
          'autoscaler.scaleDownDelayAfterDelete=0s',
          'autoscaler.scaleDownDelayAfterFailure=2s',
          'drain.volumeDetachTimeout=2s',
          'log.format=json',
        ].flatMap((s) => ['--set', s]),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' } },
    );
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await untilLeading(port);
  }, 240_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    // RBAC_LOG=<file> keeps the service's log for debugging.
    if (process.env.RBAC_LOG) await writeFile(process.env.RBAC_LOG, output);
    await sim?.stop();
    await mgmtServer?.stop();
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const machines = async (md: string) =>
    (
      await mgmt.ok<{ items: Machine[] }>(
        'GET',
        `${CAPI}/machines?labelSelector=cluster.x-k8s.io%2Fdeployment-name%3D${md}`,
      )
    ).items;
  const replicas = async (md: string) =>
    (await mgmt.ok<{ spec: { replicas: number } }>('GET', `${CAPI}/machinedeployments/${md}`)).spec.replicas;
  const pods = async (app: string) =>
    (
      await workload.ok<{ items: Pod[] }>(
        'GET',
        `/api/v1/namespaces/${DEMO_WORKLOAD_NAMESPACE}/pods?labelSelector=app%3D${app}`,
      )
    ).items.filter((p) => !p.metadata.deletionTimestamp);
  /** Evictions the service made so far, from the workload cluster's audit log. */
  const workloadEvictions = async () =>
    auditedRequests(await readFile(join(dir, 'audit-main.log'), 'utf8'), SA_USER).filter(
      (r) => r.resource === 'pods/eviction' && r.verb === 'create' && r.code === 201,
    );
  const running = (ps: Pod[]) => ps.filter((p) => p.status?.phase === 'Running' && p.spec.nodeName);

  it(
    'scales the demo from zero: general nodes for web, a GPU node for the trainer',
    { timeout: 180_000 },
    async () => {
      await eventually(
        '4 web pods and the trainer running',
        async () => {
          return running(await pods('web')).length === 4 && running(await pods('trainer')).length === 1;
        },
        150_000,
      );
      expect(await replicas('md-general')).toBe(2);
      expect(await replicas('md-gpu')).toBe(1);
    },
  );

  it(
    'scales down with a drain: a node with a web pod is drained (eviction) and its Machine deleted',
    { timeout: 180_000 },
    async () => {
      const minSize = 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size';
      const maxSize = 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size';
      // Exactly two nodes while two web pods are spread over them (a pod deleted to spread them must not
      // scale the group up), so the one node removed has a pod to evict.
      await mgmt.mergePatch(`${CAPI}/machinedeployments/md-general`, {
        metadata: { annotations: { [minSize]: '2', [maxSize]: '2' } },
      });
      await workload.mergePatch(`/apis/apps/v1/namespaces/${DEMO_WORKLOAD_NAMESPACE}/deployments/web`, {
        spec: { replicas: 2 },
      });
      await eventually(
        'two web pods on two nodes',
        async () => {
          const ps = running(await pods('web'));
          if (ps.length !== 2) return false;
          if (ps[0]!.spec.nodeName !== ps[1]!.spec.nodeName) return true;
          await workload.req(
            'DELETE',
            `/api/v1/namespaces/${DEMO_WORKLOAD_NAMESPACE}/pods/${ps[0]!.metadata.name}`,
          );
          return false;
        },
        60_000,
      );
      // A volume attached to each general node: after the drain the service waits for it to detach
      // (drain.volumeDetachTimeout, 2 s here), then goes on deleting, as CAPI does.
      for (const m of await machines('md-general')) {
        const name = `va-${m.status!.nodeRef!.name}`;
        await workload.ok('POST', '/apis/storage.k8s.io/v1/volumeattachments', {
          metadata: { name },
          spec: {
            attacher: 'csi.example.com',
            nodeName: m.status!.nodeRef!.name,
            source: { persistentVolumeName: `pv-${m.metadata.name}` },
          },
        });
        await workload.mergePatch(`/apis/storage.k8s.io/v1/volumeattachments/${name}/status`, {
          status: { attached: true },
        });
      }
      expect((await machines('md-general')).length).toBe(2);
      await mgmt.mergePatch(`${CAPI}/machinedeployments/md-general`, {
        metadata: { annotations: { [minSize]: '0' } },
      });
      await eventually(
        'md-general down to one Machine',
        async () => (await replicas('md-general')) === 1 && (await machines('md-general')).length === 1,
        120_000,
      );
      await eventually(
        'both web pods running on the remaining node',
        async () => {
          const ps = running(await pods('web'));
          return ps.length === 2 && new Set(ps.map((p) => p.spec.nodeName)).size === 1;
        },
        60_000,
      );
      expect((await workloadEvictions()).length).toBeGreaterThan(0);
      const metrics = (await httpGet(`http://127.0.0.1:${port}/metrics`)).body;
      expect(metrics).toMatch(
        /^capi_autopilot_volume_detach_duration_seconds_count\{[^}]*result="timed_out"[^}]*\} [1-9]/m,
      );
    },
  );

  it(
    'remediates: a NotReady GPU node is rebooted and healthy again; its request is deleted',
    { timeout: 120_000 },
    async () => {
      const [m] = await machines('md-gpu');
      const requestPath = `/apis/remediation.capi-autopilot.io/v1alpha1/namespaces/${DEMO_NAMESPACE}/autopilotremediations/${m!.metadata.name}`;
      await sim.setNodeCondition(m!.status!.nodeRef!.name, 'Ready', 'False', 'KubeletNotReady');
      await eventually(
        'a remediation request for it',
        async () => (await mgmt.req('GET', requestPath)).status === 200,
        60_000,
      );
      await eventually(
        'the request deleted once the reboot healed it',
        async () => (await mgmt.req('GET', requestPath)).status === 404,
        60_000,
      );
      expect((await machines('md-gpu')).map((x) => x.metadata.uid)).toEqual([m!.metadata.uid]);
    },
  );

  it('remediates: a NotReady system node is rebooted, then reprovisioned', { timeout: 180_000 }, async () => {
    const [m] = await machines('md-system');
    expect(m?.status?.nodeRef).toBeDefined();
    await sim.setMachineFault(DEMO_NAMESPACE, m!.metadata.name, 'rebootDoesNotHelp');
    await sim.setNodeCondition(m!.status!.nodeRef!.name, 'Ready', 'False', 'KubeletNotReady');
    await eventually(
      'a new system Machine running in place of the old one',
      async () => {
        const l = await machines('md-system');
        return (
          !l.some((x) => x.metadata.uid === m!.metadata.uid) &&
          l.length === 1 &&
          l[0]!.status?.phase === 'Running'
        );
      },
      150_000,
    );
  });

  describe('from the audit logs', () => {
    const reports = {} as Record<
      'management' | 'workload',
      { roles: BoundRole[]; requests: AuditedRequest[]; api: () => RestClient }
    >;

    beforeAll(async () => {
      // Stopping the service ends its watches, so they are in the logs too.
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      for (const [name, file, objs, api] of [
        ['management', 'audit-mgmt.log', managementObjs, () => mgmt],
        ['workload', 'audit-main.log', workloadObjs, () => workload],
      ] as const) {
        const log = await readFile(join(dir, file), 'utf8');
        reports[name] = {
          roles: boundRoles(objs, NS, 'capi-autopilot'),
          requests: auditedRequests(log, SA_USER),
          api,
        };
      }
    }, 60_000);

    it.each(['management', 'workload'] as const)('%s: no request was refused', (name) => {
      const { requests } = reports[name];
      expect(requests.length).toBeGreaterThan(20);
      const denied = requests.filter((r) => !r.allowed).map((r) => `${r.verb} ${r.uri} → ${r.code}`);
      expect(
        denied,
        output
          .split('\n')
          .filter((l) => l.includes('403'))
          .slice(0, 5)
          .join('\n'),
      ).toEqual([]);
    });

    it.each(['management', 'workload'] as const)('%s: every grant is used', (name) => {
      const { roles, requests } = reports[name];
      const unused = analyse(roles, requests)
        .unused.map((g) =>
          grantKey({ ...g, role: `${roles.find((r) => r.name === g.role)!.kind}/${g.role}` }),
        )
        .filter((k) => !exempt.has(k));
      expect(unused).toEqual([]);
    });

    it('the grants the demo does not exercise are in the roles, and the code needing them is still there', () => {
      const granted = new Set(
        Object.values(reports).flatMap(({ roles }) =>
          roles.flatMap((role) =>
            grantsOf(role).map((g) => grantKey({ ...g, role: `${role.kind}/${role.name}` })),
          ),
        ),
      );
      for (const c of CODE_PATHS) {
        expect(granted.has(c.grant), `${c.grant} (${c.why})`).toBe(true);
        expect(readFileSync(join(root, c.file), 'utf8'), `${c.file} no longer needs ${c.grant}`).toMatch(
          c.uses,
        );
      }
    });

    it.each(['management', 'workload'] as const)(
      '%s: without any one rule, the authorizer refuses a request the service made',
      { timeout: 60_000 },
      async (name) => {
        const { roles, requests, api } = reports[name];
        const report = analyse(roles, requests);
        const sar = (user: string, r: AuditedRequest) => subjectAccess(api(), user, r);
        // The real authorizer agrees with the audit log for the account itself.
        const distinct = new Map(
          requests
            .filter((r) => r.allowed)
            .map((r) => [`${r.verb} ${r.apiGroup} ${r.resource} ${r.namespace} ${r.name}`, r]),
        );
        for (const r of distinct.values()) expect(await sar(SA_USER, r), `${r.verb} ${r.uri}`).toBe(true);

        const missing: string[] = [];
        const probes: Array<{ user: string; rule: string; requests: AuditedRequest[] }> = [];
        let k = 0;
        for (const role of roles) {
          for (let i = 0; i < role.rules.length; i++) {
            const id = ruleId(role, i);
            const only = report.onlyBy.get(id) ?? [];
            if (only.length === 0) {
              // Only a rule whose every grant is a listed code path may go unexercised here.
              const grants = grantsOf({ ...role, rules: [role.rules[i]!] }).map((g) =>
                grantKey({ ...g, role: `${role.kind}/${role.name}` }),
              );
              if (!grants.every((g) => exempt.has(g))) missing.push(id);
              continue;
            }
            // A user holding every role, with this one rule taken out of its role.
            const user = `probe-${name}-${k++}`;
            await bindAllRulesBut(api(), roles, role, i, user);
            probes.push({ user, rule: `${id} ${JSON.stringify(role.rules[i])}`, requests: only.slice(0, 3) });
          }
        }
        expect(missing, 'rules no request needed').toEqual([]);
        for (const p of probes) {
          // The probe's own bindings must be in effect: an unchanged grant of some other rule is allowed.
          const control = requests.find(
            (r) =>
              r.allowed && !p.requests.includes(r) && !report.onlyBy.get(p.rule.split(' ')[0]!)?.includes(r),
          );
          if (control)
            await eventually(`${p.user}'s bindings to take effect`, () => sar(p.user, control), 20_000);
          const refused = [];
          for (const r of p.requests) if (!(await sar(p.user, r))) refused.push(r);
          expect(
            refused.length,
            `without ${p.rule}: ${p.requests.map((r) => `${r.verb} ${r.uri}`).join(', ')}`,
          ).toBeGreaterThan(0);
        }
      },
    );
  });
});
