// Every metric of the service, on one prom-client Registry created per process (and per test), with
// Node's default process metrics. Names are capi_autopilot_*; label values are bounded: clusters, node
// groups and health checks are few and configured by people, pods and machines never appear as labels.
// The README's metrics table maps each one to its cluster-autoscaler or controller-runtime counterpart.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

type GroupLabels = 'cluster' | 'node_group';

export interface Metrics {
  registry: Registry;
  // ---- Kubernetes API and runtime ----
  kubeRequests: Counter<'cluster' | 'verb' | 'resource' | 'code'>;
  kubeRequestSeconds: Histogram<'cluster' | 'verb'>;
  kubeThrottleSeconds: Histogram<'cluster'>;
  reconciles: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  reconcileSeconds: Histogram<'controller'>;
  lastSuccess: Gauge<'controller'>;
  informerSynced: Gauge<'cluster' | 'resource'>;
  informerLists: Gauge<'cluster' | 'resource'>;
  leader: Gauge;
  workloadClusters: Gauge<'state'>;
  traceSpansExported: Counter<'exporter' | 'result'>;
  // ---- autoscaling ----
  scaledUpNodes: Counter<GroupLabels | 'reason'>;
  scaledDownNodes: Counter<GroupLabels | 'reason'>;
  failedScaleUps: Counter<GroupLabels | 'reason'>;
  failedScaleDowns: Counter<GroupLabels | 'reason'>;
  unneededNodes: Gauge<GroupLabels>;
  unremovableNodes: Gauge<'cluster' | 'reason'>;
  scaleDownInCooldown: Gauge<'cluster'>;
  unschedulablePods: Gauge<'cluster'>;
  nodeGroupMinSize: Gauge<GroupLabels>;
  nodeGroupMaxSize: Gauge<GroupLabels>;
  nodeGroupTargetSize: Gauge<GroupLabels>;
  nodeGroupCurrentSize: Gauge<GroupLabels>;
  nodeGroupHealthy: Gauge<GroupLabels>;
  nodeGroupBackoff: Gauge<GroupLabels>;
  nodeGroupDisabled: Gauge<GroupLabels | 'reason'>;
  podsWithoutScaleUp: Gauge<GroupLabels | 'reason'>;
  // ---- drain and deletion ----
  evictedPods: Counter<'cluster' | 'result'>;
  drainSeconds: Histogram<'cluster' | 'result'>;
  volumeDetachSeconds: Histogram<'cluster' | 'result'>;
  machinesDeleted: Counter<GroupLabels | 'reason'>;
  deleteOperations: Counter<GroupLabels | 'outcome'>;
  replicaConflicts: Counter<'cluster' | 'kind'>;
  // ---- health checking and remediation ----
  remediations: Counter<'cluster' | 'phase' | 'result'>;
  unhealthyMachines: Gauge<'cluster' | 'machine_health_check'>;
  healthCheckShortCircuited: Gauge<'cluster' | 'machine_health_check'>;
  remediationsDeferred: Counter<'cluster' | 'reason'>;
  remediationStorm: Gauge<'cluster'>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    // prom-client's gauges named *_total fail Prometheus's lint (`promtool check metrics`); the same counts
    // are in nodejs_active_handles / _requests / _resources, by type.
    for (const n of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      registry.removeSingleMetric(n);
    }
  }
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name: `capi_autopilot_${name}`, help, labelNames, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({ name: `capi_autopilot_${name}`, help, labelNames, registers });
  const histogram = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: number[],
  ) => new Histogram<L>({ name: `capi_autopilot_${name}`, help, labelNames, buckets, registers });
  const group = ['cluster', 'node_group'] as const;
  const groupReason = ['cluster', 'node_group', 'reason'] as const;

  return {
    registry,
    kubeRequests: counter(
      'kube_requests_total',
      'Requests sent to Kubernetes API servers, by cluster, verb, resource and HTTP code (0: no response).',
      ['cluster', 'verb', 'resource', 'code'],
    ),
    kubeRequestSeconds: histogram(
      'kube_request_duration_seconds',
      'Latency of requests to Kubernetes API servers, one observation per attempt.',
      ['cluster', 'verb'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    ),
    kubeThrottleSeconds: histogram(
      'kube_client_rate_limiter_duration_seconds',
      'Time requests waited for the client-side rate limiter (QPS/burst), one observation per attempt.',
      ['cluster'],
      [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    ),
    reconciles: counter('reconcile_total', 'Reconciles by controller and result (success, requeue, error).', [
      'controller',
      'result',
    ]),
    reconcileErrors: counter('reconcile_errors_total', 'Reconciles that ended in an error, by controller.', [
      'controller',
    ]),
    reconcileSeconds: histogram(
      'reconcile_duration_seconds',
      'Time spent in one reconcile.',
      ['controller'],
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
    ),
    lastSuccess: gauge(
      'last_successful_reconcile_timestamp_seconds',
      'Unix time of the last reconcile that did not fail, by controller.',
      ['controller'],
    ),
    informerSynced: gauge('informer_synced', '1 once an informer has listed its resource, per cluster.', [
      'cluster',
      'resource',
    ]),
    informerLists: gauge(
      'informer_list_calls',
      'LIST calls an informer has made (1 in steady state; more after 410 Gone or watch failures).',
      ['cluster', 'resource'],
    ),
    leader: gauge('leader', '1 while this replica holds the leader lease.', []),
    workloadClusters: gauge(
      'workload_clusters',
      'Workload clusters in scope, by state (connected, waiting).',
      ['state'],
    ),
    traceSpansExported: counter(
      'trace_spans_exported_total',
      'Spans handed to a trace exporter, by exporter and result (success, failure).',
      ['exporter', 'result'],
    ),

    scaledUpNodes: counter(
      'scaled_up_nodes_total',
      'Nodes added by scale-up, by node group and reason.',
      groupReason,
    ),
    scaledDownNodes: counter(
      'scaled_down_nodes_total',
      'Nodes removed by scale-down, by node group and reason (empty, underutilized, unready).',
      groupReason,
    ),
    failedScaleUps: counter(
      'failed_scale_ups_total',
      'Scale-ups that failed, by node group and reason.',
      groupReason,
    ),
    failedScaleDowns: counter(
      'failed_scale_downs_total',
      'Node removals that did not happen, by node group and reason (drain, changed, refused, replaced, rolled_back, api_error).',
      groupReason,
    ),
    unneededNodes: gauge(
      'unneeded_nodes',
      'Nodes of the node group that are scale-down candidates at the last evaluation (unneeded for any time).',
      group,
    ),
    unremovableNodes: gauge(
      'unremovable_nodes',
      'Nodes kept at the last scale-down evaluation, by reason code (utilization, blocked_by_pod, min_size, ...).',
      ['cluster', 'reason'],
    ),
    scaleDownInCooldown: gauge(
      'scale_down_in_cooldown',
      '1 while scale-down is paused after a scale-up, a deletion or a failure (or disabled).',
      ['cluster'],
    ),
    unschedulablePods: gauge(
      'unschedulable_pods',
      'Pods the scheduler reported unschedulable at the last evaluation.',
      ['cluster'],
    ),
    nodeGroupMinSize: gauge('node_group_min_size', 'Minimum size of the node group (its annotation).', group),
    nodeGroupMaxSize: gauge('node_group_max_size', 'Maximum size of the node group (its annotation).', group),
    nodeGroupTargetSize: gauge('node_group_target_size', 'Desired replicas of the node group.', group),
    nodeGroupCurrentSize: gauge(
      'node_group_current_size',
      'Machines of the node group that exist now.',
      group,
    ),
    nodeGroupHealthy: gauge('node_group_healthy', '1 when the node group is healthy enough to scale.', group),
    nodeGroupBackoff: gauge(
      'node_group_backoff',
      '1 while scale-ups of the node group are backed off.',
      group,
    ),
    nodeGroupDisabled: gauge(
      'node_group_disabled',
      '1 while the node group is listed but not scaled, by reason (e.g. InvalidBounds for a malformed size annotation).',
      [...group, 'reason'],
    ),
    podsWithoutScaleUp: gauge(
      'pods_without_scale_up',
      'Pending pods the node group could not take at the last decision, by reason code (a pod counts once per group).',
      [...group, 'reason'],
    ),

    evictedPods: counter(
      'evicted_pods_total',
      'Pod evictions by result (evicted, deleted, blocked_by_pdb, failed, not_found).',
      ['cluster', 'result'],
    ),
    drainSeconds: histogram(
      'drain_duration_seconds',
      'Time from cordon to the end of a drain, by result (succeeded, blocked, timed_out, failed, aborted).',
      ['cluster', 'result'],
      [1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600],
    ),
    volumeDetachSeconds: histogram(
      'volume_detach_duration_seconds',
      "Wait after a drain for the node's volumes to detach, by result (detached, timed_out, skipped_unreachable, node_gone, aborted, forbidden).",
      ['cluster', 'result'],
      [1, 5, 15, 30, 60, 120, 300, 600],
    ),
    machinesDeleted: counter(
      'machines_deleted_total',
      'Machines this service deleted, by node group and reason (scale_down, remediation).',
      groupReason,
    ),
    deleteOperations: counter(
      'delete_operations_total',
      'Ended runs of the atomic delete protocol, by node group and outcome (deleted, replaced, rolled_back, refused, in_progress).',
      ['cluster', 'node_group', 'outcome'],
    ),
    replicaConflicts: counter(
      'replicas_conflicts_total',
      'Writes of the delete protocol that met another writer: kind="conflict" (409, retried from a fresh read) or "foreign_write" (spec.replicas set by someone else; their value stands).',
      ['cluster', 'kind'],
    ),

    remediations: counter(
      'remediations_total',
      'Remediation actions and outcomes: phase="reboot"|"reprovision" with result started|succeeded|failed, and phase="remediation" with result succeeded|gave_up (a request finished).',
      ['cluster', 'phase', 'result'],
    ),
    unhealthyMachines: gauge('unhealthy_machines', 'Machines a MachineHealthCheck finds unhealthy.', [
      'cluster',
      'machine_health_check',
    ]),
    healthCheckShortCircuited: gauge(
      'health_check_short_circuited',
      '1 while a MachineHealthCheck has too many unhealthy machines to remediate (RemediationAllowed=False).',
      ['cluster', 'machine_health_check'],
    ),
    remediationsDeferred: counter(
      'remediations_deferred_total',
      'Remediation attempts that could not start yet, by reason (Storm, StormCooldown, MaxPerCluster, MaxPerGroup, RateLimited, HeldByScaleDown).',
      ['cluster', 'reason'],
    ),
    remediationStorm: gauge(
      'remediation_storm',
      '1 while a workload cluster is in a remediation storm (too many unhealthy Machines at once): no new remediation starts there.',
      ['cluster'],
    ),
  };
}
