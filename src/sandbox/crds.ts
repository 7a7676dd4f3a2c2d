// CRDs the sandbox installs: Cluster API's five core kinds in ONE version (v1beta2 or v1beta1), plus
// our sandbox infrastructure provider and our remediation kinds. Without CAPI's conversion webhook a CRD can only serve one
// version faithfully, so a sandbox is either a v1beta2 or a v1beta1 management cluster.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadAll } from 'js-yaml';
import { ApiError, type RestClient } from './rest.ts';

export type CrdSet = 'v1beta2' | 'v1beta1' | 'infrastructure' | 'remediation';
export type CapiCrdVersion = 'v1beta2' | 'v1beta1';

const CAPI_PLURALS = ['clusters', 'machinedeployments', 'machinesets', 'machines', 'machinehealthchecks'];
const INFRA_PLURALS = ['sandboxmachinetemplates', 'sandboxmachines'];
const REMEDIATION_PLURALS = ['autopilotremediationtemplates', 'autopilotremediations'];
export const CAPI_CRD_GROUP = 'cluster.x-k8s.io';

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
}

interface Crd {
  metadata: { name: string; resourceVersion?: string };
  spec: { group: string; names: { plural: string }; versions: CrdVersion[] };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

/** Absolute paths of the YAML files of one set. */
export function crdFiles(set: CrdSet): string[] {
  const dir = set === 'infrastructure' || set === 'remediation' ? set : `cluster-api/${set}`;
  const plurals =
    set === 'infrastructure' ? INFRA_PLURALS : set === 'remediation' ? REMEDIATION_PLURALS : CAPI_PLURALS;
  return plurals.map((p) => fileURLToPath(new URL(`../../deploy/crds/${dir}/${p}.yaml`, import.meta.url)));
}

/** The CRD objects of one set, as parsed from YAML. */
export function loadCrds(set: CrdSet): Record<string, unknown>[] {
  return crdFiles(set).flatMap((f) =>
    loadAll(readFileSync(f, 'utf8')).filter(
      (d): d is Record<string, unknown> => d !== null && d !== undefined,
    ),
  );
}

const servedVersions = (c: Crd): string[] => c.spec.versions.filter((v) => v.served).map((v) => v.name);

/**
 * Installs the CAPI CRDs of capiVersion and the sandbox infrastructure CRDs, creating them or
 * replacing ours in place, then waits until every group/version is served. Refuses, before writing
 * anything, when the CAPI CRDs already serve another version.
 */
export async function installCrds(
  client: RestClient,
  capiVersion: CapiCrdVersion,
  opts: { timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const crds = [
    ...loadCrds(capiVersion),
    ...loadCrds('infrastructure'),
    ...loadCrds('remediation'),
  ] as unknown as Crd[];

  for (const crd of crds.filter((c) => c.spec.group === CAPI_CRD_GROUP)) {
    const r = await client.req<Crd>('GET', `${CRD_PATH}/${crd.metadata.name}`);
    if (r.status === 404) continue;
    if (r.status !== 200) throw new ApiError('GET', `${CRD_PATH}/${crd.metadata.name}`, r.status, r.text);
    const other = servedVersions(r.body).filter((v) => v !== capiVersion);
    if (other.length > 0) {
      throw new Error(
        `cannot install Cluster API ${capiVersion} CRDs: ${crd.metadata.name} already serves ${other.join(', ')}; ` +
          `the sandbox holds one cluster.x-k8s.io version at a time (${other.join(', ')} or ${capiVersion}), ` +
          'so use a fresh cluster or delete the existing CRDs first',
      );
    }
  }

  for (const crd of crds) await createOrReplace(client, crd);

  for (const crd of crds) await waitEstablished(client, crd.metadata.name, deadline);
  const byGroupVersion = new Map<string, string[]>();
  for (const crd of crds) {
    for (const v of crd.spec.versions.filter((x) => x.served)) {
      const gv = `${crd.spec.group}/${v.name}`;
      byGroupVersion.set(gv, [...(byGroupVersion.get(gv) ?? []), crd.spec.names.plural]);
    }
  }
  for (const [gv, plurals] of byGroupVersion) await waitServed(client, gv, plurals, deadline);
}

async function createOrReplace(client: RestClient, crd: Crd): Promise<void> {
  const created = await client.req('POST', CRD_PATH, crd);
  if (created.status === 201) return;
  if (created.status !== 409) throw new ApiError('POST', CRD_PATH, created.status, created.text);
  const path = `${CRD_PATH}/${crd.metadata.name}`;
  // A concurrent writer can bump resourceVersion between our GET and PUT; retry a few times.
  for (let attempt = 1; ; attempt++) {
    const current = await client.ok<Crd>('GET', path);
    const body = { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata.resourceVersion } };
    const put = await client.req('PUT', path, body);
    if (put.status === 200) return;
    if (put.status !== 409 || attempt >= 3) throw new ApiError('PUT', path, put.status, put.text);
  }
}

async function waitEstablished(client: RestClient, name: string, deadline: number): Promise<void> {
  let last = 'not read yet';
  while (Date.now() < deadline) {
    const c = await client.ok<Crd>('GET', `${CRD_PATH}/${name}`);
    const conds = c.status?.conditions ?? [];
    const names = conds.find((x) => x.type === 'NamesAccepted');
    // A name clash never resolves by waiting.
    if (names?.status === 'False') throw new Error(`CRD ${name}: names not accepted: ${names.message ?? ''}`);
    if (conds.some((x) => x.type === 'Established' && x.status === 'True')) return;
    last = JSON.stringify(conds);
    await sleep(100);
  }
  throw new Error(`timed out waiting for CRD ${name} to be Established; conditions: ${last}`);
}

/** Established is not enough: discovery (and the REST handler) may lag a moment behind it. */
async function waitServed(
  client: RestClient,
  gv: string,
  plurals: string[],
  deadline: number,
): Promise<void> {
  let last = '';
  while (Date.now() < deadline) {
    const r = await client.req<{ resources?: Array<{ name: string }> }>('GET', `/apis/${gv}`);
    if (r.status === 200) {
      const have = new Set((r.body.resources ?? []).map((x) => x.name));
      const missing = plurals.filter((p) => !have.has(p));
      if (missing.length === 0) return;
      last = `missing ${missing.join(', ')}`;
    } else {
      last = `GET /apis/${gv} -> ${r.status}`;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${gv} to be served (${last})`);
}
