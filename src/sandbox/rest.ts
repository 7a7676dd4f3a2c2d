// A small JSON REST client for sandbox code (CRD installer, CAPI simulator, demo) and tests.
// The service's own writes go through src/kube's rate-limited client; this one is deliberately plain.
import { readFileSync } from 'node:fs';
import { HttpsTransport } from '../kube/transport.ts';
import { httpRequest } from './wait.ts';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
  text: string;
}

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly reason: string;
  constructor(method: string, path: string, status: number, text: string) {
    let reason: string;
    try {
      reason = (JSON.parse(text) as { reason?: string }).reason ?? '';
    } catch {
      reason = '';
    }
    super(`${method} ${path} -> ${status}${reason ? ` ${reason}` : ''}: ${text.slice(0, 500)}`);
    this.status = status;
    this.reason = reason;
  }
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class RestClient {
  readonly server: string;
  readonly ca: string;
  readonly token: string;
  constructor(server: string, ca: string, token: string) {
    this.server = server;
    this.ca = ca;
    this.token = token;
  }

  /** Reads the JSON kubeconfig the sandbox writes (one cluster, CA data, bearer token). */
  static fromKubeconfig(path: string): RestClient {
    const kc = JSON.parse(readFileSync(path, 'utf8')) as {
      clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
      users: Array<{ user: { token: string } }>;
    };
    const cluster = kc.clusters[0]?.cluster;
    const token = kc.users[0]?.user.token;
    if (!cluster || !token) throw new Error(`${path}: not a sandbox kubeconfig (one cluster, a token user)`);
    return new RestClient(
      cluster.server,
      Buffer.from(cluster['certificate-authority-data'], 'base64').toString(),
      token,
    );
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async req<T = any>(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<ApiResponse<T>> {
    const r = await httpRequest(method, this.server + path, {
      ca: this.ca,
      token: this.token,
      body: body === undefined ? undefined : JSON.stringify(body),
      contentType,
      timeoutMs: 30_000,
    });
    let parsed: unknown;
    try {
      parsed = r.body ? JSON.parse(r.body) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: r.status, body: parsed as T, text: r.body };
  }

  /** Like req, but throws ApiError unless the status is 2xx. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async ok<T = any>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const r = await this.req<T>(method, path, body, contentType);
    if (r.status < 200 || r.status >= 300) throw new ApiError(method, path, r.status, r.text);
    return r.body;
  }

  mergePatch<T>(path: string, patch: unknown): Promise<T> {
    return this.ok<T>('PATCH', path, patch, 'application/merge-patch+json');
  }

  /** The preferred version of an API group (`policy/v1beta1`), or undefined when the group is not served. */
  async preferredVersion(group: string): Promise<string | undefined> {
    const r = await this.req<{ preferredVersion?: { groupVersion: string } }>('GET', `/apis/${group}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new ApiError('GET', `/apis/${group}`, r.status, r.text);
    return r.body.preferredVersion?.groupVersion;
  }

  /**
   * Streams watch events of `path` (a collection URL, with or without query) from resourceVersion
   * until the server ends the watch or signal aborts. Resolves when the stream ends.
   */
  watch<T>(
    path: string,
    resourceVersion: string,
    onEvent: (e: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const sep = path.includes('?') ? '&' : '?';
    const url = `${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${resourceVersion}&timeoutSeconds=300`;
    const abort = new AbortController();
    signal?.addEventListener('abort', () => abort.abort(), { once: true });
    let failure: Error | undefined;
    return new HttpsTransport(this)
      .stream(
        url,
        (line) => {
          if (failure) return;
          try {
            onEvent(JSON.parse(line) as WatchEvent<T>);
          } catch (e) {
            failure = new Error(`watch ${path}: undecodable event: ${(e as Error).message}`);
            abort.abort();
          }
        },
        abort.signal,
      )
      .then((res) => {
        if (failure) throw failure;
        if (res) throw new ApiError('WATCH', path, res.status, res.text);
      });
  }
}

/**
 * A client that refuses every request once `signal` aborts: a stopped component (the CAPI simulator,
 * stopped to act out a crash) must not go on writing from reconciles that were still running.
 */
export class StoppableClient extends RestClient {
  private readonly signal: AbortSignal;
  constructor(base: RestClient, signal: AbortSignal) {
    super(base.server, base.ca, base.token);
    this.signal = signal;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override async req<T = any>(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<ApiResponse<T>> {
    if (this.signal.aborted) throw new Error(`stopped: not sending ${method} ${path}`);
    return super.req<T>(method, path, body, contentType);
  }
}
