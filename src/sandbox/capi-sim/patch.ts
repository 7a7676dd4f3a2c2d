import type { PatchRequest } from '../../capi/adapters/index.ts';
import type { RestClient } from '../rest.ts';

/** Sends version-aware patch descriptions (src/capi/adapters) to an object's URL, in order. */
export async function sendPatch(
  client: RestClient,
  objectPath: string,
  patches: readonly PatchRequest[],
): Promise<void> {
  for (const p of patches) await client.ok('PATCH', objectPath + p.pathSuffix, p.body, p.contentType);
}
