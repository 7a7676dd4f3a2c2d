// Every metric of the service, on one prom-client Registry created per process (and per test), with
// Node's default process metrics. Names are capi_autopilot_*; label values are bounded (no object names).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  kubeRequests: Counter<'cluster' | 'verb' | 'code'>;
  kubeRequestSeconds: Histogram<'cluster' | 'verb'>;
  reconciles: Counter<'controller' | 'result'>;
  reconcileSeconds: Histogram<'controller'>;
  informerSynced: Gauge<'cluster' | 'resource'>;
  informerLists: Gauge<'cluster' | 'resource'>;
  leader: Gauge;
  workloadClusters: Gauge<'state'>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    kubeRequests: new Counter({
      name: 'capi_autopilot_kube_requests_total',
      help: 'Requests sent to Kubernetes API servers, by cluster, verb and HTTP code (0: no response).',
      labelNames: ['cluster', 'verb', 'code'],
      registers,
    }),
    kubeRequestSeconds: new Histogram({
      name: 'capi_autopilot_kube_request_duration_seconds',
      help: 'Latency of requests to Kubernetes API servers, one observation per attempt.',
      labelNames: ['cluster', 'verb'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    reconciles: new Counter({
      name: 'capi_autopilot_reconcile_total',
      help: 'Reconciles by controller and result (success, requeue, error).',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileSeconds: new Histogram({
      name: 'capi_autopilot_reconcile_duration_seconds',
      help: 'Time spent in one reconcile.',
      labelNames: ['controller'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
      registers,
    }),
    informerSynced: new Gauge({
      name: 'capi_autopilot_informer_synced',
      help: '1 once an informer has listed its resource, per cluster.',
      labelNames: ['cluster', 'resource'],
      registers,
    }),
    informerLists: new Gauge({
      name: 'capi_autopilot_informer_list_calls',
      help: 'LIST calls an informer has made (1 in steady state; more after 410 Gone or watch failures).',
      labelNames: ['cluster', 'resource'],
      registers,
    }),
    leader: new Gauge({
      name: 'capi_autopilot_leader',
      help: '1 while this replica holds the leader lease.',
      registers,
    }),
    workloadClusters: new Gauge({
      name: 'capi_autopilot_workload_clusters',
      help: 'Workload clusters in scope, by state (connected, waiting-for-kubeconfig, error).',
      labelNames: ['state'],
      registers,
    }),
  };
}
