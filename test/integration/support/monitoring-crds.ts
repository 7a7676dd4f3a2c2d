// Stand-ins for the prometheus-operator CRDs (monitoring.coreos.com/v1 PrometheusRule and ServiceMonitor),
// so a server-side dry run of the monitoring overlay has kinds to resolve. They are NOT the real CRDs: those
// (with their full schemas) are not available offline, so the schema preserves any field and only the kind,
// group, version and scope of the overlay's objects are checked, never their spec.
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, type RestClient } from '../../../src/sandbox/rest.ts';

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
export const MONITORING_GROUP = 'monitoring.coreos.com';

function standIn(kind: string, plural: string, singular: string, shortNames: string[]) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${MONITORING_GROUP}` },
    spec: {
      group: MONITORING_GROUP,
      scope: 'Namespaced',
      names: { kind, listKind: `${kind}List`, plural, singular, shortNames },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
}

export const PROMETHEUS_RULE_CRD = standIn('PrometheusRule', 'prometheusrules', 'prometheusrule', [
  'promrule',
]);
export const SERVICE_MONITOR_CRD = standIn('ServiceMonitor', 'servicemonitors', 'servicemonitor', ['smon']);
export const MONITORING_CRDS = [PROMETHEUS_RULE_CRD, SERVICE_MONITOR_CRD];

interface CrdStatus {
  status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
}

/**
 * Creates the stand-in CRDs (an existing one, 409, is kept as it is: the real CRDs or another test's
 * stand-ins) and waits until both are Established and monitoring.coreos.com/v1 serves both plurals.
 */
export async function installMonitoringCrds(
  api: RestClient,
  opts: { timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (const crd of MONITORING_CRDS) {
    const r = await api.req('POST', CRD_PATH, crd);
    if (r.status !== 201 && r.status !== 409) throw new ApiError('POST', CRD_PATH, r.status, r.text);
  }
  for (const crd of MONITORING_CRDS) {
    const name = crd.metadata.name;
    for (;;) {
      const c = await api.ok<CrdStatus>('GET', `${CRD_PATH}/${name}`);
      const conds = c.status?.conditions ?? [];
      const names = conds.find((x) => x.type === 'NamesAccepted');
      if (names?.status === 'False')
        throw new Error(`CRD ${name}: names not accepted: ${names.message ?? ''}`);
      if (conds.some((x) => x.type === 'Established' && x.status === 'True')) break;
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for CRD ${name} to be Established; conditions: ${JSON.stringify(conds)}`,
        );
      await sleep(100);
    }
  }
  // Established can run a moment ahead of discovery, which kubectl needs to map the kinds.
  const gv = `/apis/${MONITORING_GROUP}/v1`;
  const plurals = MONITORING_CRDS.map((c) => c.spec.names.plural);
  for (;;) {
    const r = await api.req<{ resources?: Array<{ name: string }> }>('GET', gv);
    const have = new Set((r.body?.resources ?? []).map((x) => x.name));
    if (r.status === 200 && plurals.every((p) => have.has(p))) return;
    if (Date.now() > deadline) {
      const seen = `GET ${gv} -> ${r.status}, resources ${[...have].join(', ') || 'none'}`;
      throw new Error(`timed out waiting for ${gv} to be served (${seen})`);
    }
    await sleep(100);
  }
}
