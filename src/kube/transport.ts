// The wire: one HTTPS request or watch stream to an apiserver, with TLS and credentials taken from a
// client-node KubeConfig (kubeconfig file, context, in-cluster service account, exec plugins).
import { request, type RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

export interface WireResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface WireRequest {
  method: string;
  path: string;
  body?: string;
  contentType?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface Transport {
  /** Identifies the apiserver in logs and metrics. */
  readonly server: string;
  request(r: WireRequest): Promise<WireResponse>;
  /**
   * Streams newline-delimited JSON lines of a watch until the server closes it or signal aborts; with
   * idleTimeoutMs, fails when nothing arrives for that long (a half-open connection never closes).
   */
  stream(
    path: string,
    onLine: (line: string) => void,
    signal: AbortSignal,
    idleTimeoutMs?: number,
  ): Promise<WireResponse | undefined>;
}

export class TransportError extends Error {
  override name = 'TransportError';
  /** True when the request certainly did not reach the server (e.g. connection refused), so any retry is safe. */
  readonly notSent: boolean;
  constructor(message: string, notSent: boolean, cause?: unknown) {
    super(message, { cause });
    this.notSent = notSent;
  }
}

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function kubeConfigFrom(opts: {
  kubeconfig?: string;
  context?: string;
  inCluster?: boolean;
}): KubeConfig {
  const kc = new KubeConfig();
  if (opts.inCluster) {
    // Outside a pod loadFromCluster builds a server URL of `undefined`s; say what is missing instead.
    // These are the variables loadFromCluster itself reads (client-go's InClusterConfig contract).
    // eslint-disable-next-line no-restricted-syntax
    if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT)
      throw new Error(
        'management.inCluster: not running in a pod (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT unset)',
      );
    kc.loadFromCluster();
  } else if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  if (opts.context) kc.setCurrentContext(opts.context);
  if (!kc.getCurrentCluster()) throw new Error('the kubeconfig names no current cluster');
  return kc;
}

/** A server reached with a CA and a bearer token, without a kubeconfig (sandbox and test clusters). */
export interface TokenCredentials {
  server: string;
  ca: string;
  token: string;
}

export class HttpsTransport implements Transport {
  readonly server: string;
  private readonly creds: KubeConfig | TokenCredentials;

  constructor(creds: KubeConfig | TokenCredentials) {
    this.creds = creds;
    if (creds instanceof KubeConfig) {
      const cluster = creds.getCurrentCluster();
      if (!cluster) throw new Error('the kubeconfig names no current cluster');
      this.server = cluster.server.replace(/\/$/, '');
    } else {
      this.server = creds.server.replace(/\/$/, '');
    }
  }

  private async options(method: string, headers: Record<string, string>): Promise<RequestOptions> {
    const opts: RequestOptions = { method, headers: { accept: 'application/json', ...headers } };
    if (this.creds instanceof KubeConfig) {
      // Credentials may rotate (exec plugins, projected tokens): apply them per request.
      await this.creds.applyToHTTPSOptions(opts);
    } else {
      opts.ca = this.creds.ca;
      opts.headers = { ...opts.headers, authorization: `Bearer ${this.creds.token}` };
    }
    return opts;
  }

  async request(r: WireRequest): Promise<WireResponse> {
    const headers: Record<string, string> = {};
    if (r.body !== undefined) {
      headers['content-type'] = r.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(r.body));
    }
    const opts = await this.options(r.method, headers);
    return new Promise((resolve, reject) => {
      const req = request(
        this.server + r.path,
        { ...opts, timeout: r.timeoutMs, signal: r.signal },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
          res.on('error', (e) => reject(new TransportError(`${r.method} ${r.path}: ${e.message}`, false, e)));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${r.timeoutMs} ms`)));
      req.on('error', (e: NodeJS.ErrnoException) =>
        reject(new TransportError(`${r.method} ${r.path}: ${e.message}`, NOT_SENT.has(e.code ?? ''), e)),
      );
      if (r.body !== undefined) req.write(r.body);
      req.end();
    });
  }

  async stream(
    path: string,
    onLine: (line: string) => void,
    signal: AbortSignal,
    idleTimeoutMs?: number,
  ): Promise<WireResponse | undefined> {
    const opts = await this.options('GET', {});
    return new Promise((resolve, reject) => {
      let buf = '';
      let idle: NodeJS.Timeout | undefined;
      const touch = () => {
        if (!idleTimeoutMs) return;
        clearTimeout(idle);
        idle = setTimeout(
          () => req.destroy(new Error(`watch ${path}: no data for ${idleTimeoutMs} ms`)),
          idleTimeoutMs,
        );
        idle.unref();
      };
      const req = request(this.server + path, { ...opts, signal }, (res) => {
        touch();
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          touch();
          buf += d;
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim()) onLine(line);
          }
        });
        res.on('end', () => {
          clearTimeout(idle);
          resolve(undefined);
        });
        res.on('error', (e) => {
          clearTimeout(idle);
          if (signal.aborted) resolve(undefined);
          else reject(e);
        });
      });
      req.on('error', (e) => {
        clearTimeout(idle);
        if (signal.aborted) resolve(undefined);
        else reject(e);
      });
      touch();
      req.end();
    });
  }
}
