import type { RedisClient } from '@contact-linker/queues';
import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ClientContext, Result } from 'ioredis';
import { ApiError } from '../errors.ts';
import { createGroupCommit } from '../group-commit.ts';

export interface IngressRateLimitOptions {
  redis: RedisClient;
  prefix: string;
  max: number;
  durationMs: number;
}

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /** See COUNT. */
    contactLinkerRateCount(
      key: string,
      count: number,
      windowMs: number,
    ): Result<[number, number], Context>;
  }
}

/**
 * A fixed-window counter, like `@fastify/rate-limit`'s own Redis store, that counts `ARGV[1]`
 * requests at once. A key without expiry (the first count of a window) gets the window.
 */
const COUNT = `
local current = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return { current, ttl }
`;

interface Count {
  key: string;
  windowMs: number;
}

/**
 * `@fastify/rate-limit`'s Redis store costs one Redis round trip per request, which was most of
 * what the limit cost the ingress (bench profile: ~9 % of its CPU, one socket write per request).
 * This store counts the requests that arrive in one event-loop turn with one script call per key and
 * hands each request the count it would have seen one by one, so the limit is exactly as strict.
 */
export function batchedRedisStore(redis: RedisClient, nameSpace: string) {
  redis.defineCommand('contactLinkerRateCount', { numberOfKeys: 1, lua: COUNT });
  const count = createGroupCommit(async (items: Count[]) => {
    const groups = new Map<string, number[]>();
    for (const [i, { key, windowMs }] of items.entries()) {
      const group = `${windowMs}:${key}`;
      const members = groups.get(group);
      if (members) members.push(i);
      else groups.set(group, [i]);
    }
    const results: Array<{ current: number; ttl: number }> = new Array(items.length);
    await Promise.all(
      [...groups.values()].map(async (members) => {
        const { key, windowMs } = items[members[0]!]!;
        const [total, ttl] = await redis.contactLinkerRateCount(key, members.length, windowMs);
        const before = total - members.length;
        members.forEach((index, k) => {
          results[index] = { current: before + k + 1, ttl };
        });
      }),
    );
    return results;
  });

  class BatchedRedisStore implements FastifyRateLimitStore {
    /** The key prefix; the plugin constructs the store itself, with its own options. */
    space = nameSpace;

    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindow: number,
    ): void {
      count({ key: this.space + key, windowMs: timeWindow }).then(
        (result) => callback(null, result),
        (error: Error) => callback(error),
      );
    }

    /** A route with its own limit counts apart, named like the Redis store's children. */
    child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
      // The plugin passes its merged settings, with the route under `routeInfo` (RedisStore.js).
      const route =
        (routeOptions as { routeInfo?: { method?: unknown; url?: unknown } }).routeInfo ?? {};
      const store = new BatchedRedisStore();
      store.space = `${this.space}${String(route.method)}${String(route.url)}-`;
      return store;
    }
  }
  return BatchedRedisStore;
}

/**
 * INGRESS_RATE_LIMIT per DMS API key, counted in Redis so every ingress process shares the count.
 * It runs in `preParsing`, after the key was authenticated, so unauthenticated floods are answered
 * by auth and never cost a Redis round trip. When Redis itself is away the limit steps aside
 * (`skipOnError`): the enqueue answers 503 anyway.
 */
async function ingressRateLimit(
  app: FastifyInstance,
  { redis, prefix, max, durationMs }: IngressRateLimitOptions,
) {
  await app.register(rateLimit, {
    global: true,
    hook: 'preParsing',
    store: batchedRedisStore(redis, `${prefix}:ingress-rate:`),
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
