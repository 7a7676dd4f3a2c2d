// A typed cursor over untrusted JSON. Every accessor checks the JSON type and throws CapiParseError naming
// the dotted field path, so adapters read like the schema and never coerce or silently default.
// `null` counts as absent: the apiserver may echo explicit nulls for unset pointers.
import { nanosecondsToSeconds, parseGoDuration } from './duration.ts';
import { CapiParseError, type ParseSubject } from './errors.ts';
import type { ConditionStatus } from './types.ts';

const INT32_MAX = 2 ** 31 - 1;
const CONDITION_STATUSES: readonly string[] = ['True', 'False', 'Unknown'] satisfies ConditionStatus[];

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export class Field {
  readonly value: unknown;
  readonly path: string;
  readonly subject: ParseSubject;

  constructor(subject: ParseSubject, value: unknown, path = '') {
    this.subject = subject;
    this.value = value;
    this.path = path;
  }

  get absent(): boolean {
    return this.value === undefined || this.value === null;
  }

  fail(detail: string): never {
    throw new CapiParseError(this.subject, this.path, detail);
  }

  /** A child by key; absent if this field is absent. Fails if this field is present but not an object. */
  get(key: string): Field {
    const path = this.path ? `${this.path}.${key}` : key;
    if (this.absent) return new Field(this.subject, undefined, path);
    const obj = this.objectValue();
    return new Field(this.subject, Object.hasOwn(obj, key) ? obj[key] : undefined, path);
  }

  /** Follows a dotted path of keys. */
  at(dotted: string): Field {
    return dotted.split('.').reduce<Field>((f, k) => f.get(k), this);
  }

  private objectValue(): Record<string, unknown> {
    if (typeof this.value !== 'object' || this.value === null || Array.isArray(this.value)) {
      this.fail(`expected an object, got ${describe(this.value)}`);
    }
    return this.value as Record<string, unknown>;
  }

  required(): this {
    if (this.absent) this.fail('is required');
    return this;
  }

  /** Fails unless the field is absent or an object. */
  object(): this {
    if (!this.absent) this.objectValue();
    return this;
  }

  /** Entries of an array (absent → []). */
  items(): Field[] {
    if (this.absent) return [];
    if (!Array.isArray(this.value)) this.fail(`expected an array, got ${describe(this.value)}`);
    return this.value.map((v: unknown, i) => new Field(this.subject, v, `${this.path}[${i}]`));
  }

  optString(): string | undefined {
    if (this.absent) return undefined;
    if (typeof this.value !== 'string') this.fail(`expected a string, got ${describe(this.value)}`);
    return this.value;
  }

  /** A required, non-empty string. */
  string(): string {
    const s = this.required().optString() ?? '';
    if (s === '') this.fail('must not be empty');
    return s;
  }

  /** A string that is absent or, if present, non-empty (schemas with minLength 1). */
  optNonEmptyString(): string | undefined {
    const s = this.optString();
    if (s === '') this.fail('must not be empty');
    return s;
  }

  optBool(): boolean | undefined {
    if (this.absent) return undefined;
    if (typeof this.value !== 'boolean') this.fail(`expected a boolean, got ${describe(this.value)}`);
    return this.value;
  }

  /** An integer in [min, INT32_MAX]; `min` defaults to 0 because every count and timeout here is non-negative. */
  optInt(min = 0): number | undefined {
    if (this.absent) return undefined;
    const v = this.value;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(`expected an integer, got ${describe(v)}`);
    if (v < min || v > INT32_MAX) this.fail(`${v} is out of range [${min}, ${INT32_MAX}]`);
    return v;
  }

  /** An int64 (observedGeneration, generation); JSON numbers above 2^53 cannot be trusted, so they fail. */
  optInt64(): number | undefined {
    if (this.absent) return undefined;
    const v = this.value;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      this.fail(`expected a non-negative integer, got ${describe(v)}`);
    }
    return v;
  }

  /** One of a fixed set of strings. */
  optEnum<T extends string>(allowed: readonly T[]): T | undefined {
    const s = this.optString();
    if (s === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(s)) {
      this.fail(`${JSON.stringify(s)} is not one of ${allowed.join(', ')}`);
    }
    return s as T;
  }

  conditionStatus(): ConditionStatus {
    return this.required().optEnum(CONDITION_STATUSES) as ConditionStatus;
  }

  /** A map of string to string (labels, annotations, matchLabels); absent → {}. */
  stringMap(): Record<string, string> {
    if (this.absent) return {};
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.objectValue())) {
      if (typeof v !== 'string') return this.get(k).fail(`expected a string, got ${describe(v)}`);
      out[k] = v;
    }
    return out;
  }

  stringList(): string[] {
    return this.items().map((f) => f.required().optString() as string);
  }

  /** IntOrString as CAPI uses it: a non-negative integer or a percentage such as "30%". */
  optIntOrPercent(): number | string | undefined {
    if (typeof this.value === 'string') {
      if (!/^[0-9]+%$/.test(this.value))
        this.fail(`expected an integer or a percentage like "30%", got ${describe(this.value)}`);
      return this.value;
    }
    return this.optInt();
  }

  /** A v1beta1 Go duration string, as whole seconds (truncated and capped like CAPI's ConvertToSeconds). */
  optDurationSeconds(): number | undefined {
    const s = this.optString();
    if (s === undefined) return undefined;
    const r = parseGoDuration(s);
    if (!r.ok) this.fail(r.error);
    if (r.nanoseconds < 0n) this.fail(`duration ${JSON.stringify(s)} must not be negative`);
    return nanosecondsToSeconds(r.nanoseconds);
  }
}

/** The root cursor of an object, with the identity used in error messages. */
export function rootField(obj: unknown, kind: string): Field {
  const meta =
    typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)['metadata'] : undefined;
  const m = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : {};
  const name = typeof m['name'] === 'string' ? m['name'] : '';
  const namespace = typeof m['namespace'] === 'string' ? m['namespace'] : '';
  return new Field({ kind, name, namespace }, obj).required().object();
}
