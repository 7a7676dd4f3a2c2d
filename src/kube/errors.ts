// HTTP statuses are mapped to error classes once, here; callers decide by class, not by number.

export type KubeErrorKind = 'NotFound' | 'Conflict' | 'Transient' | 'Terminal';

export class KubeError extends Error {
  override name = 'KubeError';
  readonly kind: KubeErrorKind;
  readonly status: number;
  /** The Status object's reason (AlreadyExists, Conflict, TooManyRequests, ...), when the server sent one. */
  readonly reason: string;
  readonly method: string;
  readonly path: string;
  /** Server-requested delay (Retry-After header or Status details.retryAfterSeconds). */
  readonly retryAfterMs: number | undefined;
  /** The Status object's `details.causes` messages (e.g. which PodDisruptionBudget refused an eviction). */
  readonly causes: readonly string[];
  constructor(o: {
    kind: KubeErrorKind;
    status: number;
    reason: string;
    method: string;
    path: string;
    message: string;
    retryAfterMs?: number;
    causes?: readonly string[];
    cause?: unknown;
  }) {
    super(
      `${o.method} ${o.path}: ${o.status ? `${o.status} ` : ''}${o.reason ? `${o.reason}: ` : ''}${o.message}`,
      {
        cause: o.cause,
      },
    );
    this.kind = o.kind;
    this.status = o.status;
    this.reason = o.reason;
    this.method = o.method;
    this.path = o.path;
    this.retryAfterMs = o.retryAfterMs;
    this.causes = o.causes ?? [];
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeError && e.kind === 'NotFound';
export const isConflict = (e: unknown): boolean => e instanceof KubeError && e.kind === 'Conflict';
export const isTransient = (e: unknown): boolean => e instanceof KubeError && e.kind === 'Transient';

/** The error class of an HTTP status: 429 and 5xx (but 501) are transient, 404 and 409 have their own. */
export function kindOfStatus(status: number): KubeErrorKind | null {
  if (status >= 200 && status < 300) return null;
  if (status === 404) return 'NotFound';
  if (status === 409) return 'Conflict';
  if (status === 429 || (status >= 500 && status !== 501)) return 'Transient';
  return 'Terminal';
}

/** Retry-After in seconds (header) or details.retryAfterSeconds (Status body), whichever is present. */
export function retryAfterMs(
  headers: Record<string, string | string[] | undefined>,
  body: unknown,
): number | undefined {
  const h = headers['retry-after'];
  const v = Array.isArray(h) ? h[0] : h;
  if (v !== undefined && /^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const s = (body as { details?: { retryAfterSeconds?: unknown } } | undefined)?.details?.retryAfterSeconds;
  return typeof s === 'number' && s >= 0 ? s * 1000 : undefined;
}

export function errorFromResponse(
  method: string,
  path: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
): KubeError {
  let body:
    { reason?: string; message?: string; details?: { causes?: Array<{ message?: unknown }> } } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  return new KubeError({
    kind: kindOfStatus(status) ?? 'Terminal',
    status,
    reason: body?.reason ?? '',
    method,
    path,
    message: body?.message ?? text.slice(0, 300),
    retryAfterMs: retryAfterMs(headers, body),
    causes: (Array.isArray(body?.details?.causes) ? body.details.causes : [])
      .map((c) => c?.message)
      .filter((m): m is string => typeof m === 'string'),
  });
}
