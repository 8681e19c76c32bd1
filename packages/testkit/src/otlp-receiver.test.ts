/**
 * The receiver against OpenTelemetry's own OTLP/HTTP exporters, in both encodings: what a product
 * process sends is what a test reads back, field by field.
 */
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, type SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { type OtlpReceiver, startOtlpReceiver } from './otlp-receiver.ts';
import { waitFor } from './wait-for.ts';

let receiver: OtlpReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

/** Sends one small trace through `exporter`: a server span, its producer child with a link and an event. */
async function sendTrace(exporter: SpanExporter) {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'svc-under-test', 'host.name': 'box' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('receiver-test');
  const other = tracer.startSpan('other');
  other.end();
  const parent = tracer.startSpan('POST /things', {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': 'POST',
      'http.response.status_code': 202,
      ratio: 0.5,
      ok: true,
      tags: ['a', 'b'],
    },
  });
  const child = tracer.startSpan(
    'send things',
    { kind: SpanKind.PRODUCER, links: [{ context: other.spanContext(), attributes: { n: 1 } }] },
    trace.setSpan(context.active(), parent),
  );
  child.addEvent('queued', { 'job.id': 'j-1' });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'went wrong' });
  child.end();
  parent.end();
  await provider.forceFlush();
  await provider.shutdown();
  return {
    other: other.spanContext(),
    parent: parent.spanContext(),
    child: child.spanContext(),
  };
}

describe.each([
  ['http/json', 'json', (url: string) => new JsonExporter({ url })],
  ['http/protobuf', 'protobuf', (url: string) => new ProtobufExporter({ url })],
  [
    'http/protobuf, gzip',
    'protobuf',
    (url: string) => new ProtobufExporter({ url, compression: 'gzip' as never }),
  ],
] as const)('%s', (_label, encoding, makeExporter) => {
  it('decodes ids, parents, names, kinds, attributes, events, links, status and service', async () => {
    receiver = await startOtlpReceiver();
    const sent = await sendTrace(makeExporter(`${receiver.endpoint}/v1/traces`));
    const spans = await waitFor(() => (receiver?.spans.length === 3 ? receiver.spans : undefined));

    expect(receiver.requests[encoding]).toBeGreaterThan(0);
    const byName = Object.fromEntries(spans.map((span) => [span.name, span]));
    const parent = byName['POST /things'];
    const child = byName['send things'];
    expect(parent).toMatchObject({
      traceId: sent.parent.traceId,
      spanId: sent.parent.spanId,
      kind: 'server',
      serviceName: 'svc-under-test',
      scope: 'receiver-test',
      attributes: {
        'http.request.method': 'POST',
        'http.response.status_code': 202,
        ratio: 0.5,
        ok: true,
        tags: ['a', 'b'],
      },
      status: { code: 'unset' },
    });
    expect(parent?.parentSpanId).toBeUndefined();
    expect(parent?.resource).toMatchObject({
      'service.name': 'svc-under-test',
      'host.name': 'box',
    });
    expect(parent?.endMs).toBeGreaterThanOrEqual(parent?.startMs ?? Infinity);
    expect(parent?.startMs).toBeGreaterThan(Date.now() - 60_000);

    expect(child).toMatchObject({
      traceId: sent.parent.traceId,
      spanId: sent.child.spanId,
      parentSpanId: sent.parent.spanId,
      kind: 'producer',
      events: [{ name: 'queued', attributes: { 'job.id': 'j-1' } }],
      links: [{ traceId: sent.other.traceId, spanId: sent.other.spanId, attributes: { n: 1 } }],
      status: { code: 'error', message: 'went wrong' },
    });
    expect(
      receiver
        .trace(sent.parent.traceId)
        .map((s) => s.name)
        .sort(),
    ).toEqual(['POST /things', 'send things']);
  });
});

it('tells its subscribers about each export as it arrives, and forgets on clear()', async () => {
  receiver = await startOtlpReceiver();
  const seen: string[] = [];
  const stop = receiver.onSpans((spans) => seen.push(...spans.map((span) => span.name)));
  await sendTrace(new JsonExporter({ url: `${receiver.endpoint}/v1/traces` }));
  await waitFor(() => seen.length === 3 || undefined);
  stop();
  receiver.clear();
  expect(receiver.spans).toEqual([]);
  expect(seen.sort()).toEqual(['POST /things', 'other', 'send things']);
});

it('with discard, counts export requests and bytes and keeps no span', async () => {
  receiver = await startOtlpReceiver({ discard: true });
  await sendTrace(new ProtobufExporter({ url: `${receiver.endpoint}/v1/traces` }));
  expect(receiver.requests.protobuf).toBeGreaterThan(0);
  expect(receiver.requests.bytes).toBeGreaterThan(100);
  expect(receiver.spans).toEqual([]);
});

it('answers 404 off /v1/traces, 415 for other content types and 400 for what it cannot decode', async () => {
  receiver = await startOtlpReceiver();
  const post = (path: string, type: string, body: string | Uint8Array) =>
    fetch(`${receiver?.endpoint}${path}`, {
      method: 'POST',
      headers: { 'content-type': type },
      body,
    }).then((res) => res.status);
  expect(await post('/v1/metrics', 'application/json', '{}')).toBe(404);
  expect(await post('/v1/traces', 'text/plain', 'x')).toBe(415);
  expect(await post('/v1/traces', 'application/json', '{not json')).toBe(400);
  expect(
    await post('/v1/traces', 'application/x-protobuf', new Uint8Array([0x0a, 0x05, 0x01])),
  ).toBe(400);
  expect(await post('/v1/traces', 'application/json', '{}')).toBe(200);
  expect(receiver.spans).toEqual([]);
});
