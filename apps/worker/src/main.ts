import { loadWorkerConfig } from '@contact-linker/config';
import {
  createLogger,
  createWorkerMetrics,
  loadConfigOrExit,
  onShutdown,
  startOpsServer,
  startTracing,
} from '@contact-linker/observability';
import { createRedisConnection, redisReady, warnUnlessNoEviction } from '@contact-linker/queues';

const config = loadConfigOrExit('worker', () => loadWorkerConfig(process.env));
const logger = createLogger({ level: config.logLevel, name: 'worker' });
// Off unless OTEL_* asks for it. First, and the runtime imported after it: the HTTP instrumentation
// patches `http` when chipchat's got next requires it.
const tracing = await startTracing({ serviceName: 'contact-linker-worker', env: process.env });
const { createWorkerRuntime } = await import('./runtime.ts');

const connection = createRedisConnection(config.redisUrl, {
  role: 'worker',
  name: 'contact-linker:worker',
  clusterNodes: config.redisClusterNodes,
});
let redisDown = false;
connection.on('error', (err) => {
  // ioredis repeats the error on every reconnect attempt; log the transition only.
  if (!redisDown) logger.error({ err: err.message }, 'redis unavailable; waiting to reconnect');
  redisDown = true;
});
connection.on('ready', () => {
  if (redisDown) logger.info('redis available again');
  redisDown = false;
});

const metrics = createWorkerMetrics({ redisReady: () => redisReady(connection) });
const runtime = createWorkerRuntime({
  config,
  connection,
  logger,
  metrics,
  telemetry: tracing.bullmq,
});
const ops = await startOpsServer({
  port: config.workerPort,
  ready: () => redisReady(connection),
  metrics: async () => ({
    contentType: metrics.registry.contentType,
    body: await metrics.registry.metrics(),
  }),
});
void warnUnlessNoEviction(connection, logger);
logger.info(
  {
    port: ops.port,
    concurrency: config.concurrency,
    notify: config.notify !== undefined,
    tracing: tracing.enabled,
  },
  'worker started',
);

onShutdown(logger, async () => {
  await runtime.close();
  await ops.close();
  await connection.quit().catch(() => connection.disconnect());
  // Last, so the spans of the jobs that finished while draining go out too.
  await tracing.shutdown();
});
