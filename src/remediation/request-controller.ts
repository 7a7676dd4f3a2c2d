// The external remediator: reconciles AutopilotRemediation requests (made by a MachineHealthCheck, CAPI's or
// ours) through their escalation chain. Each reconcile reads the caches, asks decideEscalation for the one
// next step, checks ownership and admission (storm.ts), records the attempt on the request *before* acting
// and then acts, so a crash only leaves a recorded attempt that the next reconcile finishes or times out.
import { fromObjectOfKind } from '../capi/adapters/index.ts';
import { findCondition } from '../capi/conditions.ts';
import { ANNOTATIONS, type Machine } from '../capi/types.ts';
import { EventRecorder, type ObjectRef } from '../kube/events.ts';
import { isConflict } from '../kube/errors.ts';
import { objectKey } from '../kube/informer.ts';
import type { MachineDeleter } from '../machines/executor.ts';
import { markOf, REMEDIATION_ANNOTATION } from '../machines/records.ts';
import type { GroupRef } from '../machines/snapshot.ts';
import { Controller } from '../runtime/controller.ts';
import type { ControllerEnv } from '../service.ts';
import { SpanStatusCode } from '@opentelemetry/api';
import { ATTR, inSpan, logCorrelation } from '../tracing/spans.ts';
import { handToOwner, machineRef, setRemediationMark } from './actions.ts';
import { REMEDIATION_API_VERSION, REQUEST_KIND, REQUEST_RESOURCE } from './contract.ts';
import { decideEscalation, nextStatus, type Decision } from './escalation.ts';
import { createHealthCheckController } from './mhc-controller.ts';
import { RemediationReporter } from './report.ts';
import { reprovision } from './reprovision.ts';
import { readRequest, type RequestObject } from './request.ts';
import { createAdmission } from './admission.ts';
import { createRebootHook } from './reboot.ts';
import { createRequestWrites } from './request-writes.ts';
import { parseKubeTime, v1beta2Conditions } from './types.ts';

const RECHECK_MS = 30_000;
const DEFER_MS = 10_000;

export interface RemediationDeps {
  /** Absent in a dry run: nothing is acted on, decisions are reported. */
  deleter?: MachineDeleter;
  now?: () => Date;
}

export interface Remediation {
  /** The request controller, and in standalone mode the MachineHealthCheck controller. */
  controllers: Controller[];
  reporter: RemediationReporter;
}

export function createRemediation(env: ControllerEnv, deps: RemediationDeps = {}): Remediation {
  if (!env.informers.has(`management/${REQUEST_RESOURCE}`)) {
    // The service found no AutopilotRemediation CRD (and said so in its log): nothing to run.
    env.publishStatus('remediation', () => ({
      mode: 'off',
      reason: `the ${REQUEST_KIND} CRDs (${REMEDIATION_API_VERSION}) are not installed in the management cluster`,
    }));
    return { controllers: [], reporter: new RemediationReporter(env.metrics) };
  }
  return createRunning(env, deps);
}

function createRunning(env: ControllerEnv, deps: RemediationDeps): Remediation {
  const now = deps.now ?? (() => new Date());
  const cfg = env.config.remediation;
  const log = env.log.child({ controller: 'remediation' });
  const mgmt = (r: string) => env.informers.get(`management/${r}`)!;
  const requests = mgmt(REQUEST_RESOURCE);
  const machines = mgmt('machines');
  const events = new EventRecorder(env.management, {
    onError: (e) => log.debug({ err: e.message }, 'event not recorded'),
  });
  const reporter = new RemediationReporter(env.metrics);
  env.publishStatus('remediation', () => ({
    mode: cfg.mode === 'auto' ? 'companion' : cfg.mode,
    dryRun: env.dryRun,
    ...reporter.all(),
  }));
  /** Reprovision runs in the background, by request key, each stoppable on its own. */
  const inFlight = new Map<string, { run: Promise<unknown>; abort: AbortController }>();
  /** Failed Reprovision runs by request key: the next one waits (10 s doubling, at most 5 min). */
  const failures = new Map<string, { count: number; at: number }>();
  const stopAction = (key: string, why: string) => {
    const f = inFlight.get(key);
    if (f && !f.abort.signal.aborted) {
      log.info({ request: key, why }, 'stopping the running Reprovision');
      f.abort.abort();
    }
  };
  /** Replaced on each activation: losing leadership stops this replica's Reprovisions at their safe point. */
  let abort = new AbortController();

  /** Unreadable Machines are not "gone": a request must never end on data we could not parse. */
  const unreadable = new Map<string, string>();
  const machineOf = (key: string): Machine | undefined => {
    const raw = machines.get(key);
    unreadable.delete(key);
    try {
      return raw ? fromObjectOfKind(raw, 'Machine') : undefined;
    } catch (e) {
      unreadable.set(key, (e as Error).message);
      return undefined;
    }
  };
  /** Why no action may start on this Machine now (CAPI's skip and pause rules), or undefined. */
  const holdOf = (m: Machine): { reason: string; message: string } | undefined => {
    const a = m.meta.annotations;
    if (ANNOTATIONS.skipRemediation in a)
      return { reason: 'SkipRemediation', message: `Machine has ${ANNOTATIONS.skipRemediation}` };
    if (ANNOTATIONS.paused in a) return { reason: 'Paused', message: `Machine has ${ANNOTATIONS.paused}` };
    const c = mgmt('clusters').get(`${m.meta.namespace}/${m.clusterName}`);
    const paused =
      (c as { spec?: { paused?: boolean } } | undefined)?.spec?.paused === true ||
      ANNOTATIONS.paused in (c?.metadata.annotations ?? {});
    return paused ? { reason: 'Paused', message: `Cluster ${m.clusterName} is paused` } : undefined;
  };
  const requestRef = (r: RequestObject): ObjectRef => ({
    apiVersion: REMEDIATION_API_VERSION,
    kind: REQUEST_KIND,
    namespace: r.namespace,
    name: r.name,
    uid: r.uid,
  });
  const groupOf = (m: Machine): GroupRef | undefined => {
    if (!m.ownerMachineSet) return undefined;
    const ms = mgmt('machinesets').get(`${m.meta.namespace}/${m.ownerMachineSet}`);
    const md = ms?.metadata.ownerReferences?.find((o) => o.controller && o.kind === 'MachineDeployment');
    return md
      ? { kind: 'MachineDeployment', namespace: m.meta.namespace, name: md.name }
      : { kind: 'MachineSet', namespace: m.meta.namespace, name: m.ownerMachineSet };
  };
  const admission = createAdmission(env, { requests, machines, machineOf, groupOf, reporter, log });
  const reboot = createRebootHook(env, { log, reporter, events, requestRef });
  const { dropMark, deleteRequest, writeStatus } = createRequestWrites(env, now);

  /**
   * Healthy again since the request was made. A True condition older than the request is the state before
   * the Machine failed, not a recovery: the MachineHealthCheck may create the request before it patches
   * the Machine (CAPI does), and acting on the stale True would end the remediation before it started.
   */
  const healthy = (m: Machine, since: number | undefined) => {
    const c = findCondition(v1beta2Conditions(m), 'HealthCheckSucceeded');
    if (c?.status !== 'True') return false;
    const t = c.lastTransitionTime === undefined ? undefined : parseKubeTime(c.lastTransitionTime);
    return since === undefined || (t !== undefined && t >= since);
  };

  function startReprovision(key: string, r: RequestObject, m: Machine, cluster: string) {
    if (inFlight.has(key) || !deps.deleter) return;
    const deleter = deps.deleter;
    const own = new AbortController();
    const signal = AbortSignal.any([abort.signal, own.signal]);
    const attributes = { [ATTR.namespace]: m.meta.namespace, [ATTR.machine]: m.meta.name };
    const run = inSpan('remediation.reprovision', { attributes }, async (span) => {
      const res = await reprovision(env, deleter, m, groupOf(m), {
        signal,
        events,
        machineRef: machineRef(m),
      });
      span.setAttribute('capi_autopilot.outcome', res.outcome);
      if (!res.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: res.message });
      return res;
    })
      .then(async (res) => {
        reporter.action(cluster, 'reprovision', res.ok ? 'succeeded' : 'failed');
        const text = `Reprovision of Machine ${m.meta.name}: ${res.message}`;
        log[res.ok ? 'info' : 'warn']({ request: key, outcome: res.outcome, ...logCorrelation() }, text);
        await events.record(
          requestRef(r),
          res.ok ? 'Normal' : 'Warning',
          res.ok ? 'Reprovisioned' : 'ReprovisionFailed',
          text,
        );
        if (res.ok) failures.delete(key);
        else {
          reporter.failure(key, text);
          failures.set(key, { count: (failures.get(key)?.count ?? 0) + 1, at: now().getTime() });
        }
      })
      .catch((e: Error) => log.error({ request: key, err: e.message }, 'reprovision crashed'))
      .finally(() => {
        inFlight.delete(key);
        controller.enqueue(key);
      });
    inFlight.set(key, { run, abort: own });
  }

  async function reconcile(key: string) {
    const raw = requests.get(key);
    const m = machineOf(key);
    const r = raw && readRequest(raw);
    if (!r || r.deleting) {
      reporter.forget(key);
      admission.release(key);
      failures.delete(key);
      stopAction(key, 'its request is gone');
      // Done (the MHC deleted the request, or the Machine went): our mark must not outlive it.
      if (m && REMEDIATION_ANNOTATION in m.meta.annotations && !env.dryRun)
        await setRemediationMark(env.management, m, undefined);
      return;
    }
    if (!r.steps || r.statusError) {
      const message = `not acted on: ${r.specError ?? r.statusError}`;
      reporter.set(key, { phase: r.status.phase ?? 'Pending', reason: 'Invalid', message });
      await writeStatus(r, r.status, {
        status: 'False',
        reason: r.specError ? 'InvalidSpec' : 'InvalidStatus',
        message,
      });
      await events.record(requestRef(r), 'Warning', 'InvalidRequest', message);
      await dropMark(m, r);
      return;
    }
    if (unreadable.has(key)) {
      const message = `Machine ${key} is unreadable (${unreadable.get(key)}): not acted on`;
      reporter.set(key, { phase: r.status.phase ?? 'Pending', reason: 'MachineUnreadable', message });
      await writeStatus(r, r.status, { status: 'False', reason: 'MachineUnreadable', message });
      return { requeueAfterMs: RECHECK_MS };
    }
    const at = now().getTime();
    const sameMachine = m !== undefined && (r.machineUid === undefined || r.machineUid === m.meta.uid);
    const machine = {
      exists: sameMachine,
      deleting: sameMachine && m.meta.deletionTimestamp !== undefined,
      healthy: sameMachine && healthy(m, r.createdAt),
    };
    const d: Decision = decideEscalation({
      steps: r.steps,
      status: r.status,
      machine,
      now: at,
      actionInFlight: inFlight.has(key),
    });
    // Skip and pause hold every action, also one under way (CAPI's rules; e.g. clusterctl move pauses).
    const hold =
      sameMachine && (d.kind === 'start' || d.kind === 'wait' || d.kind === 'give-up')
        ? holdOf(m)
        : undefined;
    if (hold) {
      stopAction(key, hold.message);
      const message = `${hold.message}: no remediation action while it holds`;
      reporter.set(key, { phase: r.status.phase ?? 'Pending', reason: hold.reason, message });
      await writeStatus(r, r.status, { status: 'False', reason: hold.reason, message });
      return { requeueAfterMs: DEFER_MS };
    }
    const cluster = m ? `${m.meta.namespace}/${m.clusterName}` : r.namespace;
    const step = r.status.step === undefined ? undefined : r.steps[r.status.step];
    const report = (reason: string, message: string, next?: string) =>
      reporter.set(key, {
        phase: nextStatus(r.status, d, at).phase ?? 'Pending',
        ...(step ? { action: step.action, attempt: r.status.attempt } : {}),
        reason,
        message,
        ...(next ? { next } : {}),
        ...(r.status.lastFailure ? { lastFailure: r.status.lastFailure } : {}),
      });

    switch (d.kind) {
      case 'start': {
        const mm = m!;
        const { mark } = markOf(mm.meta.annotations);
        const held =
          mark && mark.purpose !== 'remediation'
            ? `operation ${mark.id} (${mark.purpose}) holds the Machine`
            : undefined;
        // Storm protection gates new remediations only; a retry or an escalation of one already running
        // goes on (medik8s: storms block new remediations, never ongoing ones).
        const adm = held || d.why !== 'first' ? undefined : admission.admit(key, mm, at);
        if (held || (adm && !adm.allowed)) {
          const reason = held ? 'HeldByScaleDown' : (adm as { code: string }).code;
          const message = `${d.message}; deferred: ${held ?? (adm as { message: string }).message}`;
          report(reason, message, `${d.action} when allowed`);
          reporter.deferred(cluster, reason);
          await writeStatus(r, r.status, { status: 'False', reason, message });
          const retryAt = (adm as { retryAt?: number } | undefined)?.retryAt;
          return { requeueAfterMs: retryAt ? Math.max(1000, retryAt - at) : DEFER_MS };
        }
        if (env.dryRun || !deps.deleter) {
          report(d.reason, `would start ${d.action}: ${d.message}`);
          log.info({ request: key, action: d.action }, `dry run: would start ${d.action}`);
          return { requeueAfterMs: RECHECK_MS };
        }
        // The mark first: from here on scale-down leaves this Machine alone.
        if (mm.meta.annotations[REMEDIATION_ANNOTATION] !== r.uid) {
          try {
            await setRemediationMark(env.management, mm, r.uid, mm.meta.resourceVersion);
          } catch (e) {
            if (isConflict(e)) return { requeueAfterMs: 500 };
            throw e;
          }
        }
        const status = nextStatus(r.status, d, at);
        const verb = d.action === 'Reboot' ? 'Rebooting' : 'Reprovisioning';
        if (!(await writeStatus(r, status, { status: 'True', reason: verb, message: d.message }))) {
          admission.release(key);
          return { requeueAfterMs: 500 };
        }
        admission.started(at);
        reporter.action(cluster, d.action.toLowerCase(), 'started');
        log.info(
          { request: key, action: d.action, step: d.step, attempt: d.attempt, ...logCorrelation() },
          d.message,
        );
        await Promise.all([
          events.record(requestRef(r), 'Normal', verb, d.message),
          events.record(machineRef(mm), 'Normal', `Remediation${d.action}`, d.message),
        ]);
        if (d.action === 'Reboot') await reboot(key, r, mm, d.step, d.attempt);
        else startReprovision(key, r, mm, cluster);
        report(verb, d.message, 'wait for the Machine to be healthy');
        return { requeueAfterMs: r.steps[d.step]!.timeoutMs + 1 };
      }
      case 'wait': {
        if (d.reason === 'AttemptRunning' && step && m && !env.dryRun && deps.deleter) {
          // Level-triggered: the action of the recorded attempt must be under way (a crash may have come
          // between recording it and acting).
          if (step.action === 'Reboot') {
            const s = await reboot(key, r, m, r.status.step!, r.status.attempt!);
            report(
              s === 'answered' ? 'Rebooted' : s === 'failed' ? 'RebootRequestFailed' : 'Rebooting',
              d.message,
              'wait for the Machine to be healthy',
            );
            if (s === 'failed') return { requeueAfterMs: Math.max(100, Math.min(DEFER_MS, d.until - at)) };
          } else if (!m.meta.deletionTimestamp && !markOf(m.meta.annotations).mark) {
            const f = failures.get(key);
            const retryAt = f ? f.at + Math.min(300_000, 10_000 * 2 ** (f.count - 1)) : at;
            if (retryAt > at) {
              report('ReprovisionBackoff', `${d.message}; the last Reprovision failed`, 'retry');
              return { requeueAfterMs: Math.max(100, Math.min(retryAt, d.until) - at) };
            }
            startReprovision(key, r, m, cluster);
            report('Reprovisioning', d.message, 'wait for the replacement');
          }
        } else report(d.reason, d.message);
        return { requeueAfterMs: d.until ? Math.max(100, d.until - at) : RECHECK_MS };
      }
      case 'succeeded':
      case 'replaced':
      case 'give-up': {
        admission.release(key);
        failures.delete(key);
        if (d.kind === 'succeeded') stopAction(key, 'the Machine is healthy again');
        const status = nextStatus(r.status, d, at);
        // Only the transition writes: a final phase already recorded keeps the reason and message it
        // was recorded with (a later "AlreadyGaveUp" must not overwrite "RetriesExhausted").
        const final = status !== r.status;
        if (
          final &&
          !(await writeStatus(r, status, { status: 'False', reason: d.reason, message: d.message }))
        )
          return { requeueAfterMs: 500 };
        const recorded = findCondition(r.conditions, 'Remediating');
        report(
          final ? d.reason : (recorded?.reason ?? d.reason),
          final ? d.message : (recorded?.message ?? d.message),
          d.kind === 'give-up' ? 'left to the Machine owner' : undefined,
        );
        if (m && sameMachine && !env.dryRun) {
          if (
            d.kind === 'give-up' &&
            !m.meta.deletionTimestamp &&
            findCondition(v1beta2Conditions(m), 'OwnerRemediated')?.status !== 'False'
          )
            await handToOwner(env.management, m, `${REQUEST_KIND} ${r.name} gave up: ${d.message}`, now());
          if (!m.meta.deletionTimestamp) await dropMark(m, r);
        }
        // Healthy again: the request is done. CAPI's health check deletes it too; doing it here also
        // covers a short-circuited one, so a later failure gets a new request instead of this final one.
        if (d.kind === 'succeeded' && !env.dryRun) await deleteRequest(r);
        if (final) {
          reporter.action(cluster, 'remediation', d.kind === 'give-up' ? 'gave_up' : 'succeeded');
          await events.record(
            requestRef(r),
            d.kind === 'give-up' ? 'Warning' : 'Normal',
            d.kind === 'give-up' ? 'RemediationGaveUp' : 'RemediationSucceeded',
            d.message,
          );
        }
        return;
      }
      case 'invalid':
        report(d.reason, d.message);
        await writeStatus(r, r.status, { status: 'False', reason: d.reason, message: d.message });
        await dropMark(m, r);
        return;
    }
  }

  const controller = new Controller({
    name: 'remediation',
    workers: 2,
    log: env.log,
    metrics: env.metrics,
    reconcile,
    trace: (key) => ({ attributes: { 'capi_autopilot.remediation_request': key } }),
    onActiveChange: (active) => {
      if (!active) {
        // The new leader continues from the objects (the delete protocol's recovery, the recorded attempt).
        abort.abort();
        abort = new AbortController();
        return;
      }
      for (const o of requests.list()) controller.enqueue(objectKey(o));
    },
    onStop: async () => {
      abort.abort();
      await Promise.allSettled([...inFlight.values()].map((f) => f.run));
    },
  });
  requests.onChange((_t, o) => controller.enqueue(objectKey(o)));
  // A Machine's health or deletion decides a request of the same name; our mark on a Machine whose
  // request is gone must go too.
  machines.onChange((_t, o) => {
    const key = objectKey(o);
    if (requests.get(key) || REMEDIATION_ANNOTATION in (o.metadata.annotations ?? {}))
      controller.enqueue(key);
  });
  const healthChecks = cfg.mode === 'standalone' ? [createHealthCheckController(env, reporter)] : [];
  return { controllers: [...healthChecks, controller], reporter };
}
