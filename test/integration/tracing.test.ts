// Tracing end to end on the real cluster with the CAPI simulator: a controller scales a MachineDeployment
// and records its trace context on it; the simulator (playing CAPI) creates Machines; the reconciles of
// the new Machines continue that trace through the annotation, the Machine that existed before does not.
// Spans leave through each exporter and are decoded by receivers that use other people's decoders
// (protobufjs with the OTLP .proto files, the OTLP JSON field names, thriftrw with Jaeger's IDL).
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { objectKey, type KubeObject } from '../../src/kube/informer.ts';
import { Controller } from '../../src/runtime/controller.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { startService } from '../../src/service.ts';
import { causeSources, selfSource, traceOrigin, TRACEPARENT_ANNOTATION } from '../../src/tracing/carry.ts';
import { tracingSettingsFromEnv } from '../../src/tracing/settings.ts';
import { actionAnnotations, recordDecision } from '../../src/tracing/spans.ts';
import { createDeployment, startManagement, startSimulator, type Management } from './support/capi.ts';
import { clusterApi, eventually } from './support/kube.ts';
import {
  startJaegerAgent,
  startJaegerCollector,
  startOtlpReceiver,
  type DecodedSpan,
  type Receiver,
} from './support/trace-receivers.ts';

const VERSION = 'v1beta2';

interface Wire {
  name: string;
  /** Content type every export must have (HTTP wires). */
  contentType?: string;
  /** Whether the wire carries attributes on links (Jaeger references have none). */
  linkAttributes: boolean;
  start(): Promise<{ receiver: Receiver; env: Record<string, string> }>;
}

const wires: Wire[] = [
  {
    name: 'otlp http/protobuf',
    contentType: 'application/x-protobuf',
    linkAttributes: true,
    start: async () => {
      const r = await startOtlpReceiver();
      return { receiver: r, env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: r.url } };
    },
  },
  {
    name: 'otlp http/json',
    contentType: 'application/json',
    linkAttributes: true,
    start: async () => {
      const r = await startOtlpReceiver();
      return {
        receiver: r,
        env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: r.url },
      };
    },
  },
  {
    name: 'jaeger thrift over udp (agent)',
    linkAttributes: false,
    start: async () => {
      const r = await startJaegerAgent();
      return {
        receiver: r,
        env: {
          OTEL_TRACES_EXPORTER: 'jaeger',
          OTEL_EXPORTER_JAEGER_AGENT_HOST: '127.0.0.1',
          OTEL_EXPORTER_JAEGER_AGENT_PORT: String(r.port),
        },
      };
    },
  },
  {
    name: 'jaeger thrift over http (collector)',
    contentType: 'application/x-thrift',
    linkAttributes: false,
    start: async () => {
      const r = await startJaegerCollector();
      return { receiver: r, env: { OTEL_TRACES_EXPORTER: 'jaeger', OTEL_EXPORTER_JAEGER_ENDPOINT: r.url } };
    },
  },
];

describe('tracing across objects', () => {
  let mgmt: Management;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  beforeAll(async () => {
    mgmt = await startManagement(VERSION);
    sim = await startSimulator(mgmt, clusterApi());
  });
  afterAll(async () => {
    await sim?.stop();
    await mgmt?.stop();
  });

  it.each(wires)(
    '$name: scale-up and the reconciles of the Machines it created share one trace',
    async (wire) => {
      const { receiver, env } = await wire.start();
      const { ns } = await createDeployment(mgmt, { replicas: 1, prefix: 'trace' });
      const mdKey = `${ns}/md-a`;
      const capi = (r: string) => `/apis/cluster.x-k8s.io/${VERSION}/namespaces/${ns}/${r}`;
      const machinesOf = async () =>
        ((await mgmt.api.ok('GET', capi('machines'))) as { items: KubeObject[] }).items;
      const before = await eventually('the first Machine', async () => {
        const m = await machinesOf();
        return m.length === 1 ? m[0] : undefined;
      });
      // Another tool's context (legacy key, no trace start): the first reconcile links to it, no more.
      const FOREIGN = { traceId: 'f'.repeat(32), spanId: 'e'.repeat(16) };
      await mgmt.api.mergePatch(capi('machinedeployments/md-a'), {
        metadata: {
          annotations: { 'trace.kubernetes.io/traceparent': `00-${FOREIGN.traceId}-${FOREIGN.spanId}-01` },
        },
      });

      const lines: Array<Record<string, unknown>> = [];
      const sink = new Writable({
        write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()),
      });
      const log = createLogger({ level: 'info', format: 'json' }, sink);
      const config = loadConfig({
        argv: ['--kubeconfig', mgmt.kubeconfigPath, '--set', 'leaderElection.enabled=false'],
        env: {},
        readFile: (p) => readFileSync(p, 'utf8'),
      });
      let scaler!: Controller;
      let failedOnce = false;
      let machinesCtl!: Controller;
      const svc = await startService({
        config,
        log,
        portOverride: 0,
        tracing: tracingSettingsFromEnv(env),
        tracingBatch: { scheduledDelayMillis: 50 },
        controllers: (e) => {
          const mds = e.informers.get('management/machinedeployments')!;
          const machines = e.informers.get('management/machines')!;
          const window = e.config.tracing.followWindow;
          // Stands in for the autoscaler's scale-up: one replica-changing write, stamped with its context.
          scaler = new Controller({
            name: 'scaler',
            workers: 1,
            log,
            metrics: e.metrics,
            trace: (key) => {
              const md = mds.get(key);
              return {
                origin: md
                  ? traceOrigin([selfSource('MachineDeployment', md)], Date.now(), window)
                  : undefined,
              };
            },
            reconcile: async (key) => {
              const md = mds.get(key) as KubeObject & { spec: { replicas: number } };
              if (md.spec.replicas >= 3) return recordDecision('none', 'AtTarget');
              recordDecision('scale-up', 'PendingPods', { 'capi.machine_deployment.name': md.metadata.name });
              await e.management.mergePatch(
                capi(`machinedeployments/${md.metadata.name}`),
                {
                  metadata: { annotations: actionAnnotations(new Date()) },
                  spec: { replicas: 3 },
                },
                md.metadata.resourceVersion,
              );
            },
          });
          // Stands in for a controller that follows Machines (scale-up tracking, health checks).
          machinesCtl = new Controller({
            name: 'machines',
            workers: 2,
            log,
            metrics: e.metrics,
            trace: (key) => {
              const m = machines.get(key);
              if (!m) return {};
              const mdName = m.metadata.labels?.['cluster.x-k8s.io/deployment-name'];
              const md = mdName ? mds.get(`${m.metadata.namespace}/${mdName}`) : undefined;
              return {
                origin: traceOrigin(
                  [selfSource('Machine', m), ...causeSources('MachineDeployment', md, m)],
                  Date.now(),
                  window,
                ),
                attributes: { 'capi.machine.name': m.metadata.name ?? '' },
              };
            },
            reconcile: async (key) => {
              const [n, name] = key.split('/');
              // One injected failure: its span must arrive with status ERROR, and the retry succeed.
              if (!failedOnce && key !== `${ns}/${before.metadata.name}`) {
                failedOnce = true;
                throw new Error('injected failure');
              }
              await e.management.getOrNull(
                `/apis/cluster.x-k8s.io/${VERSION}/namespaces/${n}/machines/${name}`,
              );
              log.info({ machine: key }, 'machine reconciled');
            },
          });
          machines.onChange((_t, m) => {
            if (m.metadata.namespace === ns) machinesCtl.enqueue(objectKey(m));
          });
          return [scaler, machinesCtl];
        },
      });
      let created: KubeObject[];
      let oldAfterScale = 0;
      try {
        await eventually('readiness', async () => svc.readiness().ready);
        // Causality has second precision (creation timestamps): scale in a later second than the
        // older Machine's creation, else it would count as created by the scale-up (README, limits).
        const createdAt = Date.parse(
          (before.metadata as { creationTimestamp?: string }).creationTimestamp ?? '',
        );
        await new Promise((r) => setTimeout(r, Math.max(0, createdAt + 1200 - Date.now())));
        scaler.enqueue(mdKey);
        created = await eventually('three Machines', async () => {
          const m = await machinesOf();
          return m.length === 3 ? m.filter((x) => x.metadata.uid !== before.metadata.uid) : undefined;
        });
        await eventually(
          'machine reconciles',
          async () => scaler.idle && machinesCtl.idle && machinesCtl.counts.success >= 3,
        );
        // Once more on the now-annotated MachineDeployment: it continues its own recorded trace.
        scaler.enqueue(mdKey);
        await eventually('second scaler reconcile', async () => scaler.counts.success >= 2 && scaler.idle);
        // The older Machine, reconciled after the scale-up: the annotated owner is not its cause.
        oldAfterScale = machinesCtl.counts.success;
        machinesCtl.enqueue(`${ns}/${before.metadata.name}`);
        await eventually('old machine reconcile', async () => machinesCtl.counts.success > oldAfterScale);
      } finally {
        await svc.stop();
      }
      await eventually(
        'exported machine spans',
        async () => receiver.spans.filter((s) => s.name === 'machines.reconcile').length >= 3,
      );
      await receiver.close();
      expect((receiver as { errors?: string[] }).errors ?? []).toEqual([]);
      const spans = receiver.spans;
      const children = (p: DecodedSpan) =>
        spans.filter((s) => s.parentSpanId === p.spanId && s.traceId === p.traceId);

      // Every reconcile is a span; each API call it makes is a child (the no-op one makes none).
      const reconciles = spans.filter((s) => s.name.endsWith('.reconcile'));
      expect(reconciles.length).toBeGreaterThanOrEqual(5);
      for (const r of reconciles) {
        expect(r.serviceName).toBe('capi-autopilot');
        const calls = children(r).filter((c) => c.attributes['http.request.method']).length;
        const injected = r.error && r.name === 'machines.reconcile';
        if (r.attributes['capi_autopilot.decision'] === 'none' || injected) expect(calls, r.name).toBe(0);
        else expect(calls, r.name).toBeGreaterThan(0);
      }
      if (wire.contentType) {
        expect(receiver.contentTypes.length).toBeGreaterThan(0);
        for (const ct of receiver.contentTypes) expect(ct.startsWith(wire.contentType), ct).toBe(true);
      }

      // The injected failure: status ERROR and an exception event, on the wire.
      const failed = reconciles.filter((r) => r.error && r.name === 'machines.reconcile');
      expect(failed).toHaveLength(1);
      // A scale-up can also fail for real: its write lost a race (409 on the resourceVersion precondition)
      // and the retry reads the cache again. Then the failed span shows the 409 on its PATCH.
      for (const r of reconciles.filter((x) => x.error && x.name === 'scaler.reconcile')) {
        expect(children(r).map((c) => c.attributes['http.response.status_code'])).toContain(409);
      }
      expect(failed[0]!.attributes['capi_autopilot.result']).toBe('error');
      expect(failed[0]!.events.map((e) => e.name)).toContain('exception');

      // The scale-up: a new trace whose PATCH child carries verb, resource, namespace and status.
      const scalerSpans = spans.filter((s) => s.name === 'scaler.reconcile');
      const scale = scalerSpans.find(
        (s) => s.attributes['capi_autopilot.decision'] === 'scale-up' && !s.error,
      );
      const again = scalerSpans.find((s) => s.attributes['capi_autopilot.decision'] === 'none');
      expect(scale!.parentSpanId).toBe('');
      // The other tool's context (undated) is linked, not followed.
      expect(scale!.links.map((l) => [l.traceId, l.spanId])).toEqual([[FOREIGN.traceId, FOREIGN.spanId]]);
      if (wire.linkAttributes) {
        expect(scale!.links[0]!.attributes['capi_autopilot.link.from']).toBe('MachineDeployment/md-a');
      }
      expect(scale!.attributes).toMatchObject({
        'capi_autopilot.controller': 'scaler',
        'capi_autopilot.key': mdKey,
        'capi_autopilot.decision': 'scale-up',
        'capi_autopilot.reason': 'PendingPods',
        'capi_autopilot.result': 'success',
      });
      const patch = children(scale!).find((c) => c.name === 'PATCH machinedeployments');
      expect(patch?.attributes).toMatchObject({
        'http.request.method': 'PATCH',
        'http.response.status_code': 200,
        'k8s.namespace.name': ns,
        'capi_autopilot.kube.name': 'md-a',
        'http.request.resend_count': 0,
      });
      const md = (await mgmt.api.ok('GET', capi('machinedeployments/md-a'))) as KubeObject;
      expect(md.metadata.annotations?.[TRACEPARENT_ANNOTATION]).toBe(
        `00-${scale!.traceId}-${scale!.spanId}-01`,
      );

      // The second reconcile of the MachineDeployment continues the trace recorded on it.
      expect(again).toMatchObject({ traceId: scale!.traceId, parentSpanId: scale!.spanId });
      expect(again!.attributes['capi_autopilot.decision']).toBe('none');
      expect(again!.attributes['capi_autopilot.parent.from']).toBe('MachineDeployment/md-a');
      expect(again!.links).toEqual([]);

      // Machines created by the scale-up: their reconciles are children of the scale-up span.
      const machineSpans = spans.filter((s) => s.name === 'machines.reconcile');
      for (const m of created) {
        const mine = machineSpans.filter((s) => s.attributes['capi.machine.name'] === m.metadata.name);
        expect(mine.length, m.metadata.name).toBeGreaterThan(0);
        for (const s of mine) {
          expect(s).toMatchObject({ traceId: scale!.traceId, parentSpanId: scale!.spanId });
          expect(s.attributes['capi_autopilot.parent.from']).toBe('MachineDeployment/md-a');
        }
      }
      // The Machine that existed before the scale-up was not caused by it: its own traces, no link.
      const old = machineSpans.filter((s) => s.attributes['capi.machine.name'] === before.metadata.name);
      expect(old.length).toBeGreaterThanOrEqual(2); // one at start, one after the scale-up
      for (const s of old) {
        expect(s.parentSpanId).toBe('');
        expect(s.traceId).not.toBe(scale!.traceId);
        expect(s.links).toEqual([]);
      }

      // Log lines written inside a reconcile carry its trace and span ids.
      const logged = lines.filter((l) => l.msg === 'machine reconciled' && l.trace_id === scale!.traceId);
      expect(logged.length).toBeGreaterThanOrEqual(2);
      for (const l of logged) expect(machineSpans.map((s) => s.spanId)).toContain(l.span_id);
    },
  );
});
