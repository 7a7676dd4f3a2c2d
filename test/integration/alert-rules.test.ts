// The shipped alert rules (deploy/prometheus) with the real promtool: they load, their unit tests pass,
// every alert is tested both firing and quiet, carries summary/description/runbook_url, has its runbook
// section in the README, and reads only metrics this service exports.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics/registry.ts';
import { checkPromQL, exportedFamilies, metricNames } from '../support/promql-metrics.ts';
import { promtool } from './support/promtool.ts';

const dir = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));
const RULES = `${dir}capi-autopilot-rules.yaml`;
const TESTS = `${dir}capi-autopilot-rules.test.yaml`;

interface Rule {
  alert: string;
  expr: string;
  annotations?: Record<string, string>;
}
const rules = (load(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap(
  (g) => g.rules,
);
const cases = (
  load(readFileSync(TESTS, 'utf8')) as {
    tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
  }
).tests.flatMap((t) => t.alert_rule_test ?? []);

describe('alert rules', () => {
  it('promtool check rules accepts the file', async () => {
    const r = await promtool(['check', 'rules', RULES]);
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.code).toBe(0);
  });

  it('promtool test rules passes', async () => {
    const r = await promtool(['test', 'rules', TESTS]);
    expect(r.out).toContain('SUCCESS');
    expect(r.code, r.out).toBe(0);
  });

  it.each(rules.map((r) => [r.alert, r] as const))(
    '%s: tested firing and quiet, annotated, with a README runbook',
    (name, rule) => {
      const mine = cases.filter((c) => c.alertname === name);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        'a firing case',
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        'a quiet case',
      ).toBe(true);
      for (const k of ['summary', 'description', 'runbook_url'])
        expect(rule.annotations?.[k], k).toBeTruthy();
      const anchor = rule.annotations!.runbook_url!.split('#')[1];
      expect(anchor).toBe(name.toLowerCase());
      expect(readFileSync(new URL('../../README.md', import.meta.url), 'utf8')).toMatch(
        new RegExp(`^#### ${name}$`, 'm'),
      );
    },
  );

  it('the rules read only metrics and labels the service exports', async () => {
    const families = await exportedFamilies(createMetrics({ defaultMetrics: false }).registry);
    const problems = rules.flatMap((r) =>
      checkPromQL(r.expr, families, { targetLabels: [] }).issues.map((i) => `${r.alert}: ${i}`),
    );
    expect(problems).toEqual([]);
    // The reader finds something to check (a parser finding nothing would pass vacuously).
    expect(new Set(rules.flatMap((r) => metricNames(r.expr))).size).toBeGreaterThan(5);
  });
});
