// What tracing costs a reconcile. A realistic reconcile reads an object from a cache, decides, then GETs
// and merge-patches it on a real apiserver (annotations included, as an action stamps its trace context);
// it runs through the Controller, so the reconcile span and the two API-call spans are the real ones.
// Rounds rotate three modes: tracing off; on (OTLP http/protobuf, batch processor, to a local receiver
// that accepts and discards); on but sampled out (always_off). Rotation spreads drift on a shared
// machine. Then the same reconcile against a transport that answers at once (the service's own CPU, no
// apiserver noise) and an empty reconcile (the reconcile span alone).
// Writes bench/results/tracing.json.   npm run bench:tracing [-- reconcilesPerRound [rounds]]
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus } from 'node:os';
import { Writable } from 'node:stream';
import { KubeClient } from '../src/kube/client.ts';
import { HttpsTransport, kubeConfigFrom, type Transport } from '../src/kube/transport.ts';
import { Controller } from '../src/runtime/controller.ts';
import { createLogger } from '../src/runtime/log.ts';
import { startCluster } from '../src/sandbox/cluster.ts';
import { traceAnnotations } from '../src/tracing/carry.ts';
import { tracingSettingsFromEnv } from '../src/tracing/settings.ts';
import { startTracing, type Tracing } from '../src/tracing/setup.ts';
import { currentTraceParent } from '../src/tracing/spans.ts';

const perRound = Number(process.argv[2] ?? 100);
const rounds = Number(process.argv[3] ?? 30);

// A receiver that takes each export and answers 200 without decoding it.
let received = 0;
const receiver = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    received++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const otlpUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/v1/traces`;
type Mode = 'off' | 'on' | 'unsampled';
const MODES: Mode[] = ['off', 'on', 'unsampled'];
/** `unsampled`: the SDK and context plumbing run but the sampler records nothing (OTEL_TRACES_SAMPLER=always_off). */
const startMode = (mode: Mode): Tracing | undefined =>
  mode === 'off'
    ? undefined
    : startTracing(
        tracingSettingsFromEnv({
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl,
          OTEL_TRACES_SAMPLER: mode === 'on' ? 'parentbased_always_on' : 'always_off',
        }),
        { batch: { scheduledDelayMillis: 200 } },
      );

const quiet = createLogger({ level: 'warn', format: 'json' }, new Writable({ write: (_c, _e, cb) => cb() }));

/** Runs `n` reconciles through a Controller (distinct keys, one worker) and returns ms per reconcile. */
async function measure(n: number, reconcile: (key: string) => Promise<void>): Promise<number> {
  let done = 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  const ctl = new Controller({
    name: 'bench',
    workers: 1,
    log: quiet,
    reconcile: async (k) => {
      await reconcile(k);
      if (++done === n) resolve();
    },
  });
  const t0 = performance.now();
  ctl.setActive(true);
  for (let i = 0; i < n; i++) ctl.enqueue(`k-${i}`);
  await finished;
  const ms = (performance.now() - t0) / n;
  await ctl.stop();
  return ms;
}

async function alternate(
  label: string,
  n: number,
  reconcile: (key: string) => Promise<void>,
): Promise<Record<Mode, number[]>> {
  const out: Record<Mode, number[]> = { off: [], on: [], unsampled: [] };
  await measure(Math.min(n, 100), reconcile); // warm-up: JIT, connections
  for (let r = 0; r < rounds; r++) {
    // Rotate the order so no mode always runs first or last in a round.
    for (const mode of MODES.map((_, i) => MODES[(i + r) % MODES.length]!)) {
      const t = startMode(mode);
      const ms = await measure(n, reconcile);
      if (t) {
        await t.forceFlush();
        await t.shutdown();
      }
      out[mode].push(ms);
      process.stderr.write(
        `${label} round ${r + 1}/${rounds} tracing ${mode.padEnd(9)}: ${ms.toFixed(4)} ms\n`,
      );
    }
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const summary = (x: Record<Mode, number[]>, unit: 'ms' | 'us') => {
  const f = unit === 'us' ? 1000 : 1;
  const med = (m: Mode) => median(x[m]) * f;
  const pct = (m: Mode) => Number((((med(m) - med('off')) / med('off')) * 100).toFixed(1));
  // Paired: each round's modes run back to back, so the ratio within a round cancels slow drift.
  const paired = (m: Mode) =>
    Number((median(x[m].map((v, i) => (v - x.off[i]!) / x.off[i]!)) * 100).toFixed(1));
  return {
    pairedOverheadPercent: paired('on'),
    pairedOverheadUnsampledPercent: paired('unsampled'),
    [`medianOff_${unit}`]: Number(med('off').toFixed(3)),
    [`medianOn_${unit}`]: Number(med('on').toFixed(3)),
    [`medianUnsampled_${unit}`]: Number(med('unsampled').toFixed(3)),
    overheadPercent: pct('on'),
    overheadUnsampledPercent: pct('unsampled'),
    [`rounds_${unit}`]: Object.fromEntries(
      MODES.map((m) => [m, x[m].map((v) => Number((v * f).toFixed(3)))]),
    ),
  };
};

const cluster = await startCluster({ name: `bench-tracing-${process.pid}`, quiet: true });
try {
  const client = new KubeClient(new HttpsTransport(kubeConfigFrom({ kubeconfig: cluster.kubeconfigPath })), {
    cluster: 'bench',
    qps: 1e6,
    burst: 1e6,
    timeoutMs: 10_000,
    maxRetries: 0,
  });
  const path = '/api/v1/namespaces/default/configmaps/bench-tracing';
  await client.create('/api/v1/namespaces/default/configmaps', {
    metadata: { name: 'bench-tracing' },
    data: { n: '0' },
  });
  // The cache a real reconcile decides on.
  const cache = new Map<string, { replicas: number }>();
  for (let i = 0; i < 1000; i++) cache.set(`k-${i}`, { replicas: i % 7 });

  let seq = 0;
  const apiReconcile = async (key: string) => {
    const desired = (cache.get(key)?.replicas ?? 0) + 1;
    const cm = await client.get<{ metadata: { resourceVersion: string } }>(path);
    await client.mergePatch(
      path,
      {
        metadata: {
          annotations: { 'bench/seq': String(++seq), ...traceAnnotations(currentTraceParent(), new Date()) },
        },
        data: { n: String(desired) },
      },
      cm.metadata.resourceVersion,
    );
  };
  const withApi = await alternate('api reconcile', perRound, apiReconcile);
  await client.close();

  // The same reconcile against a transport that answers at once: no apiserver, no network, so what is
  // left is the service's own CPU per reconcile, tracing's share included, without the apiserver's noise.
  const instant: Transport = {
    server: 'https://instant',
    request: async () => ({ status: 200, headers: {}, text: '{"metadata":{"resourceVersion":"1"}}' }),
    stream: async () => undefined,
  };
  const fast = new KubeClient(instant, {
    cluster: 'bench',
    qps: 1e9,
    burst: 1e9,
    timeoutMs: 1000,
    maxRetries: 0,
  });
  const cpuOnly = await alternate('in-process reconcile', perRound * 10, async (key) => {
    const desired = (cache.get(key)?.replicas ?? 0) + 1;
    const cm = await fast.get<{ metadata: { resourceVersion: string } }>(path);
    await fast.mergePatch(
      path,
      {
        metadata: { annotations: traceAnnotations(currentTraceParent(), new Date()) },
        data: { n: String(desired) },
      },
      cm.metadata.resourceVersion,
    );
  });
  await fast.close();
  const empty = await alternate('empty reconcile', perRound * 20, async () => {});

  const result = {
    benchmark: 'tracing',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model.split(' ').slice(0, 2).join(' ') },
    setup: {
      reconcilesPerRound: perRound,
      rounds,
      exporter: 'otlp http/protobuf, BatchSpanProcessor, loopback receiver',
      exportsReceived: received,
    },
    reconcileWithTwoApiCalls: summary(withApi, 'ms'),
    sameReconcileInstantTransport: summary(cpuOnly, 'us'),
    emptyReconcile: summary(empty, 'us'),
    // Tracing's CPU per real reconcile (from the instant-transport run) relative to the real reconcile.
    tracingCpuPercentOfRealReconcile: Number(
      (((median(cpuOnly.on) - median(cpuOnly.off)) / median(withApi.off)) * 100).toFixed(2),
    ),
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/tracing.json', `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await cluster.stop();
  receiver.close();
}
