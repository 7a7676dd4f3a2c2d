// Reads what one delete operation's next decision needs, fresh from the apiserver (never the cache: a
// decision to delete or decrement must be made on the newest version, which the write's resourceVersion
// precondition then pins), and turns it into the protocol's OpView.
import { parseNodeGroupSize } from '../capi/node-group-size.ts';
import { fromObject } from '../capi/adapters/index.ts';
import {
  ANNOTATIONS,
  CAPI_GROUP,
  type CapiVersion,
  type Cluster,
  type Machine,
  type MachineDeployment,
  type MachineSet,
} from '../capi/types.ts';
import type { KubeClient } from '../kube/client.ts';
import { whyNotDeletable } from './eligibility.ts';
import type { Mode, OpView } from './protocol.ts';
import { HOLD_HOOK_ANNOTATION, ledgerOf, markOf, type Ledger, type Purpose } from './records.ts';

export interface GroupRef {
  kind: 'MachineDeployment' | 'MachineSet';
  namespace: string;
  name: string;
}

export const groupKey = (g: GroupRef): string => `${g.kind}/${g.name}`;

export function parseGroupKey(namespace: string, key: string): GroupRef | undefined {
  const i = key.indexOf('/');
  const kind = key.slice(0, i);
  if (kind !== 'MachineDeployment' && kind !== 'MachineSet') return undefined;
  return { kind, namespace, name: key.slice(i + 1) };
}

export function capiObjectPath(
  version: CapiVersion,
  resource: string,
  namespace: string,
  name?: string,
): string {
  const base = `/apis/${CAPI_GROUP}/${version}/namespaces/${encodeURIComponent(namespace)}/${resource}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

export const groupPath = (version: CapiVersion, g: GroupRef): string =>
  capiObjectPath(
    version,
    g.kind === 'MachineDeployment' ? 'machinedeployments' : 'machinesets',
    g.namespace,
    g.name,
  );

/** The min size annotation (cluster-autoscaler's); absent means 0. Malformed: an error, never a guess. */
export function minSizeOf(
  annotations: Readonly<Record<string, string>>,
): { min: number } | { error: string } {
  const raw = annotations[ANNOTATIONS.nodeGroupMinSize];
  if (raw === undefined) return { min: 0 };
  const r = parseNodeGroupSize(ANNOTATIONS.nodeGroupMinSize, raw);
  return r.ok ? { min: r.value } : { error: r.error };
}

export interface OpTarget {
  id: string;
  namespace: string;
  machine: string;
  /** The Machine's UID when known; a different UID under the same name is a different Machine. */
  uid?: string;
  group: GroupRef;
  purpose: Purpose;
}

export interface Snapshot {
  view: OpView;
  machine?: Machine;
  group?: MachineDeployment | MachineSet;
  ledger?: Ledger;
  /** Active MachineSets of the group (a MachineSet group: itself). */
  machineSets: MachineSet[];
}

export async function readSnapshot(
  client: KubeClient,
  version: CapiVersion,
  t: OpTarget,
  mode: Mode,
  progress: { drained: boolean; claimed?: boolean; abandoned?: string },
): Promise<Snapshot> {
  const rawMachine = await client.getOrNull(capiObjectPath(version, 'machines', t.namespace, t.machine));
  let machine = rawMachine ? (fromObject(rawMachine) as Machine) : undefined;
  if (machine && t.uid && machine.meta.uid !== t.uid) machine = undefined;

  const rawGroup = await client.getOrNull(groupPath(version, t.group));
  const group = rawGroup ? (fromObject(rawGroup) as MachineDeployment | MachineSet) : undefined;
  const machineSets = group ? await activeMachineSets(client, version, group) : [];
  const clusterName = group?.clusterName ?? machine?.clusterName;
  const rawCluster = clusterName
    ? await client.getOrNull(capiObjectPath(version, 'clusters', t.namespace, clusterName))
    : undefined;
  const cluster = rawCluster ? (fromObject(rawCluster) as Cluster) : undefined;

  const { ledger, error: ledgerError } = group ? ledgerOf(group.meta.annotations) : { ledger: undefined };
  const min = group ? minSizeOf(group.meta.annotations) : { min: 0 };
  const paused =
    cluster?.paused === true ||
    (cluster !== undefined && ANNOTATIONS.paused in cluster.meta.annotations) ||
    (group !== undefined && ANNOTATIONS.paused in group.meta.annotations) ||
    machineSets.some((ms) => ANNOTATIONS.paused in ms.meta.annotations);
  const entry = ledger?.ops[t.id];
  const mark = machine ? markOf(machine.meta.annotations) : {};
  const ownerMs = machine?.ownerMachineSet
    ? machineSets.find((ms) => ms.meta.name === machine.ownerMachineSet)
    : undefined;

  const view: OpView = {
    mode,
    purpose: t.purpose,
    drained: progress.drained,
    ...(progress.claimed ? { claimed: true } : {}),
    ...(progress.abandoned ? { abandoned: progress.abandoned } : {}),
    group: {
      specReplicas: group?.replicas,
      minSize: 'min' in min ? min.min : 0,
      ledgerReplicas: ledger?.replicas,
      ...(entry ? { entry: { state: entry.state, generation: entry.generation } } : {}),
      // A group that is gone took its ledger with it: our marks on the Machine are all that is left.
      ...(ledgerError ? { ledgerError } : 'error' in min ? { ledgerError: min.error } : {}),
      rollout: machineSets.length > 1,
      decrementObserved: decrementObserved(group, ownerMs, entry?.generation),
      paused,
    },
  };
  if (machine) {
    const ineligible = whyNotDeletable(machine, { paused: false, operationId: t.id, purpose: t.purpose });
    view.machine = {
      deleting: machine.meta.deletionTimestamp !== undefined,
      ...(machine.phase ? { phase: machine.phase } : {}),
      marked: mark.mark?.id === t.id,
      ...(mark.error
        ? { foreignMark: `an unreadable mark (${mark.error})` }
        : mark.mark && mark.mark.id !== t.id
          ? { foreignMark: `operation ${mark.mark.id}` }
          : {}),
      hooked: machine.meta.annotations[HOLD_HOOK_ANNOTATION] === t.id,
      ...(ineligible ? { ineligible } : {}),
    };
  }
  return { view, machine, group, ledger, machineSets };
}

/**
 * The MachineSets that hold the group's replicas. A MachineDeployment's are found by controller owner UID
 * (several of them: a rollout); a MachineSet group is just itself.
 */
async function activeMachineSets(
  client: KubeClient,
  version: CapiVersion,
  g: MachineDeployment | MachineSet,
): Promise<MachineSet[]> {
  if (g.kind === 'MachineSet') return [g];
  const list = await client.get<{ items: unknown[] }>(
    capiObjectPath(version, 'machinesets', g.meta.namespace),
  );
  return list.items
    .map((o) => fromObject(o) as MachineSet)
    .filter(
      (ms) =>
        ms.meta.ownerReferences.some((r) => r.controller && r.uid === g.meta.uid) &&
        !ms.meta.deletionTimestamp &&
        ((ms.replicas ?? 0) > 0 || (ms.status.replicas ?? 0) > 0),
    );
}

/**
 * Whether the Machine's MachineSet has reconciled a spec at least as new as our decrement: then a later
 * disappearance of the Machine matches its replicas instead of looking like a lost one. For a
 * MachineDeployment, it must first have propagated (observedGeneration past our write), and the
 * MachineSet, read after it, must have observed its own newest generation.
 */
function decrementObserved(
  g: MachineDeployment | MachineSet | undefined,
  ownerMs: MachineSet | undefined,
  generation: number | undefined,
): boolean {
  if (!g || generation === undefined) return false;
  if ((g.status.observedGeneration ?? 0) < generation) return false;
  if (g.kind === 'MachineSet') return true;
  if (!ownerMs) return true; // no MachineSet holds replicas any more: nothing can replace the Machine
  return (ownerMs.status.observedGeneration ?? 0) >= ownerMs.meta.generation;
}
