// A controller: a keyed work queue plus a level-triggered reconcile function, with the one place that
// turns outcomes into metrics and logs (and, with tracing, spans). It runs only while active: the
// service activates controllers when this replica leads and its caches have synced.
import type { Metrics } from '../metrics/registry.ts';
import type { Logger } from './log.ts';
import { TerminalError, WorkQueue, type ReconcileResult } from './queue.ts';

export interface ControllerOptions {
  name: string;
  workers: number;
  reconcile: (key: string) => Promise<ReconcileResult | void>;
  log: Logger;
  metrics?: Metrics;
}

export type Outcome = 'success' | 'requeue' | 'error' | 'terminal';

export class Controller {
  readonly name: string;
  private readonly queue: WorkQueue;
  private readonly o: ControllerOptions;
  private active = false;
  /** Last outcome per controller, for /status. */
  readonly counts: Record<Outcome, number> = { success: 0, requeue: 0, error: 0, terminal: 0 };

  constructor(o: ControllerOptions) {
    this.o = o;
    this.name = o.name;
    this.queue = new WorkQueue((key) => this.run(key), {
      workers: o.workers,
      onError: (key, e) => this.failed(key, e),
    });
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Starts or pauses reconciling; keys added meanwhile wait (deduplicated) until active. */
  setActive(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    if (active) this.queue.start();
    else this.queue.pause();
    this.o.log.info({ controller: this.name, active }, active ? 'controller active' : 'controller paused');
  }

  async stop(): Promise<void> {
    await this.queue.stop();
  }

  get idle(): boolean {
    return this.queue.idle;
  }

  private async run(key: string): Promise<ReconcileResult | void> {
    const t0 = performance.now();
    try {
      const r = await this.o.reconcile(key);
      this.record(r?.requeueAfterMs !== undefined ? 'requeue' : 'success', t0);
      return r;
    } catch (e) {
      this.record(e instanceof TerminalError ? 'terminal' : 'error', t0);
      throw e;
    }
  }

  private record(outcome: Outcome, t0: number): void {
    this.counts[outcome]++;
    // Metric results are success | requeue | error; a terminal error is an error that is not retried.
    const result = outcome === 'terminal' ? 'error' : outcome;
    this.o.metrics?.reconciles.inc({ controller: this.name, result });
    this.o.metrics?.reconcileSeconds.observe({ controller: this.name }, (performance.now() - t0) / 1000);
  }

  private failed(key: string, e: unknown): void {
    const terminal = e instanceof TerminalError;
    this.o.log[terminal ? 'error' : 'warn'](
      { controller: this.name, key, err: (e as Error).message },
      terminal ? 'reconcile failed; not retrying' : 'reconcile failed; retrying with backoff',
    );
  }
}
