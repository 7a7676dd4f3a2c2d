// Fault injection: the simulator's faults are what later suites (remediation, scale-down, atomic delete)
// build their failure cases on, so each one is shown to have the effect the real world would have.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromObject } from '../../src/capi/adapters/index.ts';
import type { Machine } from '../../src/capi/types.ts';
import { FAULTS } from '../../src/sandbox/capi-sim/context.ts';
import type { CapiSimulator } from '../../src/sandbox/capi-sim/simulator.ts';
import { createDeployment, startManagement, startSimulator, type Management } from './support/capi.ts';
import { clusterApi, eventually } from './support/kube.ts';

interface Obj {
  metadata: { name: string };
  status?: {
    phase?: string;
    nodeRef?: unknown;
    conditions?: Array<{ type: string; status: string; reason?: string }>;
  };
}

describe('CAPI simulator faults (v1beta2)', () => {
  const workload = clusterApi();
  let mgmt: Management;
  let sim: CapiSimulator;
  const capi = (ns: string, r: string) => `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/${r}`;

  beforeAll(async () => {
    mgmt = await startManagement('v1beta2');
    sim = await startSimulator(mgmt, workload);
  });
  afterAll(async () => {
    await sim?.stop();
    await mgmt?.stop();
  });

  const setup = (replicas: number, machineAnnotations: Record<string, string> = {}, paused = false) =>
    createDeployment(mgmt, { replicas, machineAnnotations, paused, prefix: 'fault' });
  const machines = async (ns: string) =>
    (await mgmt.api.ok<{ items: Obj[] }>('GET', capi(ns, 'machines'))).items;
  const ready = (n: Obj) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status;

  it(
    'stopped heartbeats make the real node lifecycle controller mark the node Unknown; resuming brings it back',
    { timeout: 180_000 },
    async () => {
      const { ns } = await setup(1);
      const [m] = await eventually('a Running machine', async () => {
        const l = await machines(ns);
        return l.length === 1 && l[0]!.status?.phase === 'Running' && l;
      });
      const node = m!.metadata.name;
      await sim.setHeartbeats(node, false);
      // node-monitor-grace-period is 40 s by default.
      await eventually(
        'Ready=Unknown from the node lifecycle controller',
        async () => ready(await workload.ok<Obj>('GET', `/api/v1/nodes/${node}`)) === 'Unknown',
        120_000,
        1000,
      );
      await eventually('the machine to reflect it', async () => {
        const mm = fromObject(await mgmt.api.ok('GET', capi(ns, `machines/${node}`))) as Machine;
        return mm.conditions.find((c) => c.type === 'NodeReady')?.status === 'Unknown';
      });
      await sim.setHeartbeats(node, true);
      await eventually(
        'Ready=True again',
        async () => ready(await workload.ok<Obj>('GET', `/api/v1/nodes/${node}`)) === 'True',
        30_000,
      );
    },
  );

  it('sets any node condition, and Ready=False sticks because heartbeats stop with it', async () => {
    const { ns } = await setup(1);
    const [m] = await eventually('a Running machine', async () => {
      const l = await machines(ns);
      return l.length === 1 && l[0]!.status?.phase === 'Running' && l;
    });
    const node = m!.metadata.name;
    await sim.setNodeCondition(node, 'DiskPressure', 'True', 'KubeletHasDiskPressure');
    await sim.setNodeCondition(node, 'Ready', 'False', 'KubeletNotReady');
    await new Promise((r) => setTimeout(r, 3000)); // more than a heartbeat period of the test simulator
    const n = await workload.ok<Obj>('GET', `/api/v1/nodes/${node}`);
    expect(n.status?.conditions?.find((c) => c.type === 'DiskPressure')).toMatchObject({
      status: 'True',
      reason: 'KubeletHasDiskPressure',
    });
    expect(ready(n)).toBe('False');
  });

  it("machine failure is reported in the version's failure fields", async () => {
    const { ns } = await setup(1);
    const [m] = await eventually('a machine', async () => {
      const l = await machines(ns);
      return l.length === 1 && l;
    });
    await sim.failMachine(ns, m!.metadata.name, 'CreateError', 'instance quota exceeded');
    const mm = fromObject(await mgmt.api.ok('GET', capi(ns, `machines/${m!.metadata.name}`))) as Machine;
    expect(mm).toMatchObject({ failureReason: 'CreateError', failureMessage: 'instance quota exceeded' });
  });

  it('provisioning that never finishes leaves machines Provisioning without providerID', async () => {
    const { ns } = await setup(2, { [FAULTS.stallProvisioning]: 'true' });
    await eventually('2 machines', async () => (await machines(ns)).length === 2);
    await new Promise((r) => setTimeout(r, 2000)); // several provisioning delays of the test simulator
    const l = (await machines(ns)).map((x) => fromObject(x) as Machine);
    expect(l.map((x) => [x.phase, x.providerID, x.nodeRef])).toEqual([
      ['Provisioning', undefined, undefined],
      ['Provisioning', undefined, undefined],
    ]);
  });

  it('a node that never joins leaves the machine Provisioned with a providerID and no nodeRef', async () => {
    const { ns, pool } = await setup(1, { [FAULTS.neverJoin]: 'true' });
    const m = await eventually('a Provisioned machine', async () => {
      const l = (await machines(ns)).map((x) => fromObject(x) as Machine);
      return l.length === 1 && l[0]!.phase === 'Provisioned' && l[0];
    });
    await new Promise((r) => setTimeout(r, 1500));
    const again = fromObject(await mgmt.api.ok('GET', capi(ns, `machines/${m.meta.name}`))) as Machine;
    expect(again.providerID).toMatch(/^sandbox:\/\//);
    expect(again.nodeRef).toBeUndefined();
    const nodes = await workload.ok<{ items: unknown[] }>(
      'GET',
      `/api/v1/nodes?labelSelector=test.capi-autopilot.io/pool%3D${pool}`,
    );
    expect(nodes.items).toHaveLength(0);
  });

  it('a node deleted from outside is not recreated: the machine reports NodeDeleted', async () => {
    const { ns } = await setup(1);
    const [m] = await eventually('a Running machine', async () => {
      const l = await machines(ns);
      return l.length === 1 && l[0]!.status?.phase === 'Running' && l;
    });
    const node = m!.metadata.name;
    await workload.ok('DELETE', `/api/v1/nodes/${node}`);
    await eventually('NodeHealthy=False/NodeDeleted on the machine', async () => {
      const mm = fromObject(await mgmt.api.ok('GET', capi(ns, `machines/${node}`))) as Machine;
      const c = mm.conditions.find((x) => x.type === 'NodeHealthy');
      return c?.status === 'False' && c.reason === 'NodeDeleted';
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await workload.req('GET', `/api/v1/nodes/${node}`)).status).toBe(404);
  });

  it('a paused Cluster freezes its MachineDeployments and MachineSets', async () => {
    const { ns } = await setup(2, {}, true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await machines(ns)).toHaveLength(0);
    expect((await mgmt.api.ok<{ items: unknown[] }>('GET', capi(ns, 'machinesets'))).items).toHaveLength(0);
    await mgmt.api.mergePatch(capi(ns, 'clusters/c1'), { spec: { paused: false } });
    await eventually('2 machines once unpaused', async () => (await machines(ns)).length === 2);
  });
});
