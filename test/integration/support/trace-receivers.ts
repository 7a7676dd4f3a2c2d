// Trace receivers on loopback that decode what our exporters send with implementations that are not
// ours: OTLP protobuf with protobufjs and the OTLP .proto files, OTLP JSON by the field names of the OTLP
// specification, Jaeger Thrift with thriftrw and Jaeger's own IDL (shipped in the jaeger-client package).
// Everything is normalised to one span shape so tests assert the same facts for every wire format.
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import protobuf from 'protobufjs';
import { Thrift } from 'thriftrw';

const run = promisify(execFile);

export type AttrValue = string | number | boolean;

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  attributes: Record<string, AttrValue>;
  links: Array<{ traceId: string; spanId: string; attributes: Record<string, AttrValue> }>;
  events: Array<{ name: string; attributes: Record<string, AttrValue> }>;
  error: boolean;
  serviceName: string;
}

export interface Receiver {
  spans: DecodedSpan[];
  /** Content types of the requests received (HTTP receivers). */
  contentTypes: string[];
  close(): Promise<void>;
}

// ---------------------------------------------------------------- OTLP .proto files

/**
 * The OTLP protocol definitions, from the last npm package that shipped the .proto files
 * (@opentelemetry/otlp-grpc-exporter-base 0.38.0, opentelemetry-proto with ScopeSpans). Fetched once
 * with `npm pack` (the tarball alone, no install) into the same cache as the Kubernetes binaries.
 */
const PROTO_PACKAGE = '@opentelemetry/otlp-grpc-exporter-base@0.38.0';

export async function otlpProtoDir(): Promise<string> {
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'capi-autopilot');
  const dir = join(cache, 'otlp-proto-0.38.0');
  if (existsSync(join(dir, 'opentelemetry/proto/collector/trace/v1/trace_service.proto'))) return dir;
  await mkdir(cache, { recursive: true });
  const tmp = await mkdtemp(join(cache, 'otlp-proto-'));
  try {
    const { stdout } = await run('npm', ['pack', PROTO_PACKAGE, '--silent', '--pack-destination', tmp], {
      timeout: 120_000,
    });
    const tgz = join(tmp, stdout.trim().split('\n').pop()!);
    await run('tar', ['-xzf', tgz, '-C', tmp, 'package/build/protos']);
    await rename(join(tmp, 'package/build/protos'), dir).catch((e: NodeJS.ErrnoException) => {
      // Another worker got there first.
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

async function otlpRequestType(): Promise<protobuf.Type> {
  const dir = await otlpProtoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(dir, target);
  await root.load('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: true });
  return root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
}

// ---------------------------------------------------------------- OTLP over HTTP

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : '');

type OtlpValue = Record<string, unknown>;
function otlpValue(v: OtlpValue | undefined, json: boolean): AttrValue {
  if (!v) return '';
  const k = (snake: string, camel: string) => (json ? camel : snake);
  if (v[k('string_value', 'stringValue')] !== undefined) return v[k('string_value', 'stringValue')] as string;
  if (v[k('bool_value', 'boolValue')] !== undefined) return v[k('bool_value', 'boolValue')] as boolean;
  if (v[k('int_value', 'intValue')] !== undefined) return Number(v[k('int_value', 'intValue')]);
  if (v[k('double_value', 'doubleValue')] !== undefined) return Number(v[k('double_value', 'doubleValue')]);
  return JSON.stringify(v);
}
function otlpAttrs(list: unknown, json: boolean): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const a of (list as Array<{ key: string; value: OtlpValue }> | undefined) ?? []) {
    out[a.key] = otlpValue(a.value, json);
  }
  return out;
}

/** Normalises an ExportTraceServiceRequest: snake_case from protobuf, the spec's camelCase from JSON. */
function fromOtlp(req: Record<string, unknown>, json: boolean): DecodedSpan[] {
  const f = (snake: string, camel: string) => (json ? camel : snake);
  // OTLP/JSON carries ids as hex strings (not base64): the spec's one deviation from proto3 JSON.
  const id = (v: unknown) => (json ? String(v ?? '') : hex(v as Uint8Array));
  const out: DecodedSpan[] = [];
  for (const rs of (req[f('resource_spans', 'resourceSpans')] as Array<Record<string, unknown>>) ?? []) {
    const resource = otlpAttrs((rs.resource as { attributes?: unknown } | undefined)?.attributes, json);
    for (const ss of (rs[f('scope_spans', 'scopeSpans')] as Array<Record<string, unknown>>) ?? []) {
      for (const s of (ss.spans as Array<Record<string, unknown>>) ?? []) {
        out.push({
          traceId: id(s[f('trace_id', 'traceId')]),
          spanId: id(s[f('span_id', 'spanId')]),
          parentSpanId: id(s[f('parent_span_id', 'parentSpanId')]),
          name: s.name as string,
          attributes: otlpAttrs(s.attributes, json),
          links: ((s.links as Array<Record<string, unknown>>) ?? []).map((l) => ({
            traceId: id(l[f('trace_id', 'traceId')]),
            spanId: id(l[f('span_id', 'spanId')]),
            attributes: otlpAttrs(l.attributes, json),
          })),
          events: ((s.events as Array<Record<string, unknown>>) ?? []).map((e) => ({
            name: e.name as string,
            attributes: otlpAttrs(e.attributes, json),
          })),
          // STATUS_CODE_ERROR = 2
          error: Number((s.status as { code?: unknown } | undefined)?.code ?? 0) === 2,
          serviceName: String(resource['service.name'] ?? ''),
        });
      }
    }
  }
  return out;
}

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** An OTLP/HTTP trace receiver at `${url}` (POST /v1/traces), protobuf or JSON by content type. */
export async function startOtlpReceiver(): Promise<Receiver & { url: string; errors: string[] }> {
  const type = await otlpRequestType();
  const spans: DecodedSpan[] = [];
  const contentTypes: string[] = [];
  const errors: string[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const raw = await body(req);
      const ct = String(req.headers['content-type'] ?? '');
      contentTypes.push(ct);
      try {
        if (req.method !== 'POST' || req.url !== '/v1/traces')
          throw new Error(`unexpected ${req.method} ${req.url}`);
        if (ct.startsWith('application/x-protobuf')) {
          const msg = type.toObject(type.decode(raw), {
            longs: String,
            bytes: Buffer as never,
            defaults: false,
          });
          spans.push(...fromOtlp(msg, false));
          res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        } else if (ct.startsWith('application/json')) {
          spans.push(...fromOtlp(JSON.parse(raw.toString('utf8')) as Record<string, unknown>, true));
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } else {
          throw new Error(`unexpected content type ${ct}`);
        }
      } catch (e) {
        errors.push((e as Error).message);
        res.writeHead(400).end((e as Error).message);
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    contentTypes,
    errors,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

// ---------------------------------------------------------------- Jaeger Thrift

function jaegerIdl(): { agent: Thrift; jaeger: Thrift } {
  const req = createRequire(import.meta.url);
  const dir = join(dirname(req.resolve('jaeger-client/package.json')), 'dist/src/jaeger-idl/thrift');
  const agent = new Thrift({
    entryPoint: join(dir, 'agent.thrift'),
    allowFilesystemAccess: true,
    strict: false,
  });
  const jaeger = new Thrift({
    entryPoint: join(dir, 'jaeger.thrift'),
    allowFilesystemAccess: true,
    strict: false,
  });
  return { agent, jaeger };
}

const i64hex = (v: unknown): string => {
  if (Buffer.isBuffer(v)) return v.toString('hex').padStart(16, '0');
  if (v && typeof v === 'object' && 'high' in v && 'low' in v) {
    const l = v as { high: number; low: number };
    const b = Buffer.alloc(8);
    b.writeInt32BE(l.high, 0);
    b.writeInt32BE(l.low, 4);
    return b.toString('hex');
  }
  return BigInt.asUintN(64, BigInt(v as number))
    .toString(16)
    .padStart(16, '0');
};

interface JaegerTag {
  key: string;
  vType: string;
  vStr?: string;
  vDouble?: number;
  vBool?: boolean;
  vLong?: unknown;
}
function jaegerTags(tags: JaegerTag[] | null | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const t of tags ?? []) {
    out[t.key] =
      t.vType === 'STRING'
        ? t.vStr!
        : t.vType === 'BOOL'
          ? t.vBool!
          : t.vType === 'DOUBLE'
            ? t.vDouble!
            : t.vType === 'LONG'
              ? Number(BigInt.asIntN(64, BigInt(`0x${i64hex(t.vLong)}`)))
              : String(t.vStr ?? '');
  }
  return out;
}

interface JaegerBatch {
  process: { serviceName: string };
  spans: Array<{
    traceIdLow: unknown;
    traceIdHigh: unknown;
    spanId: unknown;
    parentSpanId: unknown;
    operationName: string;
    references?: Array<{
      refType: string;
      traceIdLow: unknown;
      traceIdHigh: unknown;
      spanId: unknown;
    }> | null;
    tags?: JaegerTag[] | null;
    logs?: Array<{ fields: JaegerTag[] }> | null;
  }>;
}

function fromJaeger(batch: JaegerBatch): DecodedSpan[] {
  return batch.spans.map((s) => {
    const refs = s.references ?? [];
    const tags = jaegerTags(s.tags);
    const parent = i64hex(s.parentSpanId);
    return {
      traceId: i64hex(s.traceIdHigh) + i64hex(s.traceIdLow),
      spanId: i64hex(s.spanId),
      parentSpanId: /^0+$/.test(parent) ? '' : parent,
      name: s.operationName,
      attributes: tags,
      // OpenTelemetry links travel as FOLLOWS_FROM references (a parent, if any, as CHILD_OF).
      links: refs
        .filter((r) => r.refType === 'FOLLOWS_FROM')
        .map((r) => ({
          traceId: i64hex(r.traceIdHigh) + i64hex(r.traceIdLow),
          spanId: i64hex(r.spanId),
          attributes: {},
        })),
      events: (s.logs ?? []).map((l) => {
        const f = jaegerTags(l.fields);
        return { name: String(f.event ?? f.message ?? ''), attributes: f };
      }),
      error: tags.error === true,
      serviceName: batch.process.serviceName,
    };
  });
}

/** A Jaeger agent: Thrift `Agent.emitBatch` messages in UDP datagrams (binary protocol, port 6832's). */
export async function startJaegerAgent(): Promise<Receiver & { port: number; errors: string[] }> {
  const { agent } = jaegerIdl();
  const spans: DecodedSpan[] = [];
  const errors: string[] = [];
  const socket = createSocket('udp4');
  socket.on('message', (msg) => {
    const r = (agent as unknown as AgentThrift).Agent.emitBatch.argumentsMessageRW.readFrom(msg, 0);
    if (r.err) errors.push(String(r.err));
    else spans.push(...fromJaeger(r.value.body.batch));
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    port: socket.address().port,
    spans,
    contentTypes: [],
    errors,
    close: () => new Promise((r) => socket.close(() => r())),
  };
}

interface AgentThrift {
  Agent: {
    emitBatch: {
      argumentsMessageRW: {
        readFrom(b: Buffer, offset: number): { err?: unknown; value: { body: { batch: JaegerBatch } } };
      };
    };
  };
}

/** A Jaeger collector: POST /api/traces with a Thrift `Batch` (binary protocol). */
export async function startJaegerCollector(): Promise<Receiver & { url: string; errors: string[] }> {
  const { jaeger } = jaegerIdl();
  const spans: DecodedSpan[] = [];
  const contentTypes: string[] = [];
  const errors: string[] = [];
  const batchRw = (
    jaeger as unknown as {
      Batch: { rw: { readFrom(b: Buffer, o: number): { err?: unknown; value: JaegerBatch } } };
    }
  ).Batch.rw;
  const server = createServer((req, res) => {
    void (async () => {
      const raw = await body(req);
      contentTypes.push(String(req.headers['content-type'] ?? ''));
      const r = batchRw.readFrom(raw, 0);
      if (r.err) {
        errors.push(String(r.err));
        res.writeHead(400).end();
        return;
      }
      spans.push(...fromJaeger(r.value));
      res.writeHead(202).end();
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/api/traces`,
    spans,
    contentTypes,
    errors,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
