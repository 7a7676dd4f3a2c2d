// The service's HTTP endpoints: /healthz (alive and the event loop turning), /readyz (caches synced),
// /metrics (Prometheus), /status (what the service knows and did, as JSON). Standby replicas serve all of them.
import type { Server } from 'node:http';
import express from 'express';
import type { Registry } from 'prom-client';

export interface Readiness {
  ready: boolean;
  /** Why not, in words a person can act on (e.g. "informer machines@mgmt not synced"). */
  reasons: string[];
}

export interface HttpOptions {
  bindAddress: string;
  port: number;
  registry: Registry;
  readiness: () => Readiness;
  status: () => unknown;
  /** Refreshes gauges that mirror state (e.g. informer counters) right before a scrape. */
  beforeScrape?: () => void;
  /** The event loop counts as stuck when a 1 s timer has not fired for this long. */
  stuckAfterMs?: number;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(o: HttpOptions): Promise<HttpServer> {
  const stuckAfter = o.stuckAfterMs ?? 10_000;
  let lastTick = performance.now();
  const ticker = setInterval(() => (lastTick = performance.now()), 1000);
  ticker.unref();

  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    const lag = performance.now() - lastTick;
    if (lag > stuckAfter)
      res
        .status(503)
        .type('text')
        .send(`event loop stuck for ${Math.round(lag)} ms\n`);
    else res.type('text').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    const r = o.readiness();
    res
      .status(r.ready ? 200 : 503)
      .type('text')
      .send(r.ready ? 'ok\n' : `not ready:\n${r.reasons.map((x) => `- ${x}`).join('\n')}\n`);
  });
  app.get('/metrics', async (_req, res) => {
    o.beforeScrape?.();
    res.type(o.registry.contentType).send(await o.registry.metrics());
  });
  app.get('/status', (_req, res) => {
    res.json(o.status());
  });

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(o.port, o.bindAddress, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : o.port,
    close: () =>
      new Promise((resolve) => {
        clearInterval(ticker);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
