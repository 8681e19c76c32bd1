import { createIngressMetrics, createLogger, type Logger } from '@contact-linker/observability';
import {
  closeQueues,
  createFairOrder,
  createQueues,
  createRedisConnection,
  QUEUE,
  queueDepths,
} from '@contact-linker/queues';
import { buildApp } from '../src/app.ts';
import { createBulkContactsEnqueue } from '../src/enqueue/bulk-contacts.ts';
import { createLiveContactEnqueue } from '../src/enqueue/live-contact.ts';
import { createWebhookEventEnqueue } from '../src/enqueue/webhook-event.ts';

export const API_KEY = 'test-api-key-0123456789';
export const WEBHOOK_SECRET = 'test-webhook-secret';
export const OTHER_API_KEY = 'other-api-key-9876543210';

/** An in-process ingress on a real Redis, the way main.ts composes it. */
export async function startIngress({
  redisUrl,
  prefix,
  syncUsers = false,
  enqueueTimeoutMs,
  admin,
  rateLimit = { max: 1000, durationMs: 1000 },
  clusterNodes,
  logger = createLogger({ name: 'ingress-test', level: 'silent' }),
}: {
  redisUrl: string;
  prefix: string;
  syncUsers?: boolean;
  enqueueTimeoutMs?: number;
  admin?: { username: string; password: string };
  rateLimit?: { max: number; durationMs: number };
  /** Connect to this Redis Cluster instead of `redisUrl`. */
  clusterNodes?: string[];
  /** @defaultValue a silent one */
  logger?: Logger;
}) {
  const redis = createRedisConnection(redisUrl, { role: 'producer', clusterNodes });
  redis.on('error', () => {});
  // Disconnecting while ioredis is still connecting makes its ready check fail loudly; tests that
  // never touch Redis would otherwise do exactly that.
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  const queues = createQueues(redis, prefix);
  const deadline = enqueueTimeoutMs === undefined ? {} : { deadlineMs: enqueueTimeoutMs };
  const jobs = {
    queues,
    fairOrder: createFairOrder({ queue: queues[QUEUE.linkContact], redis }),
    attempts: 3,
    defaultPhoneCountry: 'NL',
    ...deadline,
  };
  const enqueue = {
    contact: createLiveContactEnqueue(jobs),
    contacts: createBulkContactsEnqueue(jobs),
    webhook: createWebhookEventEnqueue({ ...jobs, redis, prefix }),
  };
  const app = await buildApp({
    config: {
      dmsApiKeys: [API_KEY, OTHER_API_KEY],
      webhookSecret: WEBHOOK_SECRET,
      syncUsers,
      admin,
      ingressRateLimit: rateLimit,
      queuePrefix: prefix,
    },
    redis,
    queues,
    enqueue,
    ...deadline,
    metrics: createIngressMetrics({ queues: { depths: () => queueDepths(queues) } }),
    logger,
  });
  return {
    app,
    queues,
    redis,
    async close() {
      await app.close();
      await closeQueues(queues);
      redis.disconnect();
    },
  };
}

export const auth = { authorization: `Bearer ${API_KEY}` };
export const json = { 'content-type': 'application/json' };
