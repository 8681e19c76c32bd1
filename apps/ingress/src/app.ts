import type { IngressConfig } from '@contact-linker/config';
import type { IngressMetrics, Logger } from '@contact-linker/observability';
import type { QueueSet, RedisClient } from '@contact-linker/queues';
import helmet from '@fastify/helmet';
import Fastify from 'fastify';
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { BulkContactsEnqueue } from './enqueue/bulk-contacts.ts';
import type { LiveContactEnqueue } from './enqueue/live-contact.ts';
import type { WebhookEventEnqueue } from './enqueue/webhook-event.ts';
import { clientErrorHandler, frameworkErrors, requestSummary, TIMEOUTS } from './http-hardening.ts';
import adminAuth from './plugins/admin-auth.ts';
import { bullBoard } from './plugins/bull-board.ts';
import dmsAuth from './plugins/dms-auth.ts';
import docs from './plugins/docs.ts';
import errorHandler from './plugins/error-handler.ts';
import jsonBody from './plugins/json-body.ts';
import metricsPlugin from './plugins/metrics.ts';
import rateLimitPlugin from './plugins/rate-limit.ts';
import { REDIS_DEADLINE_MS } from './redis-deadline.ts';
import { adminRoutes } from './routes/admin.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { updateContactRoutes } from './routes/updatecontact.ts';
import { updateContactsRoutes } from './routes/updatecontacts.ts';
import { webhookRoutes } from './routes/webhook.ts';

export interface AppDeps {
  config: Pick<
    IngressConfig,
    'dmsApiKeys' | 'webhookSecret' | 'syncUsers' | 'admin' | 'ingressRateLimit' | 'queuePrefix'
  >;
  /** The producer connection: the per-key rate limit counts in it and `/readyz` pings it. */
  redis: RedisClient;
  /** The queues behind `GET /jobs/:jobId` and `/admin`. */
  queues: QueueSet;
  /** How the routes enqueue, built by main.ts from `enqueue/`. */
  enqueue: {
    contact: LiveContactEnqueue;
    contacts: BulkContactsEnqueue;
    webhook: WebhookEventEnqueue;
  };
  /**
   * How long Redis may take before a read answers 503 (`/jobs`) or `/readyz` reports not ready.
   * @defaultValue {@link REDIS_DEADLINE_MS} (800)
   */
  deadlineMs?: number;
  logger: Logger;
  metrics: IngressMetrics;
}

/** Builds the ingress without listening, so tests drive it through `inject` or a real socket. */
export async function buildApp({
  config,
  redis,
  queues,
  enqueue,
  deadlineMs = REDIS_DEADLINE_MS,
  logger,
  metrics,
}: AppDeps) {
  // Fastify reads serializers from the instance it is given; ours logs the path without the query.
  const requestLogger = Object.assign(logger.child({}), { serializers: { req: requestSummary } });
  const app = Fastify({
    loggerInstance: requestLogger,
    ...TIMEOUTS,
    clientErrorHandler,
    frameworkErrors,
    // While closing, new requests get 503 and idle keep-alive sockets are dropped, so a rolling
    // deploy drains quickly.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    bodyLimit: 64 * 1024,
  }).withTypeProvider<ZodTypeProvider>();
  // Headers must arrive within the idle timeout too; Node's default would allow a minute.
  app.server.headersTimeout = TIMEOUTS.connectionTimeout;

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(errorHandler);
  await app.register(metricsPlugin, { metrics });
  await app.register(docs, { version: '1.0.0' });
  await app.register(jsonBody);

  await app.register(healthRoutes, { redis, deadlineMs });
  // The DMS routes: authenticated once for the scope, then one per-key request budget. Auth runs in
  // `onRequest` and the limit in `preParsing`, so an unauthenticated request never costs a Redis
  // call and gets its 401 before any 415. The webhook and ops routes are not counted.
  await app.register(async (dms) => {
    await dms.register(dmsAuth, { keys: config.dmsApiKeys });
    dms.addHook('onRequest', dms.dmsAuth);
    await dms.register(rateLimitPlugin, {
      redis,
      prefix: config.queuePrefix,
      max: config.ingressRateLimit.max,
      durationMs: config.ingressRateLimit.durationMs,
    });
    await dms.register(updateContactRoutes, { enqueue: enqueue.contact });
    await dms.register(updateContactsRoutes, { enqueue: enqueue.contacts });
    await dms.register(jobRoutes, { queues, deadlineMs });
  });
  await app.register(webhookRoutes, {
    secret: config.webhookSecret,
    syncUsers: config.syncUsers,
    enqueue: enqueue.webhook,
  });
  // Without credentials nothing under /admin exists at all: a 404, not a login prompt.
  if (config.admin) {
    const { username, password } = config.admin;
    await app.register(async (admin) => {
      await admin.register(adminAuth, { username, password });
      admin.addHook('onRequest', admin.adminAuth);
      // No upgrade-insecure-requests: behind plain HTTP it would rewrite the board's own assets.
      await admin.register(helmet, {
        contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
      });
      await admin.register(adminRoutes, { queues });
      await admin.register(bullBoard, { queues });
    });
  }
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
