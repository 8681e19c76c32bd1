import { redisTest, startWeb1on1Sandbox, type Web1on1Sandbox } from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { createRedisTokenStore, createWeb1on1Budget, createWeb1on1Client } from './index.ts';

// biome-ignore lint/correctness/noEmptyPattern: vitest reads fixture dependencies from this pattern
const test = redisTest.extend('sandbox', async ({}, { onCleanup }) => {
  const sandbox = await startWeb1on1Sandbox({ organizationId: 'org' });
  onCleanup(() => sandbox.close());
  return sandbox;
});

function clientFor(sandbox: Web1on1Sandbox, redis: Redis, prefix: string, token: string) {
  return createWeb1on1Client({
    host: sandbox.url,
    token,
    refreshToken: sandbox.refreshToken,
    email: sandbox.botEmail,
    tokenStore: createRedisTokenStore({ redis, prefix }),
  });
}

describe('token renewal shared through Redis', () => {
  test('one renewal serves several processes whose token expired together', async ({
    sandbox,
    redisUrl,
    prefix,
  }) => {
    sandbox.addContact({ organization: 'org', profile: { email: 'a@b.nl' } });
    const expired = sandbox.issueToken({ expiresInSec: -10 });
    const connections = [new Redis(redisUrl), new Redis(redisUrl), new Redis(redisUrl)];
    try {
      // Three separate clients stand for three worker processes: nothing in memory is shared.
      const clients = connections.map((redis) => clientFor(sandbox, redis, prefix, expired));
      const results = await Promise.all(
        clients.flatMap((client) =>
          [1, 2].map(() => client.findContacts({ organization: 'org', email: 'a@b.nl' })),
        ),
      );
      expect(results.every((r) => r.contacts.length === 1)).toBe(true);
      expect(sandbox.tokenRefreshes).toBe(1);
    } finally {
      for (const c of connections) c.disconnect();
    }
  });

  test('the same single renewal when the API answers the expired token 403 (Web1on1 as documented)', async ({
    redisUrl,
    prefix,
  }) => {
    const documented = await startWeb1on1Sandbox({
      organizationId: 'org',
      tokenExpiredStatus: 403,
    });
    const connections = [new Redis(redisUrl), new Redis(redisUrl)];
    try {
      documented.addContact({ organization: 'org', profile: { email: 'a@b.nl' } });
      const expired = documented.issueToken({ expiresInSec: -10 });
      // Two clients on their own connections stand for two worker processes.
      const clients = connections.map((redis) => clientFor(documented, redis, prefix, expired));
      const results = await Promise.all(
        clients.flatMap((client) =>
          [1, 2, 3].map(() => client.findContacts({ organization: 'org', email: 'a@b.nl' })),
        ),
      );
      expect(results.every((r) => r.contacts.length === 1)).toBe(true);
      expect(documented.tokenRefreshes).toBe(1);
      const statuses = documented.requests.map((r) => r.status);
      // Every expired call met a 403, none a 401, and all were answered after the one renewal.
      expect(statuses.filter((s) => s === 401)).toEqual([]);
      expect(statuses.filter((s) => s === 403).length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s === 200)).toHaveLength(6 + 1);
    } finally {
      for (const c of connections) c.disconnect();
      await documented.close();
    }
  });

  test('a 429 pauses the shared budget for Retry-After', async ({ sandbox, redisUrl, prefix }) => {
    const redis = new Redis(redisUrl);
    try {
      const budget = createWeb1on1Budget({ redis, prefix, max: 100, durationMs: 1000 });
      const client = createWeb1on1Client({
        host: sandbox.url,
        token: sandbox.issueToken(),
        budget,
      });
      sandbox.failNext(1, { status: 429, retryAfterSec: 2 });
      await expect(
        client.findContacts({ organization: 'org', email: 'a@b.nl' }),
      ).rejects.toMatchObject({
        name: 'RateLimitedError',
        retryAfterMs: 2000,
      });
      const before = sandbox.requests.length;
      await expect(
        client.findContacts({ organization: 'org', email: 'a@b.nl' }),
      ).rejects.toMatchObject({
        name: 'RateLimitedError',
      });
      // The second call never left the process: the pause stopped it before the request.
      expect(sandbox.requests.length).toBe(before);
      expect(await redis.pttl(`${prefix}:web1on1:paused`)).toBeGreaterThan(1500);
    } finally {
      redis.disconnect();
    }
  });
});
