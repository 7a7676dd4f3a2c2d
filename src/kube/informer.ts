// A list+watch cache that never stops silently (client-node's informer gives up on errors other than
// 410): it relists on 410 Gone, restarts any failed watch with backoff, and re-watches from the last
// resourceVersion when a watch simply ends, so steady state makes no LIST calls. Typed, with indexes.
import { sleepFor } from '../runtime/wait.ts';
import type { KubeClient } from './client.ts';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{
    apiVersion?: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
  }>;
  deletionTimestamp?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type Handler<T> = (type: EventType, obj: T, old: T | undefined) => void;
export type IndexFunc<T> = (obj: T) => readonly string[];

export const objectKey = (o: KubeObject): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

export interface InformerStats {
  lists: number;
  watches: number;
  relistsAfterGone: number;
  watchErrors: number;
  handlerErrors: number;
  lastError?: string;
}

export interface InformerOptions {
  /** Server-side watch timeout; a watch that ends is resumed from the last resourceVersion. */
  watchTimeoutSeconds?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  log?: (msg: string) => void;
}

export class Informer<T extends KubeObject> {
  readonly path: string;
  readonly stats: InformerStats = {
    lists: 0,
    watches: 0,
    relistsAfterGone: 0,
    watchErrors: 0,
    handlerErrors: 0,
  };
  private readonly client: KubeClient;
  private readonly store = new Map<string, T>();
  private readonly handlers: Handler<T>[] = [];
  private readonly indexers = new Map<string, IndexFunc<T>>();
  private readonly indexes = new Map<string, Map<string, Set<string>>>();
  private readonly opts: Required<Omit<InformerOptions, 'log'>> & Pick<InformerOptions, 'log'>;
  private synced = false;
  private resourceVersion = '';

  /** `path` is a collection URL, optionally with a labelSelector/fieldSelector query. */
  constructor(client: KubeClient, path: string, opts: InformerOptions = {}) {
    this.client = client;
    this.path = path;
    this.opts = { watchTimeoutSeconds: 300, backoffBaseMs: 200, backoffMaxMs: 30_000, ...opts };
  }

  hasSynced(): boolean {
    return this.synced;
  }

  onChange(h: Handler<T>): void {
    this.handlers.push(h);
  }

  addIndex(name: string, fn: IndexFunc<T>): void {
    if (this.synced) throw new Error(`index ${name} must be added before the informer starts`);
    this.indexers.set(name, fn);
    this.indexes.set(name, new Map());
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  byIndex(name: string, value: string): T[] {
    const idx = this.indexes.get(name);
    if (!idx) throw new Error(`no index ${name}`);
    return [...(idx.get(value) ?? [])].map((k) => this.store.get(k)!).filter(Boolean);
  }

  /** Runs until signal aborts; `synced` resolves after the first complete list. */
  run(signal: AbortSignal): { synced: Promise<void>; done: Promise<void> } {
    let markSynced!: () => void;
    const synced = new Promise<void>((r) => (markSynced = r));
    const done = (async () => {
      let failures = 0;
      let needList = true;
      while (!signal.aborted) {
        try {
          if (needList) {
            await this.relist();
            markSynced();
            needList = false;
          }
          const started = performance.now();
          const outcome = await this.watchOnce(signal);
          // A watch that ends at once, again and again, must not spin at the client's full rate.
          if (outcome === 'ended' && performance.now() - started < 1000) await sleepFor(1000, signal);
          if (outcome === 'gone') {
            this.stats.relistsAfterGone++;
            needList = true;
          }
          failures = 0;
        } catch (e) {
          if (signal.aborted) return;
          failures++;
          this.stats.watchErrors++;
          this.stats.lastError = (e as Error).message;
          this.opts.log?.(`informer ${this.path}: ${(e as Error).message}; retrying`);
          // After a failure the resourceVersion may be stale or the server restarted: list again.
          needList = true;
          const ms = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (failures - 1));
          await sleepFor(ms * (0.5 + Math.random()), signal);
        }
      }
    })();
    return { synced, done };
  }

  private async relist(): Promise<void> {
    this.stats.lists++;
    const l = await this.client.get<{ items: T[]; metadata: { resourceVersion: string } }>(this.path);
    const seen = new Set<string>();
    for (const item of l.items) {
      const k = objectKey(item);
      seen.add(k);
      const old = this.store.get(k);
      if (old?.metadata.resourceVersion === item.metadata.resourceVersion) continue;
      this.put(k, item, old);
    }
    for (const [k, old] of [...this.store]) if (!seen.has(k)) this.remove(k, old);
    this.resourceVersion = l.metadata.resourceVersion;
    this.synced = true;
  }

  /** One watch stream: 'ended' when the server closed it normally, 'gone' on 410. Throws on failure. */
  private async watchOnce(signal: AbortSignal): Promise<'ended' | 'gone'> {
    this.stats.watches++;
    const sep = this.path.includes('?') ? '&' : '?';
    const url = `${this.path}${sep}watch=1&allowWatchBookmarks=true&timeoutSeconds=${this.opts.watchTimeoutSeconds}&resourceVersion=${this.resourceVersion}`;
    let gone = false;
    let failure: Error | undefined;
    // The server ends a watch after timeoutSeconds; silence well past that means a dead connection.
    const idleMs = (this.opts.watchTimeoutSeconds + 30) * 1000;
    const res = await this.client.watch(
      url,
      (line) => {
        if (gone || failure) return;
        let e: { type: string; object: T & { code?: number; message?: string } };
        try {
          e = JSON.parse(line) as typeof e;
        } catch {
          failure = new Error(`undecodable watch event on ${this.path}`);
          return;
        }
        if (e.type === 'ERROR') {
          if (e.object.code === 410) gone = true;
          else failure = new Error(`watch error ${e.object.code}: ${e.object.message ?? ''}`);
          return;
        }
        const rv = e.object.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        if (e.type === 'BOOKMARK') return;
        const k = objectKey(e.object);
        const old = this.store.get(k);
        if (e.type === 'DELETED') this.remove(k, old ?? e.object);
        else this.put(k, e.object, old);
      },
      signal,
      idleMs,
    );
    if (res && res.status === 410) return 'gone';
    if (res) throw new Error(`watch ${this.path}: HTTP ${res.status}`);
    if (failure) throw failure;
    return gone ? 'gone' : 'ended';
  }

  private put(k: string, obj: T, old: T | undefined): void {
    if (old) this.unindex(k, old);
    this.store.set(k, obj);
    this.index(k, obj);
    this.notify(old ? 'MODIFIED' : 'ADDED', obj, old);
  }

  private remove(k: string, old: T): void {
    if (!this.store.has(k)) return;
    this.unindex(k, this.store.get(k)!);
    this.store.delete(k);
    this.notify('DELETED', old, old);
  }

  /** A handler that throws must neither crash the process (it runs inside a stream callback) nor stop the others. */
  private notify(type: EventType, obj: T, old: T | undefined): void {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (e) {
        this.stats.handlerErrors++;
        this.opts.log?.(`informer ${this.path}: event handler failed: ${(e as Error).message}`);
      }
    }
  }

  private index(k: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indexes.get(name)!;
      for (const v of safeIndex(fn, obj)) {
        let set = idx.get(v);
        if (!set) idx.set(v, (set = new Set()));
        set.add(k);
      }
    }
  }

  private unindex(k: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indexes.get(name)!;
      for (const v of safeIndex(fn, obj)) {
        const set = idx.get(v);
        set?.delete(k);
        if (set?.size === 0) idx.delete(v);
      }
    }
  }
}

function safeIndex<T>(fn: IndexFunc<T>, obj: T): readonly string[] {
  try {
    return fn(obj);
  } catch {
    return [];
  }
}
