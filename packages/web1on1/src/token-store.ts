import { randomUUID } from 'node:crypto';
import type { ClientContext, Cluster, Redis, Result } from 'ioredis';
import type { Web1on1TokenStore, Web1on1Tokens } from './client.ts';

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /** Deletes `key` only while it still holds `value`. */
    contactLinkerDeleteIfValue(key: string, value: string): Result<number, Context>;
  }
}

/**
 * Web1on1 tokens in Redis, so one renewal serves every worker process: the first process whose
 * request is rejected takes the renewal lock and renews; the others wait for the new token to appear
 * in the store instead of renewing too.
 */
export function createRedisTokenStore({
  redis,
  prefix,
}: {
  redis: Redis | Cluster;
  prefix: string;
}): Web1on1TokenStore {
  const tokensKey = `${prefix}:web1on1:tokens`;
  const lockKey = `${prefix}:web1on1:token-renewal`;
  // Releases the renewal lock without freeing another process's lock after ours expired.
  redis.defineCommand('contactLinkerDeleteIfValue', {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
  });
  return {
    async get() {
      const raw = await redis.get(tokensKey);
      return raw === null ? undefined : (JSON.parse(raw) as Web1on1Tokens);
    },
    async set(tokens) {
      await redis.set(tokensKey, JSON.stringify(tokens));
    },
    async lock(ttlMs) {
      const owner = randomUUID();
      const acquired = await redis.set(lockKey, owner, 'PX', ttlMs, 'NX');
      if (acquired !== 'OK') return undefined;
      return async () => {
        await redis.contactLinkerDeleteIfValue(lockKey, owner);
      };
    },
  };
}
