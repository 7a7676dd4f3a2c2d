import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics/registry.ts';
import { Controller } from '../../src/runtime/controller.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { TerminalError } from '../../src/runtime/queue.ts';

function setup(reconcile: (key: string) => Promise<{ requeueAfterMs?: number } | void>) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()) });
  const metrics = createMetrics({ defaultMetrics: false });
  const c = new Controller({
    name: 'test',
    workers: 2,
    reconcile,
    log: createLogger({ level: 'info', format: 'json' }, sink),
    metrics,
  });
  return { c, lines, metrics };
}
const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms));

describe('controller', () => {
  it('reconciles nothing until active, then each key once', async () => {
    const seen: string[] = [];
    const { c } = setup(async (k) => void seen.push(k));
    c.enqueue('a');
    c.enqueue('a');
    await settle();
    expect(seen).toEqual([]);
    c.setActive(true);
    await settle();
    expect(seen).toEqual(['a']);
    c.setActive(false);
    c.enqueue('b');
    await settle();
    expect(seen).toEqual(['a']);
    c.setActive(true);
    await settle();
    expect(seen).toEqual(['a', 'b']);
    await c.stop();
  });

  it('turns outcomes into metrics and logs; a TerminalError is not retried', async () => {
    let errors = 0;
    const { c, lines, metrics } = setup(async (k) => {
      if (k === 'requeue') return { requeueAfterMs: 60_000 };
      if (k === 'boom' && errors++ < 1) throw new Error('transient');
      if (k === 'bad') throw new TerminalError('malformed annotation');
    });
    c.setActive(true);
    for (const k of ['ok', 'requeue', 'boom', 'bad']) c.enqueue(k);
    await settle(400);
    expect(c.counts).toEqual({ success: 2, requeue: 1, error: 1, terminal: 1 });
    const m = await metrics.registry.getSingleMetricAsString('capi_autopilot_reconcile_total');
    expect(m).toContain('capi_autopilot_reconcile_total{controller="test",result="success"} 2');
    expect(m).toContain('capi_autopilot_reconcile_total{controller="test",result="error"} 2');
    expect(m).toContain('capi_autopilot_reconcile_total{controller="test",result="requeue"} 1');
    expect(lines.filter((l) => l.key === 'bad').map((l) => l.msg)).toEqual([
      'reconcile failed; not retrying',
    ]);
    expect(lines.filter((l) => l.key === 'boom').map((l) => l.msg)).toEqual([
      'reconcile failed; retrying with backoff',
    ]);
    await c.stop();
  });
});
