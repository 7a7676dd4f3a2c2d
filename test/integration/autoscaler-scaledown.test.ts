// Scale-down on the real cluster: the service finds unneeded nodes from its caches, drains them through the
// Eviction API (PDBs honoured by the real apiserver), deletes their Machines through the atomic protocol
// (CAPI simulator), and says why every other node stays (explain, /status, events, metrics).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../../src/service.ts';
import { REMEDIATION_ANNOTATION } from '../../src/machines/records.ts';
import {
  autoscalerService,
  autoscalerSuite,
  capiPath,
  explainCli,
  metricValue,
  opted,
  POOL_LABEL,
} from './support/autoscaler.ts';
import { useSimulator } from './support/capi.ts';
import { clusterApi, eventually, testNamespace } from './support/kube.ts';

interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}
interface Node {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { unschedulable?: boolean };
  status?: { conditions?: Array<{ type: string; status: string }> };
}
interface Event {
  reason: string;
  message: string;
  involvedObject: { name: string; kind: string };
}

const HOSTNAME = 'kubernetes.io/hostname';

describe('autoscaler: scale-down through drain and atomic delete', () => {
  const env = useSimulator('v1beta2');
  const workload = clusterApi();
  const suite = autoscalerSuite(env, 'scale-down');
  let svc: Service;

  beforeAll(async () => {
    svc = await autoscalerService(
      env,
      [
        suite.discovery,
        'autoscaler.scanIntervalSeconds=1',
        'autoscaler.scaleDownUnneededTime=3s',
        'autoscaler.scaleDownDelayAfterAdd=0s',
        'autoscaler.scaleDownDelayAfterDelete=0s',
        'autoscaler.scaleDownDelayAfterFailure=2s',
        'autoscaler.maxPodEvictionTime=4s',
      ],
      { scaleDown: true },
    );
  });
  afterAll(async () => {
    await svc?.stop();
  });

  // ---- helpers ----
  const nodesOf = async (pool: string) =>
    (
      await workload.ok<{ items: Node[] }>(
        'GET',
        `/api/v1/nodes?labelSelector=${encodeURIComponent(`${POOL_LABEL}=${pool}`)}`,
      )
    ).items;
  const readyNodes = (pool: string, n: number) =>
    eventually(
      `${n} Ready node(s) in ${pool}`,
      async () => {
        const l = (await nodesOf(pool)).filter((x) =>
          x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return l.length === n && l.map((x) => x.metadata.name).sort();
      },
      90_000,
    );
  const podsOf = async (ns: string, app: string) =>
    (await workload.ok<{ items: Pod[] }>('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${app}`))
      .items;
  const ready = (p: Pod) =>
    !p.metadata.deletionTimestamp &&
    !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  const deployment = (
    ns: string,
    name: string,
    o: {
      replicas: number;
      cpu: string;
      pool?: string;
      host?: string;
      /** Required node affinity: only these nodes (by hostname). */
      hosts?: string[];
      annotations?: Record<string, string>;
    },
  ) =>
    workload.ok('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
      metadata: { name },
      spec: {
        replicas: o.replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name }, ...(o.annotations ? { annotations: o.annotations } : {}) },
          spec: {
            nodeSelector: {
              ...(o.pool ? { [POOL_LABEL]: o.pool } : {}),
              ...(o.host ? { [HOSTNAME]: o.host } : {}),
            },
            ...(o.hosts
              ? {
                  affinity: {
                    nodeAffinity: {
                      requiredDuringSchedulingIgnoredDuringExecution: {
                        nodeSelectorTerms: [
                          { matchExpressions: [{ key: HOSTNAME, operator: 'In', values: o.hosts }] },
                        ],
                      },
                    },
                  },
                }
              : {}),
            terminationGracePeriodSeconds: 0,
            containers: [
              { name: 'c', image: 'registry.invalid/pause', resources: { requests: { cpu: o.cpu } } },
            ],
          },
        },
      },
    });
  const running = (ns: string, app: string, n: number) =>
    eventually(
      `${n} ${app} pod(s) Ready`,
      async () => {
        const l = await podsOf(ns, app);
        return l.filter(ready).length === n && l.length === n && l;
      },
      90_000,
    );
  const cordon = (n: string, on: boolean) =>
    workload.mergePatch(`/api/v1/nodes/${n}`, { spec: { unschedulable: on ? true : null } });
  const events = async (kind: string, name: string, reason: string) =>
    (
      await workload.ok<{ items: Event[] }>('GET', `/api/v1/events?fieldSelector=reason%3D${reason}`)
    ).items.filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === name);
  const explain = (...args: string[]) => explainCli(env, suite.discovery, ...args);
  const metric = async (name: string, labels: string) => (await metricValue(svc, name, labels)) ?? 0;
  const machinesOf = async (ns: string) =>
    (
      await env.mgmt.api.ok<{
        items: Array<{ metadata: { name: string; annotations?: Record<string, string> } }>;
      }>('GET', capiPath(ns, 'machines'))
    ).items;

  it('drains the scaled-up group back to zero after its workload goes, never below a PDB', async () => {
    // md-a: autoscaled from 0; md-sys: a group at its min size 1 that stays (and takes the moved pods).
    const { ns, pool } = await suite.group({ max: 5, prefix: 'sd-demo' });
    await suite.another(ns, pool, { md: 'md-sys', max: 1, cpu: '4', replicas: 1, annotations: opted(1, 1) });
    const [sys] = await readyNodes(pool, 1);
    const apps = await testNamespace(workload, 'sd-apps');
    // 6 × 1.5 CPU: 2 on md-sys, 4 on two new md-a nodes (3 of 4 CPU each: above the 0.5 threshold).
    await deployment(apps, 'web', { replicas: 6, cpu: '1500m', pool });
    await running(apps, 'web', 6);
    expect(await suite.replicas(ns)).toBe(2);
    const grown = (await nodesOf(pool)).map((n) => n.metadata.name).filter((n) => n !== sys);
    // A PDB-protected service spread over the nodes: at most one of its 3 pods may be down at a time.
    await workload.ok('POST', `/apis/policy/v1beta1/namespaces/${apps}/poddisruptionbudgets`, {
      metadata: { name: 'api' },
      spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'api' } } },
    });
    await deployment(apps, 'api', { replicas: 3, cpu: '100m', pool });
    await running(apps, 'api', 3);

    let minReady = Infinity;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        minReady = Math.min(minReady, (await podsOf(apps, 'api')).filter(ready).length);
        samples++;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await workload.ok('DELETE', `/apis/apps/v1/namespaces/${apps}/deployments/web`);
      await eventually('md-a back at 0', async () => (await suite.replicas(ns)) === 0, 120_000);
      await eventually('only the md-sys node left', async () => (await nodesOf(pool)).length === 1, 60_000);
      const api = await running(apps, 'api', 3);
      expect(api.every((p) => p.spec.nodeName === sys)).toBe(true);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(samples).toBeGreaterThan(20);
    expect(minReady).toBeGreaterThanOrEqual(2); // the PDB allows one down, never two
    expect(await suite.replicas(ns, 'md-sys')).toBe(1);
    // Each removed node said so, on the Node and on its Machine; the counter counts both.
    for (const n of grown) {
      const evs = [...(await events('Node', n, 'ScaleDown')), ...(await events('Node', n, 'ScaleDownEmpty'))];
      expect(evs.length, `scale-down event on ${n}`).toBeGreaterThan(0);
      expect(evs[0]!.message).toContain(`Scale-down: removing node ${n}`);
    }
    // Counted when each removal ends (the protocol releases its hold after the decrement).
    const group = `node_group="MachineDeployment/${ns}/md-a"`;
    await eventually(
      'both removals counted',
      async () =>
        (await metric('scaled_down_nodes_total', `${group},reason="underutilized"`)) +
          (await metric('scaled_down_nodes_total', `${group},reason="empty"`)) ===
        grown.length,
      30_000,
    );
    expect(grown).toHaveLength(2);
    // The group at its min size stays, and explain says so.
    const ex = await explain('--node', sys!);
    expect(ex.code).toBe(0);
    expect(ex.out).toContain(`Node ${sys}:`);
    expect(ex.out).toMatch(/kept .*min size 1.*\[min_size\]/);
  });

  it('keeps a node with a safe-to-evict "false" pod, a scale-down-disabled node and one being remediated, each with its reason', async () => {
    // Three nodes, not a node group yet (nothing may go while the test sets them up).
    const { ns, pool } = await suite.cluster({ replicas: 3, prefix: 'sd-kept' });
    const [a, b, c] = (await readyNodes(pool, 3)) as [string, string, string];
    const apps = await testNamespace(workload, 'sd-kept');
    await deployment(apps, 'pinned', {
      replicas: 1,
      cpu: '100m',
      host: a,
      annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' },
    });
    await running(apps, 'pinned', 1);
    await workload.mergePatch(`/api/v1/nodes/${b}`, {
      metadata: { annotations: { 'cluster-autoscaler.kubernetes.io/scale-down-disabled': 'true' } },
    });
    const machineOfC = (await machinesOf(ns)).find((m) => m.metadata.name === c)!;
    await env.mgmt.api.mergePatch(capiPath(ns, 'machines', machineOfC.metadata.name), {
      metadata: { annotations: { [REMEDIATION_ANNOTATION]: 'reboot' } },
    });
    await suite.optIn(ns, 'md-a', 0, 5);

    // Well past the unneeded time, several scans: all three are still there.
    await new Promise((r) => setTimeout(r, 8000));
    expect(await suite.replicas(ns)).toBe(3);
    expect((await nodesOf(pool)).map((n) => n.metadata.name).sort()).toEqual([a, b, c].sort());
    const reasons = await Promise.all([a, b, c].map((n) => explain('--node', n)));
    expect(reasons.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(reasons[0]!.out).toMatch(
      /pod .*pinned.* cannot be moved: .*safe-to-evict=false.*\[blocked_by_pod\]/,
    );
    expect(reasons[1]!.out).toContain(
      'annotated cluster-autoscaler.kubernetes.io/scale-down-disabled=true [scale_down_disabled]',
    );
    expect(reasons[2]!.out).toMatch(/owned by remediation of Machine .*\[owned\]/);
    // The overview of the group lists the same reasons, and /status has them with their codes.
    const group = await explain('--group', `${ns}/md-a`);
    for (const code of ['blocked_by_pod', 'scale_down_disabled', 'owned'])
      expect(group.out).toContain(`[${code}]`);
    const status = svc.status() as {
      scaleDown: { clusters: Array<{ cluster: string; kept: Array<{ node: string; code: string }> }> };
    };
    const report = status.scaleDown.clusters.find((x) => x.cluster === `${ns}/c1`)!;
    expect(
      Object.fromEntries(report.kept.filter((k) => [a, b, c].includes(k.node)).map((k) => [k.node, k.code])),
    ).toEqual({
      [a]: 'blocked_by_pod',
      [b]: 'scale_down_disabled',
      [c]: 'owned',
    });

    // A cordon a crashed scale-down left (our mark, no claim on the Machine) is undone; a person's stays.
    await workload.mergePatch(`/api/v1/nodes/${b}`, {
      metadata: { annotations: { 'capi-autopilot.io/scale-down-cordon': new Date().toISOString() } },
      spec: { unschedulable: true },
    });
    await cordon(a, true);
    await eventually(
      'the left-over cordon undone',
      async () => {
        const n = (await nodesOf(pool)).find((x) => x.metadata.name === b)!;
        return (
          !n.spec.unschedulable && !('capi-autopilot.io/scale-down-cordon' in (n.metadata.annotations ?? {}))
        );
      },
      30_000,
    );
    expect((await nodesOf(pool)).find((x) => x.metadata.name === a)!.spec.unschedulable).toBe(true);
    await cordon(a, false);
  });

  it('does not remove a node whose pods only fit where another removal of the same loop put its pods', async () => {
    // Nodes x (md-a) and y (md-b) each hold one 1.5-CPU pod (0.375 of 4: both candidates), p1 allowed on x
    // or c, p2 on y or c; node c (md-c, not a node group) has 1.5 CPU free: room for one of them, not both.
    const one = await suite.cluster({ replicas: 1, prefix: 'sd-room' });
    const { ns, pool } = one;
    await suite.another(ns, pool, { md: 'md-b', max: 5, cpu: '4', replicas: 1, annotations: {} });
    await suite.another(ns, pool, { md: 'md-c', max: 5, cpu: '4', replicas: 1, annotations: {} });
    // another() opts its group in; md-b and md-c must not be groups yet.
    for (const md of ['md-b', 'md-c'])
      await env.mgmt.api.mergePatch(capiPath(ns, 'machinedeployments', md), {
        metadata: {
          annotations: {
            'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': null,
            'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': null,
          },
        },
      });
    const nodes = await readyNodes(pool, 3);
    const ms = await machinesOf(ns);
    const byGroup = (md: string) =>
      nodes.find((n) => ms.some((m) => m.metadata.name === n && m.metadata.name.startsWith(`${md}-`)))!;
    const [x, y, c] = [byGroup('md-a'), byGroup('md-b'), byGroup('md-c')];
    const apps = await testNamespace(workload, 'sd-room');
    await deployment(apps, 'filler', { replicas: 1, cpu: '2500m', host: c });
    await running(apps, 'filler', 1);
    // p1 onto x and p2 onto y: only one node schedulable at a time while each lands.
    await cordon(y, true);
    await cordon(c, true);
    await deployment(apps, 'p1', { replicas: 1, cpu: '1500m', hosts: [x, c] });
    await running(apps, 'p1', 1);
    await cordon(x, true);
    await cordon(y, false);
    await deployment(apps, 'p2', { replicas: 1, cpu: '1500m', hosts: [y, c] });
    await running(apps, 'p2', 1);
    await cordon(x, false);
    await cordon(c, false);
    expect((await podsOf(apps, 'p1'))[0]!.spec.nodeName).toBe(x);
    expect((await podsOf(apps, 'p2'))[0]!.spec.nodeName).toBe(y);

    await suite.optIn(ns, 'md-a', 0, 5);
    await suite.optIn(ns, 'md-b', 0, 5);
    // The first by name (x, in md-a) goes, its pod moving to c; y's pod then has nowhere to go.
    await eventually('md-a removed', async () => (await suite.replicas(ns)) === 0, 90_000);
    await running(apps, 'p1', 1);
    expect((await podsOf(apps, 'p1'))[0]!.spec.nodeName).toBe(c);
    await new Promise((r) => setTimeout(r, 6000)); // more scans than the unneeded time
    expect(await suite.replicas(ns, 'md-b')).toBe(1);
    expect((await nodesOf(pool)).map((n) => n.metadata.name)).toContain(y);
    const why = await explain('--node', y);
    expect(why.out).toMatch(/kept .*pod .*p2.* cannot move: .*\[no_place_for_pods\]/);
  });

  it('keeps a node whose pod a PDB protects now; a drain that does not finish fails: uncordoned, Machine kept, reason recorded', async () => {
    const { ns, pool } = await suite.cluster({ replicas: 1, prefix: 'sd-fail' });
    await suite.another(ns, pool, { md: 'md-spare', max: 5, cpu: '4', replicas: 1, annotations: {} });
    await env.mgmt.api.mergePatch(capiPath(ns, 'machinedeployments', 'md-spare'), {
      metadata: {
        annotations: {
          'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': null,
          'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': null,
        },
      },
    });
    const nodes = await readyNodes(pool, 2);
    const target = (await machinesOf(ns)).find((m) => m.metadata.name.startsWith('md-a-'))!.metadata.name;
    const spare = nodes.find((n) => n !== target)!;
    const apps = await testNamespace(workload, 'sd-fail');
    await cordon(spare, true);
    await deployment(apps, 'guarded', { replicas: 1, cpu: '100m', pool });
    const [guarded] = await running(apps, 'guarded', 1);
    await cordon(spare, false);
    // minAvailable 1 of 1: the PDB allows no disruption, so the node is kept without a drain attempt.
    await workload.ok('POST', `/apis/policy/v1beta1/namespaces/${apps}/poddisruptionbudgets`, {
      metadata: { name: 'guarded' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } },
    });
    await eventually('the PDB computed', async () => {
      const b = await workload.ok<{ status?: { expectedPods?: number } }>(
        'GET',
        `/apis/policy/v1beta1/namespaces/${apps}/poddisruptionbudgets/guarded`,
      );
      return b.status?.expectedPods === 1;
    });
    await suite.optIn(ns, 'md-a', 0, 5);
    await new Promise((r) => setTimeout(r, 6000)); // past the unneeded time, several scans
    const kept = await explain('--node', target);
    expect(kept.out).toContain(
      `PodDisruptionBudget ${apps}/guarded allows no disruption now [blocked_by_pod]`,
    );
    expect(await events('Node', target, 'ScaleDown')).toEqual([]);
    expect(await suite.replicas(ns)).toBe(1);

    // Without the PDB it goes, but its pod never finishes terminating (a finalizer) and the Machine's
    // own drain timeout (5 s) ends the drain.
    const podPath = `/api/v1/namespaces/${apps}/pods/${guarded!.metadata.name}`;
    await env.mgmt.api.mergePatch(capiPath(ns, 'machines', target), {
      spec: { deletion: { nodeDrainTimeoutSeconds: 5 } },
    });
    await workload.mergePatch(podPath, { metadata: { finalizers: ['test.capi-autopilot.io/hold'] } });
    const before = await metric(
      'failed_scale_downs_total',
      `node_group="MachineDeployment/${ns}/md-a",reason="drain"`,
    );
    try {
      await workload.ok('DELETE', `/apis/policy/v1beta1/namespaces/${apps}/poddisruptionbudgets/guarded`);
      const failed = await eventually(
        'a ScaleDownFailed event on the node',
        async () => {
          const e = await events('Node', target, 'ScaleDownFailed');
          return e.length > 0 && e;
        },
        60_000,
      );
      expect(failed[0]!.message).toContain('drain timed out');
      expect(failed[0]!.message).toContain(guarded!.metadata.name);
      // Stop further attempts, then look at what the failure left.
      await workload.mergePatch(`/api/v1/nodes/${target}`, {
        metadata: { annotations: { 'cluster-autoscaler.kubernetes.io/scale-down-disabled': 'true' } },
      });
      await eventually(
        'the node schedulable again and the Machine unclaimed',
        async () => {
          const n = (await nodesOf(pool)).find((x) => x.metadata.name === target);
          const m = (await machinesOf(ns)).find((x) => x.metadata.name === target);
          return (
            n !== undefined &&
            !n.spec.unschedulable &&
            m !== undefined &&
            !('capi-autopilot.io/delete-operation' in (m.metadata.annotations ?? {})) &&
            !('cluster.x-k8s.io/delete-machine' in (m.metadata.annotations ?? {}))
          );
        },
        60_000,
      );
      expect(await suite.replicas(ns)).toBe(1);
      expect(
        await metric('failed_scale_downs_total', `node_group="MachineDeployment/${ns}/md-a",reason="drain"`),
      ).toBeGreaterThan(before);
      // /status shows it from the next evaluation on.
      const failure = await eventually('the failure in /status', async () => {
        const status = svc.status() as {
          scaleDown: { clusters: Array<{ cluster: string; lastFailure?: { node: string; reason: string } }> };
        };
        return status.scaleDown.clusters.find((x) => x.cluster === `${ns}/c1`)?.lastFailure;
      });
      expect(failure.node).toBe(target);
      expect(failure.reason).toContain('drain timed out');
    } finally {
      await workload.mergePatch(podPath, { metadata: { finalizers: null } });
    }
  });
});
