// The monitoring overlay (deploy/overlays/monitoring) without a cluster: its PrometheusRule is the one
// scripts/prometheus-rule.ts generates from deploy/prometheus/capi-autopilot-rules.yaml, and its
// ServiceMonitor selects the base's metrics Service. test/integration/deploy-monitoring.test.ts renders
// it with the provisioned kubectl.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { HEADER, OUTPUT_PATH, RULES_PATH, renderPrometheusRule } from '../../scripts/prometheus-rule.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const overlay = new URL('../../deploy/overlays/monitoring/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, overlay), 'utf8');

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

const rulesText = readFileSync(RULES_PATH, 'utf8');
const rulesGroups = (load(rulesText) as { groups: unknown[] }).groups;

describe('monitoring overlay: PrometheusRule', () => {
  it('prometheusrule.yaml is the generated one (run: npm run deploy:prometheus-rule)', async () => {
    expect(
      read('prometheusrule.yaml'),
      `${relative(root, OUTPUT_PATH)} is out of date with ${relative(root, RULES_PATH)}; run: npm run deploy:prometheus-rule`,
    ).toBe(await renderPrometheusRule(rulesText));
  });

  it('is a PrometheusRule whose spec.groups are exactly the rules file groups', () => {
    const rule = load(read('prometheusrule.yaml')) as Manifest;
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.kind).toBe('PrometheusRule');
    expect(rule.metadata.name).toBe('capi-autopilot');
    expect(rule.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'capi-autopilot' });
    expect(Object.keys(rule.spec)).toEqual(['groups']);
    expect(rule.spec.groups).toEqual(rulesGroups);
  });

  it('the generator follows the rules file and starts with the do-not-edit header', async () => {
    const edited = rulesText.replace(/^(\s+for: )15m$/m, '$120m');
    expect(edited).not.toBe(rulesText);
    const out = await renderPrometheusRule(edited);
    expect(out.split('\n')[0]).toBe(HEADER);
    expect(HEADER).toContain('generated from deploy/prometheus/capi-autopilot-rules.yaml');
    expect(HEADER).toContain('npm run deploy:prometheus-rule; do not edit');
    expect(out).not.toBe(read('prometheusrule.yaml'));
    expect((load(out) as Manifest).spec.groups).toEqual((load(edited) as { groups: unknown[] }).groups);
    // Stable: the same input gives the same bytes.
    expect(await renderPrometheusRule(edited)).toBe(out);
  });
});

describe('monitoring overlay: ServiceMonitor', () => {
  const sm = load(read('servicemonitor.yaml')) as Manifest & {
    spec: {
      selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown };
      endpoints: Array<Record<string, unknown>>;
      namespaceSelector?: unknown;
    };
  };

  it('is the capi-autopilot ServiceMonitor', () => {
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.kind).toBe('ServiceMonitor');
    expect(sm.metadata.name).toBe('capi-autopilot');
    expect(sm.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'capi-autopilot' });
  });

  it('selects the base metrics Service by its labels, in its own namespace', () => {
    expect(sm.spec.selector).toEqual({
      matchLabels: { 'app.kubernetes.io/name': 'capi-autopilot', 'app.kubernetes.io/component': 'metrics' },
    });
    expect(sm.spec.namespaceSelector).toBeUndefined();
  });

  it('scrapes the http-metrics port at /metrics every 30 s', () => {
    expect(sm.spec.endpoints).toHaveLength(1);
    expect(sm.spec.endpoints[0]).toMatchObject({
      port: 'http-metrics',
      path: '/metrics',
      interval: '30s',
    });
    expect(sm.spec.endpoints[0]?.scheme ?? 'http').toBe('http');
  });
});

describe('monitoring overlay: kustomization', () => {
  const k = load(read('kustomization.yaml')) as Record<string, unknown>;

  it('sets the namespace and lists both files, without the base', () => {
    expect(k.namespace).toBe('capi-autopilot');
    expect(k.resources).toEqual(['servicemonitor.yaml', 'prometheusrule.yaml']);
    expect(k.bases).toBeUndefined();
  });

  it('uses only fields kustomize v2.0.3 (kubectl 1.20) knows', () => {
    const known = [
      'namespace',
      'resources',
      'bases',
      'commonLabels',
      'patchesStrategicMerge',
      'patchesJson6902',
    ];
    expect(Object.keys(k).filter((f) => !known.includes(f))).toEqual([]);
  });

  it('tells how to match a kube-prometheus-stack selector', () => {
    const text = read('kustomization.yaml');
    expect(text).toMatch(/ruleSelector/);
    expect(text).toMatch(/serviceMonitorSelector/);
  });
});
