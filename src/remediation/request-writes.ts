// The request controller's writes on the request and its Machine, each safe to repeat: status with a
// resourceVersion precondition (a conflict means "read again"), our mark removed only when this request set
// it, the request deleted only if it is still the one read (uid precondition).
import type { Machine } from '../capi/types.ts';
import { isConflict, KubeError } from '../kube/errors.ts';
import { REMEDIATION_ANNOTATION } from '../machines/records.ts';
import type { ControllerEnv } from '../service.ts';
import { setRemediationMark } from './actions.ts';
import { REMEDIATION_API_VERSION, REQUEST_RESOURCE } from './contract.ts';
import type { RequestStatus } from './escalation.ts';
import { statusBody, withRemediating, type RequestObject } from './request.ts';

export function createRequestWrites(env: ControllerEnv, now: () => Date) {
  /** Removes our mark from the Machine when this request set it (never another request's). */
  async function dropMark(m: Machine | undefined, r: RequestObject) {
    if (!m || env.dryRun || m.meta.annotations[REMEDIATION_ANNOTATION] === undefined) return;
    if (m.meta.annotations[REMEDIATION_ANNOTATION] !== r.uid) return;
    await setRemediationMark(env.management, m, undefined);
  }

  async function deleteRequest(r: RequestObject) {
    try {
      await env.management.delete(
        `/apis/${REMEDIATION_API_VERSION}/namespaces/${r.namespace}/${REQUEST_RESOURCE}/${r.name}`,
        { uid: r.uid },
      );
    } catch (e) {
      if (!(e instanceof KubeError && e.kind === 'NotFound')) throw e;
    }
  }

  /** Writes status and the Remediating condition; false on a conflict (the next reconcile reads again). */
  async function writeStatus(
    r: RequestObject,
    status: RequestStatus,
    cond: { status: 'True' | 'False'; reason: string; message: string },
  ): Promise<boolean> {
    const conditions = withRemediating(r.conditions, cond.status, cond.reason, cond.message, now());
    const same =
      status === r.status &&
      JSON.stringify(conditions) === JSON.stringify(r.conditions) &&
      r.status.phase !== undefined;
    if (same || env.dryRun) return true;
    try {
      await env.management.mergePatch(
        `/apis/${REMEDIATION_API_VERSION}/namespaces/${r.namespace}/${REQUEST_RESOURCE}/${r.name}/status`,
        statusBody(status, r.steps, conditions),
        r.resourceVersion,
      );
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }

  return { dropMark, deleteRequest, writeStatus };
}
