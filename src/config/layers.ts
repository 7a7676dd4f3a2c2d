// The pieces loading stacks its layers with: the raw input before validation, with the source of every
// value kept per path (so an error can say which file, variable or flag gave the bad value), and the
// reading of environment and flag strings as the target field's type.

import { loadAll, YAMLException } from 'js-yaml';
import type { ConfigSource } from './errors.ts';
import type { FieldInfo } from './fields.ts';

export type Path = readonly (string | number)[];
export type Raw = Record<string, unknown>;

export const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `discovery[0].labels.color` */
export function formatPath(path: Path): string {
  return path.reduce<string>(
    (acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc === '' ? seg : `${acc}.${seg}`),
    '',
  );
}

const keyOf = (path: Path): string => JSON.stringify(path.map(String));

// An own property even for "__proto__", so such a key is reported as unknown rather than swapping the
// object's prototype (and smuggling inherited values past the strict schema).
const define = (obj: Raw, key: string, value: unknown): void => {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
};

/** The layered raw input (before the schema) and, per path, where its value came from. */
export class Layers {
  readonly raw: Raw = {};
  private readonly sources = new Map<string, ConfigSource>();

  /** Replaces the value at `path`, forgetting the sources of whatever it replaces. */
  set(path: Path, value: unknown, source: ConfigSource): void {
    let node = this.raw;
    for (const seg of path.slice(0, -1)) {
      const next = Object.hasOwn(node, seg) ? node[seg] : undefined;
      if (!isObject(next)) define(node, String(seg), {});
      node = node[seg] as Raw;
    }
    define(node, String(path[path.length - 1]), value);
    const prefix = keyOf(path).slice(0, -1);
    for (const k of this.sources.keys()) if (k.startsWith(prefix)) this.sources.delete(k);
    this.record(path, value, source);
  }

  private record(path: Path, value: unknown, source: ConfigSource): void {
    this.sources.set(keyOf(path), source);
    if (Array.isArray(value)) value.forEach((v, i) => this.record([...path, i], v, source));
    else if (isObject(value))
      for (const [k, v] of Object.entries(value)) this.record([...path, k], v, source);
  }

  /** The source of the deepest recorded path that is a prefix of `path`. */
  sourceOf(path: Path): ConfigSource {
    for (let n = path.length; n >= 0; n--) {
      const s = this.sources.get(keyOf(path.slice(0, n)));
      if (s !== undefined) return s;
    }
    return 'default';
  }

  valueAt(path: Path): unknown {
    let v: unknown = this.raw;
    for (const seg of path) {
      if (Array.isArray(v) && typeof seg === 'number') v = v[seg];
      else if (isObject(v) && Object.hasOwn(v, seg)) v = v[String(seg)];
      else return undefined;
    }
    return v;
  }
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
// Go's strconv.ParseBool, which cluster-autoscaler's boolean flags use.
const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

export type Coerced = { ok: true; value: unknown } | { ok: false; detail: string };

/** A string from the environment or a flag, as the field's type. Unparseable text is left for the schema to reject. */
export function coerce(kind: FieldInfo['kind'], text: string, label: string): Coerced {
  switch (kind) {
    case 'integer':
    case 'number':
      return { ok: true, value: NUMBER.test(text) ? Number(text) : text };
    case 'boolean':
      return { ok: true, value: TRUE.has(text) ? true : FALSE.has(text) ? false : text };
    case 'map':
    case 'list': {
      let docs: unknown[];
      try {
        docs = loadAll(text, { filename: label });
      } catch (e) {
        return { ok: false, detail: `not valid YAML: ${yamlReason(e)}` };
      }
      const doc = docs[0];
      if (kind === 'map' || Array.isArray(doc)) return { ok: true, value: doc };
      // Lists also take whitespace-separated items, e.g. cluster-autoscaler's discovery specs.
      if (typeof doc === 'string') return { ok: true, value: doc.split(/\s+/).filter((s) => s !== '') };
      return { ok: true, value: doc === null || doc === undefined ? [] : [doc] };
    }
    default:
      return { ok: true, value: text };
  }
}

export function yamlReason(e: unknown): string {
  if (e instanceof YAMLException) {
    const at = e.mark ? ` at line ${e.mark.line + 1}, column ${e.mark.column + 1}` : '';
    return `${e.reason}${at}`;
  }
  return e instanceof Error ? e.message : String(e);
}
