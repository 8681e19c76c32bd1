import { QUEUE } from '@contact-linker/queues';
import { redisTest } from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { describe, expect, vi } from 'vitest';
import { API_KEY, json, OTHER_API_KEY, startIngress } from './ingress-harness.ts';

const test = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({
    redisUrl,
    prefix,
    rateLimit: { max: 3, durationMs: 60_000 },
  });
  onCleanup(() => ingress.close());
  return ingress;
});

const post = (key: string, i: number) => ({
  method: 'POST' as const,
  url: '/updatecontact',
  headers: { authorization: `Bearer ${key}`, ...json },
  payload: JSON.stringify({ id: `R-${i}`, organization: 'o', email: `r${i}@b.nl` }),
});

describe('INGRESS_RATE_LIMIT', () => {
  test('answers 429 with Retry-After past the limit, per API key', async ({ ingress }) => {
    const statuses = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await ingress.app.inject(post(API_KEY, i))).statusCode);
    expect(statuses).toEqual([202, 202, 202, 429]);

    const limited = await ingress.app.inject(post(API_KEY, 9));
    expect(limited.json()).toEqual({ error: 'rate_limited', message: expect.any(String) });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Nothing past the limit was queued.
    expect(await ingress.queues[QUEUE.linkContact].count()).toBe(3);

    // Another key has its own budget; jobs and webhooks are counted separately or not at all.
    expect((await ingress.app.inject(post(OTHER_API_KEY, 5))).statusCode).toBe(202);
    expect((await ingress.app.inject('/healthz')).statusCode).toBe(200);
  });

  test('is shared by every ingress process on the same Redis', async ({
    ingress,
    redisUrl,
    prefix,
  }) => {
    const second = await startIngress({
      redisUrl,
      prefix,
      rateLimit: { max: 3, durationMs: 60_000 },
    });
    try {
      expect((await ingress.app.inject(post(API_KEY, 0))).statusCode).toBe(202);
      expect((await second.app.inject(post(API_KEY, 1))).statusCode).toBe(202);
      expect((await ingress.app.inject(post(API_KEY, 2))).statusCode).toBe(202);
      expect((await second.app.inject(post(API_KEY, 3))).statusCode).toBe(429);
    } finally {
      await second.close();
    }
  });

  test('concurrent requests are counted together, one by one exactly', async ({
    ingress,
    redisUrl,
    prefix,
  }) => {
    const counts = vi.spyOn(ingress.redis, 'contactLinkerRateCount');
    const statuses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => ingress.app.inject(post(API_KEY, i))),
    );
    const counted = counts.mock.calls.filter((call) => String(call[0]).includes(':ingress-rate:'));
    counts.mockRestore();
    expect(statuses.map((r) => r.statusCode).sort()).toEqual([
      ...Array(3).fill(202),
      ...Array(7).fill(429),
    ]);
    // One count for the ten, not ten round trips.
    expect(counted).toHaveLength(1);
    expect(await ingress.queues[QUEUE.linkContact].count()).toBe(3);
    const probe = new Redis(redisUrl);
    try {
      expect(await probe.get(`${prefix}:ingress-rate:key-0`)).toBe('10');
      const ttl = await probe.pttl(`${prefix}:ingress-rate:key-0`);
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      probe.disconnect();
    }
  });

  test('unauthenticated requests are refused by auth, not counted', async ({ ingress }) => {
    for (let i = 0; i < 5; i++) {
      expect((await ingress.app.inject(post('wrong-key-wrong-key-1', i))).statusCode).toBe(401);
    }
    expect((await ingress.app.inject(post(API_KEY, 0))).statusCode).toBe(202);
  });
});
