// The monitoring overlay rendered by the provisioned kubectl 1.20 (built-in kustomize v2.0.3, the oldest
// one we support), and its objects accepted by a real apiserver in a server-side dry run against the
// stand-in prometheus-operator CRDs (support/monitoring-crds.ts: kind, group and scope only).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadAll, load } from 'js-yaml';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureBinaries } from '../../src/sandbox/binaries.ts';
import { clusterApi, testNamespace } from './support/kube.ts';
import { installMonitoringCrds, MONITORING_GROUP } from './support/monitoring-crds.ts';

const run = promisify(execFile);
const OVERLAY = fileURLToPath(new URL('../../deploy/overlays/monitoring', import.meta.url));
const RULES = fileURLToPath(new URL('../../deploy/prometheus/capi-autopilot-rules.yaml', import.meta.url));

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

let objects: Obj[];
let kubectl: string;

beforeAll(async () => {
  kubectl = (await ensureBinaries({ quiet: true })).path('kubectl');
  const { stdout } = await run(kubectl, ['kustomize', OVERLAY], { maxBuffer: 16 << 20 });
  objects = loadAll(stdout).filter((d): d is Obj => d !== null && d !== undefined);
});

describe('monitoring overlay rendered by kubectl 1.20 kustomize', () => {
  it('is one PrometheusRule and one ServiceMonitor in capi-autopilot', () => {
    expect(
      objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace}/${o.metadata.name}`).sort(),
    ).toEqual([
      'monitoring.coreos.com/v1 PrometheusRule capi-autopilot/capi-autopilot',
      'monitoring.coreos.com/v1 ServiceMonitor capi-autopilot/capi-autopilot',
    ]);
    for (const o of objects) expect(o.metadata.labels?.['app.kubernetes.io/name']).toBe('capi-autopilot');
  });

  it('keeps the rule groups intact', () => {
    const rule = objects.find((o) => o.kind === 'PrometheusRule');
    expect(rule?.spec.groups).toEqual((load(readFileSync(RULES, 'utf8')) as { groups: unknown[] }).groups);
  });

  it('is accepted by the apiserver in a server-side dry run (stand-in CRDs)', async () => {
    const api = clusterApi();
    await installMonitoringCrds(api);
    await installMonitoringCrds(api); // a second install (409) is fine
    const ns = await testNamespace(api, 'mon');
    for (const o of objects) {
      const plural = `${o.kind.toLowerCase()}s`;
      const path = `/apis/${MONITORING_GROUP}/v1/namespaces/${ns}/${plural}`;
      const body = { ...o, metadata: { ...o.metadata, namespace: ns } };
      const created = await api.ok<Obj>('POST', `${path}?dryRun=All`, body);
      expect(created.kind).toBe(o.kind);
      // Dry run: nothing was stored.
      expect((await api.req('GET', `${path}/${o.metadata.name}`)).status).toBe(404);
    }
    // kubectl maps the kinds through discovery, short names included.
    const { stdout } = await run(kubectl, [
      '--kubeconfig',
      inject('cluster').kubeconfigPath,
      '-n',
      ns,
      'get',
      'promrule,smon',
      '-o',
      'name',
    ]);
    expect(stdout.trim()).toBe('');
  });
});
