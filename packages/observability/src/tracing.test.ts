/**
 * Tracing's decisions and filters as pure functions, then `startTracing` itself in child processes
 * (the SDK registers process-wide globals and patches `http`, which no test file may do to the
 * runner): off loads nothing of OpenTelemetry, on exports the messaging spans the group commit needs.
 * The whole chain through the real processes is `apps/worker/test/tracing.e2e.test.ts`.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type OtlpReceiver, startOtlpReceiver, waitFor } from '@contact-linker/testkit';
import type { Span, Telemetry } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import {
  filteredBullMqTelemetry,
  startTracing,
  TRACING_OFF,
  tracingWanted,
  withoutQuery,
} from './tracing.ts';

const run = promisify(execFile);

describe('tracingWanted', () => {
  it.each([
    [{}, false],
    [{ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' }, false],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_TRACES_EXPORTER: 'console' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'false' }, true],
  ])('%j → %s', (env, wanted) => {
    expect(tracingWanted(env)).toBe(wanted);
  });
});

describe('what never reaches a span', () => {
  it('withoutQuery keeps scheme, host and path only', () => {
    expect(
      withoutQuery(
        'https://api.web1on1.chat/v2/contacts?organization=o&profile.email=jane%40example.com#x',
      ),
    ).toBe('https://api.web1on1.chat/v2/contacts');
    expect(withoutQuery('http://user:secret@dms:8080/hook?key=abc')).toBe('http://dms:8080/hook');
    expect(withoutQuery('/relative/path?profile.telephone=%2B31612345678')).toBe('/relative/path');
  });

  it("BullMQ's spans: no polling spans, no job result, masked failure texts", () => {
    const calls: Array<[string, ...unknown[]]> = [];
    const recording = (name: string): Span => ({
      setSpanOnContext: (ctx) => ctx,
      setAttribute: (...args) => calls.push([`${name}.setAttribute`, ...args]),
      setAttributes: (...args) => calls.push([`${name}.setAttributes`, ...args]),
      addEvent: (...args) => calls.push([`${name}.addEvent`, ...args]),
      recordException: (...args) => calls.push([`${name}.recordException`, ...args]),
      end: () => calls.push([`${name}.end`]),
    });
    const inner: Telemetry = {
      tracer: { startSpan: (name) => recording(name) },
      contextManager: {
        with: (_ctx, fn) => fn(),
        active: () => ({}),
        getMetadata: () => '{}',
        fromMetadata: (ctx) => ctx,
      },
    };
    const telemetry = filteredBullMqTelemetry(inner);
    for (const quiet of [
      'getNextJob link-contact',
      'moveStalledJobsToWait notify-dms',
      'close dead-letter',
    ]) {
      const span = telemetry.tracer.startSpan(quiet, { kind: 0 });
      span.setAttributes({ 'bullmq.job.id': '1' });
      span.end();
    }
    expect(calls).toEqual([]);

    const span = telemetry.tracer.startSpan('process link-contact', { kind: 4 });
    span.addEvent('job completed', { 'bullmq.job.result': '{"contactId":"c1"}' });
    span.addEvent('job failed', { 'bullmq.job.failed.reason': 'no match for jane@example.com' });
    span.recordException('lost the lock of jane@example.com');
    span.recordException({ name: 'Error', message: 'token eyJa.eyJb.c', stack: 'at secret' });
    span.end();
    expect(calls).toEqual([
      ['process link-contact.addEvent', 'job completed', {}],
      [
        'process link-contact.addEvent',
        'job failed',
        { 'bullmq.job.failed.reason': 'no match for <email>' },
      ],
      ['process link-contact.recordException', 'lost the lock of <email>', undefined],
      [
        'process link-contact.recordException',
        { name: 'Error', message: 'token <token>', stack: undefined },
        undefined,
      ],
      ['process link-contact.end'],
    ]);
  });
});

describe('startTracing', () => {
  let receiver: OtlpReceiver | undefined;
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
  });

  it('with no OTEL_* variable: the no-op tracing, and the batch still runs', async () => {
    const tracing = await startTracing({ serviceName: 'x', env: {} });
    expect(tracing).toBe(TRACING_OFF);
    expect(tracing.bullmq).toBeUndefined();
    expect(tracing.createMessage('q')).toBeUndefined();
    expect(await tracing.sendBatch('q', [undefined], async () => 42)).toBe(42);
  });

  /**
   * Node with a resolve hook that lists the OpenTelemetry modules `startTracing` loads. It imports
   * this module, not the package: the package's metrics load prom-client, which has always loaded
   * `@opentelemetry/api` (a no-op facade) for exemplars.
   */
  async function modulesLoadedBy(env: Record<string, string>): Promise<string[]> {
    const script = `
      import { registerHooks } from 'node:module';
      const seen = new Set();
      registerHooks({ resolve(s, c, next) { const r = next(s, c);
        const m = /node_modules\\/(@opentelemetry\\/[^/]+|bullmq-otel|@fastify\\/otel)\\//.exec(r.url);
        if (m) seen.add(m[1]); return r; } });
      const { startTracing } = await import(${JSON.stringify(join(import.meta.dirname, 'tracing.ts'))});
      const tracing = await startTracing({ serviceName: 'probe', env: process.env });
      await tracing.shutdown();
      console.log(JSON.stringify([...seen].sort()));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 20_000,
    });
    return JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]') as string[];
  }

  it('with no OTEL_* variable, importing and calling it loads no OpenTelemetry module', async () => {
    expect(await modulesLoadedBy({ OTEL_SERVICE_NAME: 'named-but-nowhere-to-send' })).toEqual([]);
    // The probe sees them when tracing is on.
    expect(await modulesLoadedBy({ OTEL_TRACES_EXPORTER: 'console' })).toEqual(
      expect.arrayContaining([
        '@fastify/otel',
        '@opentelemetry/api',
        '@opentelemetry/instrumentation-http',
        '@opentelemetry/instrumentation-undici',
        '@opentelemetry/sdk-node',
        'bullmq-otel',
      ]),
    );
  });

  it('on: each message gets a create span in its request, the batch one send span linked to all', async () => {
    receiver = await startOtlpReceiver();
    const { stdout } = await run(
      process.execPath,
      [join(import.meta.dirname, '..', 'test', 'tracing-child.ts')],
      {
        env: {
          PATH: process.env.PATH ?? '',
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          // OTLP's default protocol, http/protobuf (the e2e test uses http/json).
          OTEL_SERVICE_NAME: 'named-by-env',
        },
        timeout: 20_000,
      },
    );
    expect(JSON.parse(stdout)).toMatchObject({ enabled: true, metadata: expect.any(String) });
    expect(receiver.requests.protobuf).toBeGreaterThan(0);
    const spans = await waitFor(() => (receiver?.spans.length === 8 ? receiver.spans : undefined));
    const named = (name: string) => spans.filter((s) => s.name === name);
    const [one, two, three] = ['request one', 'request two', 'request three'].map(
      (name) => named(name)[0],
    );
    const creates = named('create queue-x');
    expect(
      creates.map((c) => [c.traceId, c.parentSpanId, c.attributes['messaging.message.id']]),
    ).toEqual([
      [one?.traceId, one?.spanId, 'job-1'],
      [two?.traceId, two?.spanId, 'job-2'],
      [three?.traceId, three?.spanId, undefined],
    ]);
    expect(creates[0]?.kind).toBe('producer');
    expect(creates[2]?.status).toEqual({ code: 'error', message: 'Error: redis down for <email>' });

    const [batch, failed] = named('send queue-x');
    expect(batch).toMatchObject({
      kind: 'producer',
      serviceName: 'named-by-env',
      attributes: {
        'messaging.system': 'bullmq',
        'messaging.operation.type': 'send',
        'messaging.destination.name': 'queue-x',
        'messaging.batch.message_count': 2,
      },
      links: [
        { traceId: one?.traceId, spanId: creates[0]?.spanId },
        { traceId: two?.traceId, spanId: creates[1]?.spanId },
      ],
    });
    expect(batch?.parentSpanId).toBeUndefined();
    expect([one?.traceId, two?.traceId]).not.toContain(batch?.traceId);
    expect(failed?.status).toEqual({ code: 'error', message: 'Error: redis down for <email>' });
  });
});
