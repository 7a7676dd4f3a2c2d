// What the sandbox benchmarks share: a namespace with a Cluster and a SandboxMachineTemplate, and the
// MachineDeployment that turns into hollow nodes labelled `bench=<namespace>`.
import type { RestClient } from '../src/sandbox/rest.ts';

const INFRA = 'infrastructure.sandbox.capi-autopilot.io/v1alpha1';

export const capiPath = (ns: string, r: string) => `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/${r}`;

/** Namespace `ns` with Cluster `c` and SandboxMachineTemplate `t` (nodes labelled bench=<ns>). */
export async function preparePool(
  api: RestClient,
  ns: string,
  instanceType: { cpu: string; memory: string; maxPods?: number },
): Promise<void> {
  await api.ok('POST', '/api/v1/namespaces', { metadata: { name: ns } });
  await api.ok('POST', capiPath(ns, 'clusters'), {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name: 'c' },
    spec: { paused: false },
  });
  await api.ok('POST', `/apis/${INFRA}/namespaces/${ns}/sandboxmachinetemplates`, {
    apiVersion: INFRA,
    kind: 'SandboxMachineTemplate',
    metadata: { name: 't' },
    spec: { template: { spec: { instanceType: { name: 'bench', ...instanceType, labels: { bench: ns } } } } },
  });
}

/** MachineDeployment `md` of `replicas` machines from template `t` in Cluster `c`. */
export function machineDeployment(replicas: number) {
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'MachineDeployment',
    metadata: { name: 'md' },
    spec: {
      clusterName: 'c',
      replicas,
      selector: { matchLabels: { md: 'md' } },
      template: {
        metadata: { labels: { md: 'md' } },
        spec: {
          clusterName: 'c',
          bootstrap: { dataSecretName: 'b' },
          infrastructureRef: {
            apiGroup: 'infrastructure.sandbox.capi-autopilot.io',
            kind: 'SandboxMachineTemplate',
            name: 't',
          },
        },
      },
    },
  };
}

/** Polls `fn` until it answers true; throws after `timeoutMs` (default 10 min). */
export async function waitFor(
  what: string,
  fn: () => Promise<boolean>,
  timeoutMs = 600_000,
  intervalMs = 500,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}
