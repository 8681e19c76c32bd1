// The eviction test is scoped to a private redis-server: it changes a server setting, which must
// never happen to a shared Redis.
import { redisTest, startPrivateRedis } from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import {
  createPipelinedDuplicate,
  createRedisConnection,
  evictionPolicy,
  warnUnlessNoEviction,
} from './index.ts';

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

describe('createPipelinedDuplicate', () => {
  redisTest(
    'sends the commands of one event-loop turn in one socket write',
    async ({ redisUrl, prefix }) => {
      const connection = createRedisConnection(redisUrl, { role: 'worker' });
      const duplicate = createPipelinedDuplicate(connection) as Redis;
      try {
        await duplicate.ping();
        const stream = (duplicate as unknown as { stream: { write: (...a: unknown[]) => boolean } })
          .stream;
        const write = vi.spyOn(stream, 'write');
        const keys = Array.from({ length: 10 }, (_, i) => `${prefix}:pipelined:${i}`);
        await Promise.all(keys.map((key, i) => duplicate.set(key, String(i), 'PX', 10_000)));
        expect(write).toHaveBeenCalledTimes(1);
        expect(await duplicate.mget(...keys)).toEqual(keys.map((_, i) => String(i)));
        // The original connection is untouched: BullMQ must never get auto-pipelining.
        expect(connection.options.enableAutoPipelining).toBeFalsy();
      } finally {
        duplicate.disconnect();
        connection.disconnect();
      }
    },
  );
});
