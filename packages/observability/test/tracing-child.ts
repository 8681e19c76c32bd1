/**
 * Run by `tracing.test.ts` in a process of its own (the SDK registers process-wide globals and
 * patches `http`): starts tracing from the environment it is given, then plays two requests whose
 * events go out in one batch, and a batch that fails.
 */
import { context, trace } from '@opentelemetry/api';
import { startTracing } from '../src/tracing.ts';

const tracing = await startTracing({ serviceName: 'child-default-name', env: process.env });
const tracer = trace.getTracer('tracing-child');

/** A request span with one message created in it, as the ingress's handler does. */
function request(name: string) {
  const span = tracer.startSpan(name);
  const message = context.with(trace.setSpan(context.active(), span), () =>
    tracing.createMessage('queue-x'),
  );
  span.end();
  return message;
}

const first = request('request one');
const second = request('request two');
await tracing.sendBatch('queue-x', [first, second], async () => 'sent');
first?.end({ messageId: 'job-1' });
second?.end({ messageId: 'job-2' });

const third = request('request three');
await tracing
  .sendBatch('queue-x', [third], async () => {
    throw new Error('redis down for jane@example.com');
  })
  .catch((error: unknown) => third?.end({ error }));

process.stdout.write(
  `${JSON.stringify({ enabled: tracing.enabled, metadata: first?.metadata })}\n`,
);
await tracing.shutdown();
