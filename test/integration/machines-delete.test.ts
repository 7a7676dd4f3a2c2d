// The atomic delete protocol on a real apiserver with the CAPI simulator: the chosen Machine is the one
// deleted, replicas drop once, nothing is left behind; refusals, a failed drain, a crash before every
// step, a trailing CAPI cache, and a `kubectl scale` racing three removals.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Step } from '../../src/machines/protocol.ts';
import { ensureBinaries } from '../../src/sandbox/binaries.ts';
import { useSimulator } from './support/capi.ts';
import { CrashError } from './support/faults.ts';
import { Groups } from './support/machines.ts';

const run = promisify(execFile);
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

describe('atomic mark-and-delete (v1beta2, simulator)', () => {
  const env = useSimulator('v1beta2');
  let g: Groups;

  beforeAll(async () => {
    g = new Groups(env.mgmt);
  });

  /** The alphabetically last machine: CAPI's "Random" order would pick the first, so a wrong pick shows. */
  const lastOf = <T extends { meta: { name: string } }>(ms: T[]) =>
    [...ms].sort((a, b) => byName(a.meta.name, b.meta.name)).at(-1)!;

  it('deletes exactly the chosen machine, decrements once, and leaves nothing behind', async () => {
    const { ns, machines } = await g.create(3, 1, 'del-basic');
    const chosen = lastOf(machines);
    const drained: string[] = [];
    const r = await g.deleter('a').delete({
      ...g.request(ns, chosen),
      drain: async () => {
        drained.push(chosen.meta.name);
        return undefined;
      },
    });
    expect(r.outcome).toBe('deleted');
    // A step retried after a 409 (CAPI wrote the Machine's status meanwhile) is listed once per attempt.
    const once = r.steps.filter((x, i) => x !== r.steps[i - 1]);
    expect(once).toEqual(['claim', 'drain', 'delete', 'decrement', 'release', 'prune']);
    expect(drained).toEqual([chosen.meta.name]);
    await g.expectOnlyRemoved(ns, machines, chosen, 2);
  });

  it('deletes the chosen machine even when CAPI sees Machine changes 2 s late (the race "mark then scale" loses)', async () => {
    const { ns, machines } = await g.create(3, 1, 'del-lag');
    const chosen = lastOf(machines);
    env.sim.setMachineWatchLag(2000);
    try {
      const r = await g.deleter('a').delete({
        ...g.request(ns, chosen),
      });
      expect(r.outcome).toBe('deleted');
    } finally {
      env.sim.setMachineWatchLag(0);
    }
    const left = await g.running(ns, 2);
    expect(left.map((m) => m.meta.name)).not.toContain(chosen.meta.name);
    expect(left.map((m) => m.meta.uid).sort()).toEqual(
      machines
        .filter((m) => m !== chosen)
        .map((m) => m.meta.uid)
        .sort(),
    );
    expect((await g.md(ns)).replicas).toBe(2);
  });

  it('refuses at min size, a machine already deleting, and a paused cluster, and writes nothing', async () => {
    const { ns, machines } = await g.create(2, 2, 'del-refuse');
    const [a, b] = machines;
    const req = (m: typeof a) => g.request(ns, m!);
    const d = g.deleter('a');
    expect(await d.delete(req(a))).toMatchObject({
      outcome: 'refused',
      reason: expect.stringMatching(/min size 2/),
    });
    await g.client.mergePatch(g.path(ns, 'machinedeployments', 'md-a'), {
      metadata: { annotations: { 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': '0' } },
    });
    await g.client.mergePatch(g.path(ns, 'machines', b!.meta.name), {
      metadata: { annotations: { 'pre-terminate.delete.hook.machine.cluster.x-k8s.io/test': 'x' } },
    });
    await g.client.delete(g.path(ns, 'machines', b!.meta.name));
    expect(await d.delete(req(b))).toMatchObject({
      outcome: 'refused',
      reason: expect.stringMatching(/already being deleted/),
    });
    await g.client.mergePatch(g.path(ns, 'clusters', 'c1'), { spec: { paused: true } });
    expect(await d.delete(req(a))).toMatchObject({
      outcome: 'refused',
      reason: expect.stringMatching(/paused/),
    });
    expect(await g.leftovers(ns)).toEqual([]);
    expect((await g.md(ns)).replicas).toBe(2);
  });

  it('a drain that gives up undoes the claim: no marks, replicas unchanged, the machine stays', async () => {
    const { ns, machines } = await g.create(2, 0, 'del-drainfail');
    const chosen = machines[0]!;
    const r = await g.deleter('a').delete({
      ...g.request(ns, chosen),
      drain: async () => 'timed out after 10m: pod web-1 (PodDisruptionBudget web)',
    });
    expect(r).toMatchObject({ outcome: 'rolled-back' });
    expect(r.steps.filter((x, i) => x !== r.steps[i - 1])).toEqual(['claim', 'drain', 'rollback']);
    expect(await g.leftovers(ns)).toEqual([]);
    expect((await g.md(ns)).replicas).toBe(2);
    expect(
      (await g.machines(ns)).find((m) => m.meta.uid === chosen.meta.uid)?.meta.deletionTimestamp,
    ).toBeUndefined();
  });

  // A crash right before each step; another instance then recovers from the objects alone.
  it.each<[Step['kind'], 'rolled-back' | 'deleted']>([
    ['claim', 'rolled-back'],
    ['drain', 'rolled-back'],
    ['delete', 'rolled-back'],
    ['decrement', 'deleted'],
    ['release', 'deleted'],
    ['prune', 'deleted'],
  ])('a crash before %s is %s by the next instance', async (at, expected) => {
    const { ns, machines } = await g.create(3, 1, `del-crash-${at}`);
    const chosen = lastOf(machines);
    const crashing = g.deleter('a', {
      beforeStep: (_id, step) => {
        if (step.kind === at) throw new CrashError(`crash before ${at}`);
      },
    });
    await expect(
      crashing.delete({
        ...g.request(ns, chosen),
      }),
    ).rejects.toThrow(CrashError);
    const recovered = await g.recoverAll(ns, g.deleter('b'));
    expect(recovered.map((r) => r.outcome)).toEqual([expected]);
    const replicas = expected === 'deleted' ? 2 : 3;
    expect((await g.md(ns)).replicas).toBe(replicas);
    const left = await g.running(ns, replicas);
    if (expected === 'deleted') expect(left.map((m) => m.meta.uid)).not.toContain(chosen.meta.uid);
    // Whatever happened, every other machine is untouched.
    for (const m of machines) if (m !== chosen) expect(left.map((x) => x.meta.uid)).toContain(m.meta.uid);
    expect(await g.leftovers(ns)).toEqual([]);
  });

  it('3 of 5 machines removed concurrently with a `kubectl scale --replicas=7`: exactly the 3 go, replicas end at 7', async () => {
    const { ns, machines } = await g.create(5, 1, 'del-kubectl');
    const chosen = [...machines].sort((a, b) => byName(a.meta.name, b.meta.name)).slice(2);
    const kubectl = (await ensureBinaries({ quiet: true })).path('kubectl');
    const d = g.deleter('a');
    const removals = chosen.map((m, i) =>
      d.delete({
        ...g.request(ns, m),
        // Drains of different lengths spread the protocol's writes around the person's.
        drain: () => new Promise((r) => setTimeout(() => r(undefined), 150 * i)),
      }),
    );
    await new Promise((r) => setTimeout(r, 200));
    await run(kubectl, [
      '--kubeconfig',
      env.mgmt.kubeconfigPath,
      '-n',
      ns,
      'scale',
      'machinedeployment/md-a',
      '--replicas=7',
    ]);
    const results = await Promise.all(removals);
    expect(results.map((r) => r.outcome).every((o) => o === 'deleted' || o === 'replaced')).toBe(true);
    // The person's absolute value stands: decrements that landed before it are overwritten by it, and
    // removals registered before it do not decrement after it.
    expect((await g.md(ns)).replicas).toBe(7);
    const left = await g.running(ns, 7);
    for (const m of chosen) expect(left.map((x) => x.meta.uid)).not.toContain(m.meta.uid);
    for (const m of machines.filter((x) => !chosen.includes(x)))
      expect(left.map((x) => x.meta.uid)).toContain(m.meta.uid);
    expect(await g.leftovers(ns)).toEqual([]);
    const events = await g.client.get<{ items: Array<{ reason: string }> }>(
      `/api/v1/namespaces/${ns}/events`,
    );
    expect(events.items.map((e) => e.reason)).toContain('MachineDeleting');
  });
});

describe('atomic mark-and-delete (v1beta1, simulator)', () => {
  const env = useSimulator('v1beta1');

  it('deletes exactly the chosen machine with a trailing CAPI cache, decrements once, leaves nothing', async () => {
    const g = new Groups(env.mgmt);
    const { ns, machines } = await g.create(3, 1, 'del-v1b1');
    const chosen = [...machines].sort((a, b) => byName(a.meta.name, b.meta.name)).at(-1)!;
    env.sim.setMachineWatchLag(1500);
    try {
      expect((await g.deleter('a').delete(g.request(ns, chosen))).outcome).toBe('deleted');
    } finally {
      env.sim.setMachineWatchLag(0);
    }
    await g.expectOnlyRemoved(ns, machines, chosen, 2);
  });
});
