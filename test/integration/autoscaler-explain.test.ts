// The autoscaler's explanations on the real cluster: `explain` (the CLI, in-process) prints the reasons the
// pod's NotTriggerScaleUp event carries and what a group would do; node group gauges follow the objects
// between decisions; a malformed group gets a NodeGroupDisabled event and a gauge; `--dry-run` decides and
// reports in /status but writes nothing at all (no scale, no event, no lease).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/autoscaler/decision.ts';
import type { Service } from '../../src/service.ts';
import {
  autoscalerService,
  autoscalerSuite,
  capiPath,
  explainCli,
  metricValue,
  opted,
  POOL_LABEL,
} from './support/autoscaler.ts';
import { createDeployment, useSimulator } from './support/capi.ts';
import { clusterApi, eventually, testNamespace } from './support/kube.ts';

interface Event {
  reason: string;
  message: string;
  involvedObject: { name: string; kind: string };
}

describe('autoscaler: explain, gauges and events, dry run', () => {
  const env = useSimulator('v1beta2');
  const workload = clusterApi();
  const suite = autoscalerSuite(env, 'explain');
  let svc: Service;

  beforeAll(async () => {
    svc = await autoscalerService(env, [suite.discovery, 'autoscaler.scaleUpBatchIdle=300ms']);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  const pod = (name: string, pool: string, cpu: string) => ({
    metadata: { name },
    spec: {
      nodeSelector: { [POOL_LABEL]: pool },
      containers: [{ name: 'c', image: 'registry.invalid/pause', resources: { requests: { cpu } } }],
    },
  });
  // Pods' events are in the workload cluster, node groups' in the management cluster.
  const events = async (path: string, api = workload) =>
    (await api.ok<{ items: Event[] }>('GET', path)).items;
  const explain = (...args: string[]) => explainCli(env, suite.discovery, ...args);
  const metric = (name: string, labels: string) => metricValue(svc, name, labels);

  it('explain --pod prints the reasons of the NotTriggerScaleUp event; --group and --json the group', async () => {
    const { ns, pool } = await suite.group({ max: 3 });
    const apps = await testNamespace(workload, 'ex-big');
    await workload.ok('POST', `/api/v1/namespaces/${apps}/pods`, pod('huge', pool, '16'));
    const group = `MachineDeployment/${ns}/md-a`;
    const ev = await eventually(
      'a NotTriggerScaleUp event naming md-a',
      async () =>
        (await events(`/api/v1/namespaces/${apps}/events`)).find(
          (e) => e.reason === 'NotTriggerScaleUp' && e.message.includes(group),
        ),
      60_000,
    );
    const reason = new RegExp(`${group}: ([^;]+)`).exec(ev.message)![1]!;
    expect(reason).toBe('Insufficient cpu on a new node');

    const byPod = await explain('--cluster', `${ns}/c1`, '--pod', `${apps}/huge`);
    expect(byPod.code).toBe(0);
    expect(byPod.out).toContain(`${apps}/huge: no node group can take it:`);
    expect(byPod.out).toContain(`  ${group}: ${reason}`);

    const byGroup = await explain('--group', `${ns}/md-a`);
    expect(byGroup.code).toBe(0);
    expect(byGroup.out).toMatch(
      new RegExp(`  ${group}  min 0 max 3 target 0 machines 0 ready 0  can scale up`),
    );
    expect(byGroup.out).toContain('new node: cpu 4, memory 8Gi, pods 110');
    expect(byGroup.out).toContain(`    ${group}: ${reason}`);

    const json = await explain('--cluster', `${ns}/c1`, '--json');
    const [d] = JSON.parse(json.out) as Decision[];
    const refused = d!.noScaleUp.find((n) => n.pod === `${apps}/huge`)!;
    expect(refused.reasons[group]).toBe(reason);
    expect(refused.codes[group]).toBe('too_big_for_template');
    // explain never writes: the group is still at zero and the service's metric carries the same code.
    expect(await suite.replicas(ns)).toBe(0);
    expect(await metric('pods_without_scale_up', `node_group="${group}",reason="too_big_for_template"`)).toBe(
      1,
    );

    const missing = await explain('--cluster', `${ns}/c1`, '--pod', `${apps}/nope`);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`pod ${apps}/nope not found`);
  });

  it('explain says which cluster it could not look at, keeps stdout valid JSON, and exits 1', async () => {
    // A Cluster whose kubeconfig Secret does not exist: its workload cluster cannot be reached.
    const { ns } = await createDeployment(env.mgmt, { replicas: 0, prefix: 'ex-nosecret' });
    const r = await explain('--cluster', `${ns}/c1`, '--json', '--timeout', '5');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual([]);
    expect(r.err).toMatch(new RegExp(`Cluster ${ns}/c1: not looked at: .*c1-kubeconfig`));
  });

  it('a malformed group gets NodeGroupDisabled and node_group_disabled; gauges follow edits without pending pods', async () => {
    const { ns } = await suite.group({ max: 'three' });
    const group = `MachineDeployment/${ns}/md-a`;
    const ev = await eventually(
      'a NodeGroupDisabled event on md-a',
      async () =>
        (await events(`/api/v1/namespaces/${ns}/events`, env.mgmt.api)).find(
          (e) => e.reason === 'NodeGroupDisabled' && e.involvedObject.name === 'md-a',
        ),
      30_000,
    );
    expect(ev.message).toContain('max-size "three" is not an integer');
    expect(await metric('node_group_disabled', `node_group="${group}",reason="InvalidBounds"`)).toBe(1);
    expect(await metric('node_group_healthy', `node_group="${group}"`)).toBe(0);

    // Fixed: the disabled series goes, sizes show, without any pending pod to trigger a decision.
    await env.mgmt.api.mergePatch(capiPath(ns, 'machinedeployments', 'md-a'), {
      metadata: { annotations: opted(0, 4) },
    });
    await eventually(
      'max size 4 exported',
      async () => (await metric('node_group_max_size', `node_group="${group}"`)) === 4,
      30_000,
    );
    expect(await metric('node_group_disabled', `node_group="${group}"`)).toBeUndefined();
    expect(await metric('node_group_healthy', `node_group="${group}"`)).toBe(1);
    // Someone scales it by hand: target and then the machines follow.
    await env.mgmt.api.mergePatch(capiPath(ns, 'machinedeployments', 'md-a'), { spec: { replicas: 1 } });
    await eventually(
      'target 1 and one machine',
      async () =>
        (await metric('node_group_target_size', `node_group="${group}"`)) === 1 &&
        (await metric('node_group_current_size', `node_group="${group}"`)) === 1,
      60_000,
    );
  });

  it('--dry-run decides and shows it in /status, and writes nothing: no scale, no event, no lease', async () => {
    const dry = autoscalerSuite(env, 'dry-run');
    const lease = `dry-run-${process.pid}`;
    const dsvc = await autoscalerService(
      env,
      [
        dry.discovery,
        'leaderElection.enabled=true',
        `leaderElection.leaseName=${lease}`,
        'autoscaler.scaleUpBatchIdle=300ms',
      ],
      { dryRun: true },
    );
    try {
      const { ns, pool } = await dry.group({ max: 3 });
      const apps = await testNamespace(workload, 'ex-dry');
      await workload.ok('POST', `/api/v1/namespaces/${apps}/pods`, pod('small', pool, '1'));
      const status = () =>
        (dsvc.status() as { autoscaler: { dryRun: boolean; clusters: Decision[] } }).autoscaler;
      const d = await eventually(
        'the would-be scale-up in /status',
        async () => status().clusters.find((c) => c.cluster === `${ns}/c1` && c.scaleUps.length > 0),
        60_000,
      );
      expect(status().dryRun).toBe(true);
      expect(d.scaleUps).toEqual([
        { group: `MachineDeployment/${ns}/md-a`, from: 0, to: 1, pods: [`${apps}/small`], notes: [] },
      ]);
      // Two more scan intervals: still nothing written.
      await new Promise((r) => setTimeout(r, 4500));
      expect(await dry.replicas(ns)).toBe(0);
      const verbs = (
        await dsvc.metrics.registry.getSingleMetric('capi_autopilot_kube_requests_total')!.get()
      ).values.map((v) => v.labels.verb);
      expect(verbs.length).toBeGreaterThan(0);
      expect(new Set(verbs)).toEqual(new Set(['GET']));
      expect(
        (await env.mgmt.api.req('GET', `/apis/coordination.k8s.io/v1/namespaces/default/leases/${lease}`))
          .status,
      ).toBe(404);
      const ours = (await events(`/api/v1/namespaces/${apps}/events`)).filter(
        (e) => e.involvedObject.name === 'small',
      );
      expect(ours.map((e) => e.reason)).not.toContain('TriggeredScaleUp');
      expect(ours.map((e) => e.reason)).toContain('FailedScheduling'); // the scheduler's, so events are listed
    } finally {
      await dsvc.stop();
    }
  });
});
