// Finds every delete operation recorded on the API objects that this process is not running itself:
// ledger entries, Machine marks without an entry, and hold hooks without a mark (a rollback that stopped
// half-way). Pure; the recovery controller runs `MachineDeleter.recover` on each.
import type { Machine, MachineDeployment, MachineSet } from '../capi/types.ts';
import { HOLD_HOOK_ANNOTATION, ledgerOf, markOf } from './records.ts';
import { parseGroupKey, type OpTarget } from './snapshot.ts';

/** Operation id used for a hold hook that no mark explains (it never reaches a ledger). */
export const LEAKED_HOOK_ID = 'leakedhook';

export function findOperations(
  machines: readonly Machine[],
  groups: ReadonlyArray<MachineDeployment | MachineSet>,
  running: ReadonlySet<string>,
): OpTarget[] {
  const out = new Map<string, OpTarget>();
  const add = (t: OpTarget) => {
    if (!running.has(t.id) && !out.has(`${t.namespace}/${t.id}`)) out.set(`${t.namespace}/${t.id}`, t);
  };
  const byName = new Map(machines.map((m) => [`${m.meta.namespace}/${m.meta.name}`, m]));
  for (const g of groups) {
    const { ledger } = ledgerOf(g.meta.annotations);
    for (const [id, e] of Object.entries(ledger?.ops ?? {})) {
      const m = byName.get(`${g.meta.namespace}/${e.machine}`);
      const mark = m ? markOf(m.meta.annotations).mark : undefined;
      add({
        id,
        namespace: g.meta.namespace,
        machine: e.machine,
        uid: e.uid,
        group: { kind: g.kind, namespace: g.meta.namespace, name: g.meta.name },
        purpose: mark?.id === id ? mark.purpose : 'scale-down',
      });
    }
  }
  for (const m of machines) {
    const { mark } = markOf(m.meta.annotations);
    const ns = m.meta.namespace;
    const group = mark ? parseGroupKey(ns, mark.group) : undefined;
    if (mark && group) {
      add({
        id: mark.id,
        namespace: ns,
        machine: m.meta.name,
        uid: m.meta.uid,
        group,
        purpose: mark.purpose,
      });
    } else if (!mark && HOLD_HOOK_ANNOTATION in m.meta.annotations && m.ownerMachineSet) {
      add({
        id: `${LEAKED_HOOK_ID}${m.meta.uid.replace(/-/g, '').slice(0, 16)}`,
        namespace: ns,
        machine: m.meta.name,
        uid: m.meta.uid,
        group: { kind: 'MachineSet', namespace: ns, name: m.ownerMachineSet },
        purpose: 'scale-down',
      });
    }
  }
  return [...out.values()];
}
