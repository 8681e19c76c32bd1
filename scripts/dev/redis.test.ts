/**
 * How `pnpm dev` finds its Redis. These tests start real redis-server processes on loopback ports
 * of their own (the machine's `redis-server`, as `pnpm dev` would).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startPrivateRedis } from '@contact-linker/testkit';
import { describe, expect, it } from 'vitest';
import { chooseRedis, DevSetupError, findOnPath, noRedisHint, redisAnswers } from './redis.ts';

describe('chooseRedis', () => {
  it('starts a private redis-server when nothing answers at REDIS_URL, says so, and stops it', async () => {
    const nothing = `redis://127.0.0.1:${await freePort()}`;
    const lines: string[] = [];
    const redis = await chooseRedis({ url: nothing, log: (line) => lines.push(line) });
    try {
      expect(redis.private).toBeDefined();
      expect(redis.url).not.toBe(nothing);
      expect(await redisAnswers(redis.url)).toBe(true);
      expect(lines).toEqual([
        `pnpm dev: nothing answers at ${nothing}; started a private redis-server at ${redis.url} for this run (it stops, with its data, when pnpm dev stops)`,
      ]);
    } finally {
      await redis.stop();
    }
    expect(await redisAnswers(redis.url)).toBe(false);
  }, 20_000);

  it('uses the Redis at REDIS_URL when it answers, and leaves it running', async () => {
    const running = await startPrivateRedis();
    try {
      const lines: string[] = [];
      const redis = await chooseRedis({ url: running.url, log: (line) => lines.push(line) });
      expect(redis).toMatchObject({ url: running.url, private: undefined });
      expect(lines).toEqual([]);
      await redis.stop();
      expect(await redisAnswers(running.url)).toBe(true);
    } finally {
      await running.stop();
    }
  }, 20_000);

  it('without redis-server on PATH, throws the one-line hint naming the port of REDIS_URL', async () => {
    const emptyDir = mkdtempSync(join(tmpdir(), 'cl-no-redis-'));
    try {
      const url = `redis://127.0.0.1:${await freePort()}`;
      const error = await chooseRedis({ url, path: emptyDir }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DevSetupError);
      expect((error as Error).message).toBe(noRedisHint(url));
    } finally {
      rmSync(emptyDir, { recursive: true, force: true });
    }
  });
});

describe('noRedisHint', () => {
  it('is one line that says how to install redis-server and how to start one on the port of REDIS_URL', () => {
    const hint = noRedisHint('redis://127.0.0.1:6390');
    expect(hint).not.toContain('\n');
    expect(hint).toContain('apt-get install redis-server');
    expect(hint).toContain('brew install redis');
    expect(hint).toContain('redis-server --port 6390 --daemonize yes');
    expect(noRedisHint('redis://localhost')).toContain('redis-server --port 6379 ');
  });

  it('never shows the password of REDIS_URL', () => {
    expect(noRedisHint('redis://:s3cret@10.0.0.5:7000')).not.toContain('s3cret');
  });
});

it('findOnPath finds executables only', () => {
  expect(findOnPath('sh', '/nonexistent:/bin:/usr/bin')).toMatch(/\/sh$/);
  expect(findOnPath('sh', '')).toBeUndefined();
  expect(findOnPath('no-such-command-here', '/bin:/usr/bin')).toBeUndefined();
});
