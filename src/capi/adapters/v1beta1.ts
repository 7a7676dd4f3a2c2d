// Readers for cluster.x-k8s.io/v1beta1 (deprecated, still served). Field names follow
// api/core/v1beta1/*_types.go (identical to api/v1beta1 in v1.9). Timeouts are Go duration strings here
// and become whole seconds, truncated as CAPI's v1beta1→v1beta2 conversion does.
import { rootField, type Field } from '../fields.ts';
import type {
  Cluster,
  Condition,
  DeletionTimeouts,
  Machine,
  MachineDeployment,
  MachineHealthCheck,
  MachineSet,
  MachineTemplate,
  ReplicaStatus,
  UnhealthyCondition,
} from '../types.ts';
import {
  compact,
  controllerOwner,
  DEFAULT_NODE_STARTUP_TIMEOUT_SECONDS,
  readConditions,
  readDeletionOrder,
  readMeta,
  readMhcStatus,
  readObjectRef,
  readSelector,
  readUnhealthyRange,
  STRATEGY_TYPES,
} from './common.ts';

const VERSION = 'v1beta1';

/** status.v1beta2.conditions (the new-style conditions CAPI ≥1.9 mirrors there), only when present. */
function otherConditions(status: Field): { otherVersionConditions?: Condition[] } {
  const f = status.at('v1beta2.conditions');
  return f.absent ? {} : { otherVersionConditions: readConditions(f) };
}

function readDeletion(spec: Field): DeletionTimeouts {
  return compact({
    nodeDrainTimeoutSeconds: spec.get('nodeDrainTimeout').optDurationSeconds(),
    nodeVolumeDetachTimeoutSeconds: spec.get('nodeVolumeDetachTimeout').optDurationSeconds(),
    nodeDeletionTimeoutSeconds: spec.get('nodeDeletionTimeout').optDurationSeconds(),
  });
}

function readBootstrap(spec: Field): Machine['bootstrap'] {
  const b = spec.get('bootstrap').required().object();
  const configRef = b.get('configRef');
  return compact({
    configRef: configRef.absent ? undefined : readObjectRef(configRef),
    dataSecretName: b.get('dataSecretName').optString(),
  });
}

function readMachineSpec(spec: Field) {
  return {
    clusterName: spec.get('clusterName').string(),
    infrastructureRef: readObjectRef(spec.get('infrastructureRef')),
    bootstrap: readBootstrap(spec),
    ...compact({
      kubernetesVersion: spec.get('version').optNonEmptyString(),
      failureDomain: spec.get('failureDomain').optNonEmptyString(),
    }),
    deletion: readDeletion(spec),
  };
}

/** In v1beta1 minReadySeconds sits on the MachineDeployment/MachineSet spec, not in the template. */
function readTemplate(template: Field, minReadySeconds: number | undefined): MachineTemplate {
  template.required().object();
  const meta = template.get('metadata');
  return {
    labels: meta.get('labels').stringMap(),
    annotations: meta.get('annotations').stringMap(),
    ...readMachineSpec(template.get('spec').required().object()),
    ...(minReadySeconds === undefined ? {} : { minReadySeconds }),
  };
}

/**
 * v1beta1 counters. MachineDeployment has updatedReplicas; MachineSet has no such field, so its
 * up-to-date count comes from status.v1beta2.upToDateReplicas when CAPI wrote it.
 */
function readReplicaStatus(status: Field, kind: 'MachineDeployment' | 'MachineSet'): ReplicaStatus {
  return compact({
    replicas: status.get('replicas').optInt(),
    readyReplicas: status.get('readyReplicas').optInt(),
    availableReplicas: status.get('availableReplicas').optInt(),
    upToDateReplicas:
      kind === 'MachineDeployment'
        ? status.get('updatedReplicas').optInt()
        : status.at('v1beta2.upToDateReplicas').optInt(),
    selector: status.get('selector').optString(),
    observedGeneration: status.get('observedGeneration').optInt64(),
  });
}

export function readCluster(obj: unknown): Cluster {
  const root = rootField(obj, 'Cluster');
  const status = root.get('status');
  const conditions = readConditions(status.get('conditions'));
  // The ControlPlaneInitialized condition is what v1beta1-era MHCs read; the v1beta2→v1beta1 conversion
  // also maps initialization.controlPlaneInitialized onto status.controlPlaneReady, so fall back to it.
  const initialized = conditions.find((c) => c.type === 'ControlPlaneInitialized');
  return {
    kind: 'Cluster',
    version: VERSION,
    meta: readMeta(root),
    paused: root.at('spec.paused').optBool() ?? false,
    ...compact({
      infrastructureReady: status.get('infrastructureReady').optBool(),
      controlPlaneInitialized: initialized
        ? initialized.status === 'True'
        : status.get('controlPlaneReady').optBool(),
    }),
    conditions,
    ...otherConditions(status),
  };
}

export function readMachineDeployment(obj: unknown): MachineDeployment {
  const root = rootField(obj, 'MachineDeployment');
  const spec = root.get('spec').required();
  const status = root.get('status');
  const strategy = spec.get('strategy');
  const rolling = strategy.get('rollingUpdate');
  return {
    kind: 'MachineDeployment',
    version: VERSION,
    meta: readMeta(root),
    clusterName: spec.get('clusterName').string(),
    ...compact({ replicas: spec.get('replicas').optInt() }),
    selector: readSelector(spec.get('selector')),
    template: readTemplate(spec.get('template'), spec.get('minReadySeconds').optInt()),
    deletionOrder: readDeletionOrder(rolling.get('deletePolicy')),
    paused: spec.get('paused').optBool() ?? false,
    strategy: {
      type: strategy.get('type').optEnum(STRATEGY_TYPES) ?? 'RollingUpdate',
      ...compact({
        maxSurge: rolling.get('maxSurge').optIntOrPercent(),
        maxUnavailable: rolling.get('maxUnavailable').optIntOrPercent(),
      }),
    },
    status: readReplicaStatus(status, 'MachineDeployment'),
    conditions: readConditions(status.get('conditions')),
    ...otherConditions(status),
  };
}

export function readMachineSet(obj: unknown): MachineSet {
  const root = rootField(obj, 'MachineSet');
  const spec = root.get('spec').required();
  const status = root.get('status');
  const meta = readMeta(root);
  return {
    kind: 'MachineSet',
    version: VERSION,
    meta,
    clusterName: spec.get('clusterName').string(),
    ...compact({ replicas: spec.get('replicas').optInt() }),
    selector: readSelector(spec.get('selector')),
    // Optional in the v1beta1 schema, but a MachineSet without a template cannot create Machines.
    template: readTemplate(spec.get('template'), spec.get('minReadySeconds').optInt()),
    deletionOrder: readDeletionOrder(spec.get('deletePolicy')),
    ...compact({ ownerMachineDeployment: controllerOwner(meta, 'MachineDeployment') }),
    status: readReplicaStatus(status, 'MachineSet'),
    conditions: readConditions(status.get('conditions')),
    ...otherConditions(status),
  };
}

/** status.nodeRef is a full ObjectReference; an empty one means unset (as in CAPI's conversion). */
function readNodeRef(f: Field): string | undefined {
  if (f.absent) return undefined;
  f.object();
  if (Object.keys(f.value as object).length === 0) return undefined;
  return f.get('name').string();
}

export function readMachine(obj: unknown): Machine {
  const root = rootField(obj, 'Machine');
  const spec = root.get('spec').required();
  const status = root.get('status');
  const meta = readMeta(root);
  return {
    kind: 'Machine',
    version: VERSION,
    meta,
    ...readMachineSpec(spec),
    ...compact({
      providerID: spec.get('providerID').optNonEmptyString(),
      ownerMachineSet: controllerOwner(meta, 'MachineSet'),
      nodeRef: readNodeRef(status.get('nodeRef')),
      phase: status.get('phase').optString(),
    }),
    bootstrapReady: status.get('bootstrapReady').optBool() ?? false,
    infrastructureProvisioned: status.get('infrastructureReady').optBool() ?? false,
    ...compact({
      failureReason: status.get('failureReason').optString(),
      failureMessage: status.get('failureMessage').optString(),
    }),
    conditions: readConditions(status.get('conditions')),
    ...otherConditions(status),
  };
}

function readUnhealthyConditions(list: Field): UnhealthyCondition[] {
  return list.items().map((c) => ({
    type: c.get('type').string(),
    status: c.get('status').conditionStatus(),
    timeoutSeconds: c.get('timeout').required().optDurationSeconds() as number,
  }));
}

export function readMachineHealthCheck(obj: unknown): MachineHealthCheck {
  const root = rootField(obj, 'MachineHealthCheck');
  const spec = root.get('spec').required();
  const status = root.get('status');
  const template = spec.get('remediationTemplate');
  return {
    kind: 'MachineHealthCheck',
    version: VERSION,
    meta: readMeta(root),
    clusterName: spec.get('clusterName').string(),
    selector: readSelector(spec.get('selector')),
    unhealthyNodeConditions: readUnhealthyConditions(spec.get('unhealthyConditions')),
    unhealthyMachineConditions: readUnhealthyConditions(spec.get('unhealthyMachineConditions')),
    nodeStartupTimeoutSeconds:
      spec.get('nodeStartupTimeout').optDurationSeconds() ?? DEFAULT_NODE_STARTUP_TIMEOUT_SECONDS,
    ...compact({
      unhealthyLessThanOrEqualTo: spec.get('maxUnhealthy').optIntOrPercent(),
      unhealthyInRange: readUnhealthyRange(spec.get('unhealthyRange')),
      // The conversion keeps apiVersion/kind/name; the namespace is always the MHC's own.
      remediationTemplate: template.absent
        ? undefined
        : {
            apiVersion: template.object().get('apiVersion').string(),
            kind: template.get('kind').string(),
            name: template.get('name').string(),
          },
    }),
    status: readMhcStatus(status),
    conditions: readConditions(status.get('conditions')),
    ...otherConditions(status),
  };
}
