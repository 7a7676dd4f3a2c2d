// Node groups for autoscaler tests. Every test file's service shares the one apiserver with the others,
// so each file scopes its service to its own groups: a discovery label (cluster-autoscaler's
// `clusterapi:key=value`) set on the groups it creates.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { inject } from 'vitest';
import { createAutoscaler } from '../../../src/autoscaler/controller.ts';
import { main } from '../../../src/cli.ts';
import { createScaleDown } from '../../../src/autoscaler/scaledown-controller.ts';
import { createMachineDeletion } from '../../../src/machines/controller.ts';
import { createLogger } from '../../../src/runtime/log.ts';
import { startService, type Service, type ServiceOptions } from '../../../src/service.ts';
import { createDeployment, fixtures, type Management } from './capi.ts';
import { serviceConfig } from './kube.ts';

export const POOL_LABEL = 'test.capi-autopilot.io/pool';
export const SUITE_LABEL = 'test.capi-autopilot.io/suite';

export const capiPath = (ns: string, r: string, name = '') =>
  `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/${r}${name ? `/${name}` : ''}`;

export const opted = (min: number, max: number | string) => ({
  'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': String(min),
  'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': String(max),
});

export function autoscalerSuite(env: { mgmt: Management }, suite: string) {
  /** The `--set` that scopes a service to this suite's groups. */
  const discovery = `discovery=clusterapi:${SUITE_LABEL}=${suite}`;

  /** Cluster c1 in a new namespace with md-a at 0, opted in with 4-CPU capacity annotations. */
  async function group(o: { max: number | string; annotations?: Record<string, string>; prefix?: string }) {
    return cluster({
      replicas: 0,
      prefix: o.prefix ?? 'as',
      annotations: { ...opted(0, o.max), ...o.annotations },
    });
  }

  /**
   * Cluster c1 in a new namespace with md-a at `replicas`, in this suite, with capacity annotations and
   * `annotations` (no min/max: not a node group until `optIn`), reachable through its kubeconfig Secret.
   */
  async function cluster(o: { replicas: number; prefix?: string; annotations?: Record<string, string> }) {
    const { ns, pool } = await createDeployment(env.mgmt, { replicas: o.replicas, prefix: o.prefix ?? 'as' });
    await env.mgmt.api.mergePatch(capiPath(ns, 'machinedeployments', 'md-a'), {
      metadata: {
        labels: { [SUITE_LABEL]: suite },
        annotations: { ...capacity(pool), ...o.annotations },
      },
    });
    // The service reaches the workload cluster through the Cluster's kubeconfig Secret, as with real CAPI.
    await env.mgmt.api.ok('POST', `/api/v1/namespaces/${ns}/secrets`, {
      metadata: { name: 'c1-kubeconfig', labels: { 'cluster.x-k8s.io/cluster-name': 'c1' } },
      type: 'cluster.x-k8s.io/secret',
      data: { value: Buffer.from(readFileSync(inject('cluster').kubeconfigPath)).toString('base64') },
    });
    return { ns, pool };
  }

  /** Makes `md` a node group with these bounds (cluster-autoscaler's annotations). */
  const optIn = (ns: string, md: string, min: number, max: number) =>
    env.mgmt.api.mergePatch(capiPath(ns, 'machinedeployments', md), {
      metadata: { annotations: opted(min, max) },
    });

  /** Another group `md` (with its own template) in the namespace of `group()`, opted in. */
  async function another(
    ns: string,
    pool: string,
    o: { md: string; max: number; cpu: string; annotations?: Record<string, string>; replicas?: number },
  ) {
    const f = fixtures('v1beta2', ns, { md: o.md, replicas: o.replicas ?? 0, pool, cpu: o.cpu });
    await env.mgmt.api.ok(
      'POST',
      `/apis/infrastructure.sandbox.capi-autopilot.io/v1alpha1/namespaces/${ns}/sandboxmachinetemplates`,
      f.template,
    );
    const meta = f.md.metadata as { labels?: Record<string, string>; annotations?: Record<string, string> };
    meta.labels = { ...meta.labels, [SUITE_LABEL]: suite };
    meta.annotations = {
      ...opted(0, o.max),
      ...capacity(pool),
      'capacity.cluster-autoscaler.kubernetes.io/cpu': o.cpu,
      ...o.annotations,
    };
    await env.mgmt.api.ok('POST', capiPath(ns, 'machinedeployments'), f.md);
  }

  const replicas = async (ns: string, md = 'md-a') =>
    (await env.mgmt.api.ok<{ spec: { replicas?: number } }>('GET', capiPath(ns, 'machinedeployments', md)))
      .spec.replicas;

  return { discovery, group, cluster, optIn, another, replicas };
}

function capacity(pool: string): Record<string, string> {
  return {
    'capacity.cluster-autoscaler.kubernetes.io/cpu': '4',
    'capacity.cluster-autoscaler.kubernetes.io/memory': '8Gi',
    'capacity.cluster-autoscaler.kubernetes.io/labels': `${POOL_LABEL}=${pool}`,
  };
}

/**
 * The service running only the autoscaler against this file's management cluster: workload clusters from
 * their kubeconfig Secrets, a 500 ms batch window and a 2 s scan interval unless `sets` say otherwise
 * (later sets win). Log lines go to `logs` when given (JSON), else nowhere.
 */
export function autoscalerService(
  env: { mgmt: Management },
  sets: string[],
  o: { logs?: string[]; scaleDown?: boolean } & Pick<ServiceOptions, 'dryRun'> = {},
): Promise<Service> {
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (o.logs?.push(c.toString()), cb()) });
  return startService({
    config: serviceConfig(
      env.mgmt.kubeconfigPath,
      'workloadClusters.mode=secret',
      'autoscaler.scaleUpBatchIdle=500ms',
      'autoscaler.scanIntervalSeconds=2',
      ...sets,
    ),
    log: createLogger({ level: o.logs ? 'info' : 'warn', format: 'json' }, sink),
    portOverride: 0,
    ...(o.dryRun ? { dryRun: true } : {}),
    // Scale-down (with the delete protocol and its recovery) only where a file asks for it.
    controllers: (e) => {
      const autoscaler = createAutoscaler(e);
      if (!o.scaleDown) return [autoscaler.controller];
      const deletion = createMachineDeletion(e);
      const scaleDown = createScaleDown(e, {
        deleter: deletion.deleter,
        lastScaleUp: autoscaler.lastScaleUp,
      });
      return [deletion.recovery, autoscaler.controller, scaleDown.controller];
    },
  });
}

/** `capi-autopilot explain` in-process against this file's management cluster, scoped to `discovery`. */
export async function explainCli(env: { mgmt: Management }, discovery: string, ...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    [
      'explain',
      '--kubeconfig',
      env.mgmt.kubeconfigPath,
      '--set',
      'workloadClusters.mode=secret',
      '--set',
      discovery,
      ...args,
    ],
    { out: (l) => out.push(l), err: (l) => err.push(l) },
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The value of the first sample of `capi_autopilot_<name>` whose labels contain `labels`. */
export async function metricValue(svc: Service, name: string, labels: string): Promise<number | undefined> {
  const line = (await svc.metrics.registry.metrics())
    .split('\n')
    .find((l) => l.startsWith(`capi_autopilot_${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}
