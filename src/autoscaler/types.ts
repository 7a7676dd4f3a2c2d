// The autoscaler's pure view of the cluster: pods and nodes reduced to what scheduling simulation reads,
// node groups and their template nodes. Resource amounts are integer milli-units (src/kube/quantity.ts)
// keyed by resource name: cpu 500 = 500m, memory 1073741824000 = 1Gi, pods 110000 = 110 pods.

export type Resources = Readonly<Record<string, number>>;

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface Taint {
  key: string;
  value?: string;
  effect: TaintEffect;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  /** Empty: every effect. */
  effect?: TaintEffect | '';
}

export interface NodeSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  values?: readonly string[];
}

/** One term of requiredDuringSchedulingIgnoredDuringExecution; terms are ORed, requirements ANDed. */
export interface NodeSelectorTerm {
  matchExpressions?: readonly NodeSelectorRequirement[];
  /** Only `metadata.name` is a valid field. */
  matchFields?: readonly NodeSelectorRequirement[];
}

export interface HostPort {
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  /** Empty or 0.0.0.0: every address. */
  hostIP?: string;
}

/** A pod as the scheduler simulation sees it. */
export interface SimPod {
  namespace: string;
  name: string;
  uid: string;
  /**
   * Effective requests: per resource the larger of the sum over containers and the largest init
   * container, plus pod overhead (what the scheduler charges). The pod slot itself is not included.
   */
  requests: Resources;
  nodeSelector: Readonly<Record<string, string>>;
  requiredAffinity?: readonly NodeSelectorTerm[];
  tolerations: readonly Toleration[];
  hostPorts: readonly HostPort[];
  /** Controller owner UID, when the pod has one (equivalence grouping). */
  ownerUid?: string;
  creationTimestamp?: string;
  /** Node it is bound to, or nominated for by preemption. */
  nodeName?: string;
  nominatedNodeName?: string;
  /** DaemonSet pod (counted on template nodes of groups its selector allows). */
  daemonSet?: boolean;
}

/** A node, real or a template, as the simulation sees it. */
export interface SimNode {
  name: string;
  labels: Readonly<Record<string, string>>;
  taints: readonly Taint[];
  allocatable: Resources;
  unschedulable?: boolean;
}
