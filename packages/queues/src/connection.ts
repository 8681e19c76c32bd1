import { Redis, type RedisOptions } from 'ioredis';

export type RedisRole = 'producer' | 'worker';

/**
 * The one place that opens Redis connections.
 *
 * - `producer` (ingress, CLI): no offline queue and one try per command, so when Redis is down a
 *   request fails at once and the ingress can answer 503 within a second instead of hanging.
 * - `worker`: commands wait for the connection and it reconnects forever, as BullMQ workers require
 *   (`maxRetriesPerRequest: null`), so a Redis restart pauses work instead of killing it.
 */
export function createRedisConnection(
  url: string,
  { role, name, overrides = {} }: { role: RedisRole; name?: string; overrides?: RedisOptions },
): Redis {
  const reconnect = (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000);
  const base: RedisOptions =
    role === 'producer'
      ? {
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: 2000,
          retryStrategy: reconnect,
        }
      : {
          enableOfflineQueue: true,
          maxRetriesPerRequest: null,
          retryStrategy: reconnect,
        };
  return new Redis(url, {
    ...base,
    ...(name === undefined ? {} : { connectionName: name }),
    ...overrides,
  });
}

/**
 * Whether Redis answers PING within `timeoutMs`. Worker connections queue commands while
 * disconnected, so a bare `ping()` would hang a readiness probe until Redis came back.
 */
export async function redisReady(redis: Redis, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      redis.ping().then((answer) => answer === 'PONG'),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Redis's `maxmemory-policy`, or `undefined` where CONFIG is not allowed (managed Redis often
 * disables it). Anything but `noeviction` lets Redis drop queued jobs silently under memory pressure,
 * so both processes warn about it at start.
 */
export async function evictionPolicy(redis: Redis): Promise<string | undefined> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as unknown;
    return Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : undefined;
  } catch {
    return undefined;
  }
}

/** Logs a warning when Redis may evict keys; a no-op when the policy is safe or unknown. */
export async function warnUnlessNoEviction(
  redis: Redis,
  logger: { warn(obj: object, msg: string): void },
): Promise<void> {
  const policy = await evictionPolicy(redis);
  if (policy !== undefined && policy !== 'noeviction') {
    logger.warn(
      { maxmemoryPolicy: policy },
      'Redis maxmemory-policy is not noeviction: under memory pressure Redis may delete queued jobs',
    );
  }
}
