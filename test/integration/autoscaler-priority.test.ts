// The priority expander on the real cluster. Each Cluster has two node groups the pending pods could use:
// md-a (4 CPU, 16Gi) and md-b (8 CPU, 8Gi). The pods are shaped so that least-waste prefers the group the
// priorities rank lower, so every assertion fails if the expander setting were ignored. Proven:
//   1. with `autoscaler.expander=priority`, the service reads cluster-autoscaler-priority-expander from
//      `autoscaler.priorityExpanderNamespace` and scales only the highest-priority group (event included);
//   2. the ConfigMap is read again for each decision: after swapping the priorities, the other group grows;
//   3. a malformed ConfigMap (a non-integer priority) is rejected as a whole, with a warning in the log,
//      and the decision falls back to least-waste (not to the valid-looking part, nor to the old content).
// The management apiserver is this file's own (useSimulator), and the ConfigMap namespace is created here,
// so no other test's service reads it nor writes one there.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PRIORITY_CONFIGMAP } from '../../src/autoscaler/io.ts';
import type { Service } from '../../src/service.ts';
import { autoscalerService } from './support/autoscaler.ts';
import { fixtures, useSimulator } from './support/capi.ts';
import { clusterApi, eventually, testNamespace, uniqueName } from './support/kube.ts';

interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string };
  status?: { phase?: string };
}

const POOL_LABEL = 'test.capi-autopilot.io/pool';
const SHAPES = [
  { md: 'md-a', cpu: '4', memory: '16Gi' },
  { md: 'md-b', cpu: '8', memory: '8Gi' },
] as const;
type Md = (typeof SHAPES)[number]['md'];

describe('autoscaler: priority expander', () => {
  const env = useSimulator('v1beta2');
  const workload = clusterApi();
  const prioNs = uniqueName('prio-cfg');
  let svc: Service;
  const logs: string[] = [];
  const capi = (ns: string, r: string, name = '') =>
    `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/${r}${name ? `/${name}` : ''}`;
  const cmPath = `/api/v1/namespaces/${prioNs}/configmaps/${PRIORITY_CONFIGMAP}`;

  /** Writes the ConfigMap's `priorities` value, creating the ConfigMap the first time. */
  async function setPriorities(priorities: string) {
    const r = await env.mgmt.api.req('GET', cmPath);
    if (r.status === 404)
      await env.mgmt.api.ok('POST', `/api/v1/namespaces/${prioNs}/configmaps`, {
        metadata: { name: PRIORITY_CONFIGMAP },
        data: { priorities },
      });
    else await env.mgmt.api.mergePatch(cmPath, { data: { priorities } });
  }

  /** Cluster c1 in a new namespace with md-a and md-b at 0, both opted in and able to hold the pool's pods. */
  async function pair() {
    const ns = uniqueName('prio');
    const pool = uniqueName('pool');
    await env.mgmt.api.ok('POST', '/api/v1/namespaces', { metadata: { name: ns } });
    for (const s of SHAPES) {
      const f = fixtures('v1beta2', ns, { md: s.md, replicas: 0, pool, cpu: s.cpu });
      f.template.spec.template.spec.instanceType.memory = s.memory;
      (f.md.metadata as { annotations?: Record<string, string> }).annotations = {
        'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': '0',
        'cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size': '3',
        'capacity.cluster-autoscaler.kubernetes.io/cpu': s.cpu,
        'capacity.cluster-autoscaler.kubernetes.io/memory': s.memory,
        'capacity.cluster-autoscaler.kubernetes.io/labels': `${POOL_LABEL}=${pool}`,
      };
      if (s.md === 'md-a') await env.mgmt.api.ok('POST', capi(ns, 'clusters'), f.cluster);
      await env.mgmt.api.ok(
        'POST',
        `/apis/infrastructure.sandbox.capi-autopilot.io/v1alpha1/namespaces/${ns}/sandboxmachinetemplates`,
        f.template,
      );
      await env.mgmt.api.ok('POST', capi(ns, 'machinedeployments'), f.md);
    }
    await env.mgmt.api.ok('POST', `/api/v1/namespaces/${ns}/secrets`, {
      metadata: { name: 'c1-kubeconfig', labels: { 'cluster.x-k8s.io/cluster-name': 'c1' } },
      type: 'cluster.x-k8s.io/secret',
      data: { value: Buffer.from(readFileSync(inject('cluster').kubeconfigPath)).toString('base64') },
    });
    return { ns, pool };
  }

  const replicas = async (ns: string, md: Md) =>
    (await env.mgmt.api.ok<{ spec: { replicas?: number } }>('GET', capi(ns, 'machinedeployments', md))).spec
      .replicas ?? 0;
  const both = async (ns: string) => ({ a: await replicas(ns, 'md-a'), b: await replicas(ns, 'md-b') });
  const pod = (apps: string, name: string, pool: string, cpu: string, memory: string) =>
    workload.ok('POST', `/api/v1/namespaces/${apps}/pods`, {
      metadata: { name },
      spec: {
        nodeSelector: { [POOL_LABEL]: pool },
        containers: [
          { name: 'c', image: 'registry.invalid/pause', resources: { requests: { cpu, memory } } },
        ],
      },
    });
  /** The named pods Running, each on a node of `md` carrying the pool label. */
  async function runningOn(apps: string, names: string[], pool: string, md: Md) {
    const pods = await eventually(
      `${names.join(', ')} Running`,
      async () => {
        const l = (await workload.ok<{ items: Pod[] }>('GET', `/api/v1/namespaces/${apps}/pods`)).items;
        const mine = l.filter((p) => names.includes(p.metadata.name));
        return mine.length === names.length && mine.every((p) => p.status?.phase === 'Running') && mine;
      },
      90_000,
    );
    const nodes = (
      await workload.ok<{ items: Array<{ metadata: { name: string } }> }>(
        'GET',
        `/api/v1/nodes?labelSelector=${encodeURIComponent(`${POOL_LABEL}=${pool}`)}`,
      )
    ).items
      .map((n) => n.metadata.name)
      .filter((n) => n.startsWith(`${md}-`));
    for (const p of pods) expect(nodes).toContain(p.spec.nodeName);
  }
  const scaledUpEvents = async (ns: string, md: Md) =>
    (
      await env.mgmt.api.ok<{
        items: Array<{ reason: string; message: string; involvedObject: { kind: string; name: string } }>;
      }>('GET', `/api/v1/namespaces/${ns}/events`)
    ).items.filter(
      (e) =>
        e.reason === 'ScaledUpGroup' &&
        e.involvedObject.kind === 'MachineDeployment' &&
        e.involvedObject.name === md,
    );
  const warnings = () =>
    logs
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string; configMap?: string; err?: string })
      .filter((l) => l.msg.startsWith('priority expander ConfigMap unreadable'));

  beforeAll(async () => {
    await env.mgmt.api.ok('POST', '/api/v1/namespaces', { metadata: { name: prioNs } });
    svc = await autoscalerService(
      env,
      ['autoscaler.expander=priority', `autoscaler.priorityExpanderNamespace=${prioNs}`],
      { logs },
    );
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('scales the highest-priority group, and the other after the priorities are swapped', async () => {
    const { ns, pool } = await pair();
    await setPriorities('10:\n  - /md-a$\n50:\n  - ^MachineDeployment/.*/md-b$\n');
    const apps = await testNamespace(workload, 'prio-apps');
    // 2 × (2 CPU, 1Gi): least-waste would take md-a (waste 0 + 14/16 against 4/8 + 6/8); md-b ranks higher.
    await pod(apps, 'p1', pool, '2', '1Gi');
    await pod(apps, 'p2', pool, '2', '1Gi');
    await eventually('md-b to be scaled to 1', async () => (await replicas(ns, 'md-b')) === 1, 60_000);
    await runningOn(apps, ['p1', 'p2'], pool, 'md-b');
    expect(await both(ns)).toEqual({ a: 0, b: 1 });
    const ev = await eventually('ScaledUpGroup on md-b', async () => (await scaledUpEvents(ns, 'md-b'))[0]);
    expect(ev.message).toContain(`MachineDeployment/${ns}/md-b 0->1 (max: 3)`);
    expect(await scaledUpEvents(ns, 'md-a')).toEqual([]);

    // md-a now ranks higher. (1 CPU, 7Gi) fits neither existing node (md-b's has 6Gi left); least-waste
    // would take md-b (7/8 + 1/8 against 3/4 + 9/16), and so would the ConfigMap's previous content.
    await setPriorities('100:\n  - /md-a$\n1:\n  - /md-b$\n');
    await pod(apps, 'p3', pool, '1', '7Gi');
    await eventually('md-a to be scaled to 1', async () => (await replicas(ns, 'md-a')) === 1, 60_000);
    await runningOn(apps, ['p3'], pool, 'md-a');
    expect(await both(ns)).toEqual({ a: 1, b: 1 });
    const evA = await eventually('ScaledUpGroup on md-a', async () => (await scaledUpEvents(ns, 'md-a'))[0]);
    expect(evA.message).toContain(`MachineDeployment/${ns}/md-a 0->1 (max: 3)`);
    expect(warnings()).toEqual([]);
  });

  it('a malformed priorities ConfigMap is ignored as a whole with a warning: least-waste decides', async () => {
    const { ns, pool } = await pair();
    // Were the valid-looking entry (or the previous content) used, md-a would win.
    await setPriorities('10:\n  - /md-a$\nhigh:\n  - /md-b$\n');
    const apps = await testNamespace(workload, 'prio-bad');
    // (1 CPU, 7Gi): least-waste takes md-b (7/8 + 1/8 against 3/4 + 9/16).
    await pod(apps, 'p1', pool, '1', '7Gi');
    await eventually('md-b to be scaled to 1', async () => (await replicas(ns, 'md-b')) === 1, 60_000);
    await runningOn(apps, ['p1'], pool, 'md-b');
    expect(await both(ns)).toEqual({ a: 0, b: 1 });
    const w = await eventually('the warning', async () => warnings()[0]);
    expect(w).toMatchObject({
      level: 40,
      msg: 'priority expander ConfigMap unreadable: every group ranks the same',
      configMap: `${prioNs}/${PRIORITY_CONFIGMAP}`,
      err: 'priority "high" is not an integer',
    });
  });
});
