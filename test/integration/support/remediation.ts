// Remediation on the sandbox: a service running the remediation controllers (and the delete protocol's
// recovery), a Cluster whose control plane and infrastructure are reported ready, our remediation
// template, and MachineHealthChecks in v1beta2 shape.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { inject } from 'vitest';
import { createMachineDeletion } from '../../../src/machines/controller.ts';
import type { MachineDeleter } from '../../../src/machines/executor.ts';
import { REMEDIATION_API_VERSION, TEMPLATE_KIND } from '../../../src/remediation/contract.ts';
import { createRemediation } from '../../../src/remediation/request-controller.ts';
import { createLogger } from '../../../src/runtime/log.ts';
import { startService, type Service } from '../../../src/service.ts';
import { createDeployment, type Management } from './capi.ts';
import { serviceConfig } from './kube.ts';

export const mgmtPath = (ns: string, r: string, name = '') =>
  `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/${r}${name ? `/${name}` : ''}`;
export const remediationPath = (ns: string, r: string, name = '') =>
  `/apis/${REMEDIATION_API_VERSION}/namespaces/${ns}/${r}${name ? `/${name}` : ''}`;

/** The service with the remediation controllers; `deleter` gives tests the service's own delete protocol. */
export async function remediationService(
  env: { mgmt: Management },
  sets: string[],
  o: { logs?: string[] } = {},
): Promise<{ svc: Service; deleter: () => MachineDeleter }> {
  let deleter: MachineDeleter | undefined;
  // REMEDIATION_LOG=1 shows the service's log while debugging a test.
  const debug = process.env.REMEDIATION_LOG !== undefined;
  const sink = new Writable({
    write: (c: Buffer, _e, cb) => (o.logs?.push(c.toString()), debug && process.stderr.write(c), cb()),
  });
  const svc = await startService({
    config: serviceConfig(
      env.mgmt.kubeconfigPath,
      'workloadClusters.mode=secret',
      'remediation.mode=standalone',
      ...sets,
    ),
    log: createLogger({ level: o.logs || debug ? 'info' : 'warn', format: 'json' }, sink),
    portOverride: 0,
    controllers: (e) => {
      const deletion = createMachineDeletion(e);
      deleter = deletion.deleter;
      return [deletion.recovery, ...createRemediation(e, { deleter: deletion.deleter }).controllers];
    },
  });
  return { svc, deleter: () => deleter! };
}

export type Step = { action: 'Reboot' | 'Reprovision'; timeout: string; retries?: number };

export async function remediationTemplate(mgmt: Management, ns: string, name: string, steps: Step[]) {
  await mgmt.api.ok('POST', remediationPath(ns, 'autopilotremediationtemplates'), {
    apiVersion: REMEDIATION_API_VERSION,
    kind: TEMPLATE_KIND,
    metadata: { name, namespace: ns },
    spec: { template: { spec: { steps } } },
  });
}

/** A v1beta2 MachineHealthCheck on md-a's Machines: Ready False or Unknown for `timeoutSeconds` is unhealthy. */
export async function healthCheck(
  mgmt: Management,
  ns: string,
  o: {
    template?: string;
    maxUnhealthy?: string | number;
    timeoutSeconds?: number;
    nodeStartupTimeoutSeconds?: number;
  },
) {
  const timeoutSeconds = o.timeoutSeconds ?? 2;
  await mgmt.api.ok('POST', mgmtPath(ns, 'machinehealthchecks'), {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'MachineHealthCheck',
    metadata: { name: 'mhc', namespace: ns },
    spec: {
      clusterName: 'c1',
      selector: { matchLabels: { 'cluster.x-k8s.io/deployment-name': 'md-a' } },
      checks: {
        nodeStartupTimeoutSeconds: o.nodeStartupTimeoutSeconds ?? 600,
        unhealthyNodeConditions: [
          { type: 'Ready', status: 'False', timeoutSeconds },
          { type: 'Ready', status: 'Unknown', timeoutSeconds },
        ],
      },
      remediation: {
        ...(o.maxUnhealthy !== undefined
          ? { triggerIf: { unhealthyLessThanOrEqualTo: o.maxUnhealthy } }
          : {}),
        ...(o.template
          ? { templateRef: { apiVersion: REMEDIATION_API_VERSION, kind: TEMPLATE_KIND, name: o.template } }
          : {}),
      },
    },
  });
}

/** Cluster c1 with md-a at `replicas` in a new namespace, reachable through its kubeconfig Secret. */
export async function remediationCluster(mgmt: Management, replicas: number): Promise<{ ns: string }> {
  const { ns } = await createDeployment(mgmt, { replicas, prefix: 'remc' });
  await mgmt.api.ok('POST', `/api/v1/namespaces/${ns}/secrets`, {
    metadata: { name: 'c1-kubeconfig', labels: { 'cluster.x-k8s.io/cluster-name': 'c1' } },
    type: 'cluster.x-k8s.io/secret',
    data: { value: Buffer.from(readFileSync(inject('cluster').kubeconfigPath)).toString('base64') },
  });
  return { ns };
}
