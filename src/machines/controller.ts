// Machine deletion in the service: one MachineDeleter for every caller (scale-down, remediation), and the
// recovery controller that finishes or undoes operations left on the objects by a crash, a lost lease or
// a previous replica. Keyed by node group: any change to a group's ledger, or to a Machine that carries
// our mark or hold, brings the group back; a group with an operation still waiting on CAPI is requeued.
import { fromObject } from '../capi/adapters/index.ts';
import type { Machine, MachineDeployment, MachineSet } from '../capi/types.ts';
import { EventRecorder } from '../kube/events.ts';
import type { KubeObject } from '../kube/informer.ts';
import { Controller } from '../runtime/controller.ts';
import { KeyedWaiters } from '../runtime/wait.ts';
import type { ControllerEnv } from '../service.ts';
import { MachineDeleter } from './executor.ts';
import { HOLD_HOOK_ANNOTATION, LEDGER_ANNOTATION, markOf, OPERATION_ANNOTATION } from './records.ts';
import { parseGroupKey } from './snapshot.ts';
import { findOperations } from './recovery.ts';

const REQUEUE_WHILE_WAITING_MS = 5000;
/** A group with any operation is looked at again at least this often (a run that stopped, a lost event). */
const RECHECK_MS = 60_000;

export interface MachineDeletion {
  deleter: MachineDeleter;
  recovery: Controller;
}

export function createMachineDeletion(env: ControllerEnv): MachineDeletion {
  const machines = env.informers.get('management/machines')!;
  const mds = env.informers.get('management/machinedeployments')!;
  const mss = env.informers.get('management/machinesets')!;
  const wake = new KeyedWaiters();
  // Declared before the controller exists: the deleter's onSettled only fires once runs happen.
  const enqueueGroup = (namespace: string, kind: string, name: string) =>
    recovery.enqueue(`${namespace}/${kind}/${name}`);
  const deleter = new MachineDeleter({
    client: env.management,
    version: env.capiVersion,
    holder: env.identity,
    log: env.log.child({ component: 'machine-deletion' }),
    metrics: env.metrics,
    events: new EventRecorder(env.management, {
      onError: (e) => env.log.debug({ err: e.message }, 'event not recorded'),
    }),
    wake,
    onSettled: (g) => enqueueGroup(g.namespace, g.kind, g.name),
  });

  const recovery = new Controller({
    name: 'machine-deletion-recovery',
    workers: 2,
    log: env.log,
    metrics: env.metrics,
    reconcile: async (key) => {
      const [namespace, kind, name] = key.split('/') as [string, string, string];
      const groups = [mds, mss]
        .flatMap((i) => i.list())
        .filter((o) => o.metadata.namespace === namespace)
        .map((o) => fromObject(o) as MachineDeployment | MachineSet)
        .filter((g) => g.kind === kind && g.meta.name === name);
      const inNs = machines
        .list()
        .filter((o) => o.metadata.namespace === namespace)
        .map((o) => fromObject(o) as Machine);
      const found = findOperations(inNs, groups, new Set());
      for (const p of found.problems)
        env.log.warn({ problem: p }, 'delete operation record unreadable; not acted on');
      const ops = found.operations.filter((t) => t.group.kind === kind && t.group.name === name);
      let waiting = false;
      for (const t of ops) {
        // Our own runs in flight are not recovered, only looked at again later.
        if (deleter.running.has(t.id)) continue;
        const r = await deleter.recover(t);
        if (r.outcome === 'in-progress') waiting = true;
      }
      if (waiting) return { requeueAfterMs: REQUEUE_WHILE_WAITING_MS };
      return ops.length ? { requeueAfterMs: RECHECK_MS } : undefined;
    },
  });

  const onGroup = (kind: string) => (_t: unknown, o: KubeObject) => {
    wake.notify(`${o.metadata.namespace}/${o.metadata.name}`);
    // A MachineSet observing our decrement is what a MachineDeployment's operations wait for.
    const md = o.metadata.ownerReferences?.find((r) => r.controller && r.kind === 'MachineDeployment');
    if (md) wake.notify(`${o.metadata.namespace}/${md.name}`);
    if (LEDGER_ANNOTATION in (o.metadata.annotations ?? {}))
      enqueueGroup(o.metadata.namespace!, kind, o.metadata.name);
  };
  mds.onChange(onGroup('MachineDeployment'));
  mss.onChange(onGroup('MachineSet'));
  machines.onChange((_t, o) => {
    const ns = o.metadata.namespace!;
    wake.notify(`${ns}/${o.metadata.name}`);
    const a = o.metadata.annotations ?? {};
    if (!(OPERATION_ANNOTATION in a) && !(HOLD_HOOK_ANNOTATION in a)) return;
    // The mark names its group; a hold alone is recovered through the Machine's MachineSet.
    const m = fromObject(o) as Machine;
    const { mark } = markOf(a);
    const group = mark ? parseGroupKey(ns, mark.group) : undefined;
    if (group) enqueueGroup(ns, group.kind, group.name);
    else if (m.ownerMachineSet) enqueueGroup(ns, 'MachineSet', m.ownerMachineSet);
  });
  return { deleter, recovery };
}
