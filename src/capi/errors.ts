// The one error the adapters throw for malformed input. The service must never act on an object it could
// not read, so callers treat this as "skip this object and report it", never as a reason to fall back.

export interface ParseSubject {
  kind: string;
  /** metadata.name of the object being read ('' when the object has none). */
  name: string;
  namespace: string;
}

export class CapiParseError extends Error {
  override readonly name = 'CapiParseError';
  readonly code = 'CapiParse';
  readonly kind: string;
  /** metadata.name of the offending object. (`name` is the error's class name, as for every Error.) */
  readonly objectName: string;
  readonly namespace: string;
  /** Dotted JSON path of the offending field, e.g. `spec.checks.unhealthyNodeConditions[0].timeoutSeconds`. */
  readonly field: string;
  /** What is wrong with the field, without the object and field prefix. */
  readonly detail: string;

  constructor(subject: ParseSubject, field: string, detail: string, options?: { cause?: unknown }) {
    const where = subject.namespace ? `${subject.namespace}/${subject.name}` : subject.name || '<unnamed>';
    super(`${subject.kind || 'object'} ${where}: ${field || '<root>'}: ${detail}`, options);
    this.kind = subject.kind;
    this.objectName = subject.name;
    this.namespace = subject.namespace;
    this.field = field;
    this.detail = detail;
  }
}
