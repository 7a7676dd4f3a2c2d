// A controller: a keyed work queue plus a level-triggered reconcile function, with the one place that
// turns outcomes into spans, metrics and logs. Every reconcile is a span `<controller>.reconcile`: a new
// trace, or the continuation of one recorded on the objects involved (see src/tracing/carry.ts). It runs
// only while active: the service activates controllers when this replica leads and its caches have synced.
import type { Metrics } from '../metrics/registry.ts';
import type { TraceOrigin } from '../tracing/carry.ts';
import { ATTR, inSpan, type Attributes } from '../tracing/spans.ts';
import type { Logger } from './log.ts';
import { TerminalError, WorkQueue, type ReconcileResult } from './queue.ts';

/** What a reconcile continues and what to put on its span, read from caches before it starts. */
export interface ReconcileTrace {
  origin?: TraceOrigin;
  attributes?: Attributes;
}

export interface ControllerOptions {
  name: string;
  workers: number;
  reconcile: (key: string) => Promise<ReconcileResult | void>;
  log: Logger;
  metrics?: Metrics;
  /**
   * Trace context and attributes for a key (e.g. from the object's traceparent annotation). It must not
   * throw; if it does, the reconcile still runs, as a new trace, with the failure noted on the span.
   */
  trace?: (key: string) => ReconcileTrace;
  /** Told when the controller starts or stops running (leadership gained or lost). */
  onActiveChange?: (active: boolean) => void;
  /** Work the controller started outside its queue (removals in the background): awaited by stop(). */
  onStop?: () => Promise<void>;
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
    this.queue = new WorkQueue((key) => this.run(key), { workers: o.workers });
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
    this.o.onActiveChange?.(active);
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    await this.o.onStop?.();
  }

  get idle(): boolean {
    return this.queue.idle;
  }

  private async run(key: string): Promise<ReconcileResult | void> {
    let t: ReconcileTrace = {};
    let traceProblem: string | undefined;
    try {
      t = this.o.trace?.(key) ?? {};
    } catch (e) {
      traceProblem = `reading trace context failed: ${(e as Error).message}`;
    }
    const { origin } = t;
    const attributes: Attributes = { [ATTR.controller]: this.name, [ATTR.key]: key, ...t.attributes };
    if (origin?.parent) attributes[ATTR.parentFrom] = origin.parent.from;
    return inSpan(
      `${this.name}.reconcile`,
      {
        root: true,
        parent: origin?.parent?.context,
        traceStart: origin?.parent?.startedAt,
        links: origin?.links,
        attributes,
      },
      async (span) => {
        for (const p of [...(origin?.problems ?? []), ...(traceProblem ? [traceProblem] : [])]) {
          span.addEvent('trace context ignored', { 'capi_autopilot.problem': p });
          this.o.log.debug({ controller: this.name, key, problem: p }, 'trace context ignored');
        }
        const t0 = performance.now();
        let r: ReconcileResult | void;
        try {
          r = await this.o.reconcile(key);
        } catch (e) {
          const terminal = e instanceof TerminalError;
          span.setAttribute(ATTR.result, terminal ? 'terminal' : 'error');
          this.record(terminal ? 'terminal' : 'error', t0);
          // Logged inside the span so the line carries its trace and span ids.
          this.o.log[terminal ? 'error' : 'warn'](
            { controller: this.name, key, err: (e as Error).message },
            terminal ? 'reconcile failed; not retrying' : 'reconcile failed; retrying with backoff',
          );
          throw e;
        }
        const outcome = r?.requeueAfterMs !== undefined ? 'requeue' : 'success';
        span.setAttribute(ATTR.result, outcome);
        if (r?.requeueAfterMs !== undefined)
          span.setAttribute('capi_autopilot.requeue_after_ms', r.requeueAfterMs);
        this.record(outcome, t0);
        return r;
      },
    );
  }

  private record(outcome: Outcome, t0: number): void {
    this.counts[outcome]++;
    const m = this.o.metrics;
    if (!m) return;
    // Metric results are success | requeue | error; a terminal error is an error that is not retried.
    const result = outcome === 'terminal' ? 'error' : outcome;
    m.reconciles.inc({ controller: this.name, result });
    m.reconcileSeconds.observe({ controller: this.name }, (performance.now() - t0) / 1000);
    if (result === 'error') m.reconcileErrors.inc({ controller: this.name });
    else m.lastSuccess.set({ controller: this.name }, Date.now() / 1000);
  }
}
