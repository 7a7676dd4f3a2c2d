// Shared by the delete-protocol tests: a management client, node groups with running machines, the
// protocol's deleter and recovery, and the checks that nothing of an operation is left behind.
import { Writable } from 'node:stream';
import { expect } from 'vitest';
import { fromObject } from '../../../src/capi/adapters/index.ts';
import type { Machine, MachineDeployment, MachineSet } from '../../../src/capi/types.ts';
import { EventRecorder } from '../../../src/kube/events.ts';
import { KubeClient } from '../../../src/kube/client.ts';
import { HttpsTransport, kubeConfigFrom, type Transport } from '../../../src/kube/transport.ts';
import {
  MachineDeleter,
  type DeleteRequest,
  type DeleterDeps,
  type OpResult,
} from '../../../src/machines/executor.ts';
import {
  HOLD_HOOK_ANNOTATION,
  LEDGER_ANNOTATION,
  ledgerOf,
  OPERATION_ANNOTATION,
} from '../../../src/machines/records.ts';
import { findOperations } from '../../../src/machines/recovery.ts';
import { createLogger } from '../../../src/runtime/log.ts';
import { createDeployment, type Management } from './capi.ts';
import { eventually } from './kube.ts';

export const quietLog = () =>
  createLogger({ level: 'silent', format: 'json' }, new Writable({ write: (_c, _e, cb) => cb() }));

export function managementTransport(mgmt: Management): Transport {
  return new HttpsTransport(kubeConfigFrom({ kubeconfig: mgmt.kubeconfigPath }));
}

export function managementClient(
  mgmt: Management,
  transport = managementTransport(mgmt),
  maxRetries = 3,
): KubeClient {
  return new KubeClient(transport, { qps: 500, burst: 500, timeoutMs: 10_000, maxRetries });
}

export class Groups {
  readonly mgmt: Management;
  readonly client: KubeClient;
  constructor(mgmt: Management) {
    this.mgmt = mgmt;
    this.client = managementClient(mgmt);
  }

  path(ns: string, resource: string, name = ''): string {
    return `/apis/cluster.x-k8s.io/${this.mgmt.version}/namespaces/${ns}/${resource}${name ? `/${name}` : ''}`;
  }

  async machines(ns: string): Promise<Machine[]> {
    return (await this.client.get<{ items: unknown[] }>(this.path(ns, 'machines'))).items.map(
      (o) => fromObject(o) as Machine,
    );
  }

  async md(ns: string): Promise<MachineDeployment> {
    return fromObject(
      await this.client.get(this.path(ns, 'machinedeployments', 'md-a')),
    ) as MachineDeployment;
  }

  async machineSets(ns: string): Promise<MachineSet[]> {
    return (await this.client.get<{ items: unknown[] }>(this.path(ns, 'machinesets'))).items.map(
      (o) => fromObject(o) as MachineSet,
    );
  }

  /** A MachineDeployment `md-a` with `replicas` Running machines and the autoscaler's min size. */
  async create(replicas: number, min: number, prefix = 'del'): Promise<{ ns: string; machines: Machine[] }> {
    const { ns } = await createDeployment(this.mgmt, { replicas, prefix });
    await this.client.mergePatch(this.path(ns, 'machinedeployments', 'md-a'), {
      metadata: {
        annotations: { 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': String(min) },
      },
    });
    const machines = await this.running(ns, replicas);
    return { ns, machines };
  }

  running(ns: string, n: number): Promise<Machine[]> {
    return eventually(
      `${n} Running machines`,
      async () => {
        const ms = (await this.machines(ns)).filter((m) => !m.meta.deletionTimestamp);
        return (
          ms.length === n && ms.every((m) => m.phase === 'Running' && m.meta.finalizers.length > 0) && ms
        );
      },
      60_000,
    );
  }

  /** A scale-down request for Machine `m` of `md-a`. */
  request(ns: string, m: Machine): DeleteRequest {
    return {
      namespace: ns,
      machine: m.meta.name,
      uid: m.meta.uid,
      group: { kind: 'MachineDeployment', namespace: ns, name: 'md-a' },
      purpose: 'scale-down',
    };
  }

  deleter(holder: string, extra: Partial<DeleterDeps> = {}): MachineDeleter {
    return new MachineDeleter({
      client: this.client,
      version: this.mgmt.version,
      holder,
      log: quietLog(),
      pollMs: 200,
      events: new EventRecorder(this.client, { component: 'capi-autopilot' }),
      ...extra,
    });
  }

  /** Runs recovery (as a new instance would) on every operation left on the namespace's objects. */
  async recoverAll(
    ns: string,
    deleter: MachineDeleter,
    onResult?: (r: OpResult) => void,
  ): Promise<OpResult[]> {
    const machines = (await this.machines(ns)).filter((m) => m.meta.namespace === ns);
    const groups = [await this.md(ns), ...(await this.machineSets(ns))];
    const { operations: ops } = findOperations(machines, groups, new Set());
    const out: OpResult[] = [];
    for (const t of ops) {
      const r = await deleter.recover(t, { untilDone: true });
      onResult?.(r);
      out.push(r);
    }
    return out;
  }

  /** Only `chosen` went: `replicas` Running machines, every other original one still there, nothing left. */
  async expectOnlyRemoved(ns: string, machines: Machine[], chosen: Machine, replicas: number): Promise<void> {
    expect((await this.md(ns)).replicas).toBe(replicas);
    const left = await this.running(ns, replicas);
    expect(left.map((m) => m.meta.uid).sort()).toEqual(
      machines
        .filter((m) => m !== chosen)
        .map((m) => m.meta.uid)
        .sort(),
    );
    expect(await this.leftovers(ns)).toEqual([]);
  }

  /** What an operation may leave behind: marks, holds and ledger entries. Empty when clean. */
  async leftovers(ns: string): Promise<string[]> {
    const out: string[] = [];
    for (const m of await this.machines(ns)) {
      for (const k of [OPERATION_ANNOTATION, HOLD_HOOK_ANNOTATION, 'cluster.x-k8s.io/delete-machine'])
        if (k in m.meta.annotations) out.push(`${m.meta.name} has ${k}`);
    }
    // The ledger itself stays (its replicas baseline); an entry left in it is a leak.
    for (const g of [await this.md(ns), ...(await this.machineSets(ns))]) {
      const { ledger, error } = ledgerOf(g.meta.annotations);
      if (error || Object.keys(ledger?.ops ?? {}).length)
        out.push(`${g.kind} ${g.meta.name} has ${g.meta.annotations[LEDGER_ANNOTATION]}`);
    }
    return out;
  }
}
