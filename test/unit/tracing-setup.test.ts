import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { tracingSettingsFromEnv } from '../../src/tracing/settings.ts';
import { startTracing } from '../../src/tracing/setup.ts';

describe('startTracing', () => {
  it('is off (and registers nothing) when no exporter is selected', async () => {
    const t = startTracing(tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: 'none' }));
    expect(t.enabled).toBe(false);
    expect(trace.getTracer('x').startSpan('s').isRecording()).toBe(false);
    await t.shutdown();
  });

  it('never shows credentials or query strings of endpoints (log, /status)', async () => {
    const t = startTracing(
      tracingSettingsFromEnv({
        OTEL_TRACES_EXPORTER: 'otlp,jaeger',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://u:otlp-secret@127.0.0.1:9/v1/traces?token=abc',
        OTEL_EXPORTER_JAEGER_ENDPOINT: 'https://user:jaeger-secret@127.0.0.1:9/api/traces',
      }),
    );
    try {
      expect(t.destinations).toEqual([
        'otlp http/protobuf http://127.0.0.1:9/v1/traces',
        'jaeger thrift/http https://127.0.0.1:9/api/traces',
      ]);
      expect(trace.getTracer('x').startSpan('s').isRecording()).toBe(true);
    } finally {
      await t.shutdown();
    }
  });

  it('refuses a second start while one runs, and allows one after shutdown', async () => {
    const s = tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: 'console' });
    const first = startTracing(s);
    expect(() => startTracing(s)).toThrow(/already started/);
    await first.shutdown();
    expect(trace.getTracer('x').startSpan('s').isRecording()).toBe(false);
    const second = startTracing(s);
    expect(second.enabled).toBe(true);
    await second.shutdown();
  });
});
