// The only place that looks at a CAPI object's apiVersion. Everything else gets version-agnostic types
// (../types.ts) from fromObject and writes back through the version-aware builders re-exported here.
import { CapiParseError } from '../errors.ts';
import { Field, rootField } from '../fields.ts';
import { CAPI_GROUP, CAPI_VERSIONS, type CapiKind, type CapiObject, type CapiVersion } from '../types.ts';
import * as v1beta1 from './v1beta1.ts';
import * as v1beta2 from './v1beta2.ts';

export { CapiParseError } from '../errors.ts';
export {
  annotationsPatch,
  conditionsPatch,
  machineStatusPatch,
  mhcStatusPatch,
  replicaStatusPatch,
  scalePatch,
  type MachinePhase,
  type MachineStatusUpdate,
  type MhcStatusUpdate,
  type PatchRequest,
} from './patches.ts';
export { machineFromTemplate, type MachineFromTemplateInput } from './machine-template.ts';

type Reader = (obj: unknown) => CapiObject;

const READERS: Readonly<Record<CapiVersion, Readonly<Record<CapiKind, Reader>>>> = {
  v1beta2: {
    Cluster: v1beta2.readCluster,
    MachineDeployment: v1beta2.readMachineDeployment,
    MachineSet: v1beta2.readMachineSet,
    Machine: v1beta2.readMachine,
    MachineHealthCheck: v1beta2.readMachineHealthCheck,
  },
  v1beta1: {
    Cluster: v1beta1.readCluster,
    MachineDeployment: v1beta1.readMachineDeployment,
    MachineSet: v1beta1.readMachineSet,
    Machine: v1beta1.readMachine,
    MachineHealthCheck: v1beta1.readMachineHealthCheck,
  },
};

const isVersion = (v: string): v is CapiVersion => (CAPI_VERSIONS as readonly string[]).includes(v);

/**
 * Normalizes a CAPI object as the apiserver returned it (a GET, a list item or a watch event object).
 * Throws CapiParseError naming the field for anything it cannot read; it never guesses.
 */
export function fromObject(obj: unknown): CapiObject {
  const kindValue = typeof obj === 'object' && obj !== null ? (obj as { kind?: unknown }).kind : undefined;
  const f = rootField(obj, typeof kindValue === 'string' ? kindValue : '');
  const apiVersionField: Field = f.get('apiVersion');
  const apiVersion = apiVersionField.string();
  const [group, version, ...rest] = apiVersion.split('/');
  if (group !== CAPI_GROUP || version === undefined || rest.length > 0) {
    return apiVersionField.fail(`${JSON.stringify(apiVersion)} is not in the ${CAPI_GROUP} group`);
  }
  if (!isVersion(version)) {
    return apiVersionField.fail(
      `unsupported version ${JSON.stringify(version)} (supported: ${CAPI_VERSIONS.join(', ')})`,
    );
  }
  const kindField: Field = f.get('kind');
  const kind = kindField.string();
  const read = Object.hasOwn(READERS[version], kind) ? READERS[version][kind as CapiKind] : undefined;
  if (!read) return kindField.fail(`unsupported kind ${JSON.stringify(kind)}`);
  return read(obj);
}

/** fromObject for a known kind: also rejects an object of another kind (e.g. a mis-routed watch event). */
export function fromObjectOfKind<K extends CapiKind>(
  obj: unknown,
  kind: K,
): Extract<CapiObject, { kind: K }> {
  const o = fromObject(obj);
  if (o.kind !== kind) {
    throw new CapiParseError(
      { kind: o.kind, name: o.meta.name, namespace: o.meta.namespace },
      'kind',
      `expected ${kind}, got ${o.kind}`,
    );
  }
  return o as Extract<CapiObject, { kind: K }>;
}

/**
 * Picks the CAPI version to talk to from `GET /apis/cluster.x-k8s.io` (a metav1.APIGroup): the server's
 * preferred version when it is one we support, else the newest supported one it serves.
 */
export function discoverCapiVersion(groupDiscovery: unknown): CapiVersion {
  const g = new Field({ kind: 'APIGroup', name: CAPI_GROUP, namespace: '' }, groupDiscovery)
    .required()
    .object();
  const name = g.get('name').optString();
  if (name !== undefined && name !== CAPI_GROUP) g.get('name').fail(`expected the ${CAPI_GROUP} group`);
  const preferred = g.at('preferredVersion.version').optString();
  if (preferred !== undefined && isVersion(preferred)) return preferred;
  const served = new Set(
    g
      .get('versions')
      .items()
      .map((v) => v.get('version').string()),
  );
  const best = CAPI_VERSIONS.find((v) => served.has(v)); // CAPI_VERSIONS is newest first
  if (!best) {
    return g
      .get('versions')
      .fail(
        `the server serves ${[...served].join(', ') || 'no versions'}; capi-autopilot needs one of ${CAPI_VERSIONS.join(', ')}`,
      );
  }
  return best;
}
