/**
 * The package's Redis scripts, defined with ioredis's `defineCommand`: they run by SHA and their
 * text is sent only when Redis does not know them (the budget's script runs before every Web1on1
 * request; sending its text each time cost ~10 % of the worker's CPU), and the token store's
 * renewal lock is released only by its holder.
 * A private server: the test counts script calls and flushes the script cache, which must never
 * happen to a Redis other tests share.
 */
import { startPrivateRedis } from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisTokenStore, createWeb1on1Budget } from './index.ts';

let server: Awaited<ReturnType<typeof startPrivateRedis>>;
let redis: Redis;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const calls = async (command: 'eval' | 'evalsha') => {
  const info = await redis.info('commandstats');
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
};

describe('Redis scripts', () => {
  it("the budget's runs by SHA, and its text goes only to a Redis that does not know it", async () => {
    const budget = createWeb1on1Budget({ redis, prefix: 'sha', max: 1000, durationMs: 1000 });
    await redis.call('SCRIPT', 'FLUSH');
    await redis.call('CONFIG', 'RESETSTAT');
    // ioredis sends the text the first time a connection runs a script, then only its SHA.
    for (let i = 0; i < 3; i++) await budget.acquire();
    expect(await calls('eval')).toBe(1);
    expect(await calls('evalsha')).toBe(2);
    await redis.call('SCRIPT', 'FLUSH');
    await budget.acquire();
    expect(await calls('eval')).toBe(2);
  });

  it('the renewal lock is freed only while it still holds its owner', async () => {
    const { lock } = createRedisTokenStore({ redis, prefix: 'lock' });
    if (!lock) throw new Error('the Redis token store has a renewal lock');
    const release = await lock(60_000);
    if (!release) throw new Error('lock not taken');
    expect(await lock(60_000)).toBeUndefined();
    // The lock expired and another process took it: the old holder must not free it.
    await redis.set('lock:web1on1:token-renewal', 'someone-else');
    await release();
    expect(await redis.get('lock:web1on1:token-renewal')).toBe('someone-else');
    await redis.del('lock:web1on1:token-renewal');
    const mine = await lock(60_000);
    await mine?.();
    expect(await redis.exists('lock:web1on1:token-renewal')).toBe(0);
  });
});
