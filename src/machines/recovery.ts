// Finds every delete operation recorded on the API objects that this process is not running itself:
// ledger entries, Machine marks without an entry, and holds (the hook's value is the operation id) without
// either, which a rollback that stopped half-way leaves. Pure; the recovery controller runs
// `MachineDeleter.recover` on each. Marks it cannot read are reported, never acted on.
import type { Machine, MachineDeployment, MachineSet } from '../capi/types.ts';
import { HOLD_HOOK_ANNOTATION, ledgerOf, markOf } from './records.ts';
import { parseGroupKey, type OpTarget } from './snapshot.ts';

export interface Found {
  operations: OpTarget[];
  /** Records that could not be read: `namespace/name: why`. */
  problems: string[];
}

const ID = /^[a-z0-9]{6,32}$/;

export function findOperations(
  machines: readonly Machine[],
  groups: ReadonlyArray<MachineDeployment | MachineSet>,
  running: ReadonlySet<string>,
): Found {
  const out = new Map<string, OpTarget>();
  const problems: string[] = [];
  const add = (t: OpTarget) => {
    const k = `${t.namespace}/${t.id}`;
    if (!running.has(t.id) && !out.has(k)) out.set(k, t);
  };
  for (const g of groups) {
    const { ledger, error } = ledgerOf(g.meta.annotations);
    if (error) problems.push(`${g.meta.namespace}/${g.meta.name}: ${error}`);
    for (const [id, e] of Object.entries(ledger?.ops ?? {})) {
      add({
        id,
        namespace: g.meta.namespace,
        machine: e.machine,
        uid: e.uid,
        group: { kind: g.kind, namespace: g.meta.namespace, name: g.meta.name },
        purpose: e.purpose,
      });
    }
  }
  for (const m of machines) {
    const ns = m.meta.namespace;
    const { mark, error } = markOf(m.meta.annotations);
    if (error) {
      problems.push(`${ns}/${m.meta.name}: ${error}`);
      continue;
    }
    const group = mark ? parseGroupKey(ns, mark.group) : undefined;
    const base = { namespace: ns, machine: m.meta.name, uid: m.meta.uid };
    if (mark && group) add({ ...base, id: mark.id, group, purpose: mark.purpose });
    const hold = m.meta.annotations[HOLD_HOOK_ANNOTATION];
    if (hold !== undefined && hold !== mark?.id) {
      if (!ID.test(hold))
        problems.push(`${ns}/${m.meta.name}: hold ${HOLD_HOOK_ANNOTATION}="${hold}" is not an operation id`);
      else if (m.ownerMachineSet)
        add({
          ...base,
          id: hold,
          group: { kind: 'MachineSet', namespace: ns, name: m.ownerMachineSet },
          purpose: 'scale-down',
        });
      else
        problems.push(
          `${ns}/${m.meta.name}: hold of operation ${hold} on a Machine without a MachineSet; remove ${HOLD_HOOK_ANNOTATION} by hand`,
        );
    }
  }
  return { operations: [...out.values()], problems };
}
