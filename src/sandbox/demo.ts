// The sandbox demo: a Cluster with an always-on system MachineDeployment and two autoscalable ones at
// zero (general purpose with cluster-autoscaler capacity annotations; GPU, tainted, described by its
// template's status.capacity and a taints annotation), plus workloads that cannot schedule until something scales up,
// and a MachineHealthCheck with an escalating remediation template over all of its Machines.
import type { CapiVersion } from '../capi/types.ts';
import { REMEDIATION_API_VERSION, TEMPLATE_KIND } from '../remediation/contract.ts';
import type { RestClient } from './rest.ts';

export const DEMO_NAMESPACE = 'capi-demo';
export const DEMO_WORKLOAD_NAMESPACE = 'demo-apps';
const INFRA = 'infrastructure.sandbox.capi-autopilot.io';

function infraRef(version: CapiVersion, name: string) {
  return version === 'v1beta2'
    ? { apiGroup: INFRA, kind: 'SandboxMachineTemplate', name }
    : { apiVersion: `${INFRA}/v1alpha1`, kind: 'SandboxMachineTemplate', name, namespace: DEMO_NAMESPACE };
}

function template(name: string, instanceType: Record<string, unknown>) {
  return {
    apiVersion: `${INFRA}/v1alpha1`,
    kind: 'SandboxMachineTemplate',
    metadata: { name, namespace: DEMO_NAMESPACE },
    spec: { template: { spec: { instanceType } } },
  };
}

function machineDeployment(
  version: CapiVersion,
  name: string,
  replicas: number,
  annotations: Record<string, string>,
) {
  return {
    apiVersion: `cluster.x-k8s.io/${version}`,
    kind: 'MachineDeployment',
    metadata: { name, namespace: DEMO_NAMESPACE, annotations },
    spec: {
      clusterName: 'demo',
      replicas,
      selector: { matchLabels: { 'cluster.x-k8s.io/deployment-name': name } },
      template: {
        metadata: { labels: { 'cluster.x-k8s.io/deployment-name': name } },
        spec: {
          clusterName: 'demo',
          version: 'v1.20.2',
          bootstrap: { dataSecretName: `${name}-bootstrap` },
          infrastructureRef: infraRef(version, name),
        },
      },
    },
  };
}

const autoscaled = (min: number, max: number) => ({
  'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': String(min),
  'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': String(max),
});

/**
 * Health checking for every demo Machine: Ready not True for 1 min is unhealthy; remediation reboots
 * (the simulator's reboot hook), then reprovisions; more than 40 % unhealthy stops it.
 */
function healthCheck(version: CapiVersion) {
  const unhealthy = ['False', 'Unknown'];
  const selector = {
    matchExpressions: [{ key: 'cluster.x-k8s.io/deployment-name', operator: 'Exists' }],
  };
  const templateRef = {
    apiVersion: REMEDIATION_API_VERSION,
    kind: TEMPLATE_KIND,
    name: 'reboot-then-reprovision',
  };
  const spec =
    version === 'v1beta2'
      ? {
          clusterName: 'demo',
          selector,
          checks: {
            nodeStartupTimeoutSeconds: 600,
            unhealthyNodeConditions: unhealthy.map((status) => ({
              type: 'Ready',
              status,
              timeoutSeconds: 60,
            })),
          },
          remediation: { triggerIf: { unhealthyLessThanOrEqualTo: '40%' }, templateRef },
        }
      : {
          clusterName: 'demo',
          selector,
          nodeStartupTimeout: '10m',
          unhealthyConditions: unhealthy.map((status) => ({ type: 'Ready', status, timeout: '60s' })),
          maxUnhealthy: '40%',
          remediationTemplate: { ...templateRef, namespace: DEMO_NAMESPACE },
        };
  return {
    apiVersion: `cluster.x-k8s.io/${version}`,
    kind: 'MachineHealthCheck',
    metadata: { name: 'demo-nodes', namespace: DEMO_NAMESPACE },
    spec,
  };
}

export function demoObjects(version: CapiVersion): Array<{ path: string; body: Record<string, unknown> }> {
  const capi = (r: string) => `/apis/cluster.x-k8s.io/${version}/namespaces/${DEMO_NAMESPACE}/${r}`;
  const infra = `/apis/${INFRA}/v1alpha1/namespaces/${DEMO_NAMESPACE}/sandboxmachinetemplates`;
  const ns = (name: string) => ({ path: '/api/v1/namespaces', body: { metadata: { name } } });
  return [
    ns(DEMO_NAMESPACE),
    ns(DEMO_WORKLOAD_NAMESPACE),
    {
      path: capi('clusters'),
      body: {
        apiVersion: `cluster.x-k8s.io/${version}`,
        kind: 'Cluster',
        metadata: { name: 'demo', namespace: DEMO_NAMESPACE },
        spec: { paused: false },
      },
    },
    {
      path: infra,
      body: template('md-system', { name: 'sandbox.small', cpu: '2', memory: '4Gi', maxPods: 110 }),
    },
    {
      path: infra,
      body: template('md-general', {
        name: 'sandbox.xlarge',
        cpu: '4',
        memory: '16Gi',
        ephemeralStorage: '100Gi',
        maxPods: 110,
        labels: { 'sandbox.capi-autopilot.io/pool': 'general' },
      }),
    },
    {
      path: infra,
      body: template('md-gpu', {
        name: 'sandbox.gpu',
        cpu: '8',
        memory: '32Gi',
        maxPods: 110,
        gpu: { count: 1, type: 'nvidia.com/gpu' },
        labels: { 'sandbox.capi-autopilot.io/pool': 'gpu' },
        taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }],
      }),
    },
    { path: capi('machinedeployments'), body: machineDeployment(version, 'md-system', 1, {}) },
    {
      path: capi('machinedeployments'),
      body: machineDeployment(version, 'md-general', 0, {
        ...autoscaled(0, 5),
        // Scale from zero from annotations (cluster-autoscaler's names); these win over the template status.
        'capacity.cluster-autoscaler.kubernetes.io/cpu': '4',
        'capacity.cluster-autoscaler.kubernetes.io/memory': '16Gi',
        'capacity.cluster-autoscaler.kubernetes.io/ephemeral-disk': '100Gi',
        'capacity.cluster-autoscaler.kubernetes.io/maxPods': '110',
        'capacity.cluster-autoscaler.kubernetes.io/labels': 'sandbox.capi-autopilot.io/pool=general',
      }),
    },
    // Scale from zero from the infrastructure template's status.capacity; the contract's status has no
    // taints, so they come from cluster-autoscaler's annotation (without it, pods that do not tolerate the
    // GPU taint would be planned onto GPU nodes, by cluster-autoscaler too).
    {
      path: capi('machinedeployments'),
      body: machineDeployment(version, 'md-gpu', 0, {
        ...autoscaled(0, 2),
        'capacity.cluster-autoscaler.kubernetes.io/taints': 'nvidia.com/gpu=present:NoSchedule',
      }),
    },
    {
      path: `/apis/${REMEDIATION_API_VERSION}/namespaces/${DEMO_NAMESPACE}/autopilotremediationtemplates`,
      body: {
        apiVersion: REMEDIATION_API_VERSION,
        kind: TEMPLATE_KIND,
        metadata: { name: 'reboot-then-reprovision', namespace: DEMO_NAMESPACE },
        spec: {
          template: {
            spec: {
              steps: [
                { action: 'Reboot', timeout: '3m' },
                { action: 'Reprovision', timeout: '15m' },
              ],
            },
          },
        },
      },
    },
    { path: capi('machinehealthchecks'), body: healthCheck(version) },
    {
      path: `/apis/apps/v1/namespaces/${DEMO_WORKLOAD_NAMESPACE}/deployments`,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 4,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              containers: [
                {
                  name: 'web',
                  image: 'registry.invalid/web',
                  resources: { requests: { cpu: '1500m', memory: '2Gi' } },
                },
              ],
            },
          },
        },
      },
    },
    {
      path: `/apis/apps/v1/namespaces/${DEMO_WORKLOAD_NAMESPACE}/deployments`,
      body: {
        metadata: { name: 'trainer' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'trainer' } },
          template: {
            metadata: { labels: { app: 'trainer' } },
            spec: {
              tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
              containers: [
                {
                  name: 'trainer',
                  image: 'registry.invalid/trainer',
                  resources: { limits: { 'nvidia.com/gpu': '1' } },
                },
              ],
            },
          },
        },
      },
    },
  ];
}

/** Creates the demo objects; existing ones are left as they are, so it can run on every start. */
export async function applyDemo(client: RestClient, version: CapiVersion): Promise<void> {
  for (const o of demoObjects(version)) {
    const r = await client.req('POST', o.path, o.body);
    if (r.status >= 300 && r.status !== 409) {
      throw new Error(
        `demo: creating ${o.path} ${(o.body.metadata as { name: string }).name}: ${r.status} ${r.text}`,
      );
    }
  }
}
