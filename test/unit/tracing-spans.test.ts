// Span structure of reconciles and API calls, read back through the SDK's in-memory exporter (the wire
// formats are checked by independent decoders in test/integration/tracing.test.ts).
import { Writable } from 'node:stream';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/kube/client.ts';
import type { Transport, WireResponse } from '../../src/kube/transport.ts';
import { Controller, type ReconcileTrace } from '../../src/runtime/controller.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { TerminalError } from '../../src/runtime/queue.ts';
import { TRACE_START_ANNOTATION } from '../../src/tracing/carry.ts';
import { actionAnnotations, currentTraceParent, inSpan } from '../../src/tracing/spans.ts';

const mem = new InMemorySpanExporter();
const sdk = new NodeSDK({
  spanProcessors: [new SimpleSpanProcessor(mem)],
  metricReaders: [],
  logRecordProcessors: [],
  resourceDetectors: [],
});
beforeAll(() => sdk.start());
afterAll(async () => {
  await sdk.shutdown();
  // The API's globals outlive the SDK; leave none behind for other files in this worker.
  trace.disable();
  context.disable();
  propagation.disable();
});
beforeEach(() => mem.reset());

const spans = () => mem.getFinishedSpans();
const byName = (n: string) => spans().filter((s) => s.name === n);
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const settle = (ms = 50) => new Promise((r) => setTimeout(r, ms));

function controller(reconcile: (k: string) => Promise<void>, trace?: (k: string) => ReconcileTrace) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()) });
  const c = new Controller({
    name: 'ctl',
    workers: 1,
    reconcile,
    trace,
    log: createLogger({ level: 'debug', format: 'json' }, sink),
  });
  c.setActive(true);
  return { c, lines };
}

const OTHER = { traceId: 'c'.repeat(32), spanId: 'd'.repeat(16), traceFlags: 1 };
const CAUSE = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 };

describe('reconcile spans', () => {
  it('a reconcile without recorded context is a new trace named <controller>.reconcile', async () => {
    const { c, lines } = controller(async (k) => {
      expect(currentTraceParent()).toBeDefined();
      void k;
    });
    c.enqueue('ns/a');
    await settle();
    await c.stop();
    const [s] = byName('ctl.reconcile');
    expect(s).toBeDefined();
    expect(parentOf(s!)).toBeUndefined();
    expect(s!.attributes).toMatchObject({
      'capi_autopilot.controller': 'ctl',
      'capi_autopilot.key': 'ns/a',
      'capi_autopilot.result': 'success',
    });
    expect(lines.filter((l) => l.trace_id)).toEqual([]); // nothing logged inside
  });

  it('continues the recorded parent and links the other contexts', async () => {
    const { c } = controller(
      async () => {},
      () => ({
        origin: {
          parent: { context: CAUSE, from: 'MachineDeployment/md' },
          links: [{ context: OTHER, from: 'Machine/m' }],
          problems: [],
        },
        attributes: { 'capi.machine.name': 'm' },
      }),
    );
    c.enqueue('ns/m');
    await settle();
    await c.stop();
    const [s] = byName('ctl.reconcile');
    expect(s!.spanContext().traceId).toBe(CAUSE.traceId);
    expect(parentOf(s!)).toBe(CAUSE.spanId);
    expect(s!.links.map((l) => [l.context.spanId, l.attributes?.['capi_autopilot.link.from']])).toEqual([
      [OTHER.spanId, 'Machine/m'],
    ]);
    expect(s!.attributes).toMatchObject({
      'capi.machine.name': 'm',
      'capi_autopilot.parent.from': 'MachineDeployment/md',
    });
  });

  it('ignored trace context shows as span events; a throwing trace function does not stop the reconcile', async () => {
    let ran = 0;
    const { c, lines } = controller(
      async () => void ran++,
      (k) => {
        if (k === 'boom') throw new Error('cache gone');
        return { origin: { links: [], problems: ['Machine/m: annotation x: bad'] } };
      },
    );
    c.enqueue('bad');
    c.enqueue('boom');
    await settle();
    await c.stop();
    expect(ran).toBe(2);
    const events = spans().flatMap((s) => s.events.map((e) => e.attributes?.['capi_autopilot.problem']));
    expect(events).toEqual(
      expect.arrayContaining(['Machine/m: annotation x: bad', 'reading trace context failed: cache gone']),
    );
    expect(lines.filter((l) => l.msg === 'trace context ignored')).toHaveLength(2);
  });

  it('an error is recorded with status ERROR, and the failure log line carries the span ids', async () => {
    const { c, lines } = controller(async () => {
      throw new TerminalError('malformed annotation');
    });
    c.enqueue('k');
    await settle();
    await c.stop();
    const [s] = byName('ctl.reconcile');
    expect(s!.status.code).toBe(SpanStatusCode.ERROR);
    expect(s!.status.message).toBe('malformed annotation');
    expect(s!.events.map((e) => e.name)).toContain('exception');
    expect(s!.attributes['capi_autopilot.result']).toBe('terminal');
    const line = lines.find((l) => l.msg === 'reconcile failed; not retrying');
    expect(line).toMatchObject({ trace_id: s!.spanContext().traceId, span_id: s!.spanContext().spanId });
  });
});

describe('trace boundaries', () => {
  it('a key enqueued from inside a reconcile gets a trace of its own', async () => {
    const self: { ctl?: Controller } = {};
    const { c } = controller(async (k) => {
      if (k === 'a') self.ctl!.enqueue('b');
    });
    self.ctl = c;
    c.enqueue('a');
    await settle(100);
    await c.stop();
    const [a, b] = ['a', 'b'].map((k) => spans().find((s) => s.attributes['capi_autopilot.key'] === k)!);
    expect(parentOf(b!)).toBeUndefined();
    expect(b!.spanContext().traceId).not.toBe(a!.spanContext().traceId);
  });

  it('an action in a continued trace keeps the trace start; a new trace starts now', async () => {
    const started = Date.parse('2026-11-26T10:00:00Z');
    const now = new Date('2026-11-26T10:05:30.5Z');
    const continued = await inSpan('x', { parent: CAUSE, traceStart: started }, async () =>
      actionAnnotations(now),
    );
    const fresh = await inSpan('y', { root: true }, async () => actionAnnotations(now));
    expect(continued[TRACE_START_ANNOTATION]).toMatch(/^2026-11-26T10:00:00Z [0-9a-f]{16}$/);
    expect(fresh[TRACE_START_ANNOTATION]).toMatch(/^2026-11-26T10:05:30Z [0-9a-f]{16}$/);
    expect(actionAnnotations(now)).toEqual({}); // outside any span
  });
});

describe('API call spans', () => {
  function scripted(answers: WireResponse[]): Transport {
    return {
      server: 'https://fake:6443',
      async request() {
        const a = answers.shift();
        if (!a) throw new Error('script exhausted');
        return a;
      },
      async stream() {
        return undefined;
      },
    };
  }
  const ok: WireResponse = { status: 200, headers: {}, text: '{}' };
  const busy: WireResponse = {
    status: 503,
    headers: {},
    text: JSON.stringify({ kind: 'Status', reason: 'ServiceUnavailable', message: 'busy' }),
  };
  const missing: WireResponse = {
    status: 404,
    headers: {},
    text: JSON.stringify({ kind: 'Status', reason: 'NotFound', message: 'gone' }),
  };
  const client = (answers: WireResponse[]) =>
    new KubeClient(scripted(answers), {
      cluster: 'fleet/c1',
      qps: 1000,
      burst: 1000,
      timeoutMs: 1000,
      maxRetries: 3,
      sleep: async () => {},
    });

  it('each call inside a span is a CLIENT child with verb, resource, object, status and retries', async () => {
    const k = client([busy, ok, missing]);
    await inSpan('work', { root: true }, async () => {
      await k.mergePatch('/apis/cluster.x-k8s.io/v1beta2/namespaces/ns/machinedeployments/md/scale', {});
      await k.getOrNull('/api/v1/nodes/n1');
    });
    await k.close();
    const [work] = byName('work');
    const [patch] = byName('PATCH machinedeployments/scale');
    expect(patch!.kind).toBe(SpanKind.CLIENT);
    expect(parentOf(patch!)).toBe(work!.spanContext().spanId);
    expect(patch!.attributes).toMatchObject({
      'http.request.method': 'PATCH',
      'http.response.status_code': 200,
      'http.request.resend_count': 1,
      'k8s.cluster.name': 'fleet/c1',
      'k8s.namespace.name': 'ns',
      'capi_autopilot.kube.resource': 'machinedeployments/scale',
      'capi_autopilot.kube.name': 'md',
      'capi_autopilot.kube.group': 'cluster.x-k8s.io',
      'server.address': 'fake',
      'server.port': 6443,
    });
    expect(patch!.events.map((e) => [e.name, e.attributes?.['http.response.status_code']])).toEqual([
      ['retry', 503],
    ]);
    const [get] = byName('GET nodes');
    expect(get!.status.code).toBe(SpanStatusCode.ERROR);
    expect(get!.attributes['http.response.status_code']).toBe(404);
  });

  it('calls outside any span (informers, leader election) make no spans', async () => {
    const k = client([ok]);
    await k.get('/api/v1/nodes');
    await k.close();
    expect(spans()).toEqual([]);
    expect(currentTraceParent()).toBeUndefined();
  });
});
