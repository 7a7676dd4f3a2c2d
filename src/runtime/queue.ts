// A keyed work queue: deduplicated, one run per key at a time, bounded workers, per-key exponential
// backoff on errors and timed requeues. Level-triggered: a key says "look at this object again".
export interface ReconcileResult {
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

/** A failure that retrying cannot fix (bad input, a forbidden write): the key is dropped, not requeued. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly order: string[] = [];
  private active = 0;
  private stopped = false;
  /** Keys collect but nothing runs until start(): reconciling before every cache has synced acts on a partial view. */
  private started = false;
  private readonly reconcile: Reconciler;
  private readonly workers: number;
  private readonly onError: (key: string, e: unknown) => void;

  constructor(
    reconcile: Reconciler,
    opts: { workers?: number; onError?: (key: string, e: unknown) => void } = {},
  ) {
    this.reconcile = reconcile;
    this.workers = opts.workers ?? 4;
    this.onError = opts.onError ?? (() => {});
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.pending.has(key)) return;
    this.pending.add(key);
    this.order.push(key);
    this.pump();
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const existing = this.timers.get(key);
    if (existing) clearTimeout(existing);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  start(): void {
    this.started = true;
    this.pump();
  }

  /** Keys keep collecting but nothing new runs (a standby replica); start() resumes. */
  pause(): void {
    this.started = false;
  }

  /** Stops taking work; resolves once the reconciles already running have returned. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    while (this.active > 0) await new Promise((r) => setTimeout(r, 10));
  }

  get idle(): boolean {
    return this.active === 0 && this.pending.size === 0;
  }

  private pump(): void {
    while (this.started && !this.stopped && this.active < this.workers && this.order.length > 0) {
      const key = this.order.shift()!;
      this.pending.delete(key);
      this.running.add(key);
      this.active++;
      void this.runOne(key);
    }
  }

  private async runOne(key: string): Promise<void> {
    try {
      const r = await this.reconcile(key);
      this.failures.delete(key);
      if (r?.requeueAfterMs !== undefined) this.addAfter(key, r.requeueAfterMs);
    } catch (e) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      this.onError(key, e);
      if (e instanceof TerminalError) this.failures.delete(key);
      else this.addAfter(key, Math.min(50 * 2 ** n, 10_000));
    } finally {
      this.running.delete(key);
      this.active--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
