/**
 * OpenTelemetry traces, one owner for both processes. Off unless the standard `OTEL_*` variables name
 * somewhere to send spans; then `startTracing` loads the SDK and the instrumentations (dynamically:
 * with tracing off this module imports nothing of OpenTelemetry, so nothing is loaded, patched or
 * started, and the cost is nil).
 *
 * What is traced, and how the parts join into one trace per event:
 * - HTTP in and out (`@opentelemetry/instrumentation-http`: the ingress's server spans and chipchat's
 *   got requests to Web1on1; `@opentelemetry/instrumentation-undici`: the DMS notifier's `fetch`);
 * - Fastify's request (`@fastify/otel`, registered as each Fastify instance is created; it also
 *   gives the server span its route, `POST /updatecontact`);
 * - BullMQ's own spans (`add`, `addBulk`, `process`, `complete`, `retry`, `delay`, `fail`) through
 *   its `telemetry` option (`bullmq-otel`), which carries the producer's context in each job's
 *   `opts.telemetry.metadata`, so the worker's `process` span is a child of the span that queued it;
 * - the messaging spans BullMQ cannot make: a group commit queues many events in one `addBulk`, so
 *   each event gets a `create <queue>` span in its own request's trace, whose context its job carries,
 *   and the batch gets one `send <queue>` span of its own that links to every `create` (the
 *   OpenTelemetry messaging conventions for batch publishing).
 *
 * What is never recorded: query strings (Web1on1's list request carries `profile.email=` and
 * `profile.telephone=`), headers (the HTTP instrumentations record none unless told to; the
 * Authorization header carries the Web1on1 token), job data and job results. Failure reasons and
 * exception messages are masked (emails, phone numbers, tokens).
 */
import type { Attributes, Span as OtelSpan, SpanContext, Tracer } from '@opentelemetry/api';
import type { Span as BullMqSpan, Tracer as BullMqTracer, ContextManager, Telemetry } from 'bullmq';
import { scrubText } from './redact.ts';

/** The environment as `main.ts` passes it: only the `OTEL_*` entries are looked at here. */
export type TracingEnv = Readonly<Record<string, string | undefined>>;

export interface TracingOptions {
  /**
   * `service.name` of this process's spans, unless `OTEL_SERVICE_NAME` (or `service.name` in
   * `OTEL_RESOURCE_ATTRIBUTES`) names it.
   */
  serviceName: string;
  /**
   * The process environment. It decides whether tracing starts (see {@link tracingWanted}); the SDK
   * then reads its settings (`OTEL_EXPORTER_OTLP_*`, `OTEL_TRACES_SAMPLER`, …) from `process.env`
   * itself, so pass `process.env`.
   */
  env: TracingEnv;
}

/** One message's `create` span: its serialised context for the job, and its end. */
export interface MessageCreation {
  /** The context BullMQ stores with the job (`opts.telemetry.metadata`), so the job's trace continues it. */
  readonly metadata: string;
  /** For the batch's span links. */
  readonly spanContext: SpanContext;
  /** Ends the span once the queue acknowledged the message (its id) or failed to. */
  end(outcome: { messageId?: string; error?: unknown }): void;
}

export interface Tracing {
  readonly enabled: boolean;
  /**
   * BullMQ's `telemetry` option for every `Queue` and `Worker`: bullmq-otel, minus the spans of its
   * idle polling, with job results and raw failure messages left out. `undefined` with tracing off.
   */
  readonly bullmq: Telemetry | undefined;
  /**
   * Starts the `create <queue>` producer span of one message in the current context (the request
   * that brought it). `undefined` with tracing off.
   */
  createMessage(queue: string): MessageCreation | undefined;
  /**
   * Runs `send` (the batch's one `addBulk`) in a `send <queue>` producer span that starts a trace
   * of its own and links to each message's `create` span: the batch serves many requests, so it is
   * the child of none of them.
   */
  sendBatch<T>(
    queue: string,
    messages: ReadonlyArray<MessageCreation | undefined>,
    send: () => Promise<T>,
  ): Promise<T>;
  /** Exports the spans still buffered and stops the SDK; call it last on shutdown. */
  shutdown(): Promise<void>;
}

/** Tracing off: no SDK, no spans, nothing loaded. */
export const TRACING_OFF: Tracing = Object.freeze({
  enabled: false,
  bullmq: undefined,
  createMessage: () => undefined,
  sendBatch: <T>(_queue: string, _messages: unknown, send: () => Promise<T>) => send(),
  shutdown: async () => {},
});

const set = (value: string | undefined) => value !== undefined && value.trim() !== '';

/**
 * Whether the environment asks for traces: an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or an exporter other than `none` in `OTEL_TRACES_EXPORTER`,
 * and not `OTEL_SDK_DISABLED=true`. Settings that only tune tracing (`OTEL_SERVICE_NAME`,
 * `OTEL_TRACES_SAMPLER`, the protocol) start nothing by themselves: there would be nowhere to send.
 */
export function tracingWanted(env: TracingEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (exporters.length > 0) return exporters[0] !== 'none';
  return set(env.OTEL_EXPORTER_OTLP_ENDPOINT) || set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** Paths scraped or probed all day long; a span each would drown the traces that matter. */
const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const pathOf = (url: string | undefined) => (url ?? '/').split('?')[0] ?? '/';

/** `url` without its query string and fragment (and without credentials). */
export function withoutQuery(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return url.split(/[?#]/)[0] ?? '';
  }
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${scrubText(error.message)}`;
  return scrubText(String(error));
}

/**
 * BullMQ operations whose spans say nothing about an event: the worker's idle polling (a root span
 * every few seconds per queue) and the queues' and workers' own start and close.
 */
const QUIET_OPERATIONS = /^(getNextJob|moveStalledJobsToWait|startStalledCheckTimer|close)\b/;
/** Span-event attributes BullMQ fills from job data: a job's return value. */
const JOB_RESULT = 'bullmq.job.result';
const FAILED_REASON = 'bullmq.job.failed.reason';

const QUIET_SPAN: BullMqSpan = {
  setSpanOnContext: (ctx) => ctx,
  setAttribute: () => {},
  setAttributes: () => {},
  addEvent: () => {},
  recordException: () => {},
  end: () => {},
};

/**
 * bullmq-otel behind a filter: BullMQ's spans as they are, except that the polling spans are not
 * made, span events keep no job result, and failure texts are masked. BullMQ itself records ids,
 * names and counts only; it never puts job data in a span.
 */
export function filteredBullMqTelemetry(inner: Telemetry): Telemetry {
  const tracer: BullMqTracer = {
    startSpan(name, options, ctx) {
      if (QUIET_OPERATIONS.test(name)) return QUIET_SPAN;
      const span = inner.tracer.startSpan(name, options, ctx);
      return {
        setSpanOnContext: (c) => span.setSpanOnContext(c),
        setAttribute: (key, value) => span.setAttribute(key, value),
        setAttributes: (attributes) => span.setAttributes(attributes),
        addEvent(eventName, attributes) {
          if (!attributes) return span.addEvent(eventName);
          const { [JOB_RESULT]: _result, ...kept } = attributes;
          const reason = kept[FAILED_REASON];
          if (typeof reason === 'string') kept[FAILED_REASON] = scrubText(reason);
          span.addEvent(eventName, kept);
        },
        recordException(exception, time) {
          const text =
            typeof exception === 'string'
              ? scrubText(exception)
              : { ...exception, message: scrubText(exception.message ?? ''), stack: undefined };
          span.recordException(text as never, time);
        },
        end: () => span.end(),
      };
    },
  };
  return {
    tracer,
    contextManager: inner.contextManager as ContextManager,
    ...(inner.meter ? { meter: inner.meter } : {}),
  };
}

/**
 * Starts tracing when the environment asks for it (see {@link tracingWanted}); otherwise returns
 * {@link TRACING_OFF} without loading anything. Call it in `main.ts` before importing the modules
 * that use `node:http` or Fastify: the HTTP instrumentation patches `http` the next time it is
 * required.
 */
export async function startTracing({ serviceName, env }: TracingOptions): Promise<Tracing> {
  if (!tracingWanted(env)) return TRACING_OFF;

  const [
    api,
    { NodeSDK },
    { HttpInstrumentation },
    { UndiciInstrumentation },
    { FastifyOtelInstrumentation },
    { BullMQOtel },
  ] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-undici'),
    import('@fastify/otel'),
    import('bullmq-otel'),
  ]);

  const named =
    set(env.OTEL_SERVICE_NAME) ||
    /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const sdk = new NodeSDK({
    ...(named ? {} : { serviceName }),
    // Traces only: the metrics stay Prometheus (`/metrics`), and nothing here logs through OTel.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => OPS_PATHS.has(pathOf(request.url)),
        // A request outside any trace (a timer's) is not worth a trace of its own.
        requireParentforOutgoingSpans: true,
        // Path, method and status stay; the query goes (the instrumentation would keep it).
        startIncomingSpanHook: () => ({ 'url.query': undefined }),
        startOutgoingSpanHook: (request) => ({
          'url.full': withoutQuery(
            `${request.protocol ?? 'http:'}//${request.hostname ?? request.host ?? 'localhost'}${
              request.port ? `:${request.port}` : ''
            }${pathOf(request.path ?? undefined)}`,
          ),
        }),
      }),
      new UndiciInstrumentation({
        requireParentforSpans: true,
        startSpanHook: (request) => ({
          'url.full': withoutQuery(`${request.origin}${request.path}`),
          'url.query': undefined,
        }),
      }),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        // The request span only (it also names the server span by its route). A span per hook
        // (auth, rate limit, body parsing, metrics…) and one for the handler would multiply every
        // request's spans, at ~45 µs of ingress CPU each with its export (bench/README.md), for
        // little news.
        instrumentHooks: false,
        instrumentHandler: false,
        ignorePaths: ({ url }) => OPS_PATHS.has(pathOf(url)),
        requestHook: (span: OtelSpan, request: { url: string }) => {
          span.setAttribute('url.path', pathOf(request.url));
        },
      }),
    ],
  });
  sdk.start();

  const tracer: Tracer = api.trace.getTracer('contact-linker');
  const bullmq = filteredBullMqTelemetry(new BullMQOtel('bullmq') as unknown as Telemetry);
  const messaging = (queue: string, operation: 'create' | 'send'): Attributes => ({
    'messaging.system': 'bullmq',
    'messaging.operation.type': operation,
    'messaging.operation.name': operation,
    'messaging.destination.name': queue,
  });

  return {
    enabled: true,
    bullmq,
    createMessage(queue) {
      const span = tracer.startSpan(`create ${queue}`, {
        kind: api.SpanKind.PRODUCER,
        attributes: messaging(queue, 'create'),
      });
      const ctx = api.trace.setSpan(api.context.active(), span);
      return {
        metadata: bullmq.contextManager.getMetadata(ctx),
        spanContext: span.spanContext(),
        end({ messageId, error }) {
          if (messageId !== undefined) span.setAttribute('messaging.message.id', messageId);
          if (error !== undefined) {
            span.setStatus({ code: api.SpanStatusCode.ERROR, message: messageOf(error) });
          }
          span.end();
        },
      };
    },
    sendBatch(queue, messages, send) {
      const links = messages.flatMap((message) =>
        message ? [{ context: message.spanContext }] : [],
      );
      return tracer.startActiveSpan(
        `send ${queue}`,
        {
          kind: api.SpanKind.PRODUCER,
          root: true,
          links,
          attributes: {
            ...messaging(queue, 'send'),
            'messaging.batch.message_count': messages.length,
          },
        },
        async (span) => {
          try {
            return await send();
          } catch (error) {
            span.setStatus({ code: api.SpanStatusCode.ERROR, message: messageOf(error) });
            throw error;
          } finally {
            span.end();
          }
        },
      );
    },
    shutdown: () => sdk.shutdown(),
  };
}
