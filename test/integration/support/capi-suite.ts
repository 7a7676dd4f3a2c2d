// The CAPI simulator acceptance suite, run once per CAPI API version (capi-sim-<version>.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CapiVersion } from '../../../src/capi/types.ts';
import type { CapiSimulator } from '../../../src/sandbox/capi-sim/simulator.ts';
import type { RestClient } from '../../../src/sandbox/rest.ts';
import { createDeployment, startManagement, startSimulator, type Management } from './capi.ts';
import { clusterApi, eventually, testNamespace } from './kube.ts';

interface Obj {
  metadata: {
    name: string;
    uid: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: Record<string, unknown> & { providerID?: string; nodeName?: string };
  status?: Record<string, unknown> & { phase?: string; conditions?: Array<{ type: string; status: string }> };
}

export function simulatorSuite(version: CapiVersion): void {
  describe(`CAPI simulator on cluster.x-k8s.io/${version}`, () => {
    const workload = clusterApi();
    let mgmt: Management;
    let sim: CapiSimulator;
    const capi = (ns: string, resource: string, name = '') =>
      `/apis/cluster.x-k8s.io/${version}/namespaces/${ns}/${resource}${name ? `/${name}` : ''}`;

    beforeAll(async () => {
      mgmt = await startManagement(version);
      sim = await startSimulator(mgmt, workload);
    });
    afterAll(async () => {
      await sim?.stop();
      await mgmt?.stop();
    });

    const setup = (replicas: number) => createDeployment(mgmt, { replicas });

    const machines = async (api: RestClient, ns: string) =>
      (await api.ok<{ items: Obj[] }>('GET', capi(ns, 'machines'))).items;
    const nodesOf = async (pool: string) =>
      (
        await workload.ok<{ items: Obj[] }>(
          'GET',
          `/api/v1/nodes?labelSelector=test.capi-autopilot.io/pool%3D${pool}`,
        )
      ).items;
    const isReady = (n: Obj) =>
      n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const scale = (ns: string, replicas: number) =>
      mgmt.api.mergePatch(capi(ns, 'machinedeployments', 'md-a') + '/scale', { spec: { replicas } });

    it('scales a MachineDeployment 0 → 3: Running machines, Ready nodes, pods placed by the real scheduler and started', async () => {
      const { ns, pool } = await setup(0);
      await scale(ns, 3);
      const running = await eventually('3 Running machines with nodeRefs', async () => {
        const ms = await machines(mgmt.api, ns);
        return ms.length === 3 && ms.every((m) => m.status?.phase === 'Running' && m.status.nodeRef) && ms;
      });
      const nodes = await eventually('3 Ready nodes', async () => {
        const n = await nodesOf(pool);
        return n.length === 3 && n.every(isReady) && n;
      });
      // Each node carries the machine's providerID, as CAPI matches them.
      expect(nodes.map((n) => n.spec.providerID).sort()).toEqual(
        running.map((m) => m.spec.providerID).sort(),
      );
      await eventually('MachineDeployment status to count 3 ready', async () => {
        const s = (await mgmt.api.ok<Obj>('GET', capi(ns, 'machinedeployments', 'md-a'))).status;
        return s?.replicas === 3 && s.readyReplicas === 3 && s.selector;
      });

      const wns = await testNamespace(workload, 'simpods');
      for (let i = 0; i < 3; i++) {
        await workload.ok('POST', `/api/v1/namespaces/${wns}/pods`, {
          metadata: { name: `p${i}` },
          spec: {
            nodeSelector: { 'test.capi-autopilot.io/pool': pool },
            containers: [
              { name: 'c', image: 'registry.invalid/pause', resources: { requests: { cpu: '3' } } },
            ],
          },
        });
      }
      const pods = await eventually('3 pods Running on 3 different sandbox nodes', async () => {
        const l = (await workload.ok<{ items: Obj[] }>('GET', `/api/v1/namespaces/${wns}/pods`)).items;
        return l.every((p) => p.status?.phase === 'Running' && p.status.podIP) && l;
      });
      // 3 CPU each on 4-CPU nodes: the scheduler must spread them one per node.
      expect(new Set(pods.map((p) => p.spec.nodeName)).size).toBe(3);
      expect(pods.every((p) => nodes.some((n) => n.metadata.name === p.spec.nodeName))).toBe(true);
    });

    it('scales 3 → 2 with one machine annotated delete-machine and deletes exactly that one', async () => {
      const { ns, pool } = await setup(3);
      const before = await eventually('3 Running machines', async () => {
        const ms = await machines(mgmt.api, ns);
        return ms.length === 3 && ms.every((m) => m.status?.phase === 'Running') && ms;
      });
      // Pick the alphabetically last: "Random" order alone would delete the first.
      const victim = before.map((m) => m.metadata.name).sort()[2]!;
      await mgmt.api.mergePatch(capi(ns, 'machines', victim), {
        metadata: { annotations: { 'cluster.x-k8s.io/delete-machine': '' } },
      });
      // Scale only once the simulator's cache has the mark: a MachineSet that acts on a cache without it
      // picks another machine, which is the CAPI race (CAPI-FACTS §1.4) the atomic protocol must handle.
      await eventually('the simulator to see the mark', async () =>
        Object.hasOwn(
          sim.ctx.caches.machines.get(`${ns}/${victim}`)?.metadata.annotations ?? {},
          'cluster.x-k8s.io/delete-machine',
        ),
      );
      await scale(ns, 2);
      const after = await eventually('2 machines left', async () => {
        const ms = await machines(mgmt.api, ns);
        return ms.length === 2 && ms;
      });
      expect(after.map((m) => m.metadata.name)).not.toContain(victim);
      expect(after.map((m) => m.metadata.uid).sort()).toEqual(
        before
          .filter((m) => m.metadata.name !== victim)
          .map((m) => m.metadata.uid)
          .sort(),
      );
      await eventually('its node to be removed', async () => {
        const n = await nodesOf(pool);
        return n.length === 2 && !n.some((x) => x.metadata.name === victim);
      });
    });

    it('a deleting machine waits for its pre-drain hook, then for its pre-terminate hook', async () => {
      const { ns } = await setup(1);
      const [m] = await eventually('1 Running machine', async () => {
        const ms = await machines(mgmt.api, ns);
        return ms.length === 1 && ms[0]!.status?.phase === 'Running' && ms;
      });
      const name = m!.metadata.name;
      const preDrain = 'pre-drain.delete.hook.machine.cluster.x-k8s.io/test';
      const preTerminate = 'pre-terminate.delete.hook.machine.cluster.x-k8s.io/test';
      const stillThere = async () => {
        await new Promise((r) => setTimeout(r, 1500)); // several reconciles of the test simulator
        expect((await mgmt.api.req('GET', capi(ns, 'machines', name))).status).toBe(200);
        expect((await workload.req('GET', `/api/v1/nodes/${name}`)).status).toBe(200);
      };
      await mgmt.api.mergePatch(capi(ns, 'machines', name), {
        metadata: { annotations: { [preDrain]: 'owner' } },
      });
      await mgmt.api.ok('DELETE', capi(ns, 'machines', name));
      await eventually(
        'phase Deleting',
        async () => (await mgmt.api.ok<Obj>('GET', capi(ns, 'machines', name))).status?.phase === 'Deleting',
      );
      await stillThere(); // the pre-drain hook alone holds it
      // A deleting Machine still counts as a replica: no replacement while it is Deleting (CAPI-FACTS §1.3).
      expect((await machines(mgmt.api, ns)).map((x) => x.metadata.name)).toEqual([name]);
      await mgmt.api.mergePatch(capi(ns, 'machines', name), {
        metadata: { annotations: { [preDrain]: null, [preTerminate]: 'owner' } },
      });
      await stillThere(); // the pre-terminate hook alone holds it
      await mgmt.api.mergePatch(capi(ns, 'machines', name), {
        metadata: { annotations: { [preTerminate]: null } },
      });
      await eventually('the machine and its node to be gone', async () => {
        return (
          (await mgmt.api.req('GET', capi(ns, 'machines', name))).status === 404 &&
          (await workload.req('GET', `/api/v1/nodes/${name}`)).status === 404
        );
      });
      // The MachineSet replaces it once it is gone (replicas unchanged).
      await eventually('a replacement machine', async () => {
        const ms = await machines(mgmt.api, ns);
        return ms.length === 1 && ms[0]!.metadata.name !== name;
      });
    });

    it("honours a pod's termination grace period", async () => {
      const { ns, pool } = await setup(1);
      await eventually('a Ready node', async () => (await nodesOf(pool)).some(isReady));
      const wns = await testNamespace(workload, 'grace');
      await workload.ok('POST', `/api/v1/namespaces/${wns}/pods`, {
        metadata: { name: 'slow' },
        spec: {
          terminationGracePeriodSeconds: 3,
          nodeSelector: { 'test.capi-autopilot.io/pool': pool },
          containers: [{ name: 'c', image: 'registry.invalid/pause' }],
        },
      });
      await eventually(
        'the pod Running',
        async () =>
          (await workload.ok<Obj>('GET', `/api/v1/namespaces/${wns}/pods/slow`)).status?.phase === 'Running',
      );
      const t0 = Date.now();
      await workload.ok('DELETE', `/api/v1/namespaces/${wns}/pods/slow`);
      await new Promise((r) => setTimeout(r, 1500));
      const mid = await workload.req<Obj>('GET', `/api/v1/namespaces/${wns}/pods/slow`);
      expect(mid.status).toBe(200);
      expect(mid.body.metadata.deletionTimestamp).toBeDefined();
      await eventually(
        'the pod to be gone',
        async () => (await workload.req('GET', `/api/v1/namespaces/${wns}/pods/slow`)).status === 404,
        20_000,
        100,
      );
      const elapsed = Date.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(2900);
      void ns;
    });

    /** Follows a namespace's Machines by watch: every name ever added, and the most not-deleting at once. */
    async function trackMachines(ns: string) {
      const l = await mgmt.api.ok<{ items: Obj[]; metadata: { resourceVersion: string } }>(
        'GET',
        capi(ns, 'machines'),
      );
      const live = new Set(l.items.map((m) => m.metadata.name));
      const t = { maxLive: live.size, added: new Set(live) };
      const abort = new AbortController();
      const done = mgmt.api
        .watch<Obj>(
          capi(ns, 'machines'),
          l.metadata.resourceVersion,
          (e) => {
            if (e.type === 'ADDED') {
              live.add(e.object.metadata.name);
              t.added.add(e.object.metadata.name);
            }
            // A deleting Machine no longer counts against maxSurge (as in CAPI and Deployments).
            if (e.type === 'DELETED' || e.object.metadata.deletionTimestamp)
              live.delete(e.object.metadata.name);
            t.maxLive = Math.max(t.maxLive, live.size);
          },
          abort.signal,
        )
        .catch(() => undefined);
      return {
        t,
        stop: async () => {
          abort.abort();
          await done;
        },
      };
    }

    it('propagates template metadata in place, and rolls out a spec change within maxSurge', async () => {
      const { ns } = await setup(2);
      const first = await eventually('2 Running machines', async () => {
        const l = await machines(mgmt.api, ns);
        return l.length === 2 && l.every((m) => m.status?.phase === 'Running') && l;
      });
      const setName = first[0]!.metadata.labels?.['cluster.x-k8s.io/set-name'] ?? '';
      // Metadata only: the MachineSet takes the label, no new revision (CAPI's in-place propagation).
      await mgmt.api.mergePatch(capi(ns, 'machinedeployments', 'md-a'), {
        spec: { template: { metadata: { labels: { team: 'red' } } } },
      });
      await eventually('the label on the MachineSet', async () => {
        const ms = await mgmt.api.ok<{
          spec: { template: { metadata: { labels?: Record<string, string> } } };
        }>('GET', capi(ns, 'machinesets', setName));
        return ms.spec.template.metadata.labels?.team === 'red';
      });
      expect((await mgmt.api.ok<{ items: Obj[] }>('GET', capi(ns, 'machinesets'))).items).toHaveLength(1);
      // A new Kubernetes version is a new revision.
      const tracker = await trackMachines(ns);
      await mgmt.api.mergePatch(capi(ns, 'machinedeployments', 'md-a'), {
        spec: { template: { spec: { version: 'v1.20.3' } } },
      });
      const rolled = await eventually(
        '2 Running machines of a new MachineSet and the old one gone',
        async () => {
          const l = await machines(mgmt.api, ns);
          const sets = await mgmt.api.ok<{ items: Obj[] }>('GET', capi(ns, 'machinesets'));
          return (
            l.length === 2 &&
            l.every((m) => m.status?.phase === 'Running' && m.spec.version === 'v1.20.3') &&
            sets.items.length === 1 &&
            l
          );
        },
        60_000,
      );
      await tracker.stop();
      expect(rolled.some((m) => m.metadata.labels?.['cluster.x-k8s.io/set-name'] === setName)).toBe(false);
      // maxSurge defaults to 1: never more than replicas + 1 machines that are not deleting, two new ones in all.
      expect(tracker.t.maxLive).toBeLessThanOrEqual(3);
      expect(tracker.t.added.size).toBe(4);
    });

    it('a restart in the middle of a scale-up converges to the requested replicas without duplicates', async () => {
      const { ns } = await setup(0);
      const name = sim.ctx.opts.name; // the same simulator, restarted: it must see its own nodes again
      // Slow provisioning so the restart lands mid-flight.
      await sim.stop();
      sim = await startSimulator(mgmt, workload, { name, provisioningDelayMs: 1500 });
      const tracker = await trackMachines(ns);
      await scale(ns, 5);
      await eventually(
        'the first machines to exist',
        async () => (await machines(mgmt.api, ns)).length > 0,
        10_000,
        20,
      );
      await sim.stop();
      sim = await startSimulator(mgmt, workload, { name });
      const ms = await eventually('5 Running machines', async () => {
        const l = await machines(mgmt.api, ns);
        return l.length === 5 && l.every((m) => m.status?.phase === 'Running') && l;
      });
      await tracker.stop();
      // Exactly 5 machines were ever created: none twice, none extra and deleted again.
      expect([...tracker.t.added].sort()).toEqual(ms.map((m) => m.metadata.name).sort());
      const infra = await mgmt.api.ok<{ items: Obj[] }>(
        'GET',
        `/apis/infrastructure.sandbox.capi-autopilot.io/v1alpha1/namespaces/${ns}/sandboxmachines`,
      );
      expect(infra.items.map((i) => i.metadata.name).sort()).toEqual(ms.map((m) => m.metadata.name).sort());
    });
  });
}
