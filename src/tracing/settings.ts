// Tracing settings from the standard OTEL_* variables, validated up front: a typo in an exporter name or
// an endpoint fails the start with a clear message instead of silently exporting nothing (the SDK's own
// env parsing logs and falls back). Pure: an env object in, settings or a ConfigError out.
import { ConfigError, type ConfigProblem } from '../config/errors.ts';

export type ExporterName = 'otlp' | 'jaeger' | 'console';
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

export interface TracingSettings {
  /** Empty: tracing off (OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true). */
  exporters: ExporterName[];
  otlp: { protocol: 'http/protobuf' | 'http/json'; url: string };
  jaeger: { endpoint?: string; agentHost: string; agentPort: number; user?: string; password?: string };
  sampler: { name: SamplerName; ratio: number };
  serviceName: string;
  resourceAttributes: Record<string, string>;
  /** Batch span processor (OTEL_BSP_*); undefined fields take the SDK's defaults. */
  batch: {
    scheduledDelayMillis: number;
    exportTimeoutMillis?: number;
    maxQueueSize?: number;
    maxExportBatchSize?: number;
  };
}

export const DEFAULT_SERVICE_NAME = 'capi-autopilot';
const EXPORTERS = ['otlp', 'jaeger', 'console', 'none'] as const;
const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

type Env = Readonly<Record<string, string | undefined>>;

export function tracingSettingsFromEnv(env: Env): TracingSettings {
  const problems: ConfigProblem[] = [];
  const problem = (name: string, detail: string, allowed: string) =>
    problems.push({ field: name, value: env[name], allowed, detail, source: `env:${name}` });
  const get = (name: string) => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };

  // ---- exporters (spec default: otlp) ----
  let exporters: ExporterName[] = [];
  const disabled = get('OTEL_SDK_DISABLED');
  if (disabled !== undefined && !['true', 'false'].includes(disabled.toLowerCase())) {
    problem('OTEL_SDK_DISABLED', 'not a boolean', 'true or false');
  }
  const names = (get('OTEL_TRACES_EXPORTER') ?? 'otlp')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  const unknown = names.filter((n) => !(EXPORTERS as readonly string[]).includes(n));
  if (unknown.length) {
    problem('OTEL_TRACES_EXPORTER', `unknown exporter ${unknown.join(', ')}`, EXPORTERS.join(', '));
  } else if (names.includes('none') && names.length > 1) {
    problem('OTEL_TRACES_EXPORTER', '"none" cannot be combined with other exporters', 'none alone');
  } else if (!names.includes('none') && disabled?.toLowerCase() !== 'true') {
    exporters = [...new Set(names as ExporterName[])];
  }

  // Only what the selected exporters use is validated: variables meant for other signals or tools
  // (e.g. OTEL_EXPORTER_OTLP_PROTOCOL=grpc for metrics) must not stop a service that does not use them.
  const uses = (e: ExporterName) => exporters.includes(e);

  // ---- OTLP over HTTP ----
  const protoVar = get('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL')
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = get(protoVar) ?? 'http/protobuf';
  if (uses('otlp') && protocol !== 'http/protobuf' && protocol !== 'http/json') {
    problem(
      protoVar,
      protocol === 'grpc' ? 'gRPC is not supported by this build' : 'unknown protocol',
      'http/protobuf (default) or http/json',
    );
  }
  let url = 'http://localhost:4318/v1/traces';
  const tracesEndpoint = get('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const baseEndpoint = get('OTEL_EXPORTER_OTLP_ENDPOINT');
  // The signal-specific endpoint is used as given; the base one gets the signal's path appended (spec).
  if (tracesEndpoint !== undefined) url = tracesEndpoint;
  else if (baseEndpoint !== undefined) url = `${baseEndpoint.replace(/\/+$/, '')}/v1/traces`;
  const urlVar =
    tracesEndpoint !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  if (uses('otlp') && !isHttpUrl(url))
    problem(urlVar, 'not an http(s) URL', 'e.g. http://otel-collector:4318');

  // ---- Jaeger (Thrift over UDP to an agent, or over HTTP to a collector) ----
  const endpoint = get('OTEL_EXPORTER_JAEGER_ENDPOINT');
  if (uses('jaeger') && endpoint !== undefined && !isHttpUrl(endpoint)) {
    problem(
      'OTEL_EXPORTER_JAEGER_ENDPOINT',
      'not an http(s) URL',
      'e.g. http://jaeger-collector:14268/api/traces',
    );
  }
  const portText = get('OTEL_EXPORTER_JAEGER_AGENT_PORT');
  const agentPort = portText === undefined ? 6832 : /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (uses('jaeger') && (!Number.isInteger(agentPort) || agentPort < 1 || agentPort > 65535)) {
    problem(
      'OTEL_EXPORTER_JAEGER_AGENT_PORT',
      'not a port number',
      'an integer from 1 to 65535 (default 6832)',
    );
  }

  // ---- sampler ----
  const samplerName = (get('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on').toLowerCase();
  const on = exporters.length > 0;
  if (on && !SAMPLERS.includes(samplerName as SamplerName)) {
    problem('OTEL_TRACES_SAMPLER', 'unknown sampler', SAMPLERS.join(', '));
  }
  const ratioText = get('OTEL_TRACES_SAMPLER_ARG');
  const ratio =
    ratioText === undefined ? 1 : /^(\d+(\.\d*)?|\.\d+)$/.test(ratioText) ? Number(ratioText) : NaN;
  const usesRatio = samplerName.endsWith('traceidratio');
  if (on && usesRatio && !(ratio >= 0 && ratio <= 1)) {
    problem('OTEL_TRACES_SAMPLER_ARG', 'not a ratio', 'a number from 0 to 1 (default 1)');
  }

  // ---- resource ----
  const resourceAttributes: Record<string, string> = {};
  for (const pair of (get('OTEL_RESOURCE_ATTRIBUTES') ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    let k: string, v: string;
    try {
      k = decodeURIComponent(pair.slice(0, eq).trim());
      v = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      k = '';
      v = '';
    }
    if (eq <= 0 || k === '') {
      if (on)
        problem(
          'OTEL_RESOURCE_ATTRIBUTES',
          `bad pair ${JSON.stringify(pair)}`,
          'key=value pairs separated by commas, values percent-encoded',
        );
      continue;
    }
    resourceAttributes[k] = v;
  }
  const serviceName = get('OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'] ?? DEFAULT_SERVICE_NAME;

  // ---- batch span processor ----
  const ms = (name: string, fallback?: number): number | undefined => {
    const text = get(name);
    if (text === undefined) return fallback;
    if (!/^\d{1,9}$/.test(text)) {
      if (on) problem(name, 'not a whole number', 'a non-negative integer');
      return fallback;
    }
    return Number(text);
  };
  // The SDK's 5 s default delay is long for reconciles that last milliseconds; 1 s keeps traces current.
  const batch = {
    scheduledDelayMillis: ms('OTEL_BSP_SCHEDULE_DELAY', 1000)!,
    exportTimeoutMillis: ms('OTEL_BSP_EXPORT_TIMEOUT'),
    maxQueueSize: ms('OTEL_BSP_MAX_QUEUE_SIZE'),
    maxExportBatchSize: ms('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
  };

  if (problems.length) throw new ConfigError(problems);
  return {
    exporters,
    otlp: { protocol: protocol as TracingSettings['otlp']['protocol'], url },
    jaeger: {
      endpoint,
      agentHost: get('OTEL_EXPORTER_JAEGER_AGENT_HOST') ?? 'localhost',
      agentPort,
      user: get('OTEL_EXPORTER_JAEGER_USER'),
      password: env.OTEL_EXPORTER_JAEGER_PASSWORD,
    },
    sampler: { name: samplerName as SamplerName, ratio: usesRatio ? ratio : 1 },
    serviceName,
    resourceAttributes,
    batch,
  };
}

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
