// Recovery by the service itself: a process running the delete protocol is killed with SIGKILL right
// before a step; the service (its recovery controller, on informers) then finishes or undoes the
// operation from what is on the objects, with nothing left behind.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMachineDeletion } from '../../src/machines/controller.ts';
import { startService, type Service } from '../../src/service.ts';
import { useSimulator, type Management } from './support/capi.ts';
import { eventually, serviceConfig } from './support/kube.ts';
import { Groups, quietLog } from './support/machines.ts';

function killedBefore(mgmt: Management, ns: string, machine: string, uid: string, step: string) {
  return new Promise<{ code: number | null; signal: string | null; out: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'support', 'delete-child.ts'), mgmt.kubeconfigPath, ns, machine, uid, step],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

describe('recovery of delete operations by the service after kill -9', () => {
  const env = useSimulator('v1beta2');
  let g: Groups;
  let svc: Service;

  beforeAll(async () => {
    g = new Groups(env.mgmt);
    const config = serviceConfig(env.mgmt.kubeconfigPath, 'workloadClusters.mode=secret');
    svc = await startService({
      config,
      log: quietLog(),
      portOverride: 0,
      controllers: (env) => [createMachineDeletion(env).recovery],
    });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it.each([
    ['claim', 3],
    ['delete', 3],
    ['decrement', 2],
    ['release', 2],
    ['prune', 2],
  ] as const)(
    'killed before %s: the service converges to %i replicas, nothing left behind',
    async (step, replicas) => {
      const { ns, machines } = await g.create(3, 1, `rec-${step}`);
      const chosen = [...machines].sort((a, b) => a.meta.name.localeCompare(b.meta.name)).at(-1)!;
      // The child is the leader while it lives: the service takes over only once it is dead, as a
      // standby does after the leader's lease expires.
      for (const c of svc.controllers) c.setActive(false);
      const child = await killedBefore(env.mgmt, ns, chosen.meta.name, chosen.meta.uid, step);
      for (const c of svc.controllers) c.setActive(true);
      expect(child.signal).toBe('SIGKILL');
      await eventually(
        'the service to recover the operation',
        async () => (await g.leftovers(ns)).length === 0 && (await g.md(ns)).replicas === replicas,
        60_000,
      );
      const left = await g.running(ns, replicas);
      if (replicas === 2) expect(left.map((m) => m.meta.uid)).not.toContain(chosen.meta.uid);
      for (const m of machines) if (m !== chosen) expect(left.map((x) => x.meta.uid)).toContain(m.meta.uid);
    },
  );
});
