import type { Redis } from 'ioredis';
import type { CliContext } from './context.ts';

/**
 * The CLI's connection waits for Redis forever (like a worker's), so a command against a Redis that
 * is down would hang without a word. Commands call this first: false (and exit code 1, with a line
 * naming the host but not the credentials) when Redis is not connected within `timeoutMs`.
 */
export async function requireRedis(context: CliContext, timeoutMs = 3000): Promise<boolean> {
  if (await connected(context.redis, timeoutMs)) return true;
  context.fail(
    `Redis at ${redisHost(context.config.redisUrl)} did not answer within ${timeoutMs / 1000} s (REDIS_URL)`,
  );
  letGoIfDown(context);
  return false;
}

/**
 * Drops the connection when Redis is not reachable right now, so the context's closing `quit()`
 * returns at once instead of waiting for a reconnect that may never come.
 */
export function letGoIfDown(context: CliContext): void {
  if (context.redis.status !== 'ready') context.redis.disconnect();
}

/** `host:port` of a Redis URL, without the user name and password it may carry. */
export function redisHost(url: string): string {
  try {
    return new URL(url).host || 'REDIS_URL';
  } catch {
    return 'REDIS_URL';
  }
}

/**
 * Waits for the connection's `ready` event. Deliberately not a PING: while offline the connection
 * queues commands, and a queued PING would keep the closing `quit()` waiting for good.
 */
function connected(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.on('ready', onReady);
  });
}
