// Builds the Machine a MachineSet creates, in the requested API version, following CAPI's
// computeDesiredMachine (core/reconcilers/machineset/machineset_controller.go): template labels and
// annotations, set-name (hashed when too long) and deployment-name labels, a controller ownerReference,
// the machine finalizer, and the template's spec with clusterName from the MachineSet.
import { formatGoDurationSeconds } from '../duration.ts';
import {
  CAPI_GROUP,
  LABELS,
  MACHINE_FINALIZER,
  type CapiVersion,
  type ContractRef,
  type DeletionTimeouts,
  type MachineSet,
} from '../types.ts';

export interface MachineFromTemplateInput {
  machineSet: MachineSet;
  name: string;
  /**
   * The InfraMachine / BootstrapConfig created for this Machine. CAPI clones them from the template's
   * refs (which point at *Template kinds); without them the template's refs are used as they are.
   */
  infrastructureRef?: ContractRef;
  bootstrapConfigRef?: ContractRef;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** CAPI's format.MustFormatValue: a valid label value unchanged, otherwise "hash_<fnv32a, base64url>_z". */
export function formatLabelValue(value: string): string {
  if (value.length <= 63 && LABEL_VALUE.test(value)) return value;
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(value)) {
    h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  }
  const bytes = new Uint8Array([h >>> 24, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff]);
  return `hash_${Buffer.from(bytes).toString('base64url')}_z`;
}

function refJson(version: CapiVersion, ref: ContractRef, namespace: string): Record<string, unknown> {
  if (version === 'v1beta2') return { apiGroup: ref.apiGroup, kind: ref.kind, name: ref.name };
  // v1beta1 stores a full ObjectReference; a v1beta2 ref has no version to put in it.
  if (!ref.apiVersion) {
    throw new RangeError(
      `${ref.kind} ${ref.name}: a v1beta1 reference needs an apiVersion (resolve the contract first)`,
    );
  }
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    name: ref.name,
    namespace: ref.namespace ?? namespace,
  };
}

function deletionJson(version: CapiVersion, d: DeletionTimeouts): Record<string, unknown> {
  const entries: [string, number | undefined][] = [
    ['nodeDrainTimeout', d.nodeDrainTimeoutSeconds],
    ['nodeVolumeDetachTimeout', d.nodeVolumeDetachTimeoutSeconds],
    ['nodeDeletionTimeout', d.nodeDeletionTimeoutSeconds],
  ];
  const set = entries.filter((e): e is [string, number] => e[1] !== undefined);
  if (version === 'v1beta2') {
    const deletion = Object.fromEntries(set.map(([k, v]) => [`${k}Seconds`, v]));
    return set.length ? { deletion } : {};
  }
  return Object.fromEntries(set.map(([k, v]) => [k, formatGoDurationSeconds(v)]));
}

/** The body to POST to .../machines, as `version` expects it. */
export function machineFromTemplate(
  version: CapiVersion,
  input: MachineFromTemplateInput,
): Record<string, unknown> {
  const ms = input.machineSet;
  const t = ms.template;
  if (!input.name) throw new RangeError('machine name must not be empty');
  if (!ms.meta.uid) throw new RangeError(`MachineSet ${ms.meta.name} has no uid to own the Machine`);
  const deployment = ms.meta.labels[LABELS.deploymentName] ?? ms.ownerMachineDeployment;
  const labels: Record<string, string> = {
    ...t.labels,
    [LABELS.clusterName]: ms.clusterName,
    [LABELS.setName]: formatLabelValue(ms.meta.name),
    ...(deployment === undefined ? {} : { [LABELS.deploymentName]: deployment }),
  };
  const configRef = input.bootstrapConfigRef ?? t.bootstrap.configRef;
  const bootstrap = {
    ...(configRef ? { configRef: refJson(version, configRef, ms.meta.namespace) } : {}),
    ...(t.bootstrap.dataSecretName === undefined ? {} : { dataSecretName: t.bootstrap.dataSecretName }),
  };
  return {
    apiVersion: `${CAPI_GROUP}/${version}`,
    kind: 'Machine',
    metadata: {
      name: input.name,
      namespace: ms.meta.namespace,
      labels,
      annotations: { ...t.annotations },
      ownerReferences: [
        {
          apiVersion: `${CAPI_GROUP}/${version}`,
          kind: 'MachineSet',
          name: ms.meta.name,
          uid: ms.meta.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      finalizers: [MACHINE_FINALIZER],
    },
    spec: {
      clusterName: ms.clusterName,
      bootstrap,
      infrastructureRef: refJson(version, input.infrastructureRef ?? t.infrastructureRef, ms.meta.namespace),
      ...(t.kubernetesVersion === undefined ? {} : { version: t.kubernetesVersion }),
      ...(t.failureDomain === undefined ? {} : { failureDomain: t.failureDomain }),
      // v1beta1 Machines have no minReadySeconds; it stays on the MachineSet there.
      ...(version === 'v1beta2' && t.minReadySeconds !== undefined
        ? { minReadySeconds: t.minReadySeconds }
        : {}),
      ...deletionJson(version, t.deletion),
    },
  };
}
