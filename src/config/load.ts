// Loads the configuration once at startup. Precedence, lowest first:
//
//   1. defaults (the schema)
//   2. the YAML file named by --config PATH, else by CAPI_AUTOPILOT_CONFIG
//   3. environment variables CAPI_AUTOPILOT_<SECTION>_<KEY> (e.g. CAPI_AUTOPILOT_KUBECLIENT_QPS=20)
//   4. flags, in order: --set section.key=value (repeatable) and the shorthands --kubeconfig,
//      --log-level, --port (a later flag wins over an earlier one)
//
// A higher layer replaces the value at the path it names (a map given in the environment replaces the
// file's map). Environment and flag values are read as the target field's type: numbers and booleans
// parsed, lists and maps as YAML (`[{namespace: blue}]`, `{demo: /k/demo.yaml}`). Every problem is
// collected (file, environment, flags, then the schema) and thrown as one ConfigError naming each field,
// value, what is allowed, and the source. The result is deeply frozen.
//
// argv, env and readFile are injected so tests need no real process state; `processConfigSources`
// supplies the real ones (this directory is the only place allowed to read process.env).

import { readFileSync } from 'node:fs';
import { loadAll, YAMLException } from 'js-yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem, type ConfigSource } from './errors.ts';
import {
  ENV_PREFIX,
  FIELDS,
  RESERVED_ENV,
  fieldByEnvVar,
  fieldByName,
  knownKeysAt,
  schemaAt,
  suggestEnvVar,
  type FieldInfo,
} from './fields.ts';
import { coerce, formatPath, isObject, Layers, type Path } from './layers.ts';
import { ConfigSchema, deepFreeze, type Config } from './schema.ts';

export interface ConfigSources {
  /** Configuration flags only (the caller strips its own command and flags). */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Reads a whole UTF-8 file; throws (with `code`, e.g. ENOENT) when it cannot. */
  readFile: (path: string) => string;
}

export function processConfigSources(argv: readonly string[]): ConfigSources {
  return { argv, env: process.env, readFile: (path) => readFileSync(path, 'utf8') };
}

export const CONFIG_ENV = `${ENV_PREFIX}CONFIG`;
const FILE_FIELD = '(config file)';
const FLAG_FIELD = '(flags)';
const SHORTHANDS: Readonly<Record<string, string>> = {
  kubeconfig: 'management.kubeconfig',
  'log-level': 'log.level',
  port: 'server.port',
};
const FLAGS = ['config', 'set', ...Object.keys(SHORTHANDS)];

// ---- the layers ----

function readConfigFile(
  path: string,
  origin: ConfigSource,
  io: ConfigSources,
  problems: ConfigProblem[],
): unknown {
  let text: string;
  try {
    text = io.readFile(path);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const why = code === 'ENOENT' ? 'no such file' : typeof code === 'string' ? code : (e as Error).message;
    problems.push({
      field: FILE_FIELD,
      value: path,
      allowed: 'a readable YAML file',
      source: origin,
      detail: `cannot read ${path}: ${why}`,
    });
    return undefined;
  }
  const source: ConfigSource = `file:${path}`;
  let docs: unknown[];
  try {
    docs = loadAll(text, { filename: path });
  } catch (e) {
    const where =
      e instanceof YAMLException && e.mark ? `${path}:${e.mark.line + 1}:${e.mark.column + 1}` : path;
    const reason = e instanceof YAMLException ? e.reason : String(e);
    problems.push({
      field: FILE_FIELD,
      value: path,
      allowed: 'valid YAML',
      source,
      detail: `YAML syntax error at ${where}: ${reason}`,
    });
    return undefined;
  }
  if (docs.length > 1) {
    problems.push({
      field: FILE_FIELD,
      value: path,
      allowed: 'a single YAML document',
      source,
      detail: `${path} holds ${docs.length} YAML documents`,
    });
    return undefined;
  }
  const doc = docs[0] ?? {};
  if (!isObject(doc)) {
    problems.push({
      field: '(root)',
      value: doc,
      allowed: `a mapping with the sections ${knownKeysAt([]).join(', ')}`,
      source,
      detail: `${path} is not a YAML mapping`,
    });
    return undefined;
  }
  return doc;
}

function applyEnv(env: ConfigSources['env'], layers: Layers, problems: ConfigProblem[]): void {
  const names = Object.keys(env)
    .filter((n) => n.startsWith(ENV_PREFIX) && !RESERVED_ENV.has(n))
    .sort();
  for (const name of names) {
    const text = env[name];
    // An empty variable counts as unset (templated manifests often render empty values).
    if (text === undefined || text === '') continue;
    const source: ConfigSource = `env:${name}`;
    const field = fieldByEnvVar(name);
    if (field === undefined) {
      const hint = suggestEnvVar(name);
      problems.push({
        field: name.slice(ENV_PREFIX.length).toLowerCase(),
        value: text,
        allowed: hint
          ? `${hint} (did you mean it?)`
          : `one of the ${FIELDS.length} variables in the README's configuration table`,
        source,
        detail: `unknown variable ${name}`,
      });
      continue;
    }
    const value = coerce(field.kind, text, name);
    if (value.ok) layers.set(field.path, value.value, source);
    else
      problems.push({ field: field.name, value: text, allowed: field.allowed, source, detail: value.detail });
  }
}

interface FlagOps {
  configPath: string | undefined;
  sets: { path: string; text: string; source: ConfigSource }[];
}

/** Splits argv into --config and ordered assignments; a tiny parser so one bad flag does not hide the others. */
function parseFlags(argv: readonly string[], problems: ConfigProblem[]): FlagOps {
  const ops: FlagOps = { configPath: undefined, sets: [] };
  const bad = (field: string, value: unknown, source: ConfigSource, allowed: string, detail: string) =>
    problems.push({ field, value, allowed, source, detail });
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) {
      bad(FLAG_FIELD, arg, `flag:${arg}`, FLAGS.map((f) => `--${f}`).join(', '), 'unexpected argument');
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (!FLAGS.includes(name)) {
      bad(FLAG_FIELD, arg, `flag:${arg}`, FLAGS.map((f) => `--${f}`).join(', '), `unknown flag --${name}`);
      continue;
    }
    const text = eq < 0 ? argv[++i] : arg.slice(eq + 1);
    if (text === undefined) {
      bad(FLAG_FIELD, undefined, `flag:--${name}`, `--${name} VALUE`, `--${name} needs a value`);
      break;
    }
    if (name === 'config') {
      ops.configPath = text;
    } else if (name === 'set') {
      const source: ConfigSource = `flag:--set ${text}`;
      const at = text.indexOf('=');
      if (at <= 0) {
        bad(at < 0 ? text : FLAG_FIELD, text, source, 'section.key=value', `--set needs section.key=value`);
        continue;
      }
      ops.sets.push({ path: text.slice(0, at), text: text.slice(at + 1), source });
    } else {
      ops.sets.push({ path: SHORTHANDS[name] ?? name, text, source: `flag:--${name}=${text}` });
    }
  }
  return ops;
}

/** A --set path: a known field, or a key inside a map field (`workloadClusters.kubeconfigs.demo`). */
function resolveSetPath(
  dotted: string,
): { path: readonly string[]; kind: FieldInfo['kind']; allowed: string } | undefined {
  const exact = fieldByName(dotted);
  if (exact) return exact;
  const map = FIELDS.find((f) => f.kind === 'map' && dotted.startsWith(`${f.name}.`));
  if (map === undefined) return undefined;
  return {
    path: [...map.path, dotted.slice(map.name.length + 1)],
    kind: 'string',
    allowed: 'a non-empty string',
  };
}

function applyFlags(ops: FlagOps, layers: Layers, problems: ConfigProblem[]): void {
  for (const op of ops.sets) {
    const target = resolveSetPath(op.path);
    if (target === undefined) {
      const [section = ''] = op.path.split('.');
      const keys = schemaAt([section])?.properties
        ? knownKeysAt([section]).map((k) => `${section}.${k}`)
        : knownKeysAt([]);
      problems.push({
        field: op.path,
        value: op.text,
        allowed: `one of ${keys.join(', ')}`,
        source: op.source,
        detail: 'no such field',
      });
      continue;
    }
    const value = coerce(target.kind, op.text, op.source);
    if (value.ok) layers.set(target.path, value.value, op.source);
    else
      problems.push({
        field: op.path,
        value: op.text,
        allowed: target.allowed,
        source: op.source,
        detail: value.detail,
      });
  }
}

// ---- schema issues to problems ----

function issueProblems(issue: z.core.$ZodIssue, layers: Layers): ConfigProblem[] {
  const path = issue.path as Path;
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(path);
    return issue.keys.map((key) => ({
      field: formatPath([...path, key]),
      value: layers.valueAt([...path, key]),
      allowed: known.length > 0 ? `one of ${known.join(', ')}` : 'no other fields',
      source: layers.sourceOf([...path, key]),
      detail: 'unknown field',
    }));
  }
  const params = (issue.code === 'custom' ? issue.params : undefined) as
    { allowed?: string; fields?: string[] } | undefined;
  // A rule over several fields names the first one the user actually set (its value and source).
  const blamed = params?.fields?.map((f) => f.split('.')).find((p) => layers.valueAt(p) !== undefined);
  const at: Path = blamed ?? path;
  const field = formatPath(at) || '(root)';
  if (issue.code === 'invalid_key') {
    const key = path[path.length - 1];
    const inner = issue.issues.map(
      (i) => (i.code === 'custom' ? (i.params?.allowed as string | undefined) : undefined) ?? i.message,
    );
    const detail = `invalid key ${JSON.stringify(key)}`;
    return [{ field, value: key, allowed: inner.join('; '), source: layers.sourceOf(path), detail }];
  }
  const allowed =
    params?.allowed ??
    fieldByName(field)?.allowed ??
    schemaAt(at)?.allowed ??
    (issue.code === 'invalid_value' ? `one of ${issue.values.join(', ')}` : issue.message);
  return [{ field, value: layers.valueAt(at), allowed, source: layers.sourceOf(at), detail: issue.message }];
}

/** Loads, validates and freezes the configuration; throws ConfigError listing every problem. */
export function loadConfig(io: ConfigSources): Config {
  const problems: ConfigProblem[] = [];
  const layers = new Layers();
  const flags = parseFlags(io.argv, problems);

  const envPath = io.env[CONFIG_ENV];
  const configPath = flags.configPath ?? (envPath === '' ? undefined : envPath);
  if (configPath !== undefined) {
    const origin: ConfigSource =
      flags.configPath !== undefined ? `flag:--config=${configPath}` : `env:${CONFIG_ENV}`;
    const doc = readConfigFile(configPath, origin, io, problems);
    if (isObject(doc)) for (const [k, v] of Object.entries(doc)) layers.set([k], v, `file:${configPath}`);
  }
  applyEnv(io.env, layers, problems);
  applyFlags(flags, layers, problems);

  // The Lease lives in the pod's own namespace when the downward API tells us which one that is.
  const podNamespace = io.env.POD_NAMESPACE;
  const election = layers.valueAt(['leaderElection']);
  const unset = election === undefined || (isObject(election) && election.namespace === undefined);
  if (podNamespace && unset) {
    layers.set(['leaderElection', 'namespace'], podNamespace, 'env:POD_NAMESPACE');
  }

  const parsed = ConfigSchema.safeParse(layers.raw);
  if (!parsed.success)
    for (const issue of parsed.error.issues) problems.push(...issueProblems(issue, layers));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return deepFreeze(parsed.data);
}
