// Companion mode on a v1beta1 management cluster: CAPI's MachineHealthCheck decides, this service only acts
// as the external remediator of AutopilotRemediation requests. The test plays CAPI exactly as its contract
// says (CAPI-FACTS §4.3), with its own code: it marks the Machine (HealthCheckSucceeded=False,
// ExternallyRemediated=False in both condition lists), creates the request from the template (name and
// namespace of the Machine, owner reference to it) and deletes it when the Machine is healthy again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromObject } from '../../src/capi/adapters/index.ts';
import type { Machine } from '../../src/capi/types.ts';
import { REMEDIATION_ANNOTATION } from '../../src/machines/records.ts';
import { REBOOTED_ANNOTATION } from '../../src/remediation/contract.ts';
import type { Service } from '../../src/service.ts';
import { metricValue } from './support/autoscaler.ts';
import { useSimulator } from './support/capi.ts';
import { clusterApi, eventually } from './support/kube.ts';
import {
  remediationCluster,
  remediationPath,
  remediationService,
  remediationTemplate,
  type Step,
} from './support/remediation.ts';

type Cond = {
  type: string;
  status: string;
  reason?: string;
  severity?: string;
  message?: string;
  lastTransitionTime?: string;
};
interface Obj {
  metadata: { name: string; uid: string; resourceVersion: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown> & { conditions?: Cond[]; v1beta2?: { conditions?: Cond[] } };
}
interface Event {
  reason: string;
  involvedObject: { name: string; kind: string };
}

const V = 'v1beta1';
const capi = (ns: string, r: string, name = '') =>
  `/apis/cluster.x-k8s.io/${V}/namespaces/${ns}/${r}${name ? `/${name}` : ''}`;
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

describe('remediation: companion mode, the test plays CAPI (v1beta1)', () => {
  const env = useSimulator(V, { rebootDelayMs: 1000 });
  const workload = clusterApi();
  let svc: Service;

  beforeAll(async () => {
    ({ svc } = await remediationService(env, [
      'remediation.mode=companion',
      'remediation.maxConcurrentPerGroup=1',
      'remediation.stormMinUnhealthy=3',
      'remediation.stormThreshold=0.5',
      'remediation.stormCooldown=15s',
    ]));
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const api = () => env.mgmt.api;
  const machines = async (ns: string) =>
    (await api().ok<{ items: unknown[] }>('GET', capi(ns, 'machines'))).items.map(
      (o) => fromObject(o) as Machine,
    );
  const request = (ns: string, name: string) =>
    api().req<Obj>('GET', remediationPath(ns, 'autopilotremediations', name));
  const remediating = (r: Obj) => r.status?.conditions?.find((c) => c.type === 'Remediating');

  async function running(replicas: number, steps: Step[]) {
    const { ns } = await remediationCluster(env.mgmt, replicas);
    await remediationTemplate(env.mgmt, ns, 'escalate', steps);
    const ms = await eventually(
      `${replicas} Running machines with nodes`,
      async () => {
        const l = (await machines(ns)).filter((m) => m.phase === 'Running' && m.nodeRef);
        return l.length === replicas && l.sort((a, b) => a.meta.name.localeCompare(b.meta.name));
      },
      90_000,
    );
    return { ns, ms };
  }

  /** A node NotReady that no reboot helps (the simulator's faults). */
  async function brokenForGood(ns: string, m: Machine) {
    await env.sim.setMachineFault(ns, m.meta.name, 'rebootDoesNotHelp');
    await env.sim.setNodeCondition(m.nodeRef!, 'Ready', 'False', 'KubeletNotReady');
  }

  // ---- CAPI's MachineHealthCheck, as the contract has it ----

  /** Sets conditions on a v1beta1 Machine: status.conditions (CAPI shape) and status.v1beta2.conditions. */
  async function setConditions(ns: string, name: string, set: Array<Omit<Cond, 'lastTransitionTime'>>) {
    await eventually(`conditions written on ${name}`, async () => {
      const m = await api().ok<Obj>('GET', capi(ns, 'machines', name));
      const merge = (list: Cond[] | undefined, v1beta1: boolean) => {
        const out = [...(list ?? [])];
        for (const c of set) {
          const shaped: Cond = v1beta1
            ? {
                type: c.type,
                status: c.status,
                ...(c.status === 'False' ? { severity: 'Warning', reason: c.reason } : {}),
              }
            : { type: c.type, status: c.status, reason: c.reason ?? c.type, message: c.message ?? '' };
          const i = out.findIndex((x) => x.type === c.type);
          const prev = out[i];
          const ltt = prev && prev.status === c.status ? prev.lastTransitionTime : now();
          if (i >= 0) out[i] = { ...shaped, lastTransitionTime: ltt };
          else out.push({ ...shaped, lastTransitionTime: ltt });
        }
        return out;
      };
      const r = await api().req(
        'PATCH',
        `${capi(ns, 'machines', name)}/status`,
        {
          metadata: { resourceVersion: m.metadata.resourceVersion },
          status: {
            conditions: merge(m.status?.conditions, true),
            v1beta2: { conditions: merge(m.status?.v1beta2?.conditions, false) },
          },
        },
        'application/merge-patch+json',
      );
      return r.status === 200; // 409: the simulator wrote meanwhile; read again
    });
  }

  /** patchUnhealthyTargets with a templateRef: mark, then create the request from the template. */
  async function capiMarksUnhealthy(ns: string, m: Machine) {
    await setConditions(ns, m.meta.name, [
      {
        type: 'HealthCheckSucceeded',
        status: 'False',
        reason: 'UnhealthyNode',
        message: 'Node is not Ready',
      },
    ]);
    const t = await api().ok<{ spec: { template: { spec: unknown } } }>(
      'GET',
      remediationPath(ns, 'autopilotremediationtemplates', 'escalate'),
    );
    await api().ok('POST', remediationPath(ns, 'autopilotremediations'), {
      apiVersion: 'remediation.capi-autopilot.io/v1alpha1',
      kind: 'AutopilotRemediation',
      metadata: {
        name: m.meta.name,
        namespace: ns,
        labels: { 'cluster.x-k8s.io/cluster-name': 'c1' },
        annotations: {
          'cluster.x-k8s.io/cloned-from-name': 'escalate',
          'cluster.x-k8s.io/cloned-from-groupkind':
            'AutopilotRemediationTemplate.remediation.capi-autopilot.io',
        },
        ownerReferences: [
          { apiVersion: `cluster.x-k8s.io/${V}`, kind: 'Machine', name: m.meta.name, uid: m.meta.uid },
        ],
      },
      spec: t.spec.template.spec,
    });
    await setConditions(ns, m.meta.name, [
      { type: 'ExternallyRemediated', status: 'False', reason: 'WaitingForRemediation' },
    ]);
  }

  /** patchHealthyTargets: HealthCheckSucceeded=True and the request deleted. */
  async function capiSeesHealthy(ns: string, name: string) {
    await setConditions(ns, name, [
      { type: 'HealthCheckSucceeded', status: 'True', reason: 'HealthCheckSucceeded' },
    ]);
    await api().req('DELETE', remediationPath(ns, 'autopilotremediations', name));
  }

  it(
    'a reboot that does not help, with no further step, gives up and hands the Machine to its owner (OwnerRemediated=False)',
    { timeout: 180_000 },
    async () => {
      const {
        ns,
        ms: [m],
      } = await running(2, [{ action: 'Reboot', timeout: '4s' }]);
      await brokenForGood(ns, m!);
      await capiMarksUnhealthy(ns, m!);
      const req = await eventually(
        'the request gave up',
        async () => {
          const r = await request(ns, m!.meta.name);
          return r.status === 200 && r.body.status?.phase === 'GaveUp' && r.body;
        },
        // Seconds alone; over 60 s once in a full CI run on 2 cores (the deploy suites add a cluster).
        120_000,
      );
      expect(remediating(req)).toMatchObject({ status: 'False', reason: 'RetriesExhausted' });
      expect(req.status?.lastFailure).toMatch(/Reboot/);
      const infra = await api().ok<Obj>(
        'GET',
        `/apis/infrastructure.sandbox.capi-autopilot.io/v1alpha1/namespaces/${ns}/sandboxmachines/${m!.infrastructureRef.name}`,
      );
      expect(infra.metadata.annotations?.[REBOOTED_ANNOTATION], 'the reboot was asked for and answered').toBe(
        `${req.metadata.uid}/0/1`,
      );
      const after = await eventually('OwnerRemediated=False and our mark gone', async () => {
        const x = await api().ok<Obj>('GET', capi(ns, 'machines', m!.meta.name));
        const own = x.status?.conditions?.find((c) => c.type === 'OwnerRemediated');
        return own?.status === 'False' && !(REMEDIATION_ANNOTATION in (x.metadata.annotations ?? {})) && x;
      });
      // v1beta1: CAPI shape with severity; the v1beta2 mirror in metav1 shape.
      expect(after.status?.conditions?.find((c) => c.type === 'OwnerRemediated')).toMatchObject({
        reason: 'WaitingForRemediation',
        severity: 'Warning',
      });
      expect(after.status?.v1beta2?.conditions?.find((c) => c.type === 'OwnerRemediated')).toMatchObject({
        status: 'False',
        reason: 'WaitingForRemediation',
      });
      const evs = (await api().ok<{ items: Event[] }>('GET', `/api/v1/namespaces/${ns}/events`)).items;
      expect(
        evs.some((e) => e.reason === 'RemediationGaveUp' && e.involvedObject.name === m!.meta.name),
      ).toBe(true);
      expect(
        await metricValue(svc, 'remediations_total', 'phase="remediation",result="gave_up"'),
      ).toBeGreaterThanOrEqual(1);
      // Nothing deleted it: that is the owner's part (CAPI's MachineSet), not ours.
      expect((await machines(ns)).some((x) => x.meta.uid === m!.meta.uid)).toBe(true);
    },
  );

  it(
    'skip-remediation added while a remediation runs holds it (no hand-off to the owner) until it is removed',
    { timeout: 180_000 },
    async () => {
      const {
        ns,
        ms: [m],
      } = await running(2, [{ action: 'Reboot', timeout: '4s' }]);
      await brokenForGood(ns, m!);
      await capiMarksUnhealthy(ns, m!);
      await eventually('the reboot running', async () => {
        const r = await request(ns, m!.meta.name);
        return r.status === 200 && r.body.status?.phase === 'Running';
      });
      await api().mergePatch(capi(ns, 'machines', m!.meta.name), {
        metadata: { annotations: { 'cluster.x-k8s.io/skip-remediation': '' } },
      });
      await eventually('the request held by skip-remediation', async () => {
        const r = await request(ns, m!.meta.name);
        return r.status === 200 && remediating(r.body)?.reason === 'SkipRemediation';
      });
      // Past the reboot's 4 s timeout: held, so no giving up and no OwnerRemediated.
      await new Promise((r) => setTimeout(r, 6000));
      const held = await request(ns, m!.meta.name);
      expect(held.body.status?.phase).toBe('Running');
      const x = await api().ok<Obj>('GET', capi(ns, 'machines', m!.meta.name));
      expect(x.status?.conditions?.find((c) => c.type === 'OwnerRemediated')).toBeUndefined();
      await api().mergePatch(capi(ns, 'machines', m!.meta.name), {
        metadata: { annotations: { 'cluster.x-k8s.io/skip-remediation': null } },
      });
      await eventually('giving up once the hold is gone', async () => {
        const r = await request(ns, m!.meta.name);
        return r.status === 200 && r.body.status?.phase === 'GaveUp';
      });
    },
  );

  it(
    'one remediation at a time per group: the second waits (MaxPerGroup) until the first is done',
    { timeout: 180_000 },
    async () => {
      const { ns, ms } = await running(3, [{ action: 'Reboot', timeout: '2m' }]);
      const [a, b] = ms;
      for (const m of [a, b]) {
        await brokenForGood(ns, m!);
      }
      // Both at once: the second must not slip in before the first's Running status reaches the cache.
      await Promise.all([capiMarksUnhealthy(ns, a!), capiMarksUnhealthy(ns, b!)]);
      const [first, second] = await eventually(
        'one request running, the other deferred by the group limit',
        async () => {
          const rs = await Promise.all([a, b].map((m) => request(ns, m!.meta.name)));
          if (rs.some((r) => r.status !== 200)) return false;
          const run = rs.filter((r) => r.body.status?.phase === 'Running');
          const wait = rs.filter((r) => remediating(r.body)?.reason === 'MaxPerGroup');
          return run.length === 1 && wait.length === 1 && [run[0]!.body, wait[0]!.body];
        },
      );
      // Still exactly one a few seconds later (both requests are reconciled again meanwhile).
      await new Promise((r) => setTimeout(r, 3000));
      const again = await Promise.all([a, b].map((m) => request(ns, m!.meta.name)));
      expect(again.filter((r) => r.body.status?.phase === 'Running')).toHaveLength(1);
      expect(second.status?.phase ?? 'Pending').toBe('Pending');
      expect(
        await metricValue(svc, 'remediations_deferred_total', 'reason="MaxPerGroup"'),
      ).toBeGreaterThanOrEqual(1);
      const [done, next] = first.metadata.name === a!.meta.name ? [a!, b!] : [b!, a!];
      // The first Machine recovers (CAPI sees it healthy and deletes its request): the second may start.
      await capiSeesHealthy(ns, done.meta.name);
      await eventually(
        'the second request running',
        async () => {
          const r = await request(ns, next.meta.name);
          return r.status === 200 && r.body.status?.phase === 'Running';
        },
        60_000,
      );
      await eventually('our mark off the first Machine', async () => {
        const x = (await machines(ns)).find((y) => y.meta.uid === done.meta.uid);
        return x && !(REMEDIATION_ANNOTATION in x.meta.annotations);
      });
    },
  );

  it(
    'a storm (3 of 4 Machines unhealthy) starts nothing; after it ends, a cool-down, then remediation',
    { timeout: 180_000 },
    async () => {
      const { ns, ms } = await running(4, [{ action: 'Reboot', timeout: '1m' }]);
      const [a, b, c] = ms;
      await env.sim.setNodeCondition(a!.nodeRef!, 'Ready', 'False', 'KubeletNotReady');
      for (const m of [b, c])
        await setConditions(ns, m!.meta.name, [
          { type: 'HealthCheckSucceeded', status: 'False', reason: 'UnhealthyNode' },
        ]);
      await capiMarksUnhealthy(ns, a!);
      await eventually('the request deferred by the storm', async () => {
        const r = await request(ns, a!.meta.name);
        return r.status === 200 && remediating(r.body)?.reason === 'Storm';
      });
      expect(await metricValue(svc, 'remediation_storm', `cluster="${ns}/c1"`)).toBe(1);
      // Two recover: 1 of 4 is no storm, but the cool-down holds new starts for 15 s more.
      for (const m of [b, c]) await capiSeesHealthy(ns, m!.meta.name);
      await eventually(
        'the cool-down',
        async () => {
          const r = await request(ns, a!.meta.name);
          return r.status === 200 && remediating(r.body)?.reason === 'StormCooldown';
        },
        30_000,
      );
      expect((await request(ns, a!.meta.name)).body.status?.phase).toBe('Pending');
      const started = await eventually(
        'the reboot after the cool-down',
        async () => {
          const r = await request(ns, a!.meta.name);
          return r.status === 200 && r.body.status?.phase === 'Running' && r.body;
        },
        40_000,
      );
      expect(started.status?.action).toBe('Reboot');
      expect(await metricValue(svc, 'remediation_storm', `cluster="${ns}/c1"`)).toBe(0);
      // The reboot helps (no fault on a): Node Ready again; CAPI then deletes the request.
      await eventually(
        'the node Ready again',
        async () => {
          const n = await workload.ok<Obj>('GET', `/api/v1/nodes/${a!.nodeRef}`);
          return n.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True';
        },
        30_000,
      );
    },
  );
});
