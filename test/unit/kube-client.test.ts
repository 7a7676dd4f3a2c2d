import { describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/kube/client.ts';
import { KubeError, kindOfStatus, retryAfterMs } from '../../src/kube/errors.ts';
import {
  TransportError,
  type Transport,
  type WireRequest,
  type WireResponse,
} from '../../src/kube/transport.ts';

/** A transport that answers from a script, so retry decisions are checked without a server. */
function scripted(answers: Array<WireResponse | TransportError>) {
  const seen: WireRequest[] = [];
  const t: Transport = {
    server: 'https://fake',
    async request(r) {
      seen.push(r);
      const a = answers.shift();
      if (!a) throw new Error('script exhausted');
      if (a instanceof TransportError) throw a;
      return a;
    },
    async stream() {
      return undefined;
    },
  };
  return { t, seen };
}

const ok = (body: unknown = {}): WireResponse => ({ status: 200, headers: {}, text: JSON.stringify(body) });
const status = (
  code: number,
  reason = '',
  headers: Record<string, string> = {},
  details?: unknown,
): WireResponse => ({
  status: code,
  headers,
  text: JSON.stringify({ kind: 'Status', reason, message: `status ${code}`, details }),
});

function client(t: Transport, extra: Partial<ConstructorParameters<typeof KubeClient>[1]> = {}) {
  const sleeps: number[] = [];
  const c = new KubeClient(t, {
    qps: 1000,
    burst: 1000,
    timeoutMs: 1000,
    maxRetries: 3,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5,
    ...extra,
  });
  return { c, sleeps };
}

describe('status classes', () => {
  it.each([
    [200, null],
    [404, 'NotFound'],
    [409, 'Conflict'],
    [429, 'Transient'],
    [500, 'Transient'],
    [503, 'Transient'],
    [501, 'Terminal'],
    [422, 'Terminal'],
    [403, 'Terminal'],
  ] as const)('%i -> %s', (s, k) => expect(kindOfStatus(s)).toBe(k));

  it.each([
    [{ 'retry-after': '3' }, undefined, 3000],
    [{}, { details: { retryAfterSeconds: 2 } }, 2000],
    [{ 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }, undefined, undefined],
    [{}, undefined, undefined],
  ] as const)('Retry-After %j / %j -> %s ms', (h, b, ms) => expect(retryAfterMs(h, b)).toBe(ms));
});

describe('retries', () => {
  it.each([
    ['GET after 500, 503', 'GET', [status(500), status(503), ok({ a: 1 })], 3],
    ['PATCH after a timeout', 'PATCH', [new TransportError('timed out', false), ok()], 2],
    ['POST after 429 (never processed)', 'POST', [status(429, 'TooManyRequests'), ok()], 2],
    [
      'POST after connection refused (never sent)',
      'POST',
      [new TransportError('ECONNREFUSED', true), ok()],
      2,
    ],
  ] as const)('retries %s', async (_n, method, answers, calls) => {
    const { t, seen } = scripted([...answers]);
    const { c } = client(t);
    await c.write(method, '/x', {}, { idempotent: method !== 'POST' });
    expect(seen).toHaveLength(calls);
  });

  it.each([
    ['POST after 500: it may have been applied', status(500)],
    ['POST after a timeout: it may have been applied', new TransportError('timed out', false)],
  ] as const)('does not retry %s', async (_n, answer) => {
    const { t, seen } = scripted([answer, ok()]);
    const { c } = client(t);
    await expect(c.create('/x', {})).rejects.toBeInstanceOf(KubeError);
    expect(seen).toHaveLength(1);
  });

  it.each([
    [409, 'Conflict'],
    [404, 'NotFound'],
    [422, 'Terminal'],
  ] as const)('never retries %i: the caller must re-read', async (code, kind) => {
    const { t, seen } = scripted([status(code), ok()]);
    const { c } = client(t);
    const err = (await c.mergePatch('/x', {}, '5').catch((e: unknown) => e)) as KubeError;
    expect(err.kind).toBe(kind);
    expect(seen).toHaveLength(1);
  });

  it('gives up after maxRetries and reports the last error', async () => {
    const { t, seen } = scripted([status(503), status(503), status(503), status(503), ok()]);
    const { c } = client(t);
    await expect(c.get('/x')).rejects.toMatchObject({ kind: 'Transient', status: 503 });
    expect(seen).toHaveLength(4);
  });

  it('honours Retry-After, else backs off exponentially with jitter', async () => {
    const { t } = scripted([
      status(429, 'TooManyRequests', { 'retry-after': '2' }),
      status(500),
      status(500),
      ok(),
    ]);
    const { c, sleeps } = client(t);
    await c.get('/x');
    // random() = 0.5 makes the jitter factor exactly 1.
    expect(sleeps).toEqual([2000, 400, 800]);
  });

  it('jitter spreads backoff between 50% and 150%', () => {
    const lo = client(scripted([]).t, { random: () => 0 }).c.backoff(3);
    const hi = client(scripted([]).t, { random: () => 0.999 }).c.backoff(3);
    expect([lo, hi]).toEqual([400, 1199]);
  });
});

describe('writes', () => {
  it('puts the resourceVersion precondition into a merge patch', async () => {
    const { t, seen } = scripted([ok()]);
    const { c } = client(t);
    await c.mergePatch('/x', { metadata: { labels: { a: 'b' } }, spec: { replicas: 2 } }, '42');
    expect(JSON.parse(seen[0]!.body!)).toEqual({
      metadata: { labels: { a: 'b' }, resourceVersion: '42' },
      spec: { replicas: 2 },
    });
    expect(seen[0]!.contentType).toBe('application/merge-patch+json');
  });

  it('sends delete preconditions', async () => {
    const { t, seen } = scripted([ok()]);
    const { c } = client(t);
    await c.delete('/x', { uid: 'u1', gracePeriodSeconds: 0 });
    expect(JSON.parse(seen[0]!.body!)).toMatchObject({ preconditions: { uid: 'u1' }, gracePeriodSeconds: 0 });
  });

  it('asks the guard again before every retry: a write backing off when leadership ends is not sent', async () => {
    const { t, seen } = scripted([status(503), ok()]);
    let leading = true;
    const { c } = client(t, {
      writeGuard: () => (leading ? null : 'not the leader'),
      sleep: async () => void (leading = false), // leadership is lost during the backoff
    });
    await expect(c.mergePatch('/x', {})).rejects.toMatchObject({ reason: 'WriteRefused' });
    expect(seen).toHaveLength(1);
  });

  it('refuses every write while the guard says so, and sends nothing', async () => {
    const { t, seen } = scripted([ok(), ok()]);
    let leading = false;
    const { c } = client(t, { writeGuard: () => (leading ? null : 'not the leader') });
    await expect(c.mergePatch('/x', {})).rejects.toMatchObject({ reason: 'WriteRefused' });
    await expect(c.delete('/x')).rejects.toMatchObject({ reason: 'WriteRefused' });
    expect(seen).toHaveLength(0);
    await c.get('/x'); // reads are not guarded
    leading = true;
    await c.mergePatch('/x', {});
    expect(seen).toHaveLength(2);
  });
});

describe('background requests', () => {
  it('yield their turn in the rate limiter: a request queued after a burst of events goes first', async () => {
    const order: string[] = [];
    const t: Transport = {
      server: 'https://fake',
      async request(r) {
        order.push(`${r.method} ${r.path}`);
        return ok();
      },
      async stream() {
        return undefined;
      },
    };
    // One token, refilled 20 times a second: everything below queues.
    const { c } = client(t, { qps: 20, burst: 1 });
    const events = Array.from({ length: 6 }, (_, i) =>
      c.create(`/api/v1/namespaces/ns/events`, { i }, { background: true }),
    );
    const patch = c.mergePatch('/apis/x/v1/namespaces/ns/things/a', { spec: {} });
    const get = c.get('/api/v1/nodes');
    await Promise.all([...events, patch, get]);
    await c.close();
    // The first event took the only token; the two normal requests overtake the queued events.
    expect(order.slice(0, 3)).toEqual([
      'POST /api/v1/namespaces/ns/events',
      'PATCH /apis/x/v1/namespaces/ns/things/a',
      'GET /api/v1/nodes',
    ]);
    expect(order.filter((o) => o.startsWith('POST'))).toHaveLength(6);
  });

  it('keep their order among themselves and with priority off behave as before (FIFO)', async () => {
    const order: string[] = [];
    const t: Transport = {
      server: 'https://fake',
      async request(r) {
        order.push(r.path);
        return ok();
      },
      async stream() {
        return undefined;
      },
    };
    const { c } = client(t, { qps: 20, burst: 1 });
    await Promise.all([c.get('/a'), c.get('/b'), c.get('/c')]);
    await c.close();
    expect(order).toEqual(['/a', '/b', '/c']);
  });
});
