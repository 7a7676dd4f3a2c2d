// Internal, version-agnostic view of Cluster API objects. Everything outside src/capi works on these
// types; adapters (src/capi/adapters/*) read them from v1beta1 or v1beta2 objects and write changes back
// in the version the management cluster serves. Field meanings follow CAPI's API reference
// (api/core/v1beta2 and api/core/v1beta1); see ../shared/CAPI-FACTS.md §3 for the path mapping.

export const CAPI_GROUP = 'cluster.x-k8s.io';
export const CAPI_VERSIONS = ['v1beta2', 'v1beta1'] as const;
export type CapiVersion = (typeof CAPI_VERSIONS)[number];

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  /** v1beta1 CAPI conditions only: Error | Warning | Info | ''. */
  severity?: string;
  /** v1beta2 (metav1) conditions only: the generation the condition was computed for. */
  observedGeneration?: number;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

export interface Meta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  ownerReferences: readonly OwnerReference[];
  finalizers: readonly string[];
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/**
 * A reference to a provider object. v1beta2 stores {apiGroup, kind, name} (the version is resolved
 * through the contract); v1beta1 stores a full ObjectReference with apiVersion. Both are kept here.
 */
export interface ContractRef {
  apiGroup: string;
  kind: string;
  name: string;
  /** Present when the object carried it (v1beta1, or filled in after resolving the contract). */
  apiVersion?: string;
  namespace?: string;
}

/** Drain/delete timeouts in seconds; undefined or 0 means "wait forever" as in CAPI. */
export interface DeletionTimeouts {
  nodeDrainTimeoutSeconds?: number;
  nodeVolumeDetachTimeoutSeconds?: number;
  nodeDeletionTimeoutSeconds?: number;
}

export type DeletionOrder = 'Random' | 'Newest' | 'Oldest';

export interface MachineTemplate {
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  clusterName: string;
  infrastructureRef: ContractRef;
  bootstrap: { configRef?: ContractRef; dataSecretName?: string };
  kubernetesVersion?: string;
  failureDomain?: string;
  minReadySeconds?: number;
  deletion: DeletionTimeouts;
}

/** Replica counters as reported in status; undefined when the controller has not written them. */
export interface ReplicaStatus {
  replicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  upToDateReplicas?: number;
  /** The label selector string the scale subresource reads. */
  selector?: string;
  observedGeneration?: number;
}

export interface Cluster {
  kind: 'Cluster';
  version: CapiVersion;
  meta: Meta;
  paused: boolean;
  infrastructureReady?: boolean;
  controlPlaneInitialized?: boolean;
  conditions: readonly Condition[];
  /**
   * The other API version's conditions as CAPI mirrors them, when present: on a v1beta2 object
   * status.deprecated.v1beta1.conditions (CAPI shape, with severity); on a v1beta1 object
   * status.v1beta2.conditions (metav1 shape).
   */
  otherVersionConditions?: readonly Condition[];
}

export interface MachineDeployment {
  kind: 'MachineDeployment';
  version: CapiVersion;
  meta: Meta;
  clusterName: string;
  /** No schema default: undefined when the object has none (CAPI's webhook would default it). */
  replicas?: number;
  selector: LabelSelector;
  template: MachineTemplate;
  deletionOrder: DeletionOrder;
  paused: boolean;
  strategy: {
    type: 'RollingUpdate' | 'OnDelete';
    maxSurge?: number | string;
    maxUnavailable?: number | string;
  };
  status: ReplicaStatus;
  conditions: readonly Condition[];
  /**
   * The other API version's conditions as CAPI mirrors them, when present: on a v1beta2 object
   * status.deprecated.v1beta1.conditions (CAPI shape, with severity); on a v1beta1 object
   * status.v1beta2.conditions (metav1 shape).
   */
  otherVersionConditions?: readonly Condition[];
}

export interface MachineSet {
  kind: 'MachineSet';
  version: CapiVersion;
  meta: Meta;
  clusterName: string;
  replicas?: number;
  selector: LabelSelector;
  template: MachineTemplate;
  deletionOrder: DeletionOrder;
  /** Name of the controlling MachineDeployment, from the owner references. */
  ownerMachineDeployment?: string;
  status: ReplicaStatus;
  conditions: readonly Condition[];
  /**
   * The other API version's conditions as CAPI mirrors them, when present: on a v1beta2 object
   * status.deprecated.v1beta1.conditions (CAPI shape, with severity); on a v1beta1 object
   * status.v1beta2.conditions (metav1 shape).
   */
  otherVersionConditions?: readonly Condition[];
}

export interface Machine {
  kind: 'Machine';
  version: CapiVersion;
  meta: Meta;
  clusterName: string;
  providerID?: string;
  infrastructureRef: ContractRef;
  bootstrap: { configRef?: ContractRef; dataSecretName?: string };
  kubernetesVersion?: string;
  failureDomain?: string;
  deletion: DeletionTimeouts;
  /** Name of the controlling MachineSet, from the owner references. */
  ownerMachineSet?: string;
  nodeRef?: string;
  phase?: string;
  bootstrapReady: boolean;
  infrastructureProvisioned: boolean;
  /** v1beta1 status.failureReason/Message; v1beta2 status.deprecated.v1beta1.failure*. */
  failureReason?: string;
  failureMessage?: string;
  /** The conditions of the object's own version (v1beta2: metav1 conditions; v1beta1: CAPI conditions). */
  conditions: readonly Condition[];
  /**
   * The other API version's conditions as CAPI mirrors them, when present: on a v1beta2 object
   * status.deprecated.v1beta1.conditions (CAPI shape, with severity); on a v1beta1 object
   * status.v1beta2.conditions (metav1 shape).
   */
  otherVersionConditions?: readonly Condition[];
}

export interface UnhealthyCondition {
  type: string;
  status: ConditionStatus;
  timeoutSeconds: number;
}

export interface MachineHealthCheck {
  kind: 'MachineHealthCheck';
  version: CapiVersion;
  meta: Meta;
  clusterName: string;
  selector: LabelSelector;
  unhealthyNodeConditions: readonly UnhealthyCondition[];
  unhealthyMachineConditions: readonly UnhealthyCondition[];
  /** Default 600; 0 disables the startup check. */
  nodeStartupTimeoutSeconds: number;
  /** v1beta1 maxUnhealthy / v1beta2 remediation.triggerIf.unhealthyLessThanOrEqualTo (int or "N%"). */
  unhealthyLessThanOrEqualTo?: number | string;
  /** v1beta1 unhealthyRange / v1beta2 remediation.triggerIf.unhealthyInRange, e.g. "[1-3]". */
  unhealthyInRange?: string;
  remediationTemplate?: { apiVersion: string; kind: string; name: string };
  status: {
    expectedMachines?: number;
    currentHealthy?: number;
    remediationsAllowed?: number;
    observedGeneration?: number;
    targets?: string[];
  };
  conditions: readonly Condition[];
  /**
   * The other API version's conditions as CAPI mirrors them, when present: on a v1beta2 object
   * status.deprecated.v1beta1.conditions (CAPI shape, with severity); on a v1beta1 object
   * status.v1beta2.conditions (metav1 shape).
   */
  otherVersionConditions?: readonly Condition[];
}

export type CapiObject = Cluster | MachineDeployment | MachineSet | Machine | MachineHealthCheck;
export type CapiKind = CapiObject['kind'];

/** Plural resource names, for URLs. */
export const CAPI_RESOURCES: Readonly<Record<CapiKind, string>> = {
  Cluster: 'clusters',
  MachineDeployment: 'machinedeployments',
  MachineSet: 'machinesets',
  Machine: 'machines',
  MachineHealthCheck: 'machinehealthchecks',
};

// Annotation and label keys (src: CAPI api/core/v1beta2 common_types.go, machine_types.go; see CAPI-FACTS §4.4).
export const ANNOTATIONS = {
  deleteMachine: 'cluster.x-k8s.io/delete-machine',
  skipRemediation: 'cluster.x-k8s.io/skip-remediation',
  remediateMachine: 'cluster.x-k8s.io/remediate-machine',
  paused: 'cluster.x-k8s.io/paused',
  disableMachineCreate: 'cluster.x-k8s.io/disable-machine-create',
  excludeNodeDraining: 'machine.cluster.x-k8s.io/exclude-node-draining',
  excludeWaitForNodeVolumeDetach: 'machine.cluster.x-k8s.io/exclude-wait-for-node-volume-detach',
  preDrainHookPrefix: 'pre-drain.delete.hook.machine.cluster.x-k8s.io',
  preTerminateHookPrefix: 'pre-terminate.delete.hook.machine.cluster.x-k8s.io',
  nodeGroupMinSize: 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size',
  nodeGroupMaxSize: 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size',
} as const;

export const LABELS = {
  clusterName: 'cluster.x-k8s.io/cluster-name',
  deploymentName: 'cluster.x-k8s.io/deployment-name',
  setName: 'cluster.x-k8s.io/set-name',
  templateHash: 'machine-template-hash',
} as const;

export const MACHINE_FINALIZER = 'machine.cluster.x-k8s.io';
