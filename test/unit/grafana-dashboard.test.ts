// The Grafana dashboard we ship (deploy/grafana/capi-autopilot-dashboard.json): valid JSON, a sane layout
// (unique ids, grid positions, a description and a query on every panel, the datasource variable), every
// template variable it uses defined, and PromQL (panels, template variables, annotations) that reads only
// metrics createMetrics() registers, with only labels those metrics have. Covers the topics issue #12 asks.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics/registry.ts';
import {
  checkPromQL,
  exportedFamilies,
  parsePromQL,
  resolveSeries,
  selectorMetric,
  selectors,
} from '../support/promql-metrics.ts';

const FILE = 'deploy/grafana/capi-autopilot-dashboard.json';
const text = readFileSync(new URL(`../../${FILE}`, import.meta.url), 'utf8');

// Labels Prometheus adds to every series at scrape time, which the registry cannot know: `job` and
// `instance` always, `namespace` and `pod` from Kubernetes service discovery (the ServiceMonitor of
// deploy/overlays/monitoring). No metric of ours has a label of these names (it would be renamed
// exported_*). Every other label must be one the metric family declares (or `le` on _bucket series).
const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod'] as const;
// Grafana's own variables.
const BUILTIN_VARIABLES = new Set([
  '__rate_interval',
  '__interval',
  '__interval_ms',
  '__range',
  '__range_s',
  '__range_ms',
  '__from',
  '__to',
  '__dashboard',
  '__org',
  '__user',
]);
const PANEL_TYPES = new Set([
  'row',
  'timeseries',
  'stat',
  'table',
  'gauge',
  'bargauge',
  'state-timeline',
  'text',
]);
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

interface Target {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  datasource?: unknown;
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: unknown;
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
  collapsed?: boolean;
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  datasource?: unknown;
}
interface Annotation {
  name: string;
  datasource?: unknown;
  expr?: string;
  textFormat?: string;
  titleFormat?: string;
  tagKeys?: string;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
  annotations?: { list: Annotation[] };
}

let parsed: Dashboard | undefined;
let parseError: string | undefined;
try {
  parsed = JSON.parse(text) as Dashboard;
} catch (e) {
  parseError = (e as Error).message;
}
const dashboard = (): Dashboard => {
  if (!parsed) throw new Error(`${FILE} is not valid JSON: ${parseError}`);
  return parsed;
};

/** Every panel, rows' children included (a collapsed row holds its panels). */
const allPanels = (ps: Panel[] = dashboard().panels): Panel[] =>
  ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);

interface Query {
  /** Where it is, for messages: `panel 7 "Drain duration" target B`. */
  where: string;
  expr: string;
  /** Label templates (`{{label}}`) the result's labels must fill. */
  templates: string[];
  /** For label_values(selector, label): the label the selector's series must have. */
  labelValues?: string;
  /** Why the query is not one this test can read (a variable query of another form). */
  invalid?: string;
  panel?: Panel;
}

const variableQuery = (v: Variable) => (typeof v.query === 'string' ? v.query : (v.query?.query ?? ''));

/** Every PromQL expression of the dashboard: panel targets, query variables, annotations. */
function queries(): Query[] {
  const d = dashboard();
  const out: Query[] = [];
  for (const p of allPanels())
    for (const t of p.targets ?? [])
      out.push({
        where: `panel ${p.id} "${p.title}" target ${t.refId}`,
        expr: t.expr ?? '',
        templates: [t.legendFormat ?? ''],
        panel: p,
      });
  for (const v of d.templating.list.filter((x) => x.type === 'query')) {
    const q = variableQuery(v);
    const m = /^\s*label_values\(\s*([\s\S]+),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/.exec(q);
    const r = /^\s*query_result\(([\s\S]+)\)\s*$/.exec(q);
    // label_values(label) and metrics() read every metric of the datasource, not ours only.
    out.push({
      where: `variable $${v.name}`,
      expr: m ? m[1]! : r ? r[1]! : '',
      templates: [],
      labelValues: m?.[2],
      invalid:
        m || r
          ? undefined
          : `${JSON.stringify(q)} is not label_values(<metric selector>, <label>) or query_result(<expr>)`,
    });
  }
  for (const a of d.annotations?.list ?? [])
    if (a.expr !== undefined)
      out.push({
        where: `annotation "${a.name}"`,
        expr: a.expr,
        templates: [
          a.textFormat ?? '',
          a.titleFormat ?? '',
          (a.tagKeys ?? '').replace(/([^,\s]+)/g, '{{$1}}'),
        ],
      });
  return out;
}

const families = await exportedFamilies(createMetrics().registry);
const check = (q: Query) => checkPromQL(q.expr, families, { targetLabels: TARGET_LABELS });

describe(`Grafana dashboard (${FILE})`, () => {
  it('is valid JSON', () => {
    expect(parseError, `${FILE} is not valid JSON`).toBeUndefined();
    expect(typeof parsed, `${FILE} must hold a JSON object`).toBe('object');
  });

  it('is the capi-autopilot dashboard with a Prometheus datasource variable', () => {
    const d = dashboard();
    expect(d.uid).toBe('capi-autopilot');
    expect(d.title).toBe('capi-autopilot');
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    const ds = d.templating.list.find((v) => v.name === 'datasource');
    expect(ds, 'a template variable named datasource').toMatchObject({
      type: 'datasource',
      query: 'prometheus',
    });
    const names = d.templating.list.map((v) => v.name);
    expect(new Set(names).size, `duplicate template variables: ${names}`).toBe(names.length);
    for (const v of d.templating.list.filter((x) => x.type === 'query')) {
      expect(v.datasource, `variable $${v.name} uses \${datasource}`).toEqual(DATASOURCE);
      // Grafana shows `definition`, runs `query`: they must not tell different stories.
      if (v.definition !== undefined)
        expect(v.definition, `variable $${v.name}: definition and query differ`).toBe(variableQuery(v));
    }
    for (const a of d.annotations?.list ?? [])
      if (a.expr !== undefined)
        expect(a.datasource, `annotation "${a.name}" uses \${datasource}`).toEqual(DATASOURCE);
  });

  it('every panel has a unique id, a title, a known type and a place on the grid; none overlap', () => {
    const problems: string[] = [];
    const seen = new Map<number, string>();
    const cells = new Map<string, string>();
    for (const p of allPanels()) {
      const name = `panel ${p.id} "${p.title}"`;
      if (!Number.isInteger(p.id) || p.id! <= 0) problems.push(`${name}: id must be a positive integer`);
      else if (seen.has(p.id!)) problems.push(`${name}: id ${p.id} also used by ${seen.get(p.id!)}`);
      else seen.set(p.id!, name);
      if (!p.title?.trim()) problems.push(`${name}: no title`);
      if (!p.type || !PANEL_TYPES.has(p.type))
        problems.push(
          `${name}: type ${JSON.stringify(p.type)} is not one of ${[...PANEL_TYPES]} (no deprecated graph/singlestat)`,
        );
      const g = p.gridPos;
      if (!g || ![g.x, g.y, g.w, g.h].every((n) => Number.isInteger(n) && n >= 0) || g.w < 1 || g.h < 1) {
        problems.push(`${name}: gridPos must have integer x, y, w >= 1, h >= 1`);
        continue;
      }
      if (g.x + g.w > 24) problems.push(`${name}: x + w = ${g.x + g.w} is wider than the 24-column grid`);
      // Panels inside a collapsed row are laid out when it expands; only the visible ones must not overlap.
      if (!dashboard().panels.includes(p)) continue;
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          const other = cells.get(`${x},${y}`);
          if (other) problems.push(`${name} overlaps ${other} at (${x}, ${y})`);
          cells.set(`${x},${y}`, name);
        }
    }
    expect([...new Set(problems)]).toEqual([]);
  });

  it('every panel but rows has a description, uses ${datasource} and has queries with an expr', () => {
    const problems: string[] = [];
    for (const p of allPanels()) {
      const name = `panel ${p.id} "${p.title}"`;
      if (p.type === 'row') {
        if (!p.collapsed && (p.panels ?? []).length > 0)
          problems.push(`${name}: an expanded row holds no panels`);
        continue;
      }
      if (!p.description?.trim()) problems.push(`${name}: no description`);
      if (JSON.stringify(p.datasource) !== JSON.stringify(DATASOURCE))
        problems.push(
          `${name}: datasource ${JSON.stringify(p.datasource)}, want ${JSON.stringify(DATASOURCE)}`,
        );
      const ts = p.targets ?? [];
      if (ts.length === 0) problems.push(`${name}: no targets`);
      const refIds = ts.map((t) => t.refId);
      if (new Set(refIds).size !== refIds.length || refIds.some((r) => !r))
        problems.push(`${name}: refIds must be present and unique (${refIds})`);
      for (const t of ts) {
        if (!t.expr?.trim()) problems.push(`${name} target ${t.refId}: empty expr`);
        if (t.datasource !== undefined && JSON.stringify(t.datasource) !== JSON.stringify(DATASOURCE))
          problems.push(`${name} target ${t.refId}: datasource ${JSON.stringify(t.datasource)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every template variable an expression uses is defined', () => {
    const defined = new Set(dashboard().templating.list.map((v) => v.name));
    const problems: string[] = [];
    const refs = /\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]/g;
    for (const q of queries())
      for (const m of q.expr.matchAll(refs)) {
        const name = m[1] ?? m[2] ?? m[3]!;
        if (!defined.has(name) && !BUILTIN_VARIABLES.has(name))
          problems.push(`${q.where}: $${name} is not a template variable (defined: ${[...defined]})`);
      }
    expect(problems).toEqual([]);
  });

  it('every expression parses as PromQL', () => {
    const problems: string[] = [];
    for (const q of queries()) {
      if (q.invalid) {
        problems.push(`${q.where}: ${q.invalid}`);
        continue;
      }
      try {
        parsePromQL(q.expr);
      } catch (e) {
        problems.push(`${q.where}: ${(e as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('reads only metrics createMetrics() registers (histograms through _bucket/_sum/_count)', () => {
    const problems: string[] = [];
    for (const q of queries())
      for (const m of check(q).metrics)
        if (!resolveSeries(m, families))
          problems.push(
            `${q.where}: ${m} is not exported by src/metrics/registry.ts` +
              (families.get(m)?.type === 'histogram'
                ? ` (a histogram: read ${m}_bucket, _sum or _count)`
                : ''),
          );
    expect(problems).toEqual([]);
  });

  it('uses only labels the metrics have, in matchers, by/without, on/ignoring, legends and label_values', () => {
    const problems: string[] = [];
    for (const q of queries().filter((x) => !x.invalid)) {
      const r = check(q);
      // Unknown metrics (and histograms read by their family name) are the previous test's finding.
      problems.push(
        ...r.issues
          .filter((i) => !/is not a metric the service exports|is a histogram: read/.test(i))
          .map((i) => `${q.where}: ${i}`),
      );
      if (!r.labels) continue;
      const has = `[${[...r.labels].sort().join(', ')}]`;
      if (q.labelValues && !r.labels.has(q.labelValues))
        problems.push(`${q.where}: label_values(…, ${q.labelValues}) over series with labels ${has}`);
      for (const t of q.templates)
        for (const [, l] of t.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g))
          if (!r.labels.has(l!))
            problems.push(`${q.where}: {{${l}}} in "${t}" is not a label of the result ${has}`);
    }
    expect(problems).toEqual([]);
  });

  it('filters every selector by the template variables its metric has labels for', () => {
    // So that choosing a job, namespace, cluster or node group narrows every panel that can be narrowed.
    const problems: string[] = [];
    for (const q of queries().filter((x) => x.panel)) {
      let tree;
      try {
        tree = parsePromQL(q.expr);
      } catch {
        continue; // reported by 'every expression parses as PromQL'
      }
      for (const s of selectors(tree)) {
        const series = resolveSeries(selectorMetric(s) ?? '', families);
        if (!series) continue;
        const wanted = [
          'job',
          'namespace',
          ...['cluster', 'node_group'].filter((l) => series.labels.includes(l)),
        ];
        for (const l of wanted)
          if (!s.matchers.some((m) => m.label === l && m.op === '=~' && m.value === `$${l}`))
            problems.push(`${q.where}: ${selectorMetric(s)} lacks ${l}=~"$${l}"`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('covers node groups, scale-up, scale-down, pending pods, drains, remediation, reconciles and API calls', () => {
    const used = new Set(
      queries()
        .filter((q) => q.panel && q.panel.type !== 'row')
        .flatMap((q) => check(q).metrics),
    );
    const topics: Record<string, string[]> = {
      'node group size': [
        'capi_autopilot_node_group_current_size',
        'capi_autopilot_node_group_target_size',
        'capi_autopilot_node_group_min_size',
        'capi_autopilot_node_group_max_size',
      ],
      'scale-up': ['capi_autopilot_scaled_up_nodes_total', 'capi_autopilot_failed_scale_ups_total'],
      'scale-down': ['capi_autopilot_scaled_down_nodes_total', 'capi_autopilot_failed_scale_downs_total'],
      'pending pods': ['capi_autopilot_unschedulable_pods', 'capi_autopilot_pods_without_scale_up'],
      drain: [
        'capi_autopilot_drain_duration_seconds_count',
        'capi_autopilot_drain_duration_seconds_bucket',
        'capi_autopilot_evicted_pods_total',
      ],
      remediation: [
        'capi_autopilot_remediations_total',
        'capi_autopilot_remediations_deferred_total',
        'capi_autopilot_remediation_storm',
        'capi_autopilot_unhealthy_machines',
        'capi_autopilot_health_check_short_circuited',
      ],
      'reconcile duration': [
        'capi_autopilot_reconcile_duration_seconds_bucket',
        'capi_autopilot_reconcile_errors_total',
      ],
      'API requests': [
        'capi_autopilot_kube_requests_total',
        'capi_autopilot_kube_client_rate_limiter_duration_seconds_bucket',
      ],
      'leader and informers': ['capi_autopilot_leader', 'capi_autopilot_informer_synced'],
    };
    const missing = Object.entries(topics).flatMap(([topic, ms]) =>
      ms.filter((m) => !used.has(m)).map((m) => `${topic}: no panel reads ${m}`),
    );
    // The topic lists name real series: a renamed metric fails here, not silently in the list above.
    const stale = Object.values(topics)
      .flat()
      .filter((m) => !resolveSeries(m, families));
    expect(stale, 'topic metrics that registry.ts does not export').toEqual([]);
    expect(missing).toEqual([]);
  });
});

// The reader itself: were it to find no metrics or no labels, every check above would pass vacuously.
describe('PromQL reader (test/support/promql-metrics.ts)', () => {
  const issues = (expr: string) => checkPromQL(expr, families, { targetLabels: TARGET_LABELS }).issues;

  it('finds the metrics of selectors, ranges, subqueries, functions, aggregations and binary operators', () => {
    const r = checkPromQL(
      'histogram_quantile(0.99, sum by (cluster, le) (rate(capi_autopilot_kube_client_rate_limiter_duration_seconds_bucket{cluster=~"$cluster"}[$__rate_interval]))) > 1' +
        ' or sum by (cluster) (rate(capi_autopilot_kube_requests_total{code="429"}[10m] offset 5m))' +
        ' or max_over_time(max by (cluster) (capi_autopilot_unschedulable_pods)[1h:${__interval}])',
      families,
      { targetLabels: TARGET_LABELS },
    );
    expect(r.issues).toEqual([]);
    expect(r.metrics).toEqual([
      'capi_autopilot_kube_client_rate_limiter_duration_seconds_bucket',
      'capi_autopilot_kube_requests_total',
      'capi_autopilot_unschedulable_pods',
    ]);
    expect([...r.labels!].sort()).toEqual(['cluster']);
  });

  it('infers the labels of on/group_left matching and of label_replace', () => {
    const r = checkPromQL(
      'capi_autopilot_node_group_target_size >= on (cluster, node_group) group_left (reason) capi_autopilot_pods_without_scale_up',
      families,
      { targetLabels: [] },
    );
    expect(r.issues).toEqual([]);
    expect([...r.labels!].sort()).toEqual(['cluster', 'node_group', 'reason']);
    const l = checkPromQL('label_replace(capi_autopilot_leader, "who", "$1", "pod", "(.*)")', families, {
      targetLabels: ['pod'],
    });
    expect(l.issues).toEqual([]);
    expect([...l.labels!].sort()).toEqual(['pod', 'who']);
  });

  it.each([
    ['capi_autopilot_nope', /capi_autopilot_nope is not a metric/],
    ['capi_autopilot_reconcile_duration_seconds', /is a histogram: read .*_bucket/],
    ['sum by (node_group) (capi_autopilot_unremovable_nodes)', /label "node_group" in sum by/],
    ['capi_autopilot_leader{cluster="x"}', /label "cluster" in \{cluster="x"\}/],
    ['capi_autopilot_leader{le="1"}', /label "le"/],
    ['rate(capi_autopilot_unneeded_nodes[5m])', /rate\(\) over capi_autopilot_unneeded_nodes, a gauge/],
    [
      'histogram_quantile(0.9, sum by (controller) (rate(capi_autopilot_reconcile_duration_seconds_bucket[5m])))',
      /without the "le" label/,
    ],
    [
      'capi_autopilot_unneeded_nodes / on (reason) capi_autopilot_node_group_max_size',
      /label "reason" in \/ on/,
    ],
    ['label_join(capi_autopilot_leader, "x", ",", "node")', /reads label "node"/],
    ['sum(capi_autopilot_leader', /expected "\)"/],
    ['capi_autopilot_leader{job}', /expected =, !=, =~ or !~/],
  ])('%s: reported', (expr, message) => {
    expect(issues(expr).join('\n')).toMatch(message);
  });
});
