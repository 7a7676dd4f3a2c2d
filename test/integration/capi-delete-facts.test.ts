// The CAPI facts the atomic delete protocol (src/machines/protocol.ts) relies on, one test each, on the
// simulator (CAPI-FACTS §1.1–1.4, §2, §4.4). If the simulator stopped matching CAPI here, the protocol's
// proof would rest on nothing.
import { describe, expect, it } from 'vitest';
import { createDeployment, useSimulator } from './support/capi.ts';
import { eventually } from './support/kube.ts';

interface Obj {
  metadata: {
    name: string;
    uid: string;
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ name: string; kind: string }>;
  };
  spec: { replicas?: number };
  status?: { phase?: string; observedGeneration?: number; replicas?: number };
}

const HOOK = 'pre-terminate.delete.hook.machine.cluster.x-k8s.io/facts';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('CAPI facts behind the delete protocol (simulator, v1beta2)', () => {
  const env = useSimulator('v1beta2');
  const capi = (ns: string, resource: string, name = '') =>
    `/apis/cluster.x-k8s.io/v1beta2/namespaces/${ns}/${resource}${name ? `/${name}` : ''}`;
  const machines = async (ns: string) =>
    (await env.mgmt.api.ok<{ items: Obj[] }>('GET', capi(ns, 'machines'))).items;
  const machineSet = async (ns: string) =>
    (await env.mgmt.api.ok<{ items: Obj[] }>('GET', capi(ns, 'machinesets'))).items[0]!;
  const scale = (ns: string, replicas: number) =>
    env.mgmt.api.mergePatch(capi(ns, 'machinedeployments', 'md-a') + '/scale', { spec: { replicas } });
  const running = (ns: string, n: number) =>
    eventually(`${n} Running machines`, async () => {
      const ms = await machines(ns);
      return ms.length === n && ms.every((m) => m.status?.phase === 'Running') && ms;
    });
  /** Deletes a machine that a pre-terminate hook holds in Deleting. */
  const holdAndDelete = async (ns: string, name: string) => {
    await env.mgmt.api.mergePatch(capi(ns, 'machines', name), {
      metadata: { annotations: { [HOOK]: 'facts' } },
    });
    await env.mgmt.api.ok('DELETE', capi(ns, 'machines', name));
  };
  const release = (ns: string, name: string) =>
    env.mgmt.api.mergePatch(capi(ns, 'machines', name), { metadata: { annotations: { [HOOK]: null } } });

  it('a pre-terminate hook holds a deleting Machine (finalizer kept) and CAPI reports phase Deleting meanwhile', async () => {
    const { ns } = await createDeployment(env.mgmt, { replicas: 1, prefix: 'fact-hold' });
    const [m] = await running(ns, 1);
    await holdAndDelete(ns, m!.metadata.name);
    const held = await eventually('phase Deleting', async () => {
      const x = (await machines(ns))[0];
      return x?.status?.phase === 'Deleting' && x;
    });
    expect(held.metadata.finalizers).toContain('machine.cluster.x-k8s.io');
    await sleep(1000);
    expect((await machines(ns)).map((x) => x.metadata.uid)).toContain(m!.metadata.uid);
  });

  it('a deleting Machine counts as a replica: no replacement while it is held (§1.1, §1.3)', async () => {
    const { ns } = await createDeployment(env.mgmt, { replicas: 3, prefix: 'fact-count' });
    const before = await running(ns, 3);
    await holdAndDelete(ns, before[1]!.metadata.name);
    await eventually('phase Deleting', async () =>
      (await machines(ns)).some((x) => x.status?.phase === 'Deleting'),
    );
    await sleep(1500);
    const now = await machines(ns);
    expect(now).toHaveLength(3);
    expect(now.map((x) => x.metadata.uid).sort()).toEqual(before.map((x) => x.metadata.uid).sort());
  });

  it('a lower spec.replicas takes the deleting Machine first: nothing else is deleted (§1.2 priority 100)', async () => {
    const { ns } = await createDeployment(env.mgmt, { replicas: 3, prefix: 'fact-rank' });
    const before = await running(ns, 3);
    // The alphabetically last: "Random" order would otherwise pick the first.
    const victim = before.map((x) => x.metadata.name).sort()[2]!;
    await holdAndDelete(ns, victim);
    await eventually('phase Deleting', async () =>
      (await machines(ns)).some((x) => x.metadata.name === victim && x.status?.phase === 'Deleting'),
    );
    await scale(ns, 2);
    const ms = await eventually('the MachineSet to observe replicas 2', async () => {
      const s = await machineSet(ns);
      return (
        s.spec.replicas === 2 && (s.status?.observedGeneration ?? 0) >= (s.metadata.generation ?? 0) && s
      );
    });
    expect(ms.spec.replicas).toBe(2);
    await sleep(1000);
    expect(
      (await machines(ns)).filter((x) => x.metadata.deletionTimestamp).map((x) => x.metadata.name),
    ).toEqual([victim]);
    await release(ns, victim);
    const after = await running(ns, 2);
    expect(after.map((x) => x.metadata.name)).not.toContain(victim);
  });

  it('once a deleted Machine is gone with spec.replicas unchanged, a replacement is created (§1.3)', async () => {
    const { ns } = await createDeployment(env.mgmt, { replicas: 2, prefix: 'fact-replace' });
    const before = await running(ns, 2);
    const victim = before[0]!.metadata.name;
    await holdAndDelete(ns, victim);
    await release(ns, victim);
    const after = await eventually('a replacement', async () => {
      const ms = await machines(ns);
      return ms.length === 2 && !ms.some((x) => x.metadata.name === victim) && ms;
    });
    expect(after.filter((x) => !before.some((b) => b.metadata.uid === x.metadata.uid))).toHaveLength(1);
  });

  it('a MachineDeployment propagates replicas to its MachineSet before it reports the generation observed (§2)', async () => {
    const { ns } = await createDeployment(env.mgmt, { replicas: 1, prefix: 'fact-propagate' });
    await running(ns, 1);
    const md = await env.mgmt.api.ok<Obj>(
      'PATCH',
      capi(ns, 'machinedeployments', 'md-a'),
      { spec: { replicas: 2 } },
      'application/merge-patch+json',
    );
    const gen = md.metadata.generation!;
    // Sample fast: whenever the MachineDeployment shows the generation observed, its MachineSet has the replicas.
    for (let i = 0; i < 200; i++) {
      const cur = await env.mgmt.api.ok<Obj>('GET', capi(ns, 'machinedeployments', 'md-a'));
      const s = await machineSet(ns);
      if ((cur.status?.observedGeneration ?? 0) >= gen) {
        expect(s.spec.replicas).toBe(2);
        return;
      }
      await sleep(20);
    }
    throw new Error('the MachineDeployment never observed the new generation');
  });

  it('with a trailing Machine watch, "mark then scale" deletes a different machine: the race is modelled (§1.4)', async () => {
    const { ns } = await createDeployment(env.mgmt, { replicas: 3, prefix: 'fact-race' });
    const before = await running(ns, 3);
    const names = before.map((x) => x.metadata.name).sort();
    const chosen = names[2]!;
    env.sim.setMachineWatchLag(2000);
    try {
      // cluster-autoscaler's order: annotate, then scale at once.
      await env.mgmt.api.mergePatch(capi(ns, 'machines', chosen), {
        metadata: { annotations: { 'cluster.x-k8s.io/delete-machine': 'now' } },
      });
      await scale(ns, 2);
      const deleted = await eventually('a deletion', async () => {
        const d = (await machines(ns)).filter((x) => x.metadata.deletionTimestamp);
        return d.length > 0 && d;
      });
      // The MachineSet acted on a cache without the mark: by "Random" order it took the first name.
      expect(deleted.map((x) => x.metadata.name)).toEqual([names[0]]);
    } finally {
      env.sim.setMachineWatchLag(0);
    }
  });

  it('with a trailing Machine watch, phase Deleting appears only once the lagging cache has the deletion', async () => {
    const { ns } = await createDeployment(env.mgmt, { replicas: 1, prefix: 'fact-lag' });
    const [m] = await running(ns, 1);
    env.sim.setMachineWatchLag(1500);
    try {
      const t0 = Date.now();
      await holdAndDelete(ns, m!.metadata.name);
      await eventually('phase Deleting', async () => (await machines(ns))[0]?.status?.phase === 'Deleting');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    } finally {
      env.sim.setMachineWatchLag(0);
    }
  });
});
