import { type RedisClient, redisReady } from '@contact-linker/queues';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

export interface HealthRoutesOptions {
  /** The producer connection, whose answer decides readiness. */
  redis: RedisClient;
  /** How long Redis may take to answer before the ingress reports itself not ready. */
  deadlineMs: number;
}

export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (
  app,
  { redis, deadlineMs },
) => {
  app.get(
    '/healthz',
    { schema: { hide: true, response: { 200: z.object({ status: z.literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const ok = await redisReady(redis, deadlineMs);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable' });
  });
};
