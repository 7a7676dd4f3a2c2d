// 200 hollow nodes stay Ready for 2 minutes: the real node lifecycle controller sees every Lease renewed
// in time (no NotReady/Unknown transition), with the simulator's default heartbeat timings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CapiSimulator } from '../../src/sandbox/capi-sim/simulator.ts';
import { fixtures, startManagement, startSimulator, type Management } from './support/capi.ts';
import { clusterApi, eventually, uniqueName } from './support/kube.ts';

const NODES = 200;
const HOLD_MS = 120_000;

interface NodeObj {
  metadata: { name: string; resourceVersion: string };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

describe('hollow nodes at scale', () => {
  const workload = clusterApi();
  let mgmt: Management;
  let sim: CapiSimulator;
  beforeAll(async () => {
    mgmt = await startManagement('v1beta2');
    sim = await startSimulator(mgmt, workload, {
      heartbeatMs: 10_000,
      provisioningDelayMs: 200,
      joinDelayMs: 0,
      workers: 16,
    });
  });
  afterAll(async () => {
    await sim?.stop();
    await mgmt?.stop();
  });

  it(
    `${NODES} hollow nodes stay Ready for 2 minutes with no NotReady transition`,
    { timeout: 600_000 },
    async () => {
      const ns = uniqueName('scale');
      const pool = uniqueName('pool');
      await mgmt.api.ok('POST', '/api/v1/namespaces', { metadata: { name: ns } });
      const f = fixtures('v1beta2', ns, { md: 'md-big', replicas: NODES, pool, cpu: '2' });
      await mgmt.api.ok('POST', `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/clusters`, f.cluster);
      await mgmt.api.ok(
        'POST',
        `/apis/infrastructure.sandbox.capi-autopilot.io/v1alpha1/namespaces/${ns}/sandboxmachinetemplates`,
        f.template,
      );
      await mgmt.api.ok('POST', `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/machinedeployments`, f.md);
      const selector = `labelSelector=test.capi-autopilot.io/pool%3D${pool}`;
      const isReady = (n: NodeObj) =>
        n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      const list = await eventually(
        `${NODES} Ready nodes`,
        async () => {
          const l = await workload.ok<{ items: NodeObj[]; metadata: { resourceVersion: string } }>(
            'GET',
            `/api/v1/nodes?${selector}`,
          );
          return l.items.length === NODES && l.items.every(isReady) && l;
        },
        300_000,
        1000,
      );

      // Watch every change to these nodes for the hold period and record any Ready != True.
      const transitions: string[] = [];
      const abort = new AbortController();
      const watching = workload
        .watch<NodeObj>(
          `/api/v1/nodes?${selector}`,
          list.metadata.resourceVersion,
          (e) => {
            if (e.type === 'DELETED') transitions.push(`${e.object.metadata.name} deleted`);
            else if (e.type !== 'BOOKMARK' && !isReady(e.object))
              transitions.push(`${e.object.metadata.name} not Ready`);
          },
          abort.signal,
        )
        .catch((e: Error) => transitions.push(`watch failed: ${e.message}`));
      await new Promise((r) => setTimeout(r, HOLD_MS));
      abort.abort();
      await watching;
      expect(transitions).toEqual([]);
      const final = await workload.ok<{ items: NodeObj[] }>('GET', `/api/v1/nodes?${selector}`);
      expect(final.items.filter(isReady)).toHaveLength(NODES);
      expect(sim.ctx.kubelet.stats.leaseErrors).toBe(0);
      // Scale back to zero so the nodes are removed with their machines.
      await mgmt.api.mergePatch(
        `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/machinedeployments/md-big/scale`,
        { spec: { replicas: 0 } },
      );
      await eventually(
        'the nodes to be gone',
        async () =>
          (await workload.ok<{ items: unknown[] }>('GET', `/api/v1/nodes?${selector}`)).items.length === 0,
        300_000,
        1000,
      );
    },
  );
});
