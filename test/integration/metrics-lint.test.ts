// The /metrics output passes Prometheus's own linter: once as scraped from a running service, and once
// with every metric family holding a sample (so names, types and units of families the running service
// has not touched yet are linted too). Label values stay bounded: no family has a pod or machine label.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { httpGet } from '../../src/sandbox/wait.ts';
import { startService, type Service } from '../../src/service.ts';
import { startManagement, type Management } from './support/capi.ts';
import { eventually } from './support/kube.ts';
import { promtool } from './support/promtool.ts';

describe('metrics lint', () => {
  let mgmt: Management;
  let svc: Service;
  beforeAll(async () => {
    mgmt = await startManagement('v1beta2');
    const config = loadConfig({
      argv: ['--kubeconfig', mgmt.kubeconfigPath, '--set', 'leaderElection.namespace=default'],
      env: {},
      readFile: (p) => readFileSync(p, 'utf8'),
    });
    svc = await startService({
      config,
      log: createLogger({ level: 'warn', format: 'json' }, new Writable({ write: (_c, _e, cb) => cb() })),
      portOverride: 0,
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await mgmt?.stop();
  });

  it('a real scrape passes promtool check metrics', async () => {
    await eventually('leadership', async () => svc.leader?.isLeader());
    const res = await httpGet(`http://127.0.0.1:${svc.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(
      /capi_autopilot_kube_requests_total\{cluster="management",verb="GET",resource="[a-z./]+",code="200"\}/,
    );
    expect(res.body).toMatch(/capi_autopilot_leader 1/);
    const lint = await promtool(['check', 'metrics'], res.body);
    expect(lint.out).toBe('');
    expect(lint.code).toBe(0);
  });

  it('every family, each with a sample, passes promtool; none has an unbounded label', async () => {
    const m = createMetrics();
    const labelsOf: Record<string, string> = {
      cluster: 'fleet/c1',
      node_group: 'fleet/md-a',
      reason: 'x',
      verb: 'GET',
      resource: 'pods',
      code: '200',
      controller: 'c',
      result: 'success',
      state: 'connected',
      exporter: 'otlp',
      phase: 'reboot',
      machine_health_check: 'fleet/mhc',
      outcome: 'deleted',
      kind: 'conflict',
    };
    for (const metric of (await m.registry.getMetricsAsJSON()).filter((x) =>
      x.name.startsWith('capi_autopilot_'),
    )) {
      const obj = m.registry.getSingleMetric(metric.name)!;
      const names = (obj as unknown as { labelNames: string[] }).labelNames ?? [];
      for (const n of names) expect(Object.keys(labelsOf), `${metric.name} label ${n}`).toContain(n);
      const labels = Object.fromEntries(names.map((n) => [n, labelsOf[n]!]));
      if (String(metric.type) === 'counter') (obj as { inc(l: object): void }).inc(labels);
      else if (String(metric.type) === 'gauge') (obj as { set(l: object, v: number): void }).set(labels, 1);
      else if (String(metric.type) === 'histogram')
        (obj as { observe(l: object, v: number): void }).observe(labels, 0.2);
    }
    const text = await m.registry.metrics();
    const ours = (await m.registry.getMetricsAsJSON()).filter((x) => x.name.startsWith('capi_autopilot_'));
    expect(ours.length).toBe(Object.keys(m).length - 1); // every field of Metrics but the registry
    const lint = await promtool(['check', 'metrics'], text);
    expect(lint.out).toBe('');
    expect(lint.code).toBe(0);
  });

  it('promtool does reject a badly named counter (the check can fail)', async () => {
    const lint = await promtool(
      ['check', 'metrics'],
      '# HELP bad_count A counter.\n# TYPE bad_count counter\nbad_count 1\n',
    );
    expect(lint.code).not.toBe(0);
    expect(lint.out).toContain('_total');
  });
});
