// The service's configuration: one zod schema, strict at every level (an unknown field is a typo, never
// ignored). Names and defaults follow cluster-autoscaler where the concept is the same (its
// config/flags/flags.go and FAQ.md parameters table), client-go for the client and leader-election
// numbers. Descriptions live on the fields (`.meta`) and feed the README reference table.
//
// Durations are Go duration strings ("10m", "1h30m", "90s") as cluster-autoscaler's flags take them;
// after parsing they are milliseconds.

import { z } from 'zod';
import { parseGoDuration } from '../capi/duration.ts';
import { DiscoveryEntry, namespaceName, objectName } from './discovery.ts';

export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

const DURATION_ALLOWED = 'a Go duration such as "90s", "10m" or "1h30m" (units ns, us, ms, s, m, h)';

/** A Go duration string, parsed strictly (Go's own grammar) to whole milliseconds. */
function duration(options: { positive?: boolean } = {}) {
  return z.string().transform((text, ctx) => {
    const parsed = parseGoDuration(text);
    const bad = (message: string) => {
      ctx.addIssue({ code: 'custom', message, params: { allowed: DURATION_ALLOWED } });
      return z.NEVER;
    };
    if (!parsed.ok) return bad(parsed.error);
    if (parsed.nanoseconds < 0n) return bad('a duration must not be negative');
    if (options.positive && parsed.nanoseconds === 0n) return bad('a duration must be greater than 0');
    return Number(parsed.nanoseconds / 1_000_000n);
  });
}

const int = () => z.number().int();

// ---- sections ----

const Management = z
  .object({
    kubeconfig: z.string().min(1).optional().meta({
      allowed: 'a file path',
      description:
        "Path of the management cluster's kubeconfig. With neither this nor `inCluster`: the local sandbox's.",
    }),
    context: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "kubeconfig context to use; unset: the file's current-context." }),
    inCluster: z.boolean().optional().meta({
      description: "Use the pod's service account (in-cluster config). Excludes `kubeconfig` and `context`.",
    }),
  })
  .strict()
  .superRefine((m, ctx) => {
    for (const other of ['kubeconfig', 'context'] as const) {
      if (m.inCluster === true && m[other] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['inCluster'],
          message: `management.inCluster and management.${other} exclude each other`,
          params: {
            allowed: `management.inCluster or management.${other}, not both`,
            fields: ['management.inCluster', `management.${other}`],
          },
        });
      }
    }
  });

const WorkloadClusters = z
  .object({
    mode: z.enum(['same', 'secret', 'kubeconfig']).default('same').meta({
      description:
        "How to reach each workload cluster: `same` (the management apiserver serves it too, like cluster-autoscaler's single-cluster setup), `secret` (from the Cluster's kubeconfig Secret, `<cluster-name>` + `secretSuffix`, labelled with its cluster), `kubeconfig` (files in `kubeconfigs`).",
    }),
    kubeconfigs: z.record(objectName(), z.string().min(1)).optional().meta({
      allowed: 'a map of Cluster name to file path',
      description: 'Kubeconfig file of each workload cluster by Cluster name; only with mode `kubeconfig`.',
    }),
    secretKey: z.string().min(1).default('value').meta({
      description: 'Data key of the kubeconfig in the Secret (CAPI writes `value`).',
    }),
    secretSuffix: z
      .string()
      .regex(/^[-.a-z0-9]*[a-z0-9]$/, {
        error: 'lower-case letters, digits, "-" and ".", ending in a letter or digit',
      })
      .default('-kubeconfig')
      .meta({
        allowed: 'a Secret name suffix such as -kubeconfig',
        description:
          "The Secret is `<cluster-name>` + this (CAPI's admin kubeconfig: `-kubeconfig`). Another suffix, e.g. `-autopilot-kubeconfig`, selects a kubeconfig of your own with least privilege (deploy/workload); it must be labelled `cluster.x-k8s.io/cluster-name` and of type `cluster.x-k8s.io/secret` too.",
      }),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (w.mode === 'kubeconfig' && Object.keys(w.kubeconfigs ?? {}).length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['kubeconfigs'],
        message: 'workloadClusters.mode kubeconfig needs at least one entry in workloadClusters.kubeconfigs',
        params: {
          allowed: 'a map of Cluster name to kubeconfig path',
          fields: ['workloadClusters.kubeconfigs', 'workloadClusters.mode'],
        },
      });
    }
    if (w.mode !== 'kubeconfig' && w.kubeconfigs !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['kubeconfigs'],
        message: `workloadClusters.kubeconfigs is only used with workloadClusters.mode kubeconfig, not ${w.mode}`,
        params: {
          allowed: 'workloadClusters.kubeconfigs only with mode kubeconfig',
          fields: ['workloadClusters.kubeconfigs', 'workloadClusters.mode'],
        },
      });
    }
  });

// client-go rest.DefaultQPS = 5 and rest.DefaultBurst = 10 (rest/config.go); cluster-autoscaler's
// --kube-client-qps/--kube-client-burst default to them. Timeout and retries are ours.
const KubeClient = z
  .object({
    qps: z
      .number()
      .positive()
      .default(5)
      .meta({ description: 'Sustained requests per second to each apiserver.' }),
    burst: int().min(1).default(10).meta({ description: 'Requests allowed above `qps` in a burst.' }),
    timeoutSeconds: int()
      .min(1)
      .default(30)
      .meta({ description: 'Timeout of one request (watches excepted), in seconds.' }),
    maxRetries: int()
      .min(0)
      .default(5)
      .meta({ description: 'Retries of a request that failed transiently (429, 5xx, connection errors).' }),
  })
  .strict();

// client-go leaderelection.JitterFactor; NewLeaderElector rejects leaseDuration <= renewDeadline and
// renewDeadline <= JitterFactor * retryPeriod (tools/leaderelection/leaderelection.go).
export const LEADER_ELECTION_JITTER_FACTOR = 1.2;

const LeaderElection = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .meta({ description: 'Run only while holding the Lease (for replicas > 1).' }),
    namespace: namespaceName().default('kube-system').meta({
      description: 'Namespace of the Lease; unset: `POD_NAMESPACE` if set (downward API), else kube-system.',
    }),
    leaseName: objectName().default('capi-autopilot').meta({ description: 'Name of the Lease object.' }),
    leaseDurationSeconds: int()
      .min(1)
      .default(15)
      .meta({ description: 'How long a non-leader waits after the last renewal before taking over.' }),
    renewDeadlineSeconds: int()
      .min(1)
      .default(10)
      .meta({ description: 'How long the leader keeps retrying a renewal before it gives up leading.' }),
    retryPeriodSeconds: int()
      .min(1)
      .default(2)
      .meta({ description: 'Wait between acquire or renew attempts.' }),
    identity: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Holder identity written to the Lease; unset: the host name (the pod name).' }),
  })
  .strict()
  .superRefine((l, ctx) => {
    if (l.leaseDurationSeconds <= l.renewDeadlineSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['leaseDurationSeconds'],
        message: `leaderElection.leaseDurationSeconds (${l.leaseDurationSeconds}) must be greater than leaderElection.renewDeadlineSeconds (${l.renewDeadlineSeconds})`,
        params: {
          allowed: 'leaseDurationSeconds > renewDeadlineSeconds',
          fields: ['leaderElection.leaseDurationSeconds', 'leaderElection.renewDeadlineSeconds'],
        },
      });
    }
    if (l.renewDeadlineSeconds <= LEADER_ELECTION_JITTER_FACTOR * l.retryPeriodSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['renewDeadlineSeconds'],
        message: `leaderElection.renewDeadlineSeconds (${l.renewDeadlineSeconds}) must be greater than leaderElection.retryPeriodSeconds (${l.retryPeriodSeconds}) x ${LEADER_ELECTION_JITTER_FACTOR}`,
        params: {
          allowed: `renewDeadlineSeconds > retryPeriodSeconds x ${LEADER_ELECTION_JITTER_FACTOR} (client-go JitterFactor)`,
          fields: ['leaderElection.renewDeadlineSeconds', 'leaderElection.retryPeriodSeconds'],
        },
      });
    }
  });

export const EXPANDERS = ['random', 'least-waste', 'most-pods', 'priority'] as const;

// cluster-autoscaler flag names in parentheses; defaults from its config/flags/flags.go.
const Autoscaler = z
  .object({
    scanIntervalSeconds: int().min(1).default(10).meta({
      description: 'How often node groups are re-evaluated for scale up or down (--scan-interval).',
    }),
    scaleDownEnabled: z
      .boolean()
      .default(true)
      .meta({ description: 'Scale down at all (--scale-down-enabled).' }),
    scaleDownUnneededTime: duration().prefault('10m').meta({
      kind: 'duration',
      description: 'How long a node must be unneeded before it is removed (--scale-down-unneeded-time).',
    }),
    scaleDownUnreadyTime: duration().prefault('20m').meta({
      kind: 'duration',
      description:
        'How long an unready node must be unneeded before it is removed (--scale-down-unready-time).',
    }),
    scaleDownDelayAfterAdd: duration().prefault('10m').meta({
      kind: 'duration',
      description: 'No scale-down evaluation for this long after a scale-up (--scale-down-delay-after-add).',
    }),
    scaleDownDelayAfterDelete: duration().optional().meta({
      kind: 'duration',
      defaultText: 'scan interval',
      description:
        'Pause in scale-down after a node deletion (--scale-down-delay-after-delete); unset: the scan interval, as upstream.',
    }),
    scaleDownDelayAfterFailure: duration().prefault('3m').meta({
      kind: 'duration',
      description: 'Pause in scale-down after a failed scale-down (--scale-down-delay-after-failure).',
    }),
    scaleDownUtilizationThreshold: z.number().min(0).max(1).default(0.5).meta({
      description:
        'A node whose requested CPU and memory, each over allocatable, are both below this is a scale-down candidate (--scale-down-utilization-threshold).',
    }),
    maxNodeProvisionTime: duration({ positive: true }).prefault('15m').meta({
      kind: 'duration',
      description: 'How long a new node may take to register and become Ready (--max-node-provision-time).',
    }),
    maxGracefulTerminationSeconds: int().min(0).default(600).meta({
      description:
        'Longest pod termination grace period honoured in scale-down (--max-graceful-termination-sec).',
    }),
    maxPodEvictionTime: duration({ positive: true }).prefault('2m').meta({
      kind: 'duration',
      description:
        'How long a pod eviction is retried before scale-down of that node gives up (--max-pod-eviction-time).',
    }),
    maxEmptyBulkDelete: int().min(1).default(10).meta({
      description:
        'Empty nodes deleted at once (--max-empty-bulk-delete; deprecated upstream since 1.32 in favour of maxScaleDownParallelism).',
    }),
    maxScaleDownParallelism: int().min(1).default(10).meta({
      description: 'Nodes (empty or drained) deleted in parallel (--max-scale-down-parallelism).',
    }),
    maxScaleDownDrainsPerNodeGroup: int().min(1).default(1).meta({
      description:
        "Nodes that need a drain removed at once per node group, drains in progress included (cluster-autoscaler's --max-drain-parallelism, default 1, is cluster-wide).",
    }),
    // Upstream's default changed from random to least-waste (kubernetes/autoscaler#7631); its FAQ table
    // still says random.
    expander: z.enum(EXPANDERS).default('least-waste').meta({
      description: 'How to choose among node groups that could all take the pending pods (--expander).',
    }),
    newPodScaleUpDelay: duration().prefault('0s').meta({
      kind: 'duration',
      description: 'Pods younger than this are not considered for scale-up yet (--new-pod-scale-up-delay).',
    }),
    scaleUpBatchIdle: duration({ positive: true }).prefault('1s').meta({
      kind: 'duration',
      description:
        'A scale-up decision waits until no pod has become unschedulable for this long, so a Deployment rollout is one decision.',
    }),
    scaleUpBatchMax: duration({ positive: true }).prefault('10s').meta({
      kind: 'duration',
      description:
        'Longest a scale-up decision waits for the batch to go idle (the scan interval, upstream).',
    }),
    maxCoresTotal: int().min(0).default(320000).meta({
      description:
        'Most CPU cores across the cluster, in whole cores (the max of --cores-total); 0: no limit.',
    }),
    maxMemoryTotalGiB: int().min(0).default(6400000).meta({
      description: 'Most memory across the cluster, in GiB (the max of --memory-total); 0: no limit.',
    }),
    priorityExpanderNamespace: z.string().min(1).default('kube-system').meta({
      description:
        'Namespace (management cluster) of the `cluster-autoscaler-priority-expander` ConfigMap read by the priority expander.',
    }),
    maxNodesTotal: int()
      .min(0)
      .default(0)
      .meta({ description: 'Most nodes across all node groups; 0: no limit (--max-nodes-total).' }),
    skipNodesWithLocalStorage: z.boolean().default(true).meta({
      description:
        'Never remove nodes with pods using emptyDir or hostPath (--skip-nodes-with-local-storage).',
    }),
    skipNodesWithSystemPods: z.boolean().default(true).meta({
      description:
        'Never remove nodes with kube-system pods other than DaemonSet and mirror pods (--skip-nodes-with-system-pods).',
    }),
    skipNodesWithCustomControllerPods: z.boolean().default(true).meta({
      description:
        'Never remove nodes with pods owned by custom controllers (--skip-nodes-with-custom-controller-pods).',
    }),
  })
  .strict();

// Drain defaults: kubectl drain evicts every pod of a node at once with no eviction rate limit and no
// timeout, and leaves --ignore-daemonsets and --delete-emptydir-data off. We bound all of it (a PDB
// that never allows an eviction must not stall a scale-down forever) and turn both switches on, as
// CAPI's Machine drain and providers' drains do (DaemonSet pods come back anyway; emptyDir dies with the
// node being removed).
const Drain = z
  .object({
    evictionQps: z
      .number()
      .positive()
      .default(5)
      .meta({ description: 'Eviction requests per second, all drains together (client-go default QPS).' }),
    evictionBurst: int()
      .min(1)
      .default(10)
      .meta({ description: 'Evictions allowed above `evictionQps` in a burst (client-go default burst).' }),
    perNodeConcurrency: int()
      .min(1)
      .default(10)
      .meta({ description: 'Evictions in flight per node (kubectl: all pods at once).' }),
    podEvictionTimeout: duration({ positive: true }).prefault('2m').meta({
      kind: 'duration',
      description:
        "How long one pod's eviction is retried (429 from a PDB) before the drain fails (like cluster-autoscaler's --max-pod-eviction-time).",
    }),
    nodeDrainTimeout: duration().prefault('10m').meta({
      kind: 'duration',
      description:
        'Longest drain of one node; "0": no limit (kubectl --timeout and CAPI nodeDrainTimeout default).',
    }),
    volumeDetachTimeout: duration().prefault('5m').meta({
      kind: 'duration',
      description:
        "After a drain, longest wait for the node's volumes to detach before the Machine is handed to CAPI for deletion (a Machine's own nodeVolumeDetachTimeout wins; \"0\": no limit, CAPI's default). On timeout the deletion goes on, as in CAPI.",
    }),
    deleteEmptyDirData: z.boolean().default(true).meta({
      description: 'Evict pods with emptyDir volumes, losing that data (kubectl --delete-emptydir-data).',
    }),
    ignoreDaemonSets: z
      .boolean()
      .default(true)
      .meta({ description: 'Leave DaemonSet pods in place (kubectl --ignore-daemonsets).' }),
    gracePeriodSeconds: int().min(-1).default(-1).meta({
      description:
        "Grace period for evicted pods; -1: each pod's own, capped by `maxGracefulTerminationSeconds` (kubectl --grace-period).",
    }),
    maxGracefulTerminationSeconds: int().min(0).default(600).meta({
      description:
        "Cap on a pod's own grace period when evicting (cluster-autoscaler's --max-graceful-termination-sec).",
    }),
    onFailure: z.enum(['auto', 'uncordon', 'leave-cordoned']).default('auto').meta({
      description:
        'After a drain that timed out, was blocked or failed: `uncordon` (only a cordon the drain set), `leave-cordoned`, or `auto`: uncordon after a scale-down drain (as cluster-autoscaler does), leave cordoned when the Machine is being deleted (as CAPI does, which keeps draining).',
    }),
    skipWaitForDeleteTimeoutSeconds: int().min(1).default(1).meta({
      description:
        "On an unreachable node (its kubelet cannot finish deletions): pods whose deletion started this long ago count as gone, and evictions use a 1 s grace period (CAPI's behaviour; kubectl --skip-wait-for-delete-timeout).",
    }),
  })
  .strict();

const Remediation = z
  .object({
    mode: z.enum(['auto', 'standalone', 'companion', 'off']).default('auto').meta({
      description:
        "`standalone`: this service evaluates MachineHealthChecks itself (writes their status and the Machines' health conditions, creates and deletes remediation requests) and acts on its requests: only where CAPI's MachineHealthCheck controller does not run, or both write the same objects. `companion`: CAPI's MachineHealthCheck controller decides; this service acts on the AutopilotRemediation requests it creates. `off`: neither. `auto`: `standalone` on the local sandbox, `companion` everywhere else.",
    }),
    maxConcurrent: int().min(1).default(3).meta({
      description:
        'Remediations in progress at once per workload cluster (requests past their first action, not yet finished); more wait with reason `MaxPerCluster`.',
    }),
    maxConcurrentPerGroup: int().min(1).default(1).meta({
      description:
        'Remediations in progress at once per node group (MachineDeployment, or MachineSet without one); more wait with reason `MaxPerGroup`.',
    }),
    maxStarts: int().min(1).default(10).meta({
      description:
        'Remediation attempts started in any window of `startsWindow`, over all clusters; more wait with reason `RateLimited`. Counted from the start times recorded on the requests, so a restart does not reset it.',
    }),
    startsWindow: duration({ positive: true }).prefault('10m').meta({
      kind: 'duration',
      description: 'The sliding window of `maxStarts`.',
    }),
    stormThreshold: z.number().gt(0).max(1).default(0.5).meta({
      description:
        "A remediation storm: at least this fraction of a cluster's Machines are unhealthy (`HealthCheckSucceeded=False`) and at least `stormMinUnhealthy` of them. During a storm and for `stormCooldown` after it, no new remediation starts in that cluster (running ones go on).",
    }),
    stormMinUnhealthy: int().min(1).default(3).meta({
      description: 'Fewer unhealthy Machines than this is never a storm (one bad Machine of two is not).',
    }),
    stormCooldown: duration().prefault('10m').meta({
      kind: 'duration',
      description: 'How long after a storm ended no new remediation starts in that cluster.',
    }),
  })
  .strict();

const Server = z
  .object({
    bindAddress: z.union([z.ipv4(), z.ipv6()], { error: 'not an IP address' }).default('0.0.0.0').meta({
      allowed: 'an IPv4 or IPv6 address',
      description: 'Address of the HTTP server (/healthz, /readyz, /metrics, /status).',
    }),
    port: int().min(1).max(65535).default(8080).meta({ description: 'Port of the HTTP server.' }),
  })
  .strict();

const Log = z
  .object({
    level: z
      .enum(['trace', 'debug', 'info', 'warn', 'error'])
      .default('info')
      .meta({ description: 'Lowest level logged.' }),
    format: z
      .enum(['json', 'pretty'])
      .default('json')
      .meta({ description: '`json`: one object per line; `pretty`: for a terminal.' }),
  })
  .strict();

const Tracing = z
  .object({
    followWindow: duration().prefault('15m').meta({
      kind: 'duration',
      description:
        "How long after a trace recorded on an object (its `tracing.k8s.io/traceparent` and `capi-autopilot.io/trace-start` annotations) started, later reconciles of that object, or of objects created since, join it as children; afterwards the object's own context is only linked. Exporters, endpoints and sampling come from the standard `OTEL_*` variables (see Tracing).",
    }),
  })
  .strict();

export const ConfigSchema = z
  .object({
    management: Management.prefault({}),
    workloadClusters: WorkloadClusters.prefault({}),
    discovery: z.array(DiscoveryEntry).default([]).meta({
      allowed: 'a list of {namespace, clusterName, labels} objects or clusterapi:... strings',
      defaultText: '`[]`',
      description:
        "Which node groups to manage (cluster-autoscaler's --node-group-auto-discovery=clusterapi:...): a group is managed when it matches any entry, and matches an entry when it is in `namespace`, belongs to Cluster `clusterName` and carries every label in `labels` (each part optional). Empty: every opted-in group.",
    }),
    kubeClient: KubeClient.prefault({}),
    leaderElection: LeaderElection.prefault({}),
    autoscaler: Autoscaler.prefault({}),
    drain: Drain.prefault({}),
    remediation: Remediation.prefault({}),
    server: Server.prefault({}),
    log: Log.prefault({}),
    tracing: Tracing.prefault({}),
  })
  .strict()
  .transform((c) => ({
    ...c,
    // cluster-autoscaler's flag is 0 by default and is checked once per loop: effectively the scan interval.
    autoscaler: {
      ...c.autoscaler,
      scaleDownDelayAfterDelete:
        c.autoscaler.scaleDownDelayAfterDelete ?? c.autoscaler.scanIntervalSeconds * 1000,
    },
  }));

/** The parsed configuration: durations in milliseconds, every default applied, deeply read-only. */
export type Config = DeepReadonly<z.output<typeof ConfigSchema>>;

/** Freezes an object graph in place (config is parsed once and shared; nobody may change it). */
export function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value as DeepReadonly<T>;
}

export const DEFAULT_CONFIG: Config = deepFreeze(ConfigSchema.parse({}));
