import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.ts';
import { tracingSettingsFromEnv } from '../../src/tracing/settings.ts';

type Env = Record<string, string | undefined>;

function configError(env: Env): ConfigError {
  try {
    tracingSettingsFromEnv(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('tracingSettingsFromEnv', () => {
  it('has the spec defaults with an empty env', () => {
    expect(tracingSettingsFromEnv({})).toEqual({
      exporters: ['otlp'],
      otlp: { protocol: 'http/protobuf', url: 'http://localhost:4318/v1/traces' },
      jaeger: {
        endpoint: undefined,
        agentHost: 'localhost',
        agentPort: 6832,
        user: undefined,
        password: undefined,
      },
      sampler: { name: 'parentbased_always_on', ratio: 1 },
      serviceName: 'capi-autopilot',
      resourceAttributes: {},
      batch: {
        scheduledDelayMillis: 1000,
        exportTimeoutMillis: undefined,
        maxQueueSize: undefined,
        maxExportBatchSize: undefined,
      },
    });
  });

  it('treats blank values as unset', () => {
    expect(tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: '  ', OTEL_SERVICE_NAME: '' })).toMatchObject({
      exporters: ['otlp'],
      serviceName: 'capi-autopilot',
    });
  });

  describe('exporters', () => {
    it.each<[Env, string[]]>([
      [{ OTEL_TRACES_EXPORTER: 'none' }, []],
      [{ OTEL_TRACES_EXPORTER: 'NONE' }, []],
      [{ OTEL_SDK_DISABLED: 'true' }, []],
      [{ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'console' }, []],
      [{ OTEL_SDK_DISABLED: 'false' }, ['otlp']],
      [{ OTEL_TRACES_EXPORTER: 'otlp,console' }, ['otlp', 'console']],
      [{ OTEL_TRACES_EXPORTER: ' Jaeger , otlp ' }, ['jaeger', 'otlp']],
      [{ OTEL_TRACES_EXPORTER: 'console,console' }, ['console']],
    ])('%j gives %j', (env, exporters) => {
      expect(tracingSettingsFromEnv(env).exporters).toEqual(exporters);
    });

    it('rejects an unknown exporter, naming the variable and its source', () => {
      const e = configError({ OTEL_TRACES_EXPORTER: 'otlp,zipkin' });
      expect(e.problems).toHaveLength(1);
      expect(e.problems[0]).toMatchObject({
        field: 'OTEL_TRACES_EXPORTER',
        value: 'otlp,zipkin',
        source: 'env:OTEL_TRACES_EXPORTER',
      });
      expect(e.problems[0]!.detail).toContain('zipkin');
      expect(e.message).toContain('source: env:OTEL_TRACES_EXPORTER');
    });

    it('rejects none combined with another exporter', () => {
      const e = configError({ OTEL_TRACES_EXPORTER: 'none,otlp' });
      expect(e.field).toBe('OTEL_TRACES_EXPORTER');
      expect(e.message).toContain('"none" cannot be combined');
    });

    it('rejects a non-boolean OTEL_SDK_DISABLED', () => {
      expect(configError({ OTEL_SDK_DISABLED: 'yes' }).field).toBe('OTEL_SDK_DISABLED');
    });
  });

  describe('OTLP', () => {
    it.each<[Env, string]>([
      [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, 'http/json'],
      [
        { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
        'http/json',
      ],
      [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, 'http/protobuf'],
    ])('protocol from %j is %s', (env, protocol) => {
      expect(tracingSettingsFromEnv(env).otlp.protocol).toBe(protocol);
    });

    it.each([
      ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', /gRPC is not supported/],
      ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'grpc', /gRPC is not supported/],
      ['OTEL_EXPORTER_OTLP_PROTOCOL', 'thrift', /unknown protocol/],
    ])('rejects %s=%s', (name, value, detail) => {
      const e = configError({ [name]: value });
      expect(e.problems).toHaveLength(1);
      expect(e.problems[0]).toMatchObject({ field: name, value, source: `env:${name}` });
      expect(e.problems[0]!.detail).toMatch(detail);
    });

    it.each<[Env, string]>([
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, 'http://collector:4318/v1/traces'],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }, 'http://collector:4318/v1/traces'],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example/base//' }, 'https://otel.example/base/v1/traces'],
      [
        { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/custom' },
        'http://collector:4318/custom',
      ],
      [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/' }, 'http://collector:4318/'],
      [
        {
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:1/x',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:2',
        },
        'http://traces:1/x',
      ],
    ])('url from %j is %s', (env, url) => {
      expect(tracingSettingsFromEnv(env).otlp.url).toBe(url);
    });

    it.each([
      ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318'],
      ['OTEL_EXPORTER_OTLP_ENDPOINT', 'ftp://collector'],
      ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'not a url'],
    ])('rejects %s=%s', (name, value) => {
      const e = configError({ [name]: value });
      expect(e.problems).toHaveLength(1);
      expect(e.problems[0]).toMatchObject({ field: name, value, source: `env:${name}` });
    });
  });

  describe('Jaeger', () => {
    it('reads endpoint, agent host and port, user and password', () => {
      const s = tracingSettingsFromEnv({
        OTEL_EXPORTER_JAEGER_ENDPOINT: 'http://jaeger:14268/api/traces',
        OTEL_EXPORTER_JAEGER_AGENT_HOST: 'agent',
        OTEL_EXPORTER_JAEGER_AGENT_PORT: '6831',
        OTEL_EXPORTER_JAEGER_USER: 'alice',
        OTEL_EXPORTER_JAEGER_PASSWORD: 's3cret',
      });
      expect(s.jaeger).toEqual({
        endpoint: 'http://jaeger:14268/api/traces',
        agentHost: 'agent',
        agentPort: 6831,
        user: 'alice',
        password: 's3cret',
      });
    });

    it.each(['0', '65536', '-1', '68.32', 'abc'])('rejects agent port %s', (port) => {
      const e = configError({ OTEL_TRACES_EXPORTER: 'jaeger', OTEL_EXPORTER_JAEGER_AGENT_PORT: port });
      expect(e.problems).toHaveLength(1);
      expect(e.problems[0]).toMatchObject({
        field: 'OTEL_EXPORTER_JAEGER_AGENT_PORT',
        value: port,
        source: 'env:OTEL_EXPORTER_JAEGER_AGENT_PORT',
      });
    });

    it('rejects a non-http endpoint', () => {
      expect(
        configError({ OTEL_TRACES_EXPORTER: 'jaeger', OTEL_EXPORTER_JAEGER_ENDPOINT: 'udp://jaeger:6832' })
          .field,
      ).toBe('OTEL_EXPORTER_JAEGER_ENDPOINT');
    });
  });

  describe('sampler', () => {
    it.each<[Env, string, number]>([
      [{ OTEL_TRACES_SAMPLER: 'always_on' }, 'always_on', 1],
      [{ OTEL_TRACES_SAMPLER: 'ALWAYS_OFF' }, 'always_off', 1],
      [{ OTEL_TRACES_SAMPLER: 'parentbased_always_off' }, 'parentbased_always_off', 1],
      [{ OTEL_TRACES_SAMPLER: 'traceidratio' }, 'traceidratio', 1],
      [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }, 'traceidratio', 0.25],
      [
        { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' },
        'parentbased_traceidratio',
        0,
      ],
      [
        { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '1' },
        'parentbased_traceidratio',
        1,
      ],
    ])('%j gives %s with ratio %d', (env, name, ratio) => {
      expect(tracingSettingsFromEnv(env).sampler).toEqual({ name, ratio });
    });

    it('rejects an unknown sampler', () => {
      const e = configError({ OTEL_TRACES_SAMPLER: 'sometimes' });
      expect(e.problems).toHaveLength(1);
      expect(e.problems[0]).toMatchObject({
        field: 'OTEL_TRACES_SAMPLER',
        source: 'env:OTEL_TRACES_SAMPLER',
      });
    });

    it.each(['1.5', '-0.1', 'half'])('rejects ratio %s for a ratio sampler', (arg) => {
      for (const sampler of ['traceidratio', 'parentbased_traceidratio']) {
        const e = configError({ OTEL_TRACES_SAMPLER: sampler, OTEL_TRACES_SAMPLER_ARG: arg });
        expect(e.problems).toHaveLength(1);
        expect(e.problems[0]).toMatchObject({
          field: 'OTEL_TRACES_SAMPLER_ARG',
          value: arg,
          source: 'env:OTEL_TRACES_SAMPLER_ARG',
        });
      }
    });

    it('ignores the ratio for other samplers', () => {
      expect(
        tracingSettingsFromEnv({ OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: '2' }).sampler
          .name,
      ).toBe('always_on');
    });
  });

  describe('resource', () => {
    it.each<[string, Record<string, string>]>([
      ['a=1,b=2', { a: '1', b: '2' }],
      [' a = 1 , , b=2 ', { a: '1', b: '2' }],
      ['k=v%2Cw%3Dx%20y', { k: 'v,w=x y' }],
      ['my%20key=1', { 'my key': '1' }],
      ['k=a=b', { k: 'a=b' }],
      ['k=', { k: '' }],
      ['k=1,k=2', { k: '2' }],
    ])('parses %j', (text, attrs) => {
      expect(tracingSettingsFromEnv({ OTEL_RESOURCE_ATTRIBUTES: text }).resourceAttributes).toEqual(attrs);
    });

    it.each(['novalue', '=v', 'k%ZZ=v', 'k=%E0%A4%A'])('rejects pair %j', (pair) => {
      const e = configError({ OTEL_RESOURCE_ATTRIBUTES: `ok=1,${pair}` });
      expect(e.problems).toHaveLength(1);
      expect(e.problems[0]).toMatchObject({
        field: 'OTEL_RESOURCE_ATTRIBUTES',
        source: 'env:OTEL_RESOURCE_ATTRIBUTES',
      });
      expect(e.problems[0]!.detail).toContain(JSON.stringify(pair));
    });

    it.each<[Env, string]>([
      [{ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' }, 'from-attrs'],
      [{ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs', OTEL_SERVICE_NAME: 'from-var' }, 'from-var'],
      [{ OTEL_SERVICE_NAME: 'from-var' }, 'from-var'],
    ])('service name from %j is %s', (env, name) => {
      expect(tracingSettingsFromEnv(env).serviceName).toBe(name);
    });
  });

  it('reports several bad variables in one ConfigError', () => {
    const e = configError({
      OTEL_TRACES_EXPORTER: 'otlp,jaeger',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'nope',
      OTEL_EXPORTER_JAEGER_AGENT_PORT: '99999',
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '2',
      OTEL_RESOURCE_ATTRIBUTES: 'bad',
    });
    const fields = [
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_EXPORTER_JAEGER_AGENT_PORT',
      'OTEL_TRACES_SAMPLER_ARG',
      'OTEL_RESOURCE_ATTRIBUTES',
    ];
    expect(e.problems.map((p) => p.field)).toEqual(fields);
    expect(e.problems.map((p) => p.source)).toEqual(fields.map((f) => `env:${f}`));
    expect(e.message).toContain(`${fields.length} problems`);
    for (const f of fields) expect(e.message).toContain(`source: env:${f}`);
  });
});

describe('numbers and lists are parsed strictly', () => {
  it.each([
    ['OTEL_EXPORTER_JAEGER_AGENT_PORT', '0x1A0B'],
    ['OTEL_EXPORTER_JAEGER_AGENT_PORT', '1e3'],
    ['OTEL_EXPORTER_JAEGER_AGENT_PORT', '70000'],
  ])('%s=%s is rejected', (name, value) => {
    expect(
      configError({ OTEL_TRACES_EXPORTER: 'jaeger', [name]: value }).problems.map((p) => p.field),
    ).toEqual([name]);
  });
  it('a ratio in hex is rejected for a ratio sampler', () => {
    const e = configError({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0x1' });
    expect(e.problems.map((p) => p.field)).toEqual(['OTEL_TRACES_SAMPLER_ARG']);
  });
  it('an argument unused by the sampler does not leak NaN', () => {
    expect(
      tracingSettingsFromEnv({ OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: 'x' }).sampler,
    ).toEqual({ name: 'always_on', ratio: 1 });
  });
  it('a trailing comma in the exporter list is ignored', () => {
    expect(tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: 'otlp,' }).exporters).toEqual(['otlp']);
  });
});

describe('only what is used is validated', () => {
  it.each<Record<string, string>>([
    {
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_JAEGER_AGENT_PORT: 'x',
    },
    { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'nope', OTEL_TRACES_SAMPLER: 'nonsense' },
    { OTEL_TRACES_EXPORTER: 'jaeger', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_JAEGER_AGENT_PORT: 'x' },
  ])('%j starts', (env) => {
    expect(() => tracingSettingsFromEnv(env)).not.toThrow();
  });
});

describe('batch span processor variables', () => {
  it('reads OTEL_BSP_* and keeps the 1 s delay when unset', () => {
    expect(
      tracingSettingsFromEnv({ OTEL_BSP_SCHEDULE_DELAY: '250', OTEL_BSP_MAX_QUEUE_SIZE: '4096' }).batch,
    ).toMatchObject({ scheduledDelayMillis: 250, maxQueueSize: 4096 });
    expect(tracingSettingsFromEnv({}).batch.scheduledDelayMillis).toBe(1000);
  });
  it.each(['-1', '1.5', 'soon'])('rejects OTEL_BSP_SCHEDULE_DELAY=%s', (v) => {
    expect(configError({ OTEL_BSP_SCHEDULE_DELAY: v }).field).toBe('OTEL_BSP_SCHEDULE_DELAY');
  });
});
