// Fault injection and invariant checking for the delete protocol's fault suite: a seeded random source,
// a transport that fails writes (refused with 409 or 503 before they are sent, or applied and then lost
// to a timeout), and a checker that watches every Machine and MachineDeployment and flags any state the
// protocol promises never to produce.
import { ledgerOf } from '../../../src/machines/records.ts';
import {
  TransportError,
  type Transport,
  type WireRequest,
  type WireResponse,
} from '../../../src/kube/transport.ts';
import type { KubeObject } from '../../../src/kube/informer.ts';

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An error thrown on purpose by a test hook before a protocol step: the process "crashes" there. */
export class CrashError extends Error {
  override name = 'CrashError';
}

export const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
export const between = (r: () => number, lo: number, hi: number): number =>
  lo + Math.floor(r() * (hi - lo + 1));

export class FaultCounts {
  readonly byKind = new Map<string, number>();
  add(kind: string, n = 1): void {
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + n);
  }
  get total(): number {
    return [...this.byKind.values()].reduce((a, b) => a + b, 0);
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.byKind.entries()].sort());
  }
}

const status = (code: number, reason: string, message: string): WireResponse => ({
  status: code,
  headers: { 'content-type': 'application/json' },
  text: JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }),
});

/**
 * Fails a share of the writes: a 409 or a 503 without sending (nothing applied), or sends and then
 * reports a timeout (applied, but the caller cannot know). Reads fail now and then with a 503.
 */
export class FaultyTransport implements Transport {
  readonly server: string;
  private readonly inner: Transport;
  private readonly rand: () => number;
  private readonly counts: FaultCounts;
  writeRate: number;
  readRate: number;
  enabled = true;

  constructor(inner: Transport, rand: () => number, counts: FaultCounts, writeRate = 0.25, readRate = 0.03) {
    this.inner = inner;
    this.server = inner.server;
    this.rand = rand;
    this.counts = counts;
    this.writeRate = writeRate;
    this.readRate = readRate;
  }

  async request(r: WireRequest): Promise<WireResponse> {
    if (!this.enabled) return this.inner.request(r);
    if (r.method === 'GET') {
      if (this.rand() < this.readRate) {
        this.counts.add('read-503');
        return status(503, 'ServiceUnavailable', 'injected');
      }
      return this.inner.request(r);
    }
    if (r.path.includes('/events')) return this.inner.request(r);
    if (this.rand() >= this.writeRate) return this.inner.request(r);
    const kind = pick(this.rand, ['write-409', 'write-503', 'write-timeout-after-apply'] as const);
    this.counts.add(kind);
    if (kind === 'write-409') return status(409, 'Conflict', 'injected conflict');
    if (kind === 'write-503') return status(503, 'ServiceUnavailable', 'injected');
    await this.inner.request(r);
    throw new TransportError(`${r.method} ${r.path}: injected timeout after the request was applied`, false);
  }

  stream(path: string, onLine: (line: string) => void, signal: AbortSignal, idleTimeoutMs?: number) {
    return this.inner.stream(path, onLine, signal, idleTimeoutMs);
  }
}

interface Tracked {
  min: number;
  chosen: Set<string>;
  /** Replicas values a foreign writer (the test's `kubectl scale`) set or is about to set. */
  foreignValues: Set<number>;
  /** Machines a foreign scale-down may make the MachineSet delete. */
  foreignDeletions: number;
  lastReplicas?: number;
  lastApplied: Set<string>;
  seenDeleting: Set<string>;
  decremented: Set<string>;
}

/**
 * Watches Machines and MachineDeployments of the tracked namespaces and records every violation:
 *  - a Machine deleted that no operation chose (beyond what a foreign scale-down explains);
 *  - a replicas change that is neither a foreign write nor exactly one operation's single decrement;
 *  - an operation decremented twice; a decrement below the min size.
 */
export class InvariantChecker {
  readonly violations: string[] = [];
  private readonly ns = new Map<string, Tracked>();

  track(ns: string, min: number, replicas: number): void {
    this.ns.set(ns, {
      min,
      chosen: new Set(),
      foreignValues: new Set(),
      foreignDeletions: 0,
      lastReplicas: replicas,
      lastApplied: new Set(),
      seenDeleting: new Set(),
      decremented: new Set(),
    });
  }

  choose(ns: string, machine: string): void {
    this.ns.get(ns)!.chosen.add(machine);
  }

  /** Call before sending a foreign replicas write. */
  foreign(ns: string, value: number, current: number): void {
    const t = this.ns.get(ns)!;
    t.foreignValues.add(value);
    t.foreignDeletions += Math.max(0, current - value);
  }

  machineEvent(m: KubeObject): void {
    const t = this.ns.get(m.metadata.namespace ?? '');
    if (!t || !m.metadata.deletionTimestamp || t.seenDeleting.has(m.metadata.name)) return;
    t.seenDeleting.add(m.metadata.name);
    if (t.chosen.has(m.metadata.name)) return;
    if (t.foreignDeletions > 0) {
      t.foreignDeletions--;
      return;
    }
    this.violations.push(
      `${m.metadata.namespace}: Machine ${m.metadata.name} was deleted but no operation chose it`,
    );
  }

  deploymentEvent(md: KubeObject & { spec?: { replicas?: number } }): void {
    const ns = md.metadata.namespace ?? '';
    const t = this.ns.get(ns);
    if (!t) return;
    const replicas = md.spec?.replicas;
    const { ledger } = ledgerOf(md.metadata.annotations ?? {});
    const applied = new Set(
      Object.entries(ledger?.ops ?? {})
        .filter(([, e]) => e.state === 'applied')
        .map(([id]) => id),
    );
    const newlyApplied = [...applied].filter((id) => !t.lastApplied.has(id));
    const prev = t.lastReplicas;
    t.lastApplied = applied;
    if (replicas === undefined || replicas === prev) {
      if (newlyApplied.length)
        this.violations.push(`${ns}: operations ${newlyApplied.join(',')} applied without a replicas change`);
      return;
    }
    t.lastReplicas = replicas;
    if (newlyApplied.length === 1 && prev !== undefined && replicas === prev - 1) {
      const id = newlyApplied[0]!;
      if (t.decremented.has(id)) this.violations.push(`${ns}: operation ${id} decremented twice`);
      t.decremented.add(id);
      if (replicas < t.min) this.violations.push(`${ns}: decrement to ${replicas}, below min ${t.min}`);
      return;
    }
    // Each foreign write explains one change, once.
    if (newlyApplied.length === 0 && t.foreignValues.delete(replicas)) return;
    this.violations.push(
      `${ns}: replicas ${prev} -> ${replicas} is neither a foreign write nor one decrement (newly applied: ${newlyApplied.join(',') || 'none'})`,
    );
  }
}
