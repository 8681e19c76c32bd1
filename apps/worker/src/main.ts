import { loadWorkerConfig } from '@contact-linker/config';
import {
  createLogger,
  createWorkerMetrics,
  loadConfigOrExit,
  onShutdown,
  startOpsServer,
} from '@contact-linker/observability';
import { createRedisConnection, redisReady, warnUnlessNoEviction } from '@contact-linker/queues';
import { createWorkerRuntime } from './runtime.ts';

const config = loadConfigOrExit('worker', () => loadWorkerConfig(process.env));
const logger = createLogger({ level: config.logLevel, name: 'worker' });

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
const runtime = createWorkerRuntime({ config, connection, logger, metrics });
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
  { port: ops.port, concurrency: config.concurrency, notify: config.notify !== undefined },
  'worker started',
);

onShutdown(logger, async () => {
  await runtime.close();
  await ops.close();
  await connection.quit().catch(() => connection.disconnect());
});
