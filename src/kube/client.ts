// The one client every controller writes through: a token bucket (client-go's QPS/burst model) over all
// requests, retries with exponential backoff and jitter for transient failures honouring Retry-After,
// never a blind retry of a write that may have been applied, and a guard that refuses writes when this
// replica must not act (lost leadership). Reads for decisions come from informers, not from here.
import type Bottleneck from 'bottleneck';
import { createLimiter } from './limiter.ts';
import { ATTR, inSpan, recordingSpan, SpanKind, type Span } from '../tracing/spans.ts';
import { parseApiPath, resourceLabel } from './apipath.ts';
import { errorFromResponse, KubeError } from './errors.ts';
import { TransportError, type Transport, type WireResponse } from './transport.ts';

export interface KubeClientOptions {
  /** Which cluster this client talks to, for span attributes (`k8s.cluster.name`). */
  cluster?: string;
  qps: number;
  burst: number;
  timeoutMs: number;
  maxRetries: number;
  /** Returns a reason when writes must be refused right now (e.g. "not the leader"), else null. */
  writeGuard?: () => string | null;
  /** Observes every attempt sent (metrics, tests). */
  onRequest?: (e: RequestEvent) => void;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface RequestEvent {
  method: string;
  path: string;
  status: number;
  attempt: number;
  durationMs: number;
  /** Time this attempt waited for a token of the client-side rate limiter. */
  throttledMs: number;
  error?: string;
}

export interface WriteOptions {
  /**
   * Whether sending the request twice is harmless. Creates (POST) are not: after a timeout or a 5xx the
   * first may have been applied. 429 and connection-refused are retried regardless: nothing was applied.
   */
  idempotent?: boolean;
  contentType?: string;
  /** Overrides the client's retries for this call (0: the caller handles every failure itself). */
  maxRetries?: number;
  /**
   * Nothing waits on it (an Event): it yields its turn in the rate limiter to every other queued request,
   * so a burst of events never delays a decision's reads or writes.
   */
  background?: boolean;
}

// Bottleneck runs lower numbers first; 5 is its default.
const PRIORITY = { normal: 5, background: 9 } as const;

const BACKOFF_BASE_MS = 200;
const BACKOFF_MAX_MS = 10_000;

export class KubeClient {
  readonly transport: Transport;
  private readonly opts: Required<Omit<KubeClientOptions, 'writeGuard' | 'onRequest' | 'cluster'>> &
    Pick<KubeClientOptions, 'writeGuard' | 'onRequest' | 'cluster'>;
  private readonly limiter: Bottleneck;

  constructor(transport: Transport, opts: KubeClientOptions) {
    if (!(opts.qps > 0) || !(opts.burst >= 1)) throw new RangeError('qps must be > 0 and burst >= 1');
    this.transport = transport;
    this.opts = {
      sleep: (ms) => new Promise((r) => setTimeout(r, ms).unref()),
      random: Math.random,
      ...opts,
    };
    // Token bucket: `burst` tokens, refilled at `qps` per second, checked often enough to keep the rate.
    // At least 50 ms between refills keeps the limiter's timer cheap at high QPS (it adds more per refill).
    const interval = Math.max(50, Math.floor(1000 / opts.qps));
    this.limiter = createLimiter({
      reservoir: opts.burst,
      reservoirIncreaseInterval: interval,
      reservoirIncreaseAmount: Math.max(1, Math.round((opts.qps * interval) / 1000)),
      reservoirIncreaseMaximum: opts.burst,
      heartbeatInterval: Math.min(250, interval),
    });
  }

  /** Stops the limiter's timer; pending requests fail. */
  async close(): Promise<void> {
    await this.limiter.stop({ dropWaitingJobs: true });
  }

  async get<T>(path: string): Promise<T> {
    return this.send<T>('GET', path, undefined, { idempotent: true });
  }

  /** GET that answers undefined for 404. */
  async getOrNull<T>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (e) {
      if (e instanceof KubeError && e.kind === 'NotFound') return undefined;
      throw e;
    }
  }

  async create<T>(path: string, body: unknown, o: WriteOptions = {}): Promise<T> {
    return this.write<T>('POST', path, body, { idempotent: false, ...o });
  }

  /** PUT; carry metadata.resourceVersion in the body so a concurrent change is a 409, not a lost update. */
  async replace<T>(path: string, body: unknown): Promise<T> {
    return this.write<T>('PUT', path, body, { idempotent: true });
  }

  /** JSON merge patch; with resourceVersion it applies only to the version the decision was made on. */
  async mergePatch<T>(
    path: string,
    patch: Record<string, unknown>,
    resourceVersion?: string,
    o: Pick<WriteOptions, 'background'> = {},
  ): Promise<T> {
    const body =
      resourceVersion === undefined
        ? patch
        : {
            ...patch,
            metadata: { ...(patch.metadata as Record<string, unknown> | undefined), resourceVersion },
          };
    return this.write<T>('PATCH', path, body, {
      idempotent: true,
      contentType: 'application/merge-patch+json',
      ...o,
    });
  }

  async delete(
    path: string,
    o: {
      uid?: string;
      resourceVersion?: string;
      gracePeriodSeconds?: number;
      propagationPolicy?: string;
    } = {},
  ): Promise<void> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (o.uid || o.resourceVersion) body.preconditions = { uid: o.uid, resourceVersion: o.resourceVersion };
    if (o.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = o.gracePeriodSeconds;
    if (o.propagationPolicy) body.propagationPolicy = o.propagationPolicy;
    await this.write('DELETE', path, body, { idempotent: true });
  }

  /** Any other write (e.g. an Eviction, a subresource POST), with its idempotency stated by the caller. */
  async write<T>(method: string, path: string, body: unknown, o: WriteOptions): Promise<T> {
    return this.send<T>(method, path, body, o, true);
  }

  private refuse(method: string, path: string): void {
    const refused = this.opts.writeGuard?.();
    if (refused) {
      throw new KubeError({
        kind: 'Terminal',
        status: 0,
        reason: 'WriteRefused',
        method,
        path,
        message: refused,
      });
    }
  }

  /** A watch stream; it takes one token from the bucket, as client-go's watches do. */
  async watch(
    path: string,
    onLine: (line: string) => void,
    signal: AbortSignal,
    idleTimeoutMs?: number,
  ): Promise<WireResponse | undefined> {
    await this.limiter.schedule(async () => undefined);
    return this.transport.stream(path, onLine, signal, idleTimeoutMs);
  }

  /** One logical call; inside a recording span (a reconcile's) it gets a client span of its own. */
  private async send<T>(
    method: string,
    path: string,
    body: unknown,
    o: WriteOptions,
    guarded = false,
  ): Promise<T> {
    if (!recordingSpan()) return this.attempts<T>(method, path, body, o, guarded);
    const p = parseApiPath(path);
    return inSpan(
      `${method} ${resourceLabel(path)}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'http.request.method': method,
          'url.path': path.split('?')[0],
          ...serverAttributes(this.transport.server),
          ...(this.opts.cluster ? { [ATTR.cluster]: this.opts.cluster } : {}),
          ...(p.namespace ? { [ATTR.namespace]: p.namespace } : {}),
          'capi_autopilot.kube.resource': resourceLabel(path),
          ...(p.name ? { 'capi_autopilot.kube.name': p.name } : {}),
          ...(p.group ? { 'capi_autopilot.kube.group': p.group } : {}),
        },
      },
      (span) => this.attempts<T>(method, path, body, o, guarded, span),
    );
  }

  private async attempts<T>(
    method: string,
    path: string,
    body: unknown,
    o: WriteOptions,
    guarded: boolean,
    span?: Span,
  ): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    let throttledTotal = 0;
    for (let attempt = 1; ; attempt++) {
      const queued = performance.now();
      let t0 = queued;
      let res: WireResponse | undefined;
      let err: KubeError | TransportError | undefined;
      try {
        // The guard is asked right before each attempt goes out: a write queued or backing off while this
        // replica led must not be sent after it stepped down.
        // Refused before queueing too: a write that cannot be sent must not take a token from others.
        if (guarded) this.refuse(method, path);
        const priority = o.background ? PRIORITY.background : PRIORITY.normal;
        res = await this.limiter.schedule({ priority }, () => {
          t0 = performance.now();
          if (guarded) this.refuse(method, path);
          return this.transport.request({
            method,
            path,
            body: text,
            contentType: o.contentType,
            timeoutMs: this.opts.timeoutMs,
          });
        });
        if (res.status >= 300) err = errorFromResponse(method, path, res.status, res.headers, res.text);
      } catch (e) {
        if (e instanceof KubeError && e.reason === 'WriteRefused') throw e;
        err = e instanceof TransportError ? e : new TransportError(String(e), false, e);
      }
      const throttledMs = t0 - queued;
      throttledTotal += throttledMs;
      this.opts.onRequest?.({
        method,
        path,
        status: res?.status ?? 0,
        attempt,
        durationMs: performance.now() - t0,
        throttledMs,
        error: err?.message,
      });
      const last =
        !err ||
        attempt > (o.maxRetries ?? this.opts.maxRetries) ||
        !this.retryable(err, o.idempotent ?? true);
      if (span && last) {
        span.setAttributes({
          ...(res ? { 'http.response.status_code': res.status } : { 'error.type': 'no_response' }),
          'http.request.resend_count': attempt - 1,
          'capi_autopilot.kube.throttled_ms': Math.round(throttledTotal),
        });
      }
      if (!err) return (res!.text ? JSON.parse(res!.text) : undefined) as T;
      if (last) {
        if (err instanceof KubeError) throw err;
        throw new KubeError({
          kind: 'Transient',
          status: 0,
          reason: 'TransportError',
          method,
          path,
          message: err.message,
          cause: err,
        });
      }
      const wait = this.backoff(attempt, err instanceof KubeError ? err.retryAfterMs : undefined);
      span?.addEvent('retry', {
        attempt,
        ...(res ? { 'http.response.status_code': res.status } : {}),
        'capi_autopilot.backoff_ms': wait,
        'error.message': err.message,
      });
      await this.opts.sleep(wait);
    }
  }

  private retryable(err: KubeError | TransportError, idempotent: boolean): boolean {
    if (err instanceof TransportError) return idempotent || err.notSent;
    if (err.kind !== 'Transient') return false;
    // A 429 was refused before any processing; other transient failures may have applied a write.
    return idempotent || err.status === 429;
  }

  /** Exponential backoff with ±50% jitter, or the server's Retry-After when it sent one. */
  backoff(attempt: number, retryAfter?: number): number {
    if (retryAfter !== undefined) return Math.min(retryAfter, 60_000);
    const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
    return Math.round(exp * (0.5 + this.opts.random()));
  }
}

/** OpenTelemetry's server.address (host) and server.port from the API server URL. */
function serverAttributes(server: string): Record<string, string | number> {
  try {
    const u = new URL(server);
    return {
      'server.address': u.hostname,
      'server.port': Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    };
  } catch {
    return {};
  }
}
