/**
 * A small OTLP/HTTP trace receiver: what an OpenTelemetry collector is to the product processes, for
 * tests and `pnpm dev --traces`. It accepts `POST /v1/traces` in both OTLP/HTTP encodings,
 * `http/json` (`application/json`) and `http/protobuf` (`application/x-protobuf`, decoded by the
 * few lines of protobuf reading below: only the fields a span tree needs), gzip or not, and keeps
 * every span it received in arrival order.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** An attribute value as OTLP carries it, flattened to JSON types (`int` values become numbers). */
export type OtlpValue =
  | string
  | number
  | boolean
  | null
  | OtlpValue[]
  | { [key: string]: OtlpValue };
export type OtlpAttributes = Record<string, OtlpValue>;

export type OtlpSpanKind =
  | 'unspecified'
  | 'internal'
  | 'server'
  | 'client'
  | 'producer'
  | 'consumer';

export interface ReceivedSpan {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** 16 lower-case hex digits. */
  spanId: string;
  /** Absent for a root span. */
  parentSpanId?: string;
  name: string;
  kind: OtlpSpanKind;
  /** Start and end in milliseconds since the epoch (fractional). */
  startMs: number;
  endMs: number;
  attributes: OtlpAttributes;
  events: Array<{ name: string; attributes: OtlpAttributes }>;
  links: Array<{ traceId: string; spanId: string; attributes: OtlpAttributes }>;
  status: { code: 'unset' | 'ok' | 'error'; message?: string };
  /** The resource's `service.name`. */
  serviceName: string;
  /** Every resource attribute (service, process, host…). */
  resource: OtlpAttributes;
  /** The instrumentation scope's name, e.g. `@opentelemetry/instrumentation-http`. */
  scope: string;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>`: the value for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  endpoint: string;
  /** Every span received so far, in arrival order. */
  spans: ReceivedSpan[];
  /** The spans of one trace. */
  trace(traceId: string): ReceivedSpan[];
  /** Export requests received, by encoding (for asserting which protocol a process used), and their bytes. */
  requests: { json: number; protobuf: number; bytes: number };
  /** Calls `listener` with each export request's spans as they arrive; returns the unsubscribe. */
  onSpans(listener: (spans: ReceivedSpan[]) => void): () => void;
  /** Forgets the spans received so far. */
  clear(): void;
  close(): Promise<void>;
}

export interface OtlpReceiverOptions {
  /** @defaultValue 0 (a free port) */
  port?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /**
   * Count export requests and their bytes, and decode and keep nothing: a collector's stand-in for a
   * load test, where decoding every span would cost the load generator's CPU. @defaultValue false
   */
  discard?: boolean;
}

/** Starts the receiver; `close()` it when done. */
export async function startOtlpReceiver({
  port = 0,
  host = '127.0.0.1',
  discard = false,
}: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests = { json: 0, protobuf: 0, bytes: 0 };
  const listeners = new Set<(spans: ReceivedSpan[]) => void>();

  const server = createServer((req, res) => {
    const answer = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'content-type': type }).end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'POST' || path !== '/v1/traces') {
      answer(404, 'text/plain', 'only POST /v1/traces');
      return;
    }
    readBody(req).then(
      (body) => {
        const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
        requests.bytes += body.length;
        let received: ReceivedSpan[] = [];
        try {
          if (type === 'application/json') {
            if (!discard) received = decodeJsonTraces(JSON.parse(body.toString('utf8')));
            requests.json += 1;
          } else if (type === 'application/x-protobuf') {
            if (!discard) received = decodeProtobufTraces(body);
            requests.protobuf += 1;
          } else {
            answer(415, 'text/plain', 'application/json or application/x-protobuf');
            return;
          }
        } catch (error) {
          answer(400, 'text/plain', `undecodable export request: ${String(error)}`);
          return;
        }
        spans.push(...received);
        for (const listener of listeners) listener(received);
        // An empty ExportTraceServiceResponse: `{}` in JSON, zero bytes in protobuf.
        if (type === 'application/json') answer(200, 'application/json', '{}');
        else answer(200, 'application/x-protobuf', Buffer.alloc(0));
      },
      () => answer(400, 'text/plain', 'unreadable body'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;

  return {
    endpoint: `http://${host}:${address.port}`,
    spans,
    requests,
    trace: (traceId) => spans.filter((span) => span.traceId === traceId),
    onSpans(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    clear() {
      spans.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
}

const KINDS: OtlpSpanKind[] = [
  'unspecified',
  'internal',
  'server',
  'client',
  'producer',
  'consumer',
];
const STATUS = ['unset', 'ok', 'error'] as const;

/** Builds a span from decoded OTLP fields, shared by both encodings. */
function toSpan(
  span: {
    traceId: string;
    spanId: string;
    parentSpanId: string;
    name: string;
    kind: number;
    start: bigint;
    end: bigint;
    attributes: OtlpAttributes;
    events: ReceivedSpan['events'];
    links: ReceivedSpan['links'];
    status: { code: number; message: string };
  },
  resource: OtlpAttributes,
  scope: string,
): ReceivedSpan {
  const toMs = (nanos: bigint) => Number(nanos / 1000n) / 1000;
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    ...(span.parentSpanId && !/^0*$/.test(span.parentSpanId)
      ? { parentSpanId: span.parentSpanId }
      : {}),
    name: span.name,
    kind: KINDS[span.kind] ?? 'unspecified',
    startMs: toMs(span.start),
    endMs: toMs(span.end),
    attributes: span.attributes,
    events: span.events,
    links: span.links,
    status: {
      code: STATUS[span.status.code] ?? 'unset',
      ...(span.status.message ? { message: span.status.message } : {}),
    },
    serviceName: String(resource['service.name'] ?? ''),
    resource,
    scope,
  };
}

// --- http/json -------------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const asArray = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]) : []);

/** OTLP JSON ids are hex; a producer that sent base64 (as protobuf JSON mapping would) still decodes. */
function jsonId(value: unknown): string {
  const text = typeof value === 'string' ? value : '';
  if (/^[0-9a-fA-F]*$/.test(text) && (text.length === 32 || text.length === 16 || text === '')) {
    return text.toLowerCase();
  }
  return Buffer.from(text, 'base64').toString('hex');
}

function jsonValue(value: unknown): OtlpValue {
  const v = (value ?? {}) as Json;
  if ('stringValue' in v) return String(v.stringValue);
  if ('boolValue' in v) return Boolean(v.boolValue);
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) return asArray((v.arrayValue as Json)?.values).map(jsonValue);
  if ('kvlistValue' in v) return jsonAttributes((v.kvlistValue as Json)?.values);
  if ('bytesValue' in v) return String(v.bytesValue);
  return null;
}

function jsonAttributes(list: unknown): OtlpAttributes {
  return Object.fromEntries(asArray(list).map((kv) => [String(kv.key), jsonValue(kv.value)]));
}

/** Decodes an `ExportTraceServiceRequest` in OTLP's JSON encoding. */
function decodeJsonTraces(request: unknown): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const resourceSpans of asArray((request as Json)?.resourceSpans)) {
    const resource = jsonAttributes((resourceSpans.resource as Json | undefined)?.attributes);
    for (const scopeSpans of asArray(resourceSpans.scopeSpans)) {
      const scope = String((scopeSpans.scope as Json | undefined)?.name ?? '');
      for (const span of asArray(scopeSpans.spans)) {
        const status = (span.status ?? {}) as Json;
        out.push(
          toSpan(
            {
              traceId: jsonId(span.traceId),
              spanId: jsonId(span.spanId),
              parentSpanId: jsonId(span.parentSpanId),
              name: String(span.name ?? ''),
              kind: Number(span.kind ?? 0),
              start: BigInt(String(span.startTimeUnixNano ?? '0')),
              end: BigInt(String(span.endTimeUnixNano ?? '0')),
              attributes: jsonAttributes(span.attributes),
              events: asArray(span.events).map((event) => ({
                name: String(event.name ?? ''),
                attributes: jsonAttributes(event.attributes),
              })),
              links: asArray(span.links).map((link) => ({
                traceId: jsonId(link.traceId),
                spanId: jsonId(link.spanId),
                attributes: jsonAttributes(link.attributes),
              })),
              status: { code: Number(status.code ?? 0), message: String(status.message ?? '') },
            },
            resource,
            scope,
          ),
        );
      }
    }
  }
  return out;
}

// --- http/protobuf ---------------------------------------------------------------------------------

/** One protobuf field: its number and its raw value (a varint, 8 or 4 bytes, or a length-delimited slice). */
interface Field {
  no: number;
  varint?: bigint;
  bytes?: Buffer;
}

/** The fields of one protobuf message, in order (repeated fields appear once per element). */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const byte = buf[pos++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, varint: varint() });
    else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      out.push({ no, bytes: buf.subarray(pos, pos + size) });
      pos += size;
    } else if (wire === 2) {
      const length = Number(varint());
      out.push({ no, bytes: buf.subarray(pos, pos + length) });
      pos += length;
    } else throw new Error(`unsupported wire type ${wire}`);
    if (pos > buf.length) throw new Error('truncated field');
  }
  return out;
}

const all = (fs: Field[], no: number) => fs.filter((f) => f.no === no);
const one = (fs: Field[], no: number) => fs.find((f) => f.no === no);
const str = (f: Field | undefined) => f?.bytes?.toString('utf8') ?? '';
const hex = (f: Field | undefined) => f?.bytes?.toString('hex') ?? '';
const fixed64 = (f: Field | undefined) => (f?.bytes ? f.bytes.readBigUInt64LE(0) : 0n);
const int = (f: Field | undefined) => Number(f?.varint ?? 0n);

function protoValue(buf: Buffer): OtlpValue {
  const f = fields(buf)[0];
  if (!f) return null;
  switch (f.no) {
    case 1:
      return str(f);
    case 2:
      return f.varint === 1n;
    case 3:
      return Number(BigInt.asIntN(64, f.varint ?? 0n));
    case 4:
      return f.bytes ? f.bytes.readDoubleLE(0) : 0;
    case 5:
      return all(fields(f.bytes ?? Buffer.alloc(0)), 1).map((v) =>
        protoValue(v.bytes ?? Buffer.alloc(0)),
      );
    case 6:
      return protoAttributes(all(fields(f.bytes ?? Buffer.alloc(0)), 1));
    case 7:
      return (f.bytes ?? Buffer.alloc(0)).toString('base64');
    default:
      return null;
  }
}

/** `repeated KeyValue` (key = 1, value = 2) into an object. */
function protoAttributes(list: Field[]): OtlpAttributes {
  return Object.fromEntries(
    list.map((kv) => {
      const f = fields(kv.bytes ?? Buffer.alloc(0));
      return [str(one(f, 1)), protoValue(one(f, 2)?.bytes ?? Buffer.alloc(0))];
    }),
  );
}

/**
 * Decodes an `ExportTraceServiceRequest` in protobuf (opentelemetry-proto `trace/v1/trace.proto`):
 * ResourceSpans (resource 1, scope_spans 2) → ScopeSpans (scope 1, spans 2) → Span (trace_id 1,
 * span_id 2, parent_span_id 4, name 5, kind 6, start 7, end 8, attributes 9, events 11, links 13,
 * status 15).
 */
function decodeProtobufTraces(body: Buffer): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of all(fields(body), 1)) {
    const rsFields = fields(rs.bytes ?? Buffer.alloc(0));
    const resource = protoAttributes(all(fields(one(rsFields, 1)?.bytes ?? Buffer.alloc(0)), 1));
    for (const ss of all(rsFields, 2)) {
      const ssFields = fields(ss.bytes ?? Buffer.alloc(0));
      const scope = str(one(fields(one(ssFields, 1)?.bytes ?? Buffer.alloc(0)), 1));
      for (const sp of all(ssFields, 2)) {
        const s = fields(sp.bytes ?? Buffer.alloc(0));
        const status = fields(one(s, 15)?.bytes ?? Buffer.alloc(0));
        out.push(
          toSpan(
            {
              traceId: hex(one(s, 1)),
              spanId: hex(one(s, 2)),
              parentSpanId: hex(one(s, 4)),
              name: str(one(s, 5)),
              kind: int(one(s, 6)),
              start: fixed64(one(s, 7)),
              end: fixed64(one(s, 8)),
              attributes: protoAttributes(all(s, 9)),
              events: all(s, 11).map((e) => {
                const ef = fields(e.bytes ?? Buffer.alloc(0));
                return { name: str(one(ef, 2)), attributes: protoAttributes(all(ef, 3)) };
              }),
              links: all(s, 13).map((l) => {
                const lf = fields(l.bytes ?? Buffer.alloc(0));
                return {
                  traceId: hex(one(lf, 1)),
                  spanId: hex(one(lf, 2)),
                  attributes: protoAttributes(all(lf, 4)),
                };
              }),
              status: { code: int(one(status, 3)), message: str(one(status, 2)) },
            },
            resource,
            scope,
          ),
        );
      }
    }
  }
  return out;
}
