// A view of an informer's store that sees every change `lagMs` late, in order: CAPI's controllers read
// Machines from one shared cache fed by its own watch, which can trail the MachineSet watch and the API
// (CAPI-FACTS §1.4). The lag applies to every controller of the simulator alike, as in CAPI's manager,
// so what the Machine controller reports (phase Deleting) is exactly what the MachineSet controller sees.
import {
  objectKey,
  type EventType,
  type Handler,
  type Informer,
  type KubeObject,
} from '../../kube/informer.ts';

export interface CacheView<T extends KubeObject> {
  readonly path: string;
  get(key: string): T | undefined;
  list(): T[];
}

export class LaggedCache<T extends KubeObject> implements CacheView<T> {
  readonly path: string;
  private lagMs = 0;
  private readonly store = new Map<string, T>();
  private readonly handlers: Handler<T>[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(source: Informer<T>) {
    this.path = source.path;
    source.onChange((type, obj, old) => {
      // Without lag (and nothing still in flight, which keeps the order) changes apply at once.
      if (this.lagMs <= 0 && this.timers.size === 0) return this.apply(type, obj, old);
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.apply(type, obj, old);
      }, this.lagMs);
      this.timers.add(t);
    });
  }

  onChange(h: Handler<T>): void {
    this.handlers.push(h);
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  setLag(ms: number): void {
    this.lagMs = ms;
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private apply(type: EventType, obj: T, old: T | undefined): void {
    if (type === 'DELETED') this.store.delete(objectKey(obj));
    else this.store.set(objectKey(obj), obj);
    for (const h of this.handlers) h(type, obj, old);
  }
}
