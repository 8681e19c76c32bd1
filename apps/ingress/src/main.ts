import { loadIngressConfig } from '@contact-linker/config';
import {
  createIngressMetrics,
  createLogger,
  loadConfigOrExit,
  onShutdown,
  startTracing,
} from '@contact-linker/observability';
import {
  closeQueues,
  createFairOrder,
  createQueues,
  createRedisConnection,
  QUEUE,
  queueDepths,
  redisReady,
  warnUnlessNoEviction,
} from '@contact-linker/queues';
import { createBulkContactsEnqueue } from './enqueue/bulk-contacts.ts';
import { createLiveContactEnqueue } from './enqueue/live-contact.ts';
import { createWebhookEventEnqueue } from './enqueue/webhook-event.ts';
import { REDIS_DEADLINE_MS } from './redis-deadline.ts';

const config = loadConfigOrExit('ingress', () => loadIngressConfig(process.env));
const logger = createLogger({ level: config.logLevel, name: 'ingress' });
// Off unless OTEL_* asks for it. First, and the app imported after it: the HTTP instrumentation
// patches `http` when Fastify requires it, and @fastify/otel hooks every Fastify instance created.
const tracing = await startTracing({ serviceName: 'contact-linker-ingress', env: process.env });
const { buildApp } = await import('./app.ts');

const redis = createRedisConnection(config.redisUrl, {
  role: 'producer',
  name: 'contact-linker:ingress',
  clusterNodes: config.redisClusterNodes,
});
let redisDown = false;
redis.on('error', (err) => {
  // ioredis repeats the same error on every reconnect attempt; log the transition only.
  if (!redisDown) logger.error({ err: err.message }, 'redis unavailable; answering 503');
  redisDown = true;
});
redis.on('ready', () => {
  if (redisDown) logger.info('redis available again');
  redisDown = false;
});

const queues = createQueues(redis, config.queuePrefix, { telemetry: tracing.bullmq });
const jobs = {
  queues,
  fairOrder: createFairOrder({ queue: queues[QUEUE.linkContact], redis }),
  attempts: config.jobAttempts,
  defaultPhoneCountry: config.defaultPhoneCountry,
};
const enqueue = {
  contact: createLiveContactEnqueue({ ...jobs, tracing }),
  contacts: createBulkContactsEnqueue(jobs),
  webhook: createWebhookEventEnqueue({ ...jobs, redis, prefix: config.queuePrefix }),
};
const metrics = createIngressMetrics({
  queues: { depths: () => queueDepths(queues) },
  redisReady: () => redisReady(redis, REDIS_DEADLINE_MS),
});
const app = await buildApp({ config, redis, queues, enqueue, logger, metrics });
await app.listen({ port: config.port, host: config.host });
void warnUnlessNoEviction(redis, logger);

onShutdown(logger, async () => {
  await app.close();
  await closeQueues(queues);
  await redis.quit().catch(() => redis.disconnect());
  // Last, so the spans of the requests answered while closing go out too.
  await tracing.shutdown();
});
