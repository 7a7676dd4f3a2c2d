// The step between a successful drain and the Machine's deletion, shared by scale-down and remediation:
// wait for the node's volumes to detach, as CAPI's Machine controller does, within the Machine's
// nodeVolumeDetachTimeout or drain.volumeDetachTimeout; the exclude annotation skips it.
import type { Machine } from '../capi/types.ts';
import type { Logger } from '../runtime/log.ts';
import type { Drainer } from './drainer.ts';
import { volumeDetachFor } from './volumes.ts';

export async function waitForVolumesAfterDrain(
  drainer: Drainer,
  machine: Machine,
  node: string,
  defaultTimeoutMs: number,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const v = volumeDetachFor(machine, defaultTimeoutMs);
  if (!v.wait) {
    log.info({ node, reason: v.reason }, 'not waiting for volumes to detach');
    return;
  }
  // A timeout is not a failure (CAPI goes on deleting too); the wait logs and meters its own outcome.
  await drainer.waitForVolumes(node, v.timeoutMs, signal);
}
