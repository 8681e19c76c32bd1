import { startPrivateRedis } from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteIfValue, luaScript } from './lua-script.ts';

// A private server: the test counts script calls and flushes the script cache, which must never
// happen to a Redis other tests share.
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

describe('luaScript', () => {
  it('runs by SHA, and sends the text only when Redis does not know the script', async () => {
    const echo = luaScript('return { KEYS[1], ARGV[1] }', 1);
    await redis.call('SCRIPT', 'FLUSH');
    await redis.call('CONFIG', 'RESETSTAT');
    expect(await echo(redis, 'k', 'v')).toEqual(['k', 'v']);
    expect(await echo(redis, 'k', 'w')).toEqual(['k', 'w']);
    expect(await calls('eval')).toBe(1);
    expect(await calls('evalsha')).toBe(2);
    await redis.call('SCRIPT', 'FLUSH');
    expect(await echo(redis, 'k', 'x')).toEqual(['k', 'x']);
    expect(await calls('eval')).toBe(2);
  });

  it('passes other script errors through', async () => {
    const broken = luaScript("return redis.call('NOSUCHCOMMAND')", 0);
    await expect(broken(redis)).rejects.toThrow(/Unknown Redis command|unknown command/i);
  });

  it('deleteIfValue deletes only while the key holds the value', async () => {
    await redis.set('lock', 'mine');
    expect(await deleteIfValue(redis, 'lock', 'theirs')).toBe(0);
    expect(await redis.get('lock')).toBe('mine');
    expect(await deleteIfValue(redis, 'lock', 'mine')).toBe(1);
    expect(await redis.exists('lock')).toBe(0);
  });
});
