// The one error configuration loading throws. It carries every problem found, not just the first, so an
// operator fixes a config file in one round trip instead of one error per restart.

/** Where a value came from: a default, a YAML file, an environment variable or a command-line flag. */
export type ConfigSource = 'default' | `file:${string}` | `env:${string}` | `flag:${string}`;

export interface ConfigProblem {
  /** Dotted path of the field, e.g. `autoscaler.scaleDownUtilizationThreshold` or `discovery[0].namespace`. */
  readonly field: string;
  /** The offending value as given (undefined when the problem is a missing value). */
  readonly value: unknown;
  /** What would have been accepted, in words. */
  readonly allowed: string;
  readonly source: ConfigSource;
  /** What is wrong, without the field, value and source (the message adds those). */
  readonly detail: string;
}

const MAX_VALUE_CHARS = 120;

function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 3)}...` : text;
}

/** One problem on one line: field, what is wrong, the value, what is allowed, and where it came from. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.field}: ${p.detail}; got ${showValue(p.value)}; allowed: ${p.allowed}; source: ${p.source}`;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'Config';
  readonly problems: readonly ConfigProblem[];
  /** The first problem's field, value, allowed values and source (all of them are in `problems`). */
  readonly field: string;
  readonly value: unknown;
  readonly allowed: string;
  readonly source: ConfigSource;

  constructor(problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    const [first] = problems;
    if (first === undefined) throw new RangeError('ConfigError needs at least one problem');
    super(
      problems.length === 1
        ? `invalid configuration: ${formatProblem(first)}`
        : `invalid configuration, ${problems.length} problems:\n${problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}`,
      options,
    );
    this.problems = Object.freeze([...problems]);
    this.field = first.field;
    this.value = first.value;
    this.allowed = first.allowed;
    this.source = first.source;
  }
}
