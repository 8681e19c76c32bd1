import type { RedisClient } from '@contact-linker/queues';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.ts';

export interface IngressRateLimitOptions {
  redis: RedisClient;
  prefix: string;
  max: number;
  durationMs: number;
}

/**
 * INGRESS_RATE_LIMIT per DMS API key, counted in Redis so every ingress process shares the count
 * (`@fastify/rate-limit`'s Redis store). It runs in `preParsing`, after the key was authenticated,
 * so unauthenticated floods are answered by auth and never cost a Redis round trip. When Redis
 * itself is away the limit steps aside (`skipOnError`): the enqueue answers 503 anyway.
 */
async function ingressRateLimit(
  app: FastifyInstance,
  { redis, prefix, max, durationMs }: IngressRateLimitOptions,
) {
  await app.register(rateLimit, {
    global: true,
    hook: 'preParsing',
    redis,
    nameSpace: `${prefix}:ingress-rate:`,
    skipOnError: true,
    max,
    timeWindow: durationMs,
    keyGenerator: (request) => request.apiKeyId ?? request.ip,
    errorResponseBuilder: (_request, context) =>
      new ApiError('rate_limited', {
        headers: { 'retry-after': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
      }),
  });
}

export default fp(ingressRateLimit, { name: 'contact-linker-rate-limit', fastify: '5.x' });
