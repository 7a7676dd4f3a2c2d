// The Reboot action through the infrastructure reboot hook (contract.ts): set this attempt's token on the
// Machine's infrastructure object unless it is there, and report whether the provider answered. Never
// throws: a hook we cannot reach is reported on the request and tried again at the next reconcile, while
// the attempt's timeout runs on, so the chain still escalates.
import { SpanStatusCode } from '@opentelemetry/api';
import type { Machine } from '../capi/types.ts';
import { discoverGroup } from '../kube/discovery.ts';
import type { EventRecorder, ObjectRef } from '../kube/events.ts';
import type { Logger } from '../runtime/log.ts';
import type { ControllerEnv } from '../service.ts';
import { ATTR, inSpan, logCorrelation } from '../tracing/spans.ts';
import { infraPath, rebootState, requestReboot, type RebootState } from './actions.ts';
import type { RemediationReporter } from './report.ts';
import { rebootToken, type RequestObject } from './request.ts';

export interface RebootHookDeps {
  log: Logger;
  reporter: RemediationReporter;
  events: EventRecorder;
  requestRef: (r: RequestObject) => ObjectRef;
}

export function createRebootHook(env: ControllerEnv, d: RebootHookDeps) {
  const { log, reporter, events, requestRef } = d;
  const infraVersions = new Map<string, string>();

  async function infraApiVersion(m: Machine): Promise<string | undefined> {
    const ref = m.infrastructureRef;
    if (ref.apiVersion) return ref.apiVersion;
    let v = infraVersions.get(ref.apiGroup);
    if (!v) {
      const { preferred } = await discoverGroup(env.management, ref.apiGroup);
      if (!preferred) return undefined;
      v = `${ref.apiGroup}/${preferred}`;
      infraVersions.set(ref.apiGroup, v);
    }
    return v;
  }

  /** Makes sure the reboot of the current attempt was asked for (after a crash it may not have been). */
  async function ensureReboot(m: Machine, token: string): Promise<RebootState> {
    const v = await infraApiVersion(m);
    if (!v) throw new Error(`infrastructure API group ${m.infrastructureRef.apiGroup} is not served`);
    const path = infraPath(m, v);
    const infra = await env.management.getOrNull(path);
    if (!infra)
      throw new Error(
        `infrastructure object ${m.infrastructureRef.kind} ${m.infrastructureRef.name} not found`,
      );
    const state = rebootState(infra, token);
    if (state === 'not-requested') await requestReboot(env.management, path, token);
    return state;
  }

  /**
   * The reboot hook, never throwing: a hook we cannot reach is reported on the request (event, /status)
   * and tried again at the next reconcile; the attempt's timeout still runs, so the chain escalates.
   */
  async function reboot(
    key: string,
    r: RequestObject,
    m: Machine,
    step: number,
    attempt: number,
  ): Promise<RebootState | 'failed'> {
    const token = rebootToken(r.uid, step, attempt);
    return inSpan(
      'remediation.reboot',
      {
        attributes: {
          [ATTR.namespace]: m.meta.namespace,
          [ATTR.machine]: m.meta.name,
          'capi_autopilot.reboot_token': token,
        },
      },
      async (span) => {
        try {
          const state = await ensureReboot(m, token);
          span.setAttribute('capi_autopilot.reboot_state', state);
          return state;
        } catch (e) {
          const text = `reboot of Machine ${m.meta.name} could not be requested: ${(e as Error).message}`;
          span.setStatus({ code: SpanStatusCode.ERROR, message: text });
          log.warn({ request: key, err: (e as Error).message, ...logCorrelation() }, 'reboot hook failed');
          reporter.failure(key, text);
          await events.record(requestRef(r), 'Warning', 'RebootRequestFailed', text);
          return 'failed' as const;
        }
      },
    );
  }

  return reboot;
}
