// A flat catalogue of the configuration's settable fields, derived from the schema's JSON Schema (input
// side, so durations read as the strings a user writes). Loading uses it to type environment and flag
// values and to say what is allowed; the reference table in the README is rendered from it.

import { z } from 'zod';
import { ConfigSchema } from './schema.ts';

export const ENV_PREFIX = 'CAPI_AUTOPILOT_';

/** `CAPI_AUTOPILOT_` variables that are not configuration fields (file path, sandbox and test harness). */
export const RESERVED_ENV = new Set([
  `${ENV_PREFIX}CONFIG`,
  `${ENV_PREFIX}K8S_BIN`,
  `${ENV_PREFIX}CACHE`,
  `${ENV_PREFIX}PID_LOG`,
]);

export type FieldKind = 'string' | 'integer' | 'number' | 'boolean' | 'enum' | 'duration' | 'map' | 'list';

export interface FieldInfo {
  readonly path: readonly string[];
  /** Dotted path, e.g. `kubeClient.qps`. */
  readonly name: string;
  readonly kind: FieldKind;
  readonly envVar: string;
  readonly description: string;
  /** Default as written in YAML ("10m", not 600000); undefined when unset by default. */
  readonly defaultValue: unknown;
  /** Words for a default the schema computes (e.g. "scan interval"). */
  readonly defaultText: string | undefined;
  readonly allowed: string;
}

/** The subset of JSON Schema zod emits for this schema, plus our `.meta()` keys. */
export interface JsonNode {
  type?: string;
  properties?: Record<string, JsonNode>;
  additionalProperties?: boolean | JsonNode;
  items?: JsonNode;
  enum?: readonly unknown[];
  anyOf?: readonly JsonNode[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  kind?: string;
  allowed?: string;
  defaultText?: string;
}

export const CONFIG_JSON_SCHEMA = z.toJSONSchema(ConfigSchema, { io: 'input' }) as JsonNode;

/** camelCase → UPPER_SNAKE ("scaleDownUnneededTime" → "SCALE_DOWN_UNNEEDED_TIME"). */
export function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/**
 * `CAPI_AUTOPILOT_<SECTION>_<KEY>`: the section as one word (KUBECLIENT, LEADERELECTION), so the first `_`
 * after the prefix always ends it, and the key in upper snake case (SCALE_DOWN_UNNEEDED_TIME).
 */
export function envVarFor(path: readonly string[]): string {
  const [first = '', ...rest] = path;
  if (rest.length === 0) return `${ENV_PREFIX}${upperSnake(first)}`;
  return `${ENV_PREFIX}${first.toUpperCase()}_${rest.map(upperSnake).join('_')}`;
}

const isSection = (node: JsonNode): boolean => node.type === 'object' && node.properties !== undefined;

function kindOf(node: JsonNode): FieldKind {
  if (node.kind === 'duration') return 'duration';
  if (node.enum !== undefined) return 'enum';
  switch (node.type) {
    case 'integer':
    case 'number':
    case 'boolean':
    case 'string':
      return node.type;
    case 'object':
      return 'map';
    case 'array':
      return 'list';
    default:
      return 'string'; // unions of string formats (e.g. an IP address)
  }
}

function rangeText(node: JsonNode, noun: string): string {
  // z.number().int() bounds itself by the safe integers; that is not worth saying.
  const lo = node.minimum === -Number.MAX_SAFE_INTEGER ? undefined : node.minimum;
  const hi = node.maximum === Number.MAX_SAFE_INTEGER ? undefined : node.maximum;
  if (lo !== undefined && hi !== undefined) return `${noun} from ${lo} to ${hi}`;
  if (node.exclusiveMinimum !== undefined) return `${noun} greater than ${node.exclusiveMinimum}`;
  if (lo !== undefined) return `${noun} >= ${lo}`;
  if (hi !== undefined) return `${noun} <= ${hi}`;
  return noun;
}

function allowedText(node: JsonNode, kind: FieldKind): string {
  if (node.allowed !== undefined) return node.allowed;
  switch (kind) {
    case 'enum':
      return `one of ${(node.enum ?? []).map(String).join(', ')}`;
    case 'integer':
      return rangeText(node, 'an integer');
    case 'number':
      return rangeText(node, 'a number');
    case 'boolean':
      return 'true or false';
    case 'duration':
      return 'a Go duration such as "90s", "10m" or "1h30m"';
    case 'map':
      return 'a map of name to string';
    case 'list':
      return 'a list';
    case 'string':
      return 'a non-empty string';
  }
}

function collect(node: JsonNode, path: string[], out: FieldInfo[]): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const childPath = [...path, key];
    if (isSection(child)) {
      collect(child, childPath, out);
      continue;
    }
    const kind = kindOf(child);
    out.push({
      path: childPath,
      name: childPath.join('.'),
      kind,
      envVar: envVarFor(childPath),
      description: child.description ?? '',
      defaultValue: child.default,
      defaultText: child.defaultText,
      allowed: allowedText(child, kind),
    });
  }
}

function buildFields(): readonly FieldInfo[] {
  const out: FieldInfo[] = [];
  collect(CONFIG_JSON_SCHEMA, [], out);
  const seen = new Map<string, string>();
  for (const f of out) {
    const clash = seen.get(f.envVar);
    // A programming error in the schema, caught by any test that imports this module.
    if (clash !== undefined) throw new Error(`fields ${clash} and ${f.name} both map to ${f.envVar}`);
    seen.set(f.envVar, f.name);
  }
  return Object.freeze(out);
}

export const FIELDS: readonly FieldInfo[] = buildFields();

const BY_NAME = new Map(FIELDS.map((f) => [f.name, f]));
const BY_ENV = new Map(FIELDS.map((f) => [f.envVar, f]));

export const fieldByName = (name: string): FieldInfo | undefined => BY_NAME.get(name);
export const fieldByEnvVar = (envVar: string): FieldInfo | undefined => BY_ENV.get(envVar);

/** The JSON Schema node at a path (array indexes as numbers), or undefined if the path leads nowhere. */
export function schemaAt(path: readonly (string | number)[]): JsonNode | undefined {
  let node: JsonNode | undefined = CONFIG_JSON_SCHEMA;
  for (const seg of path) {
    if (node === undefined) return undefined;
    if (typeof seg === 'number') {
      node = node.items;
    } else if (node.properties !== undefined) {
      node = node.properties[seg];
    } else {
      node = typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
    }
  }
  return node;
}

/** The field names an object at `path` accepts (for "unknown field" messages). */
export function knownKeysAt(path: readonly (string | number)[]): readonly string[] {
  return Object.keys(schemaAt(path)?.properties ?? {});
}

/** Names that differ only in underscores or case (KUBE_CLIENT_QPS for KUBECLIENT_QPS), for "did you mean". */
export function suggestEnvVar(envVar: string): string | undefined {
  const squash = (s: string) => s.replaceAll('_', '').toUpperCase();
  return FIELDS.find((f) => squash(f.envVar) === squash(envVar))?.envVar;
}
