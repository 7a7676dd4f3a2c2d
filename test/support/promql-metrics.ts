// A small PromQL reader for the tests of our monitoring artefacts (the Grafana dashboard, the alert rules):
// which metrics an expression reads, and whether every label it names (matchers, by/without, on/ignoring,
// group_left/right, label_replace/label_join sources, histogram_quantile's `le`) is one those metrics have.
// It parses the PromQL grammar (a Pratt parser: selectors, ranges and subqueries, offset/@, functions,
// aggregations, binary operators with their modifiers) into a tree, then infers the labels each
// sub-expression's series carry; it checks labels, not values. Grafana variables (`$x`, `${x}`,
// `${x:fmt}`, `[[x]]`) may stand where PromQL wants a number or a duration, or inside strings.
import type { Registry } from 'prom-client';

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export type Expr =
  | { kind: 'number' }
  | { kind: 'string'; value: string }
  | { kind: 'selector'; name: string | undefined; matchers: Matcher[] }
  | { kind: 'range'; expr: Expr }
  | { kind: 'paren'; expr: Expr }
  | { kind: 'unary'; op: string; expr: Expr }
  | { kind: 'call'; func: string; args: Expr[] }
  | {
      kind: 'aggregate';
      op: string;
      grouping: { without: boolean; labels: string[] } | undefined;
      param: Expr | undefined;
      expr: Expr;
    }
  | {
      kind: 'binary';
      op: string;
      left: Expr;
      right: Expr;
      matching: { ignoring: boolean; labels: string[] } | undefined;
      group: { side: 'left' | 'right'; labels: string[] } | undefined;
    };

export class PromQLError extends Error {}

// ---- lexer ----

interface Token {
  t: 'ident' | 'number' | 'duration' | 'string' | 'var' | 'op' | 'eof';
  v: string;
  pos: number;
}

const OPS = ['==', '!=', '<=', '>=', '=~', '!~', '<', '>', '=', '+', '-', '*', '/', '%', '^'];
const PUNCT = ['(', ')', '{', '}', '[', ']', ',', ':', '@'];

function lex(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const fail = (msg: string): never => {
    throw new PromQLError(`${msg} at offset ${i} of: ${src}`);
  };
  while (i < src.length) {
    const rest = src.slice(i);
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      let value = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && c !== '`') j++;
        value += src[j] ?? '';
        j++;
      }
      if (j >= src.length) fail('unterminated string');
      out.push({ t: 'string', v: value, pos: i });
      i = j + 1;
      continue;
    }
    const variable = /^(?:\$\{[^}]+\}|\$[A-Za-z0-9_]+|\[\[[A-Za-z0-9_]+(?::[^\]]*)?\]\])/.exec(rest);
    if (variable) {
      out.push({ t: 'var', v: variable[0], pos: i });
      i += variable[0].length;
      continue;
    }
    const duration = /^(?:[0-9]+(?:ms|s|m|h|d|w|y))+(?![A-Za-z0-9_])/.exec(rest);
    if (duration) {
      out.push({ t: 'duration', v: duration[0], pos: i });
      i += duration[0].length;
      continue;
    }
    const number = /^(?:0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)/.exec(rest);
    if (number) {
      out.push({ t: 'number', v: number[0], pos: i });
      i += number[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_:]*/.exec(rest);
    if (ident) {
      out.push({ t: 'ident', v: ident[0], pos: i });
      i += ident[0].length;
      continue;
    }
    const op = [...OPS, ...PUNCT].find((o) => rest.startsWith(o));
    if (!op) fail(`unexpected character ${JSON.stringify(c)}`);
    out.push({ t: 'op', v: op!, pos: i });
    i += op!.length;
  }
  out.push({ t: 'eof', v: '', pos: src.length });
  return out;
}

// ---- parser ----

const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);
const PRECEDENCE: Record<string, number> = {
  or: 1,
  and: 2,
  unless: 2,
  '==': 3,
  '!=': 3,
  '<=': 3,
  '<': 3,
  '>=': 3,
  '>': 3,
  '+': 4,
  '-': 4,
  '*': 5,
  '/': 5,
  '%': 5,
  atan2: 5,
  '^': 6,
};

export function parsePromQL(src: string): Expr {
  const tokens = lex(src);
  let k = 0;
  const peek = (n = 0) => tokens[Math.min(k + n, tokens.length - 1)]!;
  const next = () => tokens[k++]!;
  const fail = (msg: string): never => {
    const tok = peek();
    throw new PromQLError(
      `${msg}, found ${tok.t === 'eof' ? 'the end' : JSON.stringify(tok.v)} at offset ${tok.pos} of: ${src}`,
    );
  };
  const is = (v: string, t: Token['t'] = 'op') => peek().t === t && peek().v === v;
  const expect = (v: string) => (is(v) ? next() : fail(`expected ${JSON.stringify(v)}`));

  const labelList = (): string[] => {
    expect('(');
    const labels: string[] = [];
    while (!is(')')) {
      const tok = next();
      if (tok.t !== 'ident' && tok.t !== 'string') fail('expected a label name');
      labels.push(tok.v);
      if (!is(')')) expect(',');
    }
    expect(')');
    return labels;
  };

  const matchers = (): { name: string | undefined; matchers: Matcher[] } => {
    expect('{');
    const ms: Matcher[] = [];
    let name: string | undefined;
    while (!is('}')) {
      const label = next();
      if (label.t === 'string' && (is(',') || is('}'))) name = label.v;
      else {
        if (label.t !== 'ident' && label.t !== 'string') fail('expected a label name');
        if (peek().t !== 'op' || !['=', '!=', '=~', '!~'].includes(peek().v))
          fail('expected =, !=, =~ or !~');
        const op = next().v as Matcher['op'];
        if (peek().t !== 'string') fail('expected a quoted label value');
        ms.push({ label: label.v, op, value: next().v });
      }
      if (!is('}')) expect(',');
    }
    expect('}');
    return { name, matchers: ms };
  };

  // A duration, a number or a Grafana variable (which stands for one).
  const durationLike = () => {
    const tok = next();
    if (tok.t !== 'duration' && tok.t !== 'number' && tok.t !== 'var') fail('expected a duration');
  };

  const postfix = (e: Expr): Expr => {
    for (;;) {
      if (is('[')) {
        next();
        durationLike();
        if (is(':')) {
          next();
          if (!is(']')) durationLike();
        }
        expect(']');
        e = { kind: 'range', expr: e };
      } else if (is('offset', 'ident')) {
        next();
        if (is('-')) next();
        durationLike();
      } else if (is('@')) {
        next();
        if (is('start', 'ident') || is('end', 'ident')) {
          next();
          expect('(');
          expect(')');
        } else durationLike();
      } else return e;
    }
  };

  const primary = (): Expr => {
    const tok = peek();
    if (tok.t === 'number' || tok.t === 'duration' || tok.t === 'var') {
      next();
      return { kind: 'number' };
    }
    if (tok.t === 'string') {
      next();
      return { kind: 'string', value: tok.v };
    }
    if (is('(')) {
      next();
      const inner = expr(0);
      expect(')');
      return postfix({ kind: 'paren', expr: inner });
    }
    if (is('{')) return postfix({ kind: 'selector', ...matchers() });
    if (tok.t !== 'ident') return fail('expected an expression');
    next();
    const after = peek();
    const grouping = () => {
      const without = next().v === 'without';
      return { without, labels: labelList() };
    };
    if (
      AGGREGATIONS.has(tok.v) &&
      (is('(') || (after.t === 'ident' && (after.v === 'by' || after.v === 'without')))
    ) {
      let g = is('(') ? undefined : grouping();
      expect('(');
      const args = [expr(0)];
      while (is(',')) {
        next();
        args.push(expr(0));
      }
      expect(')');
      if (!g && (is('by', 'ident') || is('without', 'ident'))) g = grouping();
      if (args.length > 2) fail(`too many arguments to ${tok.v}`);
      const [param, inner] = args.length === 2 ? args : [undefined, args[0]!];
      return postfix({ kind: 'aggregate', op: tok.v, grouping: g, param, expr: inner! });
    }
    if (is('(')) {
      next();
      const args: Expr[] = [];
      while (!is(')')) {
        args.push(expr(0));
        if (!is(')')) expect(',');
      }
      expect(')');
      return postfix({ kind: 'call', func: tok.v, args });
    }
    if (/^(inf|nan)$/i.test(tok.v)) return { kind: 'number' };
    if (is('{')) {
      const m = matchers();
      if (m.name !== undefined) fail('a metric name given twice');
      return postfix({ kind: 'selector', name: tok.v, matchers: m.matchers });
    }
    return postfix({ kind: 'selector', name: tok.v, matchers: [] });
  };

  const unary = (): Expr => {
    if (is('-') || is('+')) {
      const op = next().v;
      return { kind: 'unary', op, expr: expr(PRECEDENCE['^']!) };
    }
    return primary();
  };

  const expr = (minPrec: number): Expr => {
    let left = unary();
    for (;;) {
      const tok = peek();
      const op = tok.t === 'op' || tok.t === 'ident' ? tok.v : '';
      const prec = Object.hasOwn(PRECEDENCE, op) ? PRECEDENCE[op]! : 0;
      if (prec === 0 || prec < minPrec) return left;
      next();
      if (is('bool', 'ident')) next();
      let matching: { ignoring: boolean; labels: string[] } | undefined;
      let group: { side: 'left' | 'right'; labels: string[] } | undefined;
      if (is('on', 'ident') || is('ignoring', 'ident'))
        matching = { ignoring: next().v === 'ignoring', labels: labelList() };
      if (is('group_left', 'ident') || is('group_right', 'ident')) {
        const side = next().v === 'group_left' ? 'left' : 'right';
        group = { side, labels: is('(') ? labelList() : [] };
      }
      const right = expr(op === '^' ? prec : prec + 1);
      left = { kind: 'binary', op, left, right, matching, group };
    }
  };

  const e = expr(0);
  if (peek().t !== 'eof') fail('unexpected input after the expression');
  return e;
}

// ---- the metrics a registry exports ----

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
  labels: string[];
}

/** Every metric family registered in `registry`, with its declared label names. */
export async function exportedFamilies(registry: Registry): Promise<Map<string, Family>> {
  const out = new Map<string, Family>();
  for (const m of await registry.getMetricsAsJSON()) {
    const labels = (registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames;
    // prom-client types `type` as a numeric enum; at run time it is the string ('counter', ...).
    out.set(m.name, { name: m.name, type: String(m.type) as Family['type'], labels: [...(labels ?? [])] });
  }
  return out;
}

/** The series a metric name reads: a counter or gauge itself, a histogram's _bucket/_sum/_count. */
export interface Series {
  family: Family;
  suffix: '' | '_bucket' | '_sum' | '_count';
  /** The family's labels plus `le` (buckets) or `quantile` (summaries). */
  labels: string[];
}

export function resolveSeries(name: string, families: Map<string, Family>): Series | undefined {
  const own = families.get(name);
  if (own && own.type !== 'histogram')
    return {
      family: own,
      suffix: '',
      labels: own.type === 'summary' ? [...own.labels, 'quantile'] : own.labels,
    };
  const m = /^(.*)(_bucket|_sum|_count)$/.exec(name);
  const base = m ? families.get(m[1]!) : undefined;
  if (!m || !base) return undefined;
  const suffix = m[2] as Series['suffix'];
  if (base.type === 'histogram')
    return { family: base, suffix, labels: suffix === '_bucket' ? [...base.labels, 'le'] : base.labels };
  if (base.type === 'summary' && suffix !== '_bucket') return { family: base, suffix, labels: base.labels };
  return undefined;
}

// ---- analysis ----

/** Every selector in an expression, in order. */
export function selectors(e: Expr): Array<Extract<Expr, { kind: 'selector' }>> {
  switch (e.kind) {
    case 'selector':
      return [e];
    case 'range':
    case 'paren':
    case 'unary':
      return selectors(e.expr);
    case 'call':
      return e.args.flatMap(selectors);
    case 'aggregate':
      return [...(e.param ? selectors(e.param) : []), ...selectors(e.expr)];
    case 'binary':
      return [...selectors(e.left), ...selectors(e.right)];
    default:
      return [];
  }
}

/** The metric name of a selector: its name, or an equality matcher on `__name__`. */
export function selectorMetric(s: Extract<Expr, { kind: 'selector' }>): string | undefined {
  return s.name ?? s.matchers.find((m) => m.label === '__name__' && m.op === '=')?.value;
}

/** The metric names an expression reads (`parsePromQL` errors propagate). */
export function metricNames(expr: string): string[] {
  return [...new Set(selectors(parsePromQL(expr)).flatMap((s) => selectorMetric(s) ?? []))];
}

export interface CheckOptions {
  /** Labels every scraped series carries besides its own (the scrape target's). */
  targetLabels: readonly string[];
}

export interface CheckResult {
  /** The metric names read. */
  metrics: string[];
  /** Problems, each a sentence naming the metric and the label. */
  issues: string[];
  /** The labels of the result's series; undefined when not known (an unknown metric, absent()). */
  labels: Set<string> | undefined;
}

type Labels = Set<string> | 'scalar' | 'unknown';

const RATE_FUNCTIONS = new Set(['rate', 'irate', 'increase', 'resets']);
const SCALAR_FUNCTIONS = new Set(['time', 'scalar', 'pi']);

/**
 * Checks that every metric `expr` reads is one of `families`, and every label it names is one the series
 * it applies to carry. Also: rate()/increase() only over counters, histograms read through their
 * _bucket/_sum/_count series, histogram_quantile() over buckets still grouped by `le`.
 */
export function checkPromQL(expr: string, families: Map<string, Family>, opts: CheckOptions): CheckResult {
  const issues: string[] = [];
  let tree: Expr;
  try {
    tree = parsePromQL(expr);
  } catch (e) {
    return { metrics: [], issues: [(e as Error).message], labels: undefined };
  }
  const show = (l: Set<string>) => `[${[...l].sort().join(', ')}]`;
  const missing = (need: string[], have: Labels) =>
    have instanceof Set ? need.filter((l) => !have.has(l)) : [];
  const named = (e: Expr) =>
    [...new Set(selectors(e).map((s) => selectorMetric(s) ?? '{…}'))].join(', ') || 'a scalar';

  const labelsOf = (e: Expr): Labels => {
    switch (e.kind) {
      case 'number':
      case 'string':
        return 'scalar';
      case 'selector': {
        const name = selectorMetric(e);
        if (name === undefined) {
          issues.push(`a selector without a metric name ({${e.matchers.map((m) => m.label).join(', ')}})`);
          return 'unknown';
        }
        const series = resolveSeries(name, families);
        if (!series) {
          const hist = families.get(name);
          issues.push(
            hist?.type === 'histogram'
              ? `${name} is a histogram: read ${name}_bucket, _sum or _count`
              : `${name} is not a metric the service exports`,
          );
          return 'unknown';
        }
        const have = new Set([...series.labels, ...opts.targetLabels]);
        for (const m of e.matchers)
          if (m.label !== '__name__' && !have.has(m.label))
            issues.push(
              `label "${m.label}" in {${m.label}${m.op}"${m.value}"}: ${name} has labels ${show(have)}`,
            );
        return have;
      }
      case 'range':
      case 'paren':
      case 'unary':
        return labelsOf(e.expr);
      case 'call': {
        const args = e.args.map(labelsOf);
        const vector = args.find((a) => a !== 'scalar') ?? 'scalar';
        const str = (i: number) => {
          const a = e.args[i];
          return a?.kind === 'string' ? a.value : undefined;
        };
        if (RATE_FUNCTIONS.has(e.func))
          for (const s of e.args.flatMap(selectors)) {
            const series = resolveSeries(selectorMetric(s) ?? '', families);
            if (series && series.family.type !== 'counter' && series.suffix === '')
              issues.push(
                `${e.func}() over ${series.family.name}, a ${series.family.type}: only counters (or _bucket/_sum/_count)`,
              );
          }
        if (e.func === 'histogram_quantile') {
          const inner = args[1] ?? 'unknown';
          if (inner instanceof Set && !inner.has('le'))
            issues.push(
              `histogram_quantile() over ${named(e.args[1]!)} without the "le" label (group by le)`,
            );
          return inner instanceof Set ? new Set([...inner].filter((l) => l !== 'le')) : inner;
        }
        if (e.func === 'label_replace' || e.func === 'label_join') {
          const dst = str(1);
          const src = e.func === 'label_replace' ? [str(3)] : e.args.slice(3).map((_, i) => str(i + 3));
          for (const l of missing(
            src.filter((x): x is string => !!x),
            args[0] ?? 'unknown',
          ))
            issues.push(`${e.func}() reads label "${l}", which ${named(e.args[0]!)} does not have`);
          return args[0] instanceof Set && dst ? new Set([...args[0], dst]) : (args[0] ?? 'unknown');
        }
        if (e.func === 'vector') return new Set();
        if (SCALAR_FUNCTIONS.has(e.func)) return 'scalar';
        if (e.func === 'absent' || e.func === 'absent_over_time') return 'unknown';
        return vector;
      }
      case 'aggregate': {
        const inner = labelsOf(e.expr);
        if (e.param) labelsOf(e.param);
        const g = e.grouping;
        if (g)
          for (const l of missing(g.labels, inner))
            issues.push(
              `label "${l}" in ${e.op} ${g.without ? 'without' : 'by'} (${g.labels.join(', ')}): ${named(e.expr)} has labels ${show(inner as Set<string>)}`,
            );
        if (['topk', 'bottomk', 'limitk', 'limit_ratio'].includes(e.op)) return inner;
        if (!(inner instanceof Set)) return inner === 'scalar' ? new Set() : inner;
        const out = !g
          ? new Set<string>()
          : g.without
            ? new Set([...inner].filter((l) => !g.labels.includes(l)))
            : new Set(g.labels);
        if (e.op === 'count_values' && e.param?.kind === 'string') out.add(e.param.value);
        return out;
      }
      case 'binary': {
        const l = labelsOf(e.left);
        const r = labelsOf(e.right);
        if (l === 'scalar') return r;
        if (r === 'scalar') return l;
        const where = `${e.op} ${e.matching ? (e.matching.ignoring ? 'ignoring' : 'on') : ''}`;
        if (e.matching && !e.matching.ignoring)
          for (const [side, have, sub] of [
            ['left', l, e.left],
            ['right', r, e.right],
          ] as const)
            for (const x of missing(e.matching.labels, have))
              issues.push(
                `label "${x}" in ${where}(${e.matching.labels.join(', ')}): the ${side} side (${named(sub)}) has labels ${show(have as Set<string>)}`,
              );
        if (e.matching?.ignoring && l instanceof Set && r instanceof Set)
          for (const x of missing(e.matching.labels, new Set([...l, ...r])))
            issues.push(`label "${x}" in ignoring(${e.matching.labels.join(', ')}): neither side has it`);
        if (e.group) {
          const [other, otherExpr] = e.group.side === 'left' ? [r, e.right] : [l, e.left];
          for (const x of missing(e.group.labels, other))
            issues.push(
              `label "${x}" in group_${e.group.side}(${e.group.labels.join(', ')}): ${named(otherExpr)} has labels ${show(other as Set<string>)}`,
            );
        }
        if (l === 'unknown' || r === 'unknown') return 'unknown';
        if (e.op === 'or') return new Set([...l, ...r]);
        if (e.op === 'and' || e.op === 'unless') return l;
        if (e.group) return new Set([...(e.group.side === 'left' ? l : r), ...e.group.labels]);
        if (e.matching)
          return e.matching.ignoring
            ? new Set([...l].filter((x) => !e.matching!.labels.includes(x)))
            : new Set(e.matching.labels);
        return l;
      }
    }
  };

  const out = labelsOf(tree);
  const metrics = [...new Set(selectors(tree).flatMap((s) => selectorMetric(s) ?? []))];
  return { metrics, issues, labels: out instanceof Set ? out : out === 'scalar' ? new Set() : undefined };
}
