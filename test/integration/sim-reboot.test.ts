// The sandbox infrastructure provider's reboot hook (src/remediation/contract.ts) and its "reboot does
// not help" fault: the remediation's Reboot step is driven against exactly these effects, on real Nodes
// watched by the real node lifecycle controller.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromObject } from '../../src/capi/adapters/index.ts';
import type { Machine } from '../../src/capi/types.ts';
import { REBOOTED_ANNOTATION, REBOOT_REQUESTED_ANNOTATION } from '../../src/remediation/contract.ts';
import { FAULTS } from '../../src/sandbox/capi-sim/context.ts';
import { HOLLOW_NODE_LABEL } from '../../src/sandbox/capi-sim/node-template.ts';
import type { CapiSimulator } from '../../src/sandbox/capi-sim/simulator.ts';
import { createDeployment, startManagement, startSimulator, type Management } from './support/capi.ts';
import { clusterApi, eventually, uniqueName } from './support/kube.ts';

interface Cond {
  type: string;
  status: string;
  reason?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}
interface NodeObj {
  metadata: { name: string; annotations?: Record<string, string> };
  status?: { conditions?: Cond[]; nodeInfo?: { bootID?: string } };
}
interface InfraObj {
  metadata: { name: string; annotations?: Record<string, string> };
}

const REBOOT_DELAY_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('CAPI simulator: infrastructure reboot hook (v1beta2)', () => {
  const workload = clusterApi();
  let mgmt: Management;
  let sim: CapiSimulator;
  let simName: string;
  const capi = (ns: string, r: string) => `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/${r}`;
  const infra = (ns: string, name: string) =>
    `/apis/infrastructure.sandbox.capi-autopilot.io/v1alpha1/namespaces/${ns}/sandboxmachines/${name}`;

  beforeAll(async () => {
    mgmt = await startManagement('v1beta2');
    simName = uniqueName('sim');
    sim = await startSimulator(mgmt, workload, { name: simName, rebootDelayMs: REBOOT_DELAY_MS });
  });
  afterAll(async () => {
    await sim?.stop();
    await mgmt?.stop();
    // The hollow nodes would otherwise linger Unknown in the shared workload cluster.
    if (simName) {
      const sel = encodeURIComponent(`${HOLLOW_NODE_LABEL}=${simName}`);
      await workload.req('DELETE', `/api/v1/nodes?labelSelector=${sel}`);
    }
  });

  /** Running machines of a new deployment, each with its SandboxMachine's name and its Node's. */
  const runningMachines = async (replicas: number, machineAnnotations: Record<string, string> = {}) => {
    const { ns } = await createDeployment(mgmt, { replicas, machineAnnotations, prefix: 'reboot' });
    const ms = await eventually(`${replicas} Running machines`, async () => {
      const l = (await mgmt.api.ok<{ items: unknown[] }>('GET', capi(ns, 'machines'))).items.map(
        (x) => fromObject(x) as Machine,
      );
      return l.length === replicas && l.every((m) => m.phase === 'Running' && m.nodeRef) && l;
    });
    return {
      ns,
      machines: ms.map((m) => ({ name: m.meta.name, infra: m.infrastructureRef.name, node: m.nodeRef! })),
    };
  };
  const getNode = (name: string) => workload.ok<NodeObj>('GET', `/api/v1/nodes/${name}`);
  const cond = (n: NodeObj, type: string) => n.status?.conditions?.find((c) => c.type === type);
  const leaseRenewed = async (node: string) => {
    const l = await workload.ok<{ spec: { renewTime: string } }>(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node}`,
    );
    return Date.parse(l.spec.renewTime);
  };
  const requestReboot = (ns: string, name: string, token: string) =>
    mgmt.api.mergePatch(infra(ns, name), {
      metadata: { annotations: { [REBOOT_REQUESTED_ANNOTATION]: token } },
    });
  const rebooted = async (ns: string, name: string) =>
    (await mgmt.api.ok<InfraObj>('GET', infra(ns, name))).metadata.annotations?.[REBOOTED_ANNOTATION];
  const answered = (ns: string, name: string, token: string, timeoutMs = 30_000) =>
    eventually(
      `rebooted=${token} on ${name}`,
      async () => (await rebooted(ns, name)) === token,
      timeoutMs,
      100,
    );

  it(
    'a reboot brings a node with stopped heartbeats back to Ready and clears injected pressure',
    { timeout: 180_000 },
    async () => {
      const { ns, machines } = await runningMachines(1);
      const m = machines[0]!;
      const bootBefore = (await getNode(m.node)).status?.nodeInfo?.bootID;
      await sim.setHeartbeats(m.node, false);
      // node-monitor-grace-period is 40 s by default.
      await eventually(
        'Ready=Unknown from the node lifecycle controller',
        async () => cond(await getNode(m.node), 'Ready')?.status === 'Unknown',
        120_000,
        1000,
      );
      await sim.setNodeCondition(m.node, 'DiskPressure', 'True', 'KubeletHasDiskPressure');
      const before = sim.rebootStats.reboots;

      const t0 = Date.now();
      await requestReboot(ns, m.infra, 'token-a1');
      await answered(ns, m.infra, 'token-a1');
      // Not before the reboot delay: the instance is down meanwhile.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(REBOOT_DELAY_MS - 50);
      const n = await getNode(m.node);
      // The power-cycle happens before the answer, so the Node is already back when it is seen.
      expect(cond(n, 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
      expect(Date.parse(cond(n, 'Ready')!.lastTransitionTime!)).toBeGreaterThanOrEqual(t0 - 1000);
      for (const [type, reason] of [
        ['DiskPressure', 'KubeletHasNoDiskPressure'],
        ['MemoryPressure', 'KubeletHasSufficientMemory'],
        ['PIDPressure', 'KubeletHasSufficientPID'],
      ] as const) {
        expect(cond(n, type)).toMatchObject({ status: 'False', reason });
        expect(Date.parse(cond(n, type)!.lastHeartbeatTime!)).toBeGreaterThanOrEqual(t0 - 1000);
      }
      expect(n.metadata.annotations?.[FAULTS.stopHeartbeats]).toBeUndefined();
      expect(n.status?.nodeInfo?.bootID).toBeTruthy();
      expect(n.status?.nodeInfo?.bootID).not.toBe(bootBefore);
      expect(sim.rebootStats.reboots).toBe(before + 1);
      // The kubelet is alive again, not just one Ready post: it keeps renewing the Lease.
      const answeredAt = Date.now();
      await eventually(
        'a Lease renewal after the reboot',
        async () => (await leaseRenewed(m.node)) > answeredAt,
        10_000,
      );
      await eventually('the machine to reflect it', async () => {
        const mm = fromObject(await mgmt.api.ok('GET', capi(ns, `machines/${m.name}`))) as Machine;
        return mm.conditions.find((c) => c.type === 'NodeReady')?.status === 'True';
      });
    },
  );

  it('with rebootDoesNotHelp (on the Machine or on the Node) the reboot is answered but the node stays down', async () => {
    const { ns, machines } = await runningMachines(2);
    const [a, b] = machines as [(typeof machines)[0], (typeof machines)[0]];
    await sim.setMachineFault(ns, a.name, 'rebootDoesNotHelp');
    await workload.mergePatch(`/api/v1/nodes/${b.node}`, {
      metadata: { annotations: { [FAULTS.rebootDoesNotHelp]: 'true' } },
    });
    for (const m of [a, b]) {
      await sim.setNodeCondition(m.node, 'DiskPressure', 'True', 'KubeletHasDiskPressure');
      await sim.setNodeCondition(m.node, 'Ready', 'False', 'KubeletNotReady');
    }
    const before = sim.rebootStats;
    await requestReboot(ns, a.infra, 'token-b1');
    await requestReboot(ns, b.infra, 'token-b2');
    await answered(ns, a.infra, 'token-b1');
    await answered(ns, b.infra, 'token-b2');
    const answeredAt = Date.now();
    await sleep(3000); // more than a heartbeat period of the test simulator
    for (const m of [a, b]) {
      const n = await getNode(m.node);
      expect(cond(n, 'Ready')).toMatchObject({ status: 'False', reason: 'KubeletNotReady' });
      expect(cond(n, 'DiskPressure')).toMatchObject({ status: 'True', reason: 'KubeletHasDiskPressure' });
      expect(n.metadata.annotations?.[FAULTS.stopHeartbeats]).toBe('true');
      expect(await leaseRenewed(m.node)).toBeLessThan(answeredAt);
    }
    expect(sim.rebootStats.reboots).toBe(before.reboots + 2);
    expect(sim.rebootStats.effective).toBe(before.effective);
  });

  it('a node that never joined: the reboot is answered and the machine stays without a node', async () => {
    const { ns } = await createDeployment(mgmt, {
      replicas: 1,
      machineAnnotations: { [FAULTS.neverJoin]: 'true' },
      prefix: 'reboot',
    });
    const m = await eventually('a Provisioned machine', async () => {
      const l = (await mgmt.api.ok<{ items: unknown[] }>('GET', capi(ns, 'machines'))).items.map(
        (x) => fromObject(x) as Machine,
      );
      return l.length === 1 && l[0]!.phase === 'Provisioned' && l[0];
    });
    await requestReboot(ns, m.infrastructureRef.name, 'token-nj');
    await answered(ns, m.infrastructureRef.name, 'token-nj');
    await sleep(1000);
    const again = fromObject(await mgmt.api.ok('GET', capi(ns, `machines/${m.meta.name}`))) as Machine;
    expect([again.phase, again.nodeRef]).toEqual(['Provisioned', undefined]);
  });

  it(
    'each new token reboots again, a token is answered once, and a restarted simulator keeps to that',
    { timeout: 120_000 },
    async () => {
      const { ns, machines } = await runningMachines(1);
      const m = machines[0]!;
      const start = sim.rebootStats.reboots;
      const breakAndReboot = async (token: string) => {
        await sim.setNodeCondition(m.node, 'Ready', 'False', 'KubeletNotReady');
        await requestReboot(ns, m.infra, token);
        await answered(ns, m.infra, token);
        expect(cond(await getNode(m.node), 'Ready')?.status).toBe('True');
      };
      await breakAndReboot('token-c1');
      expect(sim.rebootStats.reboots).toBe(start + 1);
      await breakAndReboot('token-c2');
      expect(sim.rebootStats.reboots).toBe(start + 2);

      // An answered token is not taken again: not when the request is written again, not after other changes.
      await sim.setNodeCondition(m.node, 'Ready', 'False', 'KubeletNotReady');
      await requestReboot(ns, m.infra, 'token-c2');
      await mgmt.api.mergePatch(infra(ns, m.infra), { metadata: { labels: { touched: 'yes' } } });
      await sleep(REBOOT_DELAY_MS * 3);
      expect(sim.rebootStats.reboots).toBe(start + 2);
      expect(cond(await getNode(m.node), 'Ready')?.status).toBe('False');

      // A restart: the new process sees the answered token on the object and leaves it (the node stays
      // down); a request made while no simulator runs is answered by the next one, once.
      await sim.stop();
      sim = await startSimulator(mgmt, workload, { name: simName, rebootDelayMs: REBOOT_DELAY_MS });
      await sleep(REBOOT_DELAY_MS * 3);
      expect(sim.rebootStats.reboots).toBe(0);
      expect(cond(await getNode(m.node), 'Ready')?.status).toBe('False');
      await sim.stop();
      await requestReboot(ns, m.infra, 'token-c3');
      sim = await startSimulator(mgmt, workload, { name: simName, rebootDelayMs: REBOOT_DELAY_MS });
      await answered(ns, m.infra, 'token-c3');
      expect(cond(await getNode(m.node), 'Ready')?.status).toBe('True');
      await sleep(REBOOT_DELAY_MS * 3);
      expect(sim.rebootStats.reboots).toBe(1);
      expect(await rebooted(ns, m.infra)).toBe('token-c3');
    },
  );
});
