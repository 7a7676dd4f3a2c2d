// Which versions the apiserver serves, so no code assumes one: policy/v1 or v1beta1 (PDB, Eviction),
// cluster.x-k8s.io v1beta2 or v1beta1, coordination.k8s.io/v1 (leases).
import type { KubeClient } from './client.ts';
import { isNotFound } from './errors.ts';

export interface GroupVersions {
  group: string;
  /** e.g. "v1beta1"; undefined when the group is not served at all. */
  preferred?: string;
  served: string[];
}

interface ApiGroup {
  preferredVersion?: { version: string };
  versions?: Array<{ version: string }>;
}

export async function discoverGroup(client: KubeClient, group: string): Promise<GroupVersions> {
  try {
    const g = await client.get<ApiGroup>(`/apis/${group}`);
    return {
      group,
      preferred: g.preferredVersion?.version,
      served: (g.versions ?? []).map((v) => v.version),
    };
  } catch (e) {
    if (isNotFound(e)) return { group, served: [] };
    throw e;
  }
}

export interface Discovered {
  policy: GroupVersions;
  capi: GroupVersions;
  coordination: GroupVersions;
}

export async function discover(client: KubeClient): Promise<Discovered> {
  const [policy, capi, coordination] = await Promise.all(
    ['policy', 'cluster.x-k8s.io', 'coordination.k8s.io'].map((g) => discoverGroup(client, g)),
  );
  return { policy: policy!, capi: capi!, coordination: coordination! };
}

/** The Eviction API version to POST: policy/v1 where served (1.22+), else policy/v1beta1. */
export function evictionVersion(policy: GroupVersions): 'v1' | 'v1beta1' {
  if (policy.served.includes('v1')) return 'v1';
  if (policy.served.includes('v1beta1')) return 'v1beta1';
  throw new Error('the apiserver serves no policy API version with Eviction (v1 or v1beta1)');
}
