import { createHash } from 'node:crypto';
import type { RedisClient } from './connection.ts';

/**
 * A Lua script run by its SHA (`EVALSHA`), sent whole (`EVAL`) only when Redis does not know it
 * yet, after a restart or on a new Cluster node. The scripts of the budget, the contact lock and the
 * write marks run on every Web1on1 request; sending their text every time cost the worker ~10 % of
 * its CPU in string writes (bench profile).
 */
export function luaScript(lua: string, numberOfKeys: number) {
  const sha = createHash('sha1').update(lua).digest('hex');
  return async (redis: RedisClient, ...keysAndArgs: Array<string | number>): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, numberOfKeys, ...keysAndArgs);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(lua, numberOfKeys, ...keysAndArgs);
    }
  };
}

/** Deletes `key` only while it still holds `value`: releases a lock without freeing someone else's. */
export const deleteIfValue: (redis: RedisClient, key: string, value: string) => Promise<unknown> =
  luaScript(
    `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
    1,
  );
