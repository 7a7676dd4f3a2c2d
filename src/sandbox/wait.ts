import { request as httpsRequest } from 'node:https';
import { request as httpRequest_ } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { tailLog, type ManagedProcess } from './processes.ts';

export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * Polls check() until it returns true. Fails fast with the component's log tail if the process
 * dies, and with the last check error on timeout.
 */
export async function waitUntil(
  what: string,
  proc: ManagedProcess,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc.hasExited()) {
      throw new StartupError(
        `${proc.name} exited while waiting for ${what}; log ${proc.logFile}:\n${tailLog(proc.logFile)}`,
      );
    }
    try {
      if (await check()) return;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(200);
  }
  throw new StartupError(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}; log ${proc.logFile}:\n${tailLog(proc.logFile)}`,
  );
}

export interface HttpResponse {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTP(S) request with an optional CA, bearer token and body; never throws on a status code. */
export function httpRequest(
  method: string,
  url: string,
  opts: { ca?: string; token?: string; timeoutMs?: number; body?: string; contentType?: string } = {},
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      // Without a length Node sends the body chunked, and the apiserver ignores a chunked DELETE body.
      headers['content-length'] = String(Buffer.byteLength(opts.body));
    }
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest_)(
      u,
      { method, headers, ca: opts.ca, timeout: opts.timeoutMs ?? 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

export const httpGet = (url: string, opts: { ca?: string; token?: string; timeoutMs?: number } = {}) =>
  httpRequest('GET', url, opts);
