// Standalone mode: this service plays CAPI's MachineHealthCheck controller (the sandbox has none). Each
// reconcile evaluates one MachineHealthCheck from the caches (health.ts), plans its writes (mhc-plan.ts)
// and makes them: the MHC status and conditions, the Machines' HealthCheckSucceeded and remediation
// conditions, remediation requests created from the template and deleted when the Machine is healthy.
import { conditionsPatch, fromObjectOfKind, mhcStatusPatch } from '../capi/adapters/index.ts';
import { conditionsJson } from '../capi/adapters/patches.ts';
import type { Condition, Machine, MachineHealthCheck } from '../capi/types.ts';
import { EventRecorder, type ObjectRef } from '../kube/events.ts';
import { isConflict, KubeError } from '../kube/errors.ts';
import { objectKey, type KubeObject } from '../kube/informer.ts';
import { kindPath } from '../kube/apipath.ts';
import { capiObjectPath } from '../machines/snapshot.ts';
import { Controller } from '../runtime/controller.ts';
import type { ControllerEnv } from '../service.ts';
import { REMEDIATION_API_VERSION, REQUEST_KIND, REQUEST_RESOURCE } from './contract.ts';
import { evaluateHealth } from './health.ts';
import { planMhc, type MhcPlan } from './mhc-plan.ts';
import type { RemediationReporter, UnhealthyMachine } from './report.ts';
import { machineRef } from './actions.ts';
import { buildRequest, requestKindOf } from './request.ts';
import { clusterFactsOf, type NodeFacts } from './types.ts';

const RECHECK_MS = 60_000;

interface CreationFailure {
  reason: 'RemediationTemplateNotFound' | 'RemediationRequestCreationFailed';
  message: string;
}
const WAIT_MS = 5_000;
const RETRY_CREATE_MS = 10_000;

export function createHealthCheckController(env: ControllerEnv, reporter: RemediationReporter): Controller {
  const log = env.log.child({ controller: 'machine-health-check' });
  const mgmt = (r: string) => env.informers.get(`management/${r}`)!;
  const mhcs = mgmt('machinehealthchecks');
  const machines = mgmt('machines');
  const clusters = mgmt('clusters');
  const requests = mgmt(REQUEST_RESOURCE);
  const events = new EventRecorder(env.management, {
    onError: (e) => log.debug({ err: e.message }, 'event not recorded'),
  });

  const nodesOf = (cluster: string): { available: boolean; nodes: Map<string, NodeFacts> } => {
    const inf = env.informers.get(`${cluster}/nodes`);
    const nodes = new Map<string, NodeFacts>();
    if (!inf?.hasSynced()) return { available: false, nodes };
    for (const n of inf.list()) {
      const st = (n as { status?: { conditions?: NodeFacts['conditions'] } }).status;
      nodes.set(n.metadata.name, {
        name: n.metadata.name,
        ...(n.metadata.deletionTimestamp ? { deletionTimestamp: n.metadata.deletionTimestamp } : {}),
        conditions: Array.isArray(st?.conditions) ? st.conditions : [],
      });
    }
    return { available: true, nodes };
  };

  /** Remediation requests of the template's kind in the namespace: ours from the cache, others listed. */
  async function requestsOf(mhc: MachineHealthCheck): Promise<Map<string, { deleting: boolean }>> {
    const out = new Map<string, { deleting: boolean }>();
    const t = mhc.remediationTemplate;
    if (!t) return out;
    const kind = requestKindOf(t.kind);
    const ns = mhc.meta.namespace;
    const list: KubeObject[] =
      kind === REQUEST_KIND && t.apiVersion === REMEDIATION_API_VERSION
        ? requests.list().filter((o) => o.metadata.namespace === ns)
        : ((await env.management.get<{ items?: KubeObject[] }>(kindPath(t.apiVersion, ns, kind))).items ??
          []);
    for (const o of list) out.set(o.metadata.name, { deleting: o.metadata.deletionTimestamp != null });
    return out;
  }

  /** Creates the request; on failure CAPI's ExternallyRemediated reason and the message. */
  async function createRequest(mhc: MachineHealthCheck, m: Machine): Promise<CreationFailure | undefined> {
    const t = mhc.remediationTemplate!;
    const ns = mhc.meta.namespace;
    const template = await env.management.getOrNull(kindPath(t.apiVersion, ns, t.kind, t.name));
    if (!template)
      return { reason: 'RemediationTemplateNotFound', message: `${t.kind} ${ns}/${t.name} not found` };
    const built = buildRequest(
      template,
      t,
      { namespace: ns, name: m.meta.name, uid: m.meta.uid, clusterName: m.clusterName },
      env.capiVersion,
    );
    if ('error' in built) return { reason: 'RemediationRequestCreationFailed', message: built.error };
    try {
      await env.management.create(kindPath(t.apiVersion, ns, requestKindOf(t.kind)), built.object);
    } catch (e) {
      // Made by an earlier reconcile whose cache update has not arrived: that is the outcome we wanted.
      if (e instanceof KubeError && e.reason === 'AlreadyExists') return undefined;
      return { reason: 'RemediationRequestCreationFailed', message: (e as Error).message };
    }
    return undefined;
  }

  async function apply(
    mhc: MachineHealthCheck,
    plan: MhcPlan,
    byName: Map<string, Machine>,
  ): Promise<{ conflict: boolean; failed: number }> {
    const ns = mhc.meta.namespace;
    const mhcRef: ObjectRef = {
      apiVersion: `cluster.x-k8s.io/${mhc.version}`,
      kind: 'MachineHealthCheck',
      namespace: ns,
      name: mhc.meta.name,
      uid: mhc.meta.uid,
    };
    const failed = new Map<string, CreationFailure>();
    for (const name of plan.createRequests) {
      const m = byName.get(name);
      if (!m) continue;
      const problem = await createRequest(mhc, m);
      if (!problem) continue;
      failed.set(name, problem);
      log.warn(
        { mhc: mhc.meta.name, machine: name, reason: problem.reason, err: problem.message },
        'remediation request not created',
      );
      await events.record(machineRef(m), 'Warning', problem.reason, problem.message);
    }
    for (const name of plan.deleteRequests) {
      const t = mhc.remediationTemplate!;
      try {
        await env.management.delete(kindPath(t.apiVersion, ns, requestKindOf(t.kind), name));
      } catch (e) {
        if (!(e instanceof KubeError && e.kind === 'NotFound')) throw e;
      }
    }
    let conflict = false;
    for (const mc of plan.machineConditions) {
      const m = byName.get(mc.machine);
      if (!m) continue;
      // No request: ExternallyRemediated says why instead of WaitingForRemediation (as CAPI does).
      const f = failed.get(mc.machine);
      const fix = (l: readonly Condition[]) =>
        f ? l.map((c) => (c.type === 'ExternallyRemediated' ? { ...c, ...f } : c)) : l;
      const p = conditionsPatch(m.version, fix(mc.conditions), {
        otherVersion: fix(mc.otherVersionConditions),
        ...(mc.resourceVersion ? { resourceVersion: mc.resourceVersion } : {}),
      });
      try {
        await env.management.mergePatch(
          capiObjectPath(m.version, 'machines', ns, m.meta.name) + p.pathSuffix,
          p.body,
        );
      } catch (e) {
        if (!isConflict(e)) throw e;
        conflict = true;
      }
    }
    if (plan.status) {
      const { otherVersionConditions, ...u } = plan.status;
      const p = mhcStatusPatch(mhc.version, u);
      const status = p.body.status as Record<string, unknown>;
      const mirror = conditionsJson(
        mhc.version === 'v1beta1' ? 'v1beta2' : 'v1beta1',
        otherVersionConditions,
      );
      if (mhc.version === 'v1beta1') status['v1beta2'] = { conditions: mirror };
      else status['deprecated'] = { v1beta1: { conditions: mirror } };
      await env.management.mergePatch(
        capiObjectPath(mhc.version, 'machinehealthchecks', ns, mhc.meta.name) + p.pathSuffix,
        p.body,
      );
    }
    for (const ev of plan.events) {
      const ref =
        ev.on.kind === 'MachineHealthCheck'
          ? mhcRef
          : byName.get(ev.on.name) && machineRef(byName.get(ev.on.name)!);
      if (ref) await events.record(ref, ev.type, ev.reason, ev.message);
    }
    return { conflict, failed: failed.size };
  }

  async function reconcile(key: string) {
    const raw = mhcs.get(key);
    if (!raw) {
      reporter.forgetHealthCheck(key);
      return;
    }
    let mhc: MachineHealthCheck;
    try {
      mhc = fromObjectOfKind(raw, 'MachineHealthCheck');
    } catch (e) {
      log.warn({ mhc: key, err: (e as Error).message }, 'MachineHealthCheck unreadable: not evaluated');
      return;
    }
    const ns = mhc.meta.namespace;
    const clusterKey = `${ns}/${mhc.clusterName}`;
    const rawCluster = clusters.get(clusterKey);
    if (!rawCluster) return { requeueAfterMs: WAIT_MS };
    const cluster = fromObjectOfKind(rawCluster, 'Cluster');
    const all: Machine[] = [];
    for (const o of machines.list()) {
      if (o.metadata.namespace !== ns) continue;
      try {
        all.push(fromObjectOfKind(o, 'Machine'));
      } catch (e) {
        log.warn(
          { machine: o.metadata.name, err: (e as Error).message },
          'Machine unreadable: not health checked',
        );
      }
    }
    const { available, nodes } = nodesOf(clusterKey);
    const now = new Date();
    const evaluation = evaluateHealth({
      mhc,
      cluster: clusterFactsOf(cluster),
      machines: all,
      nodes,
      nodeCacheAvailable: available,
      now: now.getTime(),
    });
    const plan = planMhc({ mhc, evaluation, machines: all, requests: await requestsOf(mhc), now });
    if (env.dryRun) log.info({ mhc: key, plan: summary(plan) }, 'dry run: health check writes not made');
    const { conflict, failed } = env.dryRun
      ? { conflict: false, failed: 0 }
      : await apply(mhc, plan, new Map(all.map((m) => [m.meta.name, m])));
    reporter.healthCheck(key, reportOf(clusterKey, evaluation, plan, mhc));
    if (conflict) return { requeueAfterMs: 200 };
    // A template created later is not watched: look again soon.
    if (failed > 0) return { requeueAfterMs: RETRY_CREATE_MS };
    const next = evaluation.ok ? evaluation.nextCheckAt : undefined;
    return { requeueAfterMs: next ? Math.max(100, Math.min(RECHECK_MS, next - now.getTime())) : RECHECK_MS };
  }

  const controller = new Controller({
    name: 'machine-health-check',
    workers: 2,
    log: env.log,
    metrics: env.metrics,
    reconcile,
    trace: (key) => ({ attributes: { 'capi_autopilot.machine_health_check': key } }),
    onActiveChange: (active) => {
      if (active) for (const o of mhcs.list()) controller.enqueue(objectKey(o));
    },
  });
  const byNamespace = (ns: string | undefined, clusterName?: string) => {
    for (const o of mhcs.list()) {
      if (o.metadata.namespace !== ns) continue;
      const c = (o as { spec?: { clusterName?: string } }).spec?.clusterName;
      if (clusterName === undefined || c === clusterName) controller.enqueue(objectKey(o));
    }
  };
  mhcs.onChange((_t, o) => controller.enqueue(objectKey(o)));
  machines.onChange((_t, o) => byNamespace(o.metadata.namespace));
  clusters.onChange((_t, o) => byNamespace(o.metadata.namespace, o.metadata.name));
  requests.onChange((_t, o) => byNamespace(o.metadata.namespace));
  env.onWorkloadConnected((cluster, wi) => {
    const [ns, name] = cluster.split('/') as [string, string];
    byNamespace(ns, name);
    wi.nodes.onChange(() => byNamespace(ns, name));
  });
  return controller;
}

const summary = (p: MhcPlan) => ({
  status: p.status !== undefined,
  machines: p.machineConditions.map((m) => m.machine),
  create: p.createRequests,
  delete: p.deleteRequests,
});

function reportOf(
  cluster: string,
  e: ReturnType<typeof evaluateHealth>,
  plan: MhcPlan,
  mhc: MachineHealthCheck,
) {
  const allowed = plan.allowed;
  if (!e.ok)
    return {
      cluster,
      expectedMachines: 0,
      currentHealthy: 0,
      remediationAllowed: false,
      reason: e.code,
      message: e.message,
      unhealthy: [],
    };
  const unhealthy: UnhealthyMachine[] = e.targets
    .filter((t) => t.state === 'unhealthy')
    .map((t) => ({
      machine: t.machine,
      ...(t.node ? { node: t.node } : {}),
      reason: t.code,
      message: t.message,
      next: e.paused
        ? `nothing while paused (${e.paused})`
        : allowed && !allowed.allowed
          ? `nothing until fewer Machines are unhealthy (${allowed.reason})`
          : mhc.remediationTemplate
            ? `remediation request ${requestKindOf(mhc.remediationTemplate.kind)} ${t.machine}`
            : 'its owner (OwnerRemediated=False) deletes and replaces it',
    }));
  return {
    cluster,
    expectedMachines: e.expectedMachines,
    currentHealthy: e.currentHealthy,
    remediationAllowed: !e.paused && (allowed?.allowed ?? true),
    reason: e.paused ? 'Paused' : (allowed?.reason ?? 'RemediationAllowed'),
    message: e.paused ?? allowed?.message ?? '',
    unhealthy,
    ...(e.nextCheckAt ? { nextCheckAt: new Date(e.nextCheckAt).toISOString() } : {}),
  };
}
