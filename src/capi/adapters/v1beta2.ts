// Readers for cluster.x-k8s.io/v1beta2 (CAPI's storage version since v1.11). Field names follow
// api/core/v1beta2/*_types.go; see CAPI-FACTS §3 for the mapping to v1beta1.
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
  readContractRef,
  readDeletionOrder,
  readMeta,
  readMhcStatus,
  readSelector,
  readUnhealthyRange,
  STRATEGY_TYPES,
} from './common.ts';

const VERSION = 'v1beta2';

/** status.deprecated.v1beta1.conditions, only when the object has them. */
function otherConditions(status: Field): { otherVersionConditions?: Condition[] } {
  const f = status.at('deprecated.v1beta1.conditions');
  return f.absent ? {} : { otherVersionConditions: readConditions(f) };
}

function readDeletion(spec: Field): DeletionTimeouts {
  const d = spec.get('deletion');
  return compact({
    nodeDrainTimeoutSeconds: d.get('nodeDrainTimeoutSeconds').optInt(),
    nodeVolumeDetachTimeoutSeconds: d.get('nodeVolumeDetachTimeoutSeconds').optInt(),
    nodeDeletionTimeoutSeconds: d.get('nodeDeletionTimeoutSeconds').optInt(),
  });
}

function readBootstrap(spec: Field): Machine['bootstrap'] {
  const b = spec.get('bootstrap').required().object();
  const configRef = b.get('configRef');
  return compact({
    configRef: configRef.absent ? undefined : readContractRef(configRef),
    dataSecretName: b.get('dataSecretName').optString(),
  });
}

/** The Machine spec fields a template and a Machine share. */
function readMachineSpec(spec: Field) {
  return {
    clusterName: spec.get('clusterName').string(),
    infrastructureRef: readContractRef(spec.get('infrastructureRef')),
    bootstrap: readBootstrap(spec),
    ...compact({
      kubernetesVersion: spec.get('version').optNonEmptyString(),
      failureDomain: spec.get('failureDomain').optNonEmptyString(),
    }),
    deletion: readDeletion(spec),
  };
}

function readTemplate(template: Field): MachineTemplate {
  template.required().object();
  const spec = template.get('spec').required().object();
  const meta = template.get('metadata');
  const minReadySeconds = spec.get('minReadySeconds').optInt();
  return {
    labels: meta.get('labels').stringMap(),
    annotations: meta.get('annotations').stringMap(),
    ...readMachineSpec(spec),
    ...(minReadySeconds === undefined ? {} : { minReadySeconds }),
  };
}

function readReplicaStatus(status: Field): ReplicaStatus {
  return compact({
    replicas: status.get('replicas').optInt(),
    readyReplicas: status.get('readyReplicas').optInt(),
    availableReplicas: status.get('availableReplicas').optInt(),
    upToDateReplicas: status.get('upToDateReplicas').optInt(),
    selector: status.get('selector').optString(),
    observedGeneration: status.get('observedGeneration').optInt64(),
  });
}

export function readCluster(obj: unknown): Cluster {
  const root = rootField(obj, 'Cluster');
  const status = root.get('status');
  const init = status.get('initialization');
  return {
    kind: 'Cluster',
    version: VERSION,
    meta: readMeta(root),
    paused: root.at('spec.paused').optBool() ?? false,
    ...compact({
      infrastructureReady: init.get('infrastructureProvisioned').optBool(),
      controlPlaneInitialized: init.get('controlPlaneInitialized').optBool(),
    }),
    conditions: readConditions(status.get('conditions')),
    ...otherConditions(status),
  };
}

export function readMachineDeployment(obj: unknown): MachineDeployment {
  const root = rootField(obj, 'MachineDeployment');
  const spec = root.get('spec').required();
  const status = root.get('status');
  const strategy = spec.at('rollout.strategy');
  const rolling = strategy.get('rollingUpdate');
  return {
    kind: 'MachineDeployment',
    version: VERSION,
    meta: readMeta(root),
    clusterName: spec.get('clusterName').string(),
    ...compact({ replicas: spec.get('replicas').optInt() }),
    selector: readSelector(spec.get('selector')),
    template: readTemplate(spec.get('template')),
    deletionOrder: readDeletionOrder(spec.at('deletion.order')),
    paused: spec.get('paused').optBool() ?? false,
    strategy: {
      type: strategy.get('type').optEnum(STRATEGY_TYPES) ?? 'RollingUpdate',
      ...compact({
        maxSurge: rolling.get('maxSurge').optIntOrPercent(),
        maxUnavailable: rolling.get('maxUnavailable').optIntOrPercent(),
      }),
    },
    status: readReplicaStatus(status),
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
    template: readTemplate(spec.get('template')),
    deletionOrder: readDeletionOrder(spec.at('deletion.order')),
    ...compact({ ownerMachineDeployment: controllerOwner(meta, 'MachineDeployment') }),
    status: readReplicaStatus(status),
    conditions: readConditions(status.get('conditions')),
    ...otherConditions(status),
  };
}

export function readMachine(obj: unknown): Machine {
  const root = rootField(obj, 'Machine');
  const spec = root.get('spec').required();
  const status = root.get('status');
  const init = status.get('initialization');
  const failure = status.at('deprecated.v1beta1');
  const meta = readMeta(root);
  return {
    kind: 'Machine',
    version: VERSION,
    meta,
    ...readMachineSpec(spec),
    ...compact({
      providerID: spec.get('providerID').optNonEmptyString(),
      ownerMachineSet: controllerOwner(meta, 'MachineSet'),
      nodeRef: status.at('nodeRef.name').optNonEmptyString(),
      phase: status.get('phase').optString(),
    }),
    bootstrapReady: init.get('bootstrapDataSecretCreated').optBool() ?? false,
    infrastructureProvisioned: init.get('infrastructureProvisioned').optBool() ?? false,
    ...compact({
      failureReason: failure.get('failureReason').optString(),
      failureMessage: failure.get('failureMessage').optString(),
    }),
    conditions: readConditions(status.get('conditions')),
    ...otherConditions(status),
  };
}

function readUnhealthyConditions(list: Field): UnhealthyCondition[] {
  return list.items().map((c) => ({
    type: c.get('type').string(),
    status: c.get('status').conditionStatus(),
    timeoutSeconds: c.get('timeoutSeconds').required().optInt() as number,
  }));
}

export function readMachineHealthCheck(obj: unknown): MachineHealthCheck {
  const root = rootField(obj, 'MachineHealthCheck');
  const spec = root.get('spec').required();
  const status = root.get('status');
  const checks = spec.get('checks');
  const remediation = spec.get('remediation');
  const triggerIf = remediation.get('triggerIf');
  const templateRef = remediation.get('templateRef');
  return {
    kind: 'MachineHealthCheck',
    version: VERSION,
    meta: readMeta(root),
    clusterName: spec.get('clusterName').string(),
    selector: readSelector(spec.get('selector')),
    unhealthyNodeConditions: readUnhealthyConditions(checks.get('unhealthyNodeConditions')),
    unhealthyMachineConditions: readUnhealthyConditions(checks.get('unhealthyMachineConditions')),
    nodeStartupTimeoutSeconds:
      checks.get('nodeStartupTimeoutSeconds').optInt() ?? DEFAULT_NODE_STARTUP_TIMEOUT_SECONDS,
    ...compact({
      unhealthyLessThanOrEqualTo: triggerIf.get('unhealthyLessThanOrEqualTo').optIntOrPercent(),
      unhealthyInRange: readUnhealthyRange(triggerIf.get('unhealthyInRange')),
      remediationTemplate: templateRef.absent
        ? undefined
        : {
            apiVersion: templateRef.object().get('apiVersion').string(),
            kind: templateRef.get('kind').string(),
            name: templateRef.get('name').string(),
          },
    }),
    status: readMhcStatus(status),
    conditions: readConditions(status.get('conditions')),
    ...otherConditions(status),
  };
}
