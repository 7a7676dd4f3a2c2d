// The kustomize manifests: rendered by the provisioned kubectl (1.20, built-in kustomize v2.0.3) and
// accepted by the sandbox apiserver in a server-side dry run; the Deployment carries what the issue
// asks of it (replicas and leader election, probes, limits, a locked-down security context).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { RestClient } from '../../src/sandbox/rest.ts';
import { runPiped } from './support/kube.ts';
import { render as renderManifests, type Obj as Manifest } from './support/rbac.ts';

type Obj = Manifest & { spec?: Record<string, unknown>; data?: Record<string, string> };
import { installMonitoringCrds } from './support/monitoring-crds.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

const kubectl = () => `${inject('cluster').binDir}/kubectl`;
const kubeconfig = () => inject('cluster').kubeconfigPath;

const render = async (dir: string) => {
  const r = await renderManifests(dir, kubectl());
  return { text: r.text, objs: r.objs as Obj[] };
};

/** `kubectl apply --dry-run=server` of `text` (stdin) or of `-k dir`. */
const dryRun = (args: string[], stdin?: string) =>
  runPiped(kubectl(), ['--kubeconfig', kubeconfig(), 'apply', '--dry-run=server', ...args], stdin);

const OVERLAYS = ['overlays/single-cluster', 'overlays/management', 'workload', 'overlays/monitoring'];

describe('deploy manifests', () => {
  let servesPolicyV1 = false;

  beforeAll(async () => {
    const c = inject('cluster');
    const api = new RestClient(c.server, c.caPem, c.token);
    // A dry run creates nothing, so the namespace its objects go to must exist for real.
    const r = await api.req('POST', '/api/v1/namespaces', { metadata: { name: 'capi-autopilot' } });
    if (r.status !== 201 && r.status !== 409) throw new Error(`namespace: ${r.status} ${r.text}`);
    await installMonitoringCrds(api);
    servesPolicyV1 = (await api.req('GET', '/apis/policy/v1')).status === 200;
  });

  it.each(OVERLAYS)('%s: the apiserver accepts it (server-side dry run)', async (dir) => {
    const { text, objs } = await render(dir);
    expect(objs.length).toBeGreaterThan(0);
    const pdb = objs.some((o) => o.kind === 'PodDisruptionBudget');
    if (servesPolicyV1 || !pdb) {
      const r = await dryRun(['-k', `${root}deploy/${dir}`]);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain('(server dry run)');
      return;
    }
    // Kubernetes 1.20 (the sandbox) predates policy/v1; the manifests target current clusters. The same
    // PodDisruptionBudget as policy/v1beta1 (identical fields) checks everything else against this server.
    const r = await dryRun(
      ['-f', '-'],
      text.replace(/^apiVersion: policy\/v1$/m, 'apiVersion: policy/v1beta1'),
    );
    expect(r.code, r.out).toBe(0);
    expect(r.out.match(/\(server dry run\)/g)?.length).toBe(objs.length);
  });

  it.each(['base/config.yaml', 'overlays/management/config.yaml'])(
    '%s: the service loads it (in-cluster, its leader election namespace from POD_NAMESPACE)',
    (file) => {
      const c = loadConfig({
        argv: ['--config', `${root}deploy/${file}`],
        env: { POD_NAMESPACE: 'capi-autopilot' },
        readFile: (p) => readFileSync(p, 'utf8'),
      });
      expect(c.management.inCluster).toBe(true);
      expect(c.leaderElection.namespace).toBe('capi-autopilot');
      expect(c.autoscaler.priorityExpanderNamespace).toBe('capi-autopilot');
    },
  );

  it("Cluster API's manager gets access to our remediation kinds (companion mode)", async () => {
    const { objs } = await render('base');
    const role = objs.find(
      (o) => o.kind === 'ClusterRole' && o.metadata.name === 'capi-autopilot-capi-manager',
    ) as
      | (Obj & {
          metadata: { labels?: Record<string, string> };
          rules: Array<{ resources: string[]; verbs: string[] }>;
        })
      | undefined;
    // CAPI's manager ClusterRole aggregates ClusterRoles with this label.
    expect(role?.metadata.labels?.['cluster.x-k8s.io/aggregate-to-manager']).toBe('true');
    const verbs = (r: string) => role!.rules.filter((x) => x.resources?.includes(r)).flatMap((x) => x.verbs);
    expect(verbs('autopilotremediationtemplates')).toContain('get');
    expect(verbs('autopilotremediations')).toEqual(expect.arrayContaining(['create', 'delete', 'get']));
  });

  it('the Deployment: 2 replicas, leader election, probes, limits, non-root, read-only root, no escalation, seccomp', async () => {
    for (const dir of ['overlays/single-cluster', 'overlays/management']) {
      const { objs } = await render(dir);
      const d = objs.find((o) => o.kind === 'Deployment') as unknown as {
        spec: {
          replicas: number;
          template: {
            spec: {
              serviceAccountName: string;
              securityContext: Record<string, unknown>;
              containers: Array<{
                args: string[];
                env: Array<{ name: string; valueFrom?: unknown }>;
                livenessProbe: { httpGet: { path: string } };
                readinessProbe: { httpGet: { path: string } };
                resources: { requests: Record<string, string>; limits: Record<string, string> };
                securityContext: Record<string, unknown>;
              }>;
              volumes: Array<{ configMap?: { name: string } }>;
            };
          };
        };
      };
      const pod = d.spec.template.spec;
      const c = pod.containers[0]!;
      expect(d.spec.replicas).toBe(2);
      expect(pod.serviceAccountName).toBe('capi-autopilot');
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(Object.keys(c.resources.requests).sort()).toEqual(['cpu', 'memory']);
      expect(Object.keys(c.resources.limits).sort()).toEqual(['cpu', 'memory']);
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom).toBeDefined();
      // The configuration the container reads is the one the overlay generated (name with its hash).
      const cm = objs.find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('capi-autopilot-config-'),
      )!;
      expect(pod.volumes.some((v) => v.configMap?.name === cm.metadata.name)).toBe(true);
      expect(c.args).toEqual(['run', '--config', '/etc/capi-autopilot/config.yaml']);
      const mode = dir.endsWith('management') ? 'secret' : 'same';
      expect(cm.data!['config.yaml']).toMatch(new RegExp(`mode: ${mode}$`, 'm'));
    }
  });
});
