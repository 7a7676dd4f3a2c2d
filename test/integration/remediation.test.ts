// Machine health checking and remediation on the real cluster (standalone mode): the service evaluates a
// MachineHealthCheck against real Nodes, creates AutopilotRemediation requests per CAPI's contract, and
// escalates Reboot (the simulator's infrastructure hook) → Reprovision (drain + atomic delete; the
// simulated MachineSet replaces the Machine). Faults come from the simulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromObject } from '../../src/capi/adapters/index.ts';
import { findCondition } from '../../src/capi/conditions.ts';
import type { Machine } from '../../src/capi/types.ts';
import type { MachineDeleter } from '../../src/machines/executor.ts';
import { OPERATION_ANNOTATION, REMEDIATION_ANNOTATION } from '../../src/machines/records.ts';
import { REBOOTED_ANNOTATION, REBOOT_REQUESTED_ANNOTATION } from '../../src/remediation/contract.ts';
import type { Service } from '../../src/service.ts';
import { autoscalerSuite, metricValue } from './support/autoscaler.ts';
import { useSimulator } from './support/capi.ts';
import { clusterApi, eventually } from './support/kube.ts';
import {
  healthCheck,
  mgmtPath,
  remediationPath,
  remediationService,
  remediationTemplate,
} from './support/remediation.ts';

interface Obj {
  metadata: {
    name: string;
    uid: string;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; uid: string }>;
  };
  status?: Record<string, unknown> & {
    conditions?: Array<{ type: string; status: string; reason?: string }>;
  };
}
interface Event {
  reason: string;
  message: string;
  involvedObject: { name: string; kind: string };
}

const INFRA = '/apis/infrastructure.sandbox.capi-autopilot.io/v1alpha1/namespaces';

describe('remediation: health checks, escalation and storm protection (standalone, v1beta2)', () => {
  // Provisioning takes 2 s, so a test can put a fault on a new Machine before its Node joins; a reboot
  // takes 3 s, so a test sees the request Running before the healed Machine's request is deleted.
  const env = useSimulator('v1beta2', { provisioningDelayMs: 2000, rebootDelayMs: 3000 });
  const workload = clusterApi();
  const suite = autoscalerSuite(env, 'remediation');
  let svc: Service;
  let deleter: () => MachineDeleter;

  beforeAll(async () => {
    ({ svc, deleter } = await remediationService(env, [
      'remediation.stormMinUnhealthy=10',
      'remediation.maxConcurrentPerGroup=3',
      // Every test starts remediations; the rate limit is not what this file tests.
      'remediation.maxStarts=100',
    ]));
  });
  afterAll(async () => {
    await svc?.stop();
  });

  // ---- helpers ----
  const api = () => env.mgmt.api;
  const machines = async (ns: string) =>
    (await api().ok<{ items: unknown[] }>('GET', mgmtPath(ns, 'machines'))).items.map(
      (o) => fromObject(o) as Machine,
    );
  const nodeReady = async (node: string) =>
    (await workload.ok<Obj>('GET', `/api/v1/nodes/${node}`)).status?.conditions?.find(
      (c) => c.type === 'Ready',
    )?.status;
  /** A cluster with md-a at `replicas` Machines, all Running with Ready nodes, and a health check. */
  async function setup(
    replicas: number,
    hc: Parameters<typeof healthCheck>[2],
    steps?: Parameters<typeof remediationTemplate>[3],
  ) {
    const { ns } = await suite.cluster({ replicas, prefix: 'rem' });
    if (steps) await remediationTemplate(env.mgmt, ns, 'escalate', steps);
    await healthCheck(env.mgmt, ns, { ...(steps ? { template: 'escalate' } : {}), ...hc });
    const ms = await eventually(
      `${replicas} Running machines with Ready nodes`,
      async () => {
        const l = (await machines(ns)).filter((m) => m.phase === 'Running' && m.nodeRef);
        if (l.length !== replicas) return false;
        for (const m of l) if ((await nodeReady(m.nodeRef!)) !== 'True') return false;
        return l;
      },
      90_000,
    );
    await eventually('the health check to count them healthy', async () => {
      const mhc = await api().ok<Obj>('GET', mgmtPath(ns, 'machinehealthchecks', 'mhc'));
      return mhc.status?.currentHealthy === replicas;
    });
    return { ns, machines: ms.sort((a, b) => a.meta.name.localeCompare(b.meta.name)) };
  }
  const request = (ns: string, name: string) =>
    api().req<Obj>('GET', remediationPath(ns, 'autopilotremediations', name));
  const infraOf = (ns: string, m: Machine) =>
    api().ok<Obj>('GET', `${INFRA}/${ns}/sandboxmachines/${m.infrastructureRef.name}`);
  const events = async (ns: string) =>
    (await api().ok<{ items: Event[] }>('GET', `/api/v1/namespaces/${ns}/events`)).items;
  const condition = (o: Obj, type: string) => o.status?.conditions?.find((c) => c.type === type);
  const remediating = (o: Obj) => condition(o, 'Remediating');
  const mdReplicas = async (ns: string) =>
    (await api().ok<{ spec: { replicas: number } }>('GET', mgmtPath(ns, 'machinedeployments', 'md-a'))).spec
      .replicas;

  it(
    'a NotReady node is rebooted, becomes healthy, and its request is removed',
    { timeout: 180_000 },
    async () => {
      const {
        ns,
        machines: [m],
      } = await setup(2, {}, [
        { action: 'Reboot', timeout: '30s' },
        { action: 'Reprovision', timeout: '2m' },
      ]);
      await env.sim.setNodeCondition(m!.nodeRef!, 'Ready', 'False', 'KubeletNotReady');
      const req = await eventually('a Running request named after the Machine', async () => {
        const r = await request(ns, m!.meta.name);
        return r.status === 200 && r.body.status?.phase === 'Running' && r.body;
      });
      expect(req.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Machine', uid: m!.meta.uid });
      expect(req.status?.action).toBe('Reboot');
      await eventually(
        'the request to be deleted by the health check',
        async () => {
          const r = await request(ns, m!.meta.name);
          return r.status === 404;
        },
        60_000,
      );
      expect(await nodeReady(m!.nodeRef!)).toBe('True');
      const infra = await infraOf(ns, m!);
      const token = `${req.metadata.uid}/0/1`;
      expect(infra.metadata.annotations?.[REBOOT_REQUESTED_ANNOTATION]).toBe(token);
      expect(infra.metadata.annotations?.[REBOOTED_ANNOTATION]).toBe(token);
      // The health check deletes the request before it patches the Machine's conditions (CAPI's order too).
      await eventually('the same Machine, not a replacement, healthy again', async () => {
        const after = (await machines(ns)).find((x) => x.meta.uid === m!.meta.uid);
        return findCondition(after?.conditions ?? [], 'HealthCheckSucceeded')?.status === 'True';
      });
      await eventually('our remediation mark gone from the Machine', async () => {
        const x = (await machines(ns)).find((y) => y.meta.uid === m!.meta.uid);
        return x && !(REMEDIATION_ANNOTATION in x.meta.annotations);
      });
      const evs = await events(ns);
      expect(
        evs.some((e) => e.reason === 'MachineMarkedUnhealthy' && e.involvedObject.name === m!.meta.name),
      ).toBe(true);
      expect(
        evs.some((e) => e.reason === 'Rebooting' && e.involvedObject.kind === 'AutopilotRemediation'),
      ).toBe(true);
      expect(
        await metricValue(svc, 'remediations_total', 'phase="reboot",result="started"'),
      ).toBeGreaterThanOrEqual(1);
    },
  );

  it(
    'a node a reboot does not help is reprovisioned: a new Machine runs, the old one is gone, replicas unchanged',
    { timeout: 240_000 },
    async () => {
      const {
        ns,
        machines: [m, other],
      } = await setup(2, {}, [
        { action: 'Reboot', timeout: '5s' },
        { action: 'Reprovision', timeout: '3m' },
      ]);
      await env.sim.setMachineFault(ns, m!.meta.name, 'rebootDoesNotHelp');
      await env.sim.setNodeCondition(m!.nodeRef!, 'Ready', 'False', 'KubeletNotReady');
      await eventually(
        'the request to escalate to Reprovision',
        async () => {
          const r = await request(ns, m!.meta.name);
          return r.status === 200 && r.body.status?.action === 'Reprovision';
        },
        60_000,
      );
      const replacement = await eventually(
        'the old Machine gone and a new one Running',
        async () => {
          const l = await machines(ns);
          if (l.some((x) => x.meta.uid === m!.meta.uid)) return false;
          const fresh = l.filter((x) => x.meta.uid !== other!.meta.uid && x.phase === 'Running' && x.nodeRef);
          return fresh.length === 1 && fresh[0];
        },
        150_000,
        500,
      );
      expect(replacement.meta.name).not.toBe(m!.meta.name);
      expect(await mdReplicas(ns)).toBe(2);
      expect((await machines(ns)).length).toBe(2);
      // No garbage collector runs on the test's management apiserver: the request stays, finished, owned
      // by the old Machine's uid (with real CAPI the collector removes it with the Machine).
      const r = await request(ns, m!.meta.name);
      expect(r.status).toBe(200);
      expect(r.body.status?.phase).toBe('Succeeded');
      expect(remediating(r.body)?.reason).toBe('Reprovisioned');
      expect(r.body.status?.lastFailure, 'the reboot was tried first and timed out').toMatch(/Reboot/);
      expect(r.body.metadata.ownerReferences?.[0]?.uid).toBe(m!.meta.uid);
      // The operation ends a moment after the Machine is gone (it releases its ledger entry).
      await eventually(
        'the reprovision counted',
        async () =>
          ((await metricValue(svc, 'remediations_total', 'phase="reprovision",result="succeeded"')) ?? 0) >=
          1,
      );
    },
  );

  it(
    'with 40 % of a group unhealthy nothing is remediated (TooManyUnhealthy), and remediation resumes when the count drops',
    { timeout: 240_000 },
    async () => {
      const { ns, machines: ms } = await setup(5, { maxUnhealthy: '30%' }, [
        { action: 'Reboot', timeout: '30s' },
      ]);
      const [a, b] = ms;
      await env.sim.setNodeCondition(a!.nodeRef!, 'Ready', 'False', 'KubeletNotReady');
      await env.sim.setNodeCondition(b!.nodeRef!, 'Ready', 'False', 'KubeletNotReady');
      const mhc = await eventually(
        'RemediationAllowed=False/TooManyUnhealthy',
        async () => {
          const o = await api().ok<Obj>('GET', mgmtPath(ns, 'machinehealthchecks', 'mhc'));
          const c = condition(o, 'RemediationAllowed');
          return c?.status === 'False' && c.reason === 'TooManyUnhealthy' && o;
        },
        60_000,
      );
      expect(mhc.status?.remediationsAllowed).toBe(0);
      expect(mhc.status?.currentHealthy).toBe(3);
      // Both are past their 2 s timeout; for 6 s more nothing may start.
      await new Promise((r) => setTimeout(r, 6000));
      for (const m of [a, b]) expect((await request(ns, m!.meta.name)).status).toBe(404);
      expect((await events(ns)).some((e) => e.reason === 'RemediationRestricted')).toBe(true);
      expect(await metricValue(svc, 'health_check_short_circuited', `machine_health_check="${ns}/mhc"`)).toBe(
        1,
      );
      // One recovers by itself: 1 of 5 is within 30 %, and the other is remediated.
      await env.sim.setHeartbeats(a!.nodeRef!, true);
      await eventually(
        'a request for the one still unhealthy',
        async () => (await request(ns, b!.meta.name)).status === 200,
        60_000,
      );
      await eventually(
        'the reboot to heal it and the request to go',
        async () => (await request(ns, b!.meta.name)).status === 404,
        60_000,
      );
      expect((await request(ns, a!.meta.name)).status).toBe(404);
      await eventually('RemediationAllowed=True again', async () => {
        const o = await api().ok<Obj>('GET', mgmtPath(ns, 'machinehealthchecks', 'mhc'));
        return condition(o, 'RemediationAllowed')?.status === 'True';
      });
    },
  );

  it(
    'a node that never joins is reprovisioned after the startup timeout; skip-remediation is honoured',
    { timeout: 240_000 },
    async () => {
      const {
        ns,
        machines: [keep],
      } = await setup(1, { nodeStartupTimeoutSeconds: 8 }, [{ action: 'Reprovision', timeout: '3m' }]);
      // A skipped Machine: unhealthy, but never a target.
      await api().mergePatch(mgmtPath(ns, 'machines', keep!.meta.name), {
        metadata: { annotations: { 'cluster.x-k8s.io/skip-remediation': '' } },
      });
      await env.sim.setNodeCondition(keep!.nodeRef!, 'Ready', 'False', 'KubeletNotReady');
      // A second Machine whose Node never joins: the fault goes on while it provisions (2 s).
      await api().mergePatch(`${mgmtPath(ns, 'machinedeployments', 'md-a')}/scale`, {
        spec: { replicas: 2 },
      });
      const stuck = await eventually(
        'the new Machine',
        async () => {
          const l = (await machines(ns)).filter((x) => x.meta.uid !== keep!.meta.uid);
          return l.length === 1 && l[0];
        },
        30_000,
        50,
      );
      await env.sim.setMachineFault(ns, stuck.meta.name, 'neverJoin');
      await eventually(
        'a request for the Machine that never joined',
        async () => (await request(ns, stuck.meta.name)).status === 200,
        60_000,
      );
      const replacement = await eventually(
        'the stuck Machine replaced by one whose Node joined',
        async () => {
          const l = await machines(ns);
          if (l.some((x) => x.meta.uid === stuck.meta.uid)) return false;
          const fresh = l.filter((x) => x.meta.uid !== keep!.meta.uid && x.nodeRef);
          return fresh.length === 1 && fresh[0];
        },
        150_000,
        500,
      );
      expect(replacement.meta.name).not.toBe(stuck.meta.name);
      expect(await mdReplicas(ns)).toBe(2);
      const skipped = (await machines(ns)).find((x) => x.meta.uid === keep!.meta.uid);
      expect(skipped, 'the skip-remediation Machine is untouched').toBeDefined();
      expect((await request(ns, keep!.meta.name)).status).toBe(404);
      const mhc = await api().ok<Obj>('GET', mgmtPath(ns, 'machinehealthchecks', 'mhc'));
      expect(mhc.status?.expectedMachines, 'a skipped Machine is not a target').toBe(1);
    },
  );

  it(
    'a Machine held by a scale-down is not remediated until the scale-down lets go, and a Machine being remediated is not scaled down',
    { timeout: 240_000 },
    async () => {
      const {
        ns,
        machines: [a, b],
      } = await setup(2, {}, [{ action: 'Reboot', timeout: '2m' }]);
      const group = { kind: 'MachineDeployment' as const, namespace: ns, name: 'md-a' };
      // A scale-down of `a` whose drain the test holds open: the protocol's mark is on the Machine.
      let release!: (reason: string | undefined) => void;
      const drained = new Promise<string | undefined>((r) => (release = r));
      const scaleDown = deleter().delete({
        namespace: ns,
        machine: a!.meta.name,
        uid: a!.meta.uid,
        group,
        purpose: 'scale-down',
        drain: () => drained,
      });
      await eventually(
        'the scale-down mark on the Machine',
        async () =>
          (await machines(ns)).find((x) => x.meta.name === a!.meta.name)?.meta.annotations[
            OPERATION_ANNOTATION
          ],
      );
      await env.sim.setNodeCondition(a!.nodeRef!, 'Ready', 'False', 'KubeletNotReady');
      const held = await eventually(
        'the request deferred for the scale-down',
        async () => {
          const r = await request(ns, a!.meta.name);
          const c = r.status === 200 ? condition(r.body, 'Remediating') : undefined;
          return c?.reason === 'HeldByScaleDown' && r.body;
        },
        60_000,
      );
      expect(held.status?.phase ?? 'Pending').toBe('Pending');
      expect((await infraOf(ns, a!)).metadata.annotations?.[REBOOT_REQUESTED_ANNOTATION]).toBeUndefined();
      // The scale-down gives up (as a failed drain does): the claim is rolled back, remediation goes on.
      release('test: the drain gives up');
      expect((await scaleDown).outcome).toBe('rolled-back');
      await eventually(
        'the reboot to heal it and the request to go',
        async () => (await request(ns, a!.meta.name)).status === 404,
        90_000,
      );

      // The reverse: `b` is being remediated (a reboot that does not help, a long timeout).
      await env.sim.setMachineFault(ns, b!.meta.name, 'rebootDoesNotHelp');
      await env.sim.setNodeCondition(b!.nodeRef!, 'Ready', 'False', 'KubeletNotReady');
      await eventually(
        'our remediation mark on b',
        async () =>
          (await machines(ns)).find((x) => x.meta.name === b!.meta.name)?.meta.annotations[
            REMEDIATION_ANNOTATION
          ],
        60_000,
      );
      const refused = await deleter().delete({
        namespace: ns,
        machine: b!.meta.name,
        uid: b!.meta.uid,
        group,
        purpose: 'scale-down',
      });
      expect(refused.outcome).toBe('refused');
      expect(refused.reason).toContain('this service is remediating it');
      expect(await mdReplicas(ns)).toBe(2);
    },
  );

  it(
    'a missing remediation template: no request, ExternallyRemediated says why, and remediation starts once the template exists',
    { timeout: 180_000 },
    async () => {
      // The health check names template "escalate", which does not exist yet.
      const {
        ns,
        machines: [m],
      } = await setup(2, { template: 'escalate' });
      await env.sim.setNodeCondition(m!.nodeRef!, 'Ready', 'False', 'KubeletNotReady');
      const marked = await eventually(
        'ExternallyRemediated=False/RemediationTemplateNotFound',
        async () => {
          const x = (await machines(ns)).find((y) => y.meta.uid === m!.meta.uid);
          const c = x && findCondition(x.conditions, 'ExternallyRemediated');
          return c?.status === 'False' && c.reason === 'RemediationTemplateNotFound' && x;
        },
        60_000,
      );
      expect(findCondition(marked.conditions, 'HealthCheckSucceeded')?.status).toBe('False');
      expect((await request(ns, m!.meta.name)).status).toBe(404);
      expect(
        (await events(ns)).some(
          (e) => e.reason === 'RemediationTemplateNotFound' && e.involvedObject.name === m!.meta.name,
        ),
      ).toBe(true);
      await remediationTemplate(env.mgmt, ns, 'escalate', [{ action: 'Reboot', timeout: '1m' }]);
      await eventually(
        'the request once the template exists',
        async () => (await request(ns, m!.meta.name)).status === 200,
        90_000,
      );
      await eventually(
        'the reboot to heal it and the request to go',
        async () => (await request(ns, m!.meta.name)).status === 404,
        60_000,
      );
    },
  );
});
