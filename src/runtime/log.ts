// Structured logs (pino, JSON by default). One logger per process; children carry a component and, with
// tracing, the trace and span ids.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(
  o: { level: string; format: 'json' | 'pretty' },
  dest?: NodeJS.WritableStream,
): Logger {
  const base = { name: 'capi-autopilot' };
  if (o.format === 'json') return pino({ level: o.level, base }, dest ?? process.stderr);
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
  return pino({ level: o.level, base }, stream);
}
