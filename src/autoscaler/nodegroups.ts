// Which MachineDeployments and standalone MachineSets the autoscaler manages, with their bounds and
// per-group options, after cluster-autoscaler's clusterapi provider (clusterapi_controller.go
// listScalableResources/nodeGroups, clusterapi_nodegroup.go newNodeGroupFromScalableResource and
// GetOptions, clusterapi_utils.go parseScalingBounds/autoscalingOptions). Pure: raw objects in, a sorted
// result out, nothing thrown for bad input.
//
// Deliberate differences from upstream:
// - a malformed annotation disables only its own group (upstream fails the whole node group list);
// - both size annotations are required (upstream reads a missing min as 0), and sizes are plain decimal
//   integers up to int32 (one parser for every reader: src/capi/node-group-size.ts);
// - a malformed autoscaling option disables the group (upstream logs it and uses the default);
// - paused objects are skipped (upstream does not look at pause).

import { parseNodeGroupSize } from '../capi/node-group-size.ts';
import { fromObjectOfKind } from '../capi/adapters/index.ts';
import { parseGoDuration } from '../capi/duration.ts';
import {
  ANNOTATIONS,
  CAPI_GROUP,
  type CapiVersion,
  type Cluster,
  type LabelSelector,
  type MachineDeployment,
  type MachineSet,
  type MachineTemplate,
} from '../capi/types.ts';
import type { Config } from '../config/schema.ts';

export type NodeGroupKind = 'MachineDeployment' | 'MachineSet';

/** The options a group may override; same names and units (ms) as `config.autoscaler`. */
export type NodeGroupOptions = Pick<
  Config['autoscaler'],
  'scaleDownUtilizationThreshold' | 'scaleDownUnneededTime' | 'scaleDownUnreadyTime' | 'maxNodeProvisionTime'
>;

/** Why an object is not a node group at all. */
export const IGNORE_CODES = [
  'Unreadable',
  'OwnedByMachineDeployment',
  'NotDiscovered',
  'NotOptedIn',
  'IncompleteBounds',
  'Deleting',
  'Paused',
] as const;
export type IgnoreCode = (typeof IGNORE_CODES)[number];

/** Why a node group is listed but must not be scaled. */
export const DISABLE_CODES = [
  'ClusterUnavailable',
  'InvalidBounds',
  'NoScalingCapacity',
  'InvalidOption',
  'NoReplicas',
] as const;
export type DisableCode = (typeof DISABLE_CODES)[number];

interface NodeGroupCommon {
  /**
   * `<kind>/<namespace>/<name>`: cluster-autoscaler's NodeGroup Id() and our `node_group` metric label.
   * The kind is part of it because a MachineDeployment and a MachineSet may share a name.
   */
  key: string;
  kind: NodeGroupKind;
  namespace: string;
  name: string;
  clusterName: string;
  version: CapiVersion;
  selector: LabelSelector;
  /** The Machine template: labels, annotations, infrastructureRef, failureDomain, version. */
  template: MachineTemplate;
  /** The MachineDeployment/MachineSet's own annotations (capacity.cluster-autoscaler.kubernetes.io/*). */
  annotations: Readonly<Record<string, string>>;
  object: MachineDeployment | MachineSet;
}

export interface EnabledNodeGroup extends NodeGroupCommon {
  minSize: number;
  maxSize: number;
  replicas: number;
  /** Effective options: the group's annotations over the global defaults. */
  options: NodeGroupOptions;
  disabled?: undefined;
  disabledCode?: undefined;
}

/** Listed so explain and metrics can show it; whatever could not be read is left out, never guessed. */
export interface DisabledNodeGroup extends NodeGroupCommon {
  minSize?: number;
  maxSize?: number;
  replicas?: number;
  options?: NodeGroupOptions;
  /** Every problem found, joined with "; ". */
  disabled: string;
  /** The first problem's code. */
  disabledCode: DisableCode;
}

export type NodeGroup = EnabledNodeGroup | DisabledNodeGroup;

export interface IgnoredObject {
  /** `<kind>/<namespace>/<name>`, as NodeGroup.key. */
  key: string;
  code: IgnoreCode;
  reason: string;
}

export interface NodeGroupsResult {
  /** Sorted by key. */
  groups: NodeGroup[];
  /** Sorted by key. */
  ignored: IgnoredObject[];
}

export interface DiscoverNodeGroupsInput {
  clusters: readonly unknown[];
  machineDeployments: readonly unknown[];
  machineSets: readonly unknown[];
  discovery: Config['discovery'];
  /** `config.autoscaler` fits. */
  defaults: NodeGroupOptions;
}

/** cluster-autoscaler's per-group option annotations (its config.Default*Key names). */
export const OPTION_ANNOTATION_PREFIX = `${CAPI_GROUP}/autoscaling-options-`;

type Parsed = { ok: true; value: number } | { ok: false; error: string };

const OPTION_PARSERS: ReadonlyArray<{
  suffix: string;
  field: keyof NodeGroupOptions;
  parse: (v: string) => Parsed;
}> = [
  { suffix: 'scaledownutilizationthreshold', field: 'scaleDownUtilizationThreshold', parse: fraction },
  { suffix: 'scaledownunneededtime', field: 'scaleDownUnneededTime', parse: (v) => durationMs(v, false) },
  { suffix: 'scaledownunreadytime', field: 'scaleDownUnreadyTime', parse: (v) => durationMs(v, false) },
  { suffix: 'maxnodeprovisiontime', field: 'maxNodeProvisionTime', parse: (v) => durationMs(v, true) },
];

const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/;

function fraction(v: string): Parsed {
  if (!FLOAT.test(v)) return { ok: false, error: `${JSON.stringify(v)} is not a number` };
  const n = Number(v);
  if (n < 0 || n > 1) return { ok: false, error: `${JSON.stringify(v)} is not between 0 and 1` };
  return { ok: true, value: n };
}

function durationMs(v: string, positive: boolean): Parsed {
  const d = parseGoDuration(v);
  if (!d.ok) return d;
  if (d.nanoseconds < 0n) return { ok: false, error: `${JSON.stringify(v)} is negative` };
  if (positive && d.nanoseconds === 0n) return { ok: false, error: `${JSON.stringify(v)} must be > 0` };
  return { ok: true, value: Number(d.nanoseconds / 1_000_000n) };
}

/** Effective options, or the problems (each naming its annotation). */
function readOptions(
  annotations: Readonly<Record<string, string>>,
  defaults: NodeGroupOptions,
): { options: NodeGroupOptions; problems: string[] } {
  // Only the four fields: `defaults` is usually all of config.autoscaler.
  const options: { -readonly [K in keyof NodeGroupOptions]: number } = {
    scaleDownUtilizationThreshold: defaults.scaleDownUtilizationThreshold,
    scaleDownUnneededTime: defaults.scaleDownUnneededTime,
    scaleDownUnreadyTime: defaults.scaleDownUnreadyTime,
    maxNodeProvisionTime: defaults.maxNodeProvisionTime,
  };
  const problems: string[] = [];
  for (const o of OPTION_PARSERS) {
    const key = OPTION_ANNOTATION_PREFIX + o.suffix;
    const raw = annotations[key];
    // Upstream skips empty values and lower-cases the rest ("1H" is an hour there too).
    if (raw === undefined || raw === '') continue;
    const parsed = o.parse(raw.toLowerCase());
    if (parsed.ok) options[o.field] = parsed.value;
    else problems.push(`${key}: ${parsed.error}`);
  }
  return { options, problems };
}

type Scalable = MachineDeployment | MachineSet;
type DiscoveryEntry = Config['discovery'][number];

const keyOf = (kind: string, namespace: string, name: string): string => `${kind}/${namespace}/${name}`;

/** Upstream's clusterapi auto-discovery: every given part must match (labels: present and equal). */
function matchesEntry(e: DiscoveryEntry, o: Scalable): boolean {
  if (e.namespace !== undefined && e.namespace !== o.meta.namespace) return false;
  if (e.clusterName !== undefined && e.clusterName !== o.clusterName) return false;
  const labels = o.meta.labels;
  return Object.entries(e.labels ?? {}).every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v);
}

/** Any MachineDeployment owner, controller or not, as upstream's machineSetHasMachineDeploymentOwnerRef. */
function machineDeploymentOwner(ms: MachineSet): string | undefined {
  if (ms.ownerMachineDeployment !== undefined) return ms.ownerMachineDeployment;
  return ms.meta.ownerReferences.find(
    (r) => r.kind === 'MachineDeployment' && r.apiVersion.startsWith(`${CAPI_GROUP}/`),
  )?.name;
}

function pausedBy(o: Scalable, cluster: Cluster | undefined): string | undefined {
  const c = cluster ? `Cluster ${cluster.meta.name}` : '';
  if (cluster?.paused) return `paused: ${c} spec.paused`;
  if (cluster && ANNOTATIONS.paused in cluster.meta.annotations) return `paused: ${c} annotation`;
  if (ANNOTATIONS.paused in o.meta.annotations) return 'paused: annotation';
  return undefined;
}

/** Best-effort identity of an object the adapters refused. */
function rawKey(kind: string, raw: unknown): string {
  const meta = typeof raw === 'object' && raw !== null ? (raw as { metadata?: unknown }).metadata : undefined;
  const m = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : {};
  const str = (v: unknown, fallback: string) => (typeof v === 'string' && v !== '' ? v : fallback);
  return keyOf(kind, str(m['namespace'], ''), str(m['name'], '<unnamed>'));
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const byKey = (a: { key: string }, b: { key: string }): number =>
  a.key < b.key ? -1 : a.key > b.key ? 1 : 0;

export function discoverNodeGroups(input: DiscoverNodeGroupsInput): NodeGroupsResult {
  const ignored: IgnoredObject[] = [];
  const ignore = (key: string, code: IgnoreCode, reason: string) => ignored.push({ key, code, reason });

  // Clusters by namespace/name; `null` marks one that is present but unreadable.
  const clusters = new Map<string, Cluster | null>();
  for (const raw of input.clusters) {
    try {
      const c = fromObjectOfKind(raw, 'Cluster');
      clusters.set(`${c.meta.namespace}/${c.meta.name}`, c);
    } catch (e) {
      const key = rawKey('Cluster', raw);
      ignore(key, 'Unreadable', errorText(e));
      clusters.set(key.slice('Cluster/'.length), null);
    }
  }

  const candidates: Scalable[] = [];
  const read = (kind: NodeGroupKind, list: readonly unknown[]) => {
    for (const raw of list) {
      try {
        candidates.push(fromObjectOfKind(raw, kind));
      } catch (e) {
        ignore(rawKey(kind, raw), 'Unreadable', errorText(e));
      }
    }
  };
  read('MachineDeployment', input.machineDeployments);
  read('MachineSet', input.machineSets);

  const groups: NodeGroup[] = [];
  for (const o of candidates) {
    const key = keyOf(o.kind, o.meta.namespace, o.meta.name);
    const a = o.meta.annotations;
    const owner = o.kind === 'MachineSet' ? machineDeploymentOwner(o) : undefined;
    if (owner !== undefined) {
      ignore(key, 'OwnedByMachineDeployment', `owned by MachineDeployment ${owner}`);
      continue;
    }
    if (input.discovery.length > 0 && !input.discovery.some((e) => matchesEntry(e, o))) {
      ignore(key, 'NotDiscovered', 'matches no discovery entry');
      continue;
    }
    const hasMin = ANNOTATIONS.nodeGroupMinSize in a;
    const hasMax = ANNOTATIONS.nodeGroupMaxSize in a;
    if (!hasMin && !hasMax) {
      ignore(key, 'NotOptedIn', 'no min-size/max-size annotations');
      continue;
    }
    if (!hasMin || !hasMax) {
      ignore(key, 'IncompleteBounds', `${hasMin ? 'max-size' : 'min-size'} annotation missing`);
      continue;
    }
    if (o.meta.deletionTimestamp !== undefined) {
      ignore(key, 'Deleting', 'being deleted');
      continue;
    }
    const clusterKey = `${o.meta.namespace}/${o.clusterName}`;
    const cluster = clusters.get(clusterKey);
    const paused = pausedBy(o, cluster ?? undefined);
    if (paused !== undefined) {
      ignore(key, 'Paused', paused);
      continue;
    }
    groups.push(evaluate(o, key, cluster, input.defaults));
  }

  return { groups: groups.sort(byKey), ignored: ignored.sort(byKey) };
}

/** An opted-in, active object: its bounds, options and replicas, or why it cannot be scaled. */
function evaluate(
  o: Scalable,
  key: string,
  cluster: Cluster | null | undefined,
  defaults: NodeGroupOptions,
): NodeGroup {
  const problems: { code: DisableCode; text: string }[] = [];
  const problem = (code: DisableCode, text: string) => problems.push({ code, text });

  // Without the Cluster we cannot tell whether it is paused.
  if (cluster === undefined) problem('ClusterUnavailable', `Cluster ${o.clusterName} not found`);
  if (cluster === null) problem('ClusterUnavailable', `Cluster ${o.clusterName} unreadable`);

  const a = o.meta.annotations;
  const min = parseNodeGroupSize('min-size', a[ANNOTATIONS.nodeGroupMinSize] as string);
  const max = parseNodeGroupSize('max-size', a[ANNOTATIONS.nodeGroupMaxSize] as string);
  if (!min.ok) problem('InvalidBounds', min.error);
  if (!max.ok) problem('InvalidBounds', max.error);
  if (min.ok && max.ok) {
    if (min.value > max.value) problem('InvalidBounds', `min-size ${min.value} > max-size ${max.value}`);
    // Upstream: "don't allow MaxSize = 0"; such a group is left alone entirely, never scaled down.
    else if (max.value === 0) problem('NoScalingCapacity', 'max-size is 0');
  }

  const { options, problems: optionProblems } = readOptions(a, defaults);
  for (const p of optionProblems) problem('InvalidOption', p);
  if (o.replicas === undefined) problem('NoReplicas', 'no spec.replicas');

  const common: NodeGroupCommon = {
    key,
    kind: o.kind,
    namespace: o.meta.namespace,
    name: o.meta.name,
    clusterName: o.clusterName,
    version: o.version,
    selector: o.selector,
    template: o.template,
    annotations: a,
    object: o,
  };
  if (problems.length === 0 && min.ok && max.ok && o.replicas !== undefined) {
    return { ...common, minSize: min.value, maxSize: max.value, replicas: o.replicas, options };
  }
  return {
    ...common,
    ...(min.ok ? { minSize: min.value } : {}),
    ...(max.ok ? { maxSize: max.value } : {}),
    ...(o.replicas !== undefined ? { replicas: o.replicas } : {}),
    ...(optionProblems.length === 0 ? { options } : {}),
    disabled: problems.map((p) => p.text).join('; '),
    // Not enabled means a problem was recorded: each failed condition above records one.
    disabledCode: problems[0]!.code,
  };
}
