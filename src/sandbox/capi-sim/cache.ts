// A list+watch cache for the simulator: relists on 410 Gone and after any watch failure (with backoff),
// so it never stops silently. The service's own informers live in src/kube; this one serves sandbox code.
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, type RestClient, type WatchEvent } from '../rest.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    ownerReferences?: Array<{ kind: string; name: string; uid: string; controller?: boolean }>;
  };
}

export type ChangeHandler<T> = (obj: T, type: 'ADDED' | 'MODIFIED' | 'DELETED') => void;

export const keyOf = (o: KubeObject): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

export class WatchCache<T extends KubeObject> {
  readonly path: string;
  private readonly client: RestClient;
  private readonly onChange: ChangeHandler<T>;
  private readonly store = new Map<string, T>();
  private syncedOnce = false;
  private lastError = '';
  /** LIST calls made; tests use it to check the cache is not polling. */
  lists = 0;

  constructor(client: RestClient, path: string, onChange: ChangeHandler<T> = () => {}) {
    this.client = client;
    this.path = path;
    this.onChange = onChange;
  }

  get synced(): boolean {
    return this.syncedOnce;
  }

  get error(): string {
    return this.lastError;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  /** Runs until signal aborts. Resolves `ready` after the first successful list. */
  run(signal: AbortSignal): { ready: Promise<void>; done: Promise<void> } {
    let markReady!: () => void;
    const ready = new Promise<void>((r) => (markReady = r));
    const done = (async () => {
      let backoffMs = 200;
      while (!signal.aborted) {
        try {
          let rv = await this.relist();
          markReady();
          backoffMs = 200;
          // Re-watch from the last seen resourceVersion until the server says it is too old.
          for (;;) {
            if (signal.aborted) return;
            let gone = false;
            let failed = '';
            await this.client.watch<T | { code?: number }>(
              this.path,
              rv,
              (e) => {
                if (e.type === 'ERROR') {
                  // 410: relist now. Anything else: relist too, after backoff (never spin on the same RV).
                  if ((e.object as { code?: number }).code === 410) gone = true;
                  else failed = `watch error ${(e.object as { code?: number }).code ?? '?'}`;
                  return;
                }
                const obj = e.object as T;
                if (obj.metadata.resourceVersion) rv = obj.metadata.resourceVersion;
                if (e.type !== 'BOOKMARK') this.apply(e as WatchEvent<T>);
              },
              signal,
            );
            if (failed) throw new Error(failed);
            if (gone) break;
          }
        } catch (e) {
          if (signal.aborted) return;
          this.lastError = e instanceof ApiError ? e.message : String(e);
          await sleep(backoffMs, undefined, { signal }).catch(() => {});
          backoffMs = Math.min(backoffMs * 2, 10_000);
        }
      }
    })();
    return { ready, done };
  }

  private async relist(): Promise<string> {
    this.lists++;
    const l = await this.client.ok<{ items: T[]; metadata: { resourceVersion: string } }>('GET', this.path);
    const seen = new Set<string>();
    for (const item of l.items) {
      const k = keyOf(item);
      seen.add(k);
      const old = this.store.get(k);
      if (old?.metadata.resourceVersion === item.metadata.resourceVersion) continue;
      this.store.set(k, item);
      this.onChange(item, old ? 'MODIFIED' : 'ADDED');
    }
    for (const [k, old] of this.store) {
      if (!seen.has(k)) {
        this.store.delete(k);
        this.onChange(old, 'DELETED');
      }
    }
    this.syncedOnce = true;
    return l.metadata.resourceVersion;
  }

  private apply(e: WatchEvent<T>): void {
    const k = keyOf(e.object);
    if (e.type === 'DELETED') this.store.delete(k);
    else this.store.set(k, e.object);
    this.onChange(e.object, e.type === 'DELETED' ? 'DELETED' : e.type === 'ADDED' ? 'ADDED' : 'MODIFIED');
  }
}
