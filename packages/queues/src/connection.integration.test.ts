// Scoped to a private redis-server: it changes a server setting, which must never happen to a
// shared Redis.
import { startPrivateRedis } from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { evictionPolicy, warnUnlessNoEviction } from './index.ts';

describe('eviction policy check', () => {
  it('warns for an evicting policy and stays quiet for noeviction', async () => {
    const server = await startPrivateRedis();
    const redis = new Redis(server.url);
    const warnings: string[] = [];
    const logger = { warn: (_obj: object, msg: string) => warnings.push(msg) };
    try {
      await redis.config('SET', 'maxmemory-policy', 'noeviction');
      expect(await evictionPolicy(redis)).toBe('noeviction');
      await warnUnlessNoEviction(redis, logger);
      expect(warnings).toEqual([]);

      await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
      await warnUnlessNoEviction(redis, logger);
      expect(warnings).toEqual([expect.stringContaining('may delete queued jobs')]);
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });
});
