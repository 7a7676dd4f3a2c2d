// Structured logs (pino, JSON by default). One logger per process; children carry a component.
import { pino, type Logger } from 'pino';
import { logCorrelation } from '../tracing/spans.ts';

export type { Logger };

export function createLogger(
  o: { level: string; format: 'json' | 'pretty' },
  dest?: NodeJS.WritableStream,
): Logger {
  // Lines logged inside a span carry trace_id and span_id (OpenTelemetry's log correlation fields).
  const opts = { level: o.level, base: { name: 'capi-autopilot' }, mixin: logCorrelation };
  if (o.format === 'json') return pino(opts, dest ?? process.stderr);
  // A readable single line per event for terminals, without a formatter dependency.
  const out = dest ?? process.stderr;
  const stream = {
    write(line: string) {
      const {
        time,
        level,
        msg,
        name: _n,
        pid: _p,
        hostname: _h,
        ...rest
      } = JSON.parse(line) as Record<string, unknown>;
      const lvl = pino.levels.labels[level as number] ?? String(level);
      const extra = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      out.write(
        `${new Date(time as number).toISOString()} ${lvl.toUpperCase().padEnd(5)} ${String(msg ?? '')}${extra ? ` ${extra}` : ''}\n`,
      );
    },
  };
  return pino(opts, stream);
}
