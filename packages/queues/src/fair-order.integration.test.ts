import { redisTest } from '@contact-linker/testkit';
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import {
  closeQueues,
  createFairOrder,
  createQueues,
  createRedisConnection,
  type FairOrder,
  linkContactEntry,
  QUEUE,
  type QueueSet,
  TIER_BANDS,
  toLinkContactJob,
} from './index.ts';

interface Stack {
  redis: Redis;
  queues: QueueSet;
  fair: FairOrder;
  /** Adds `count` events of `organization` through the fair order, ids `<org>-<n>` from `from`. */
  add(
    organization: string,
    count: number,
    opts?: { bulk?: boolean; from?: number },
  ): Promise<Job[]>;
  /**
   * Starts one job at a time (concurrency 1, so the order is BullMQ's) until `count` have started,
   * the last of which holds the slot until the test ends; `during(n)` runs inside the n-th (from 1)
   * before it completes. Resolves with the ids in order.
   */
  drain(count: number, during?: (n: number) => Promise<void>): Promise<string[]>;
}

const test = redisTest.extend('stack', async ({ redisUrl, prefix }, { onCleanup }) => {
  const redis = createRedisConnection(redisUrl, { role: 'worker' }) as Redis;
  const queues = createQueues(redis, prefix);
  const fair = createFairOrder({ queue: queues[QUEUE.linkContact], redis });
  const workers: Worker[] = [];
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  onCleanup(async () => {
    release();
    await Promise.all(workers.map((w) => w.close(true)));
    await closeQueues(queues);
    redis.disconnect();
  });
  const stack: Stack = {
    redis,
    queues,
    fair,
    add(organization, count, { bulk = false, from = 1 } = {}) {
      return fair.add(
        Array.from({ length: count }, (_, i) => {
          const id = `${organization}-${from + i}`;
          const data = toLinkContactJob({ id, organization, email: `${id}@example.com` }, 'NL');
          return linkContactEntry(data, { attempts: 3, bulk, jobId: id });
        }),
      );
    },
    drain(count, during) {
      const started: string[] = [];
      return new Promise((resolve, reject) => {
        const worker = new Worker(
          QUEUE.linkContact,
          async (job) => {
            started.push(String(job.id));
            await during?.(started.length);
            if (started.length === count) {
              resolve([...started]);
              // Holds the only slot, so nothing else starts until the test ends.
              await released;
            }
            return { outcome: 'not_found' };
          },
          { connection: redis.duplicate(), prefix, concurrency: 1 },
        );
        worker.on('error', reject);
        workers.push(worker);
      });
    },
  };
  return stack;
});

/** The organization of each id (`<org>-<n>`). */
const orgs = (ids: string[]) => ids.map((id) => id.slice(0, id.lastIndexOf('-')));

describe('fair order of link-contact jobs', () => {
  test('two organizations take turns although one queued its backlog first', async ({ stack }) => {
    await stack.add('a', 10);
    await stack.add('b', 3);
    const order = await stack.drain(13);
    // First-in-first-out would start all of a's ten first.
    expect(orgs(order).slice(0, 6)).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    expect(order.filter((id) => id.startsWith('a-'))).toEqual(
      Array.from({ length: 10 }, (_, i) => `a-${i + 1}`),
    );
  });

  test('three organizations interleave round by round', async ({ stack }) => {
    await stack.add('a', 6);
    await stack.add('b', 6);
    await stack.add('c', 3);
    const order = await stack.drain(15);
    expect(orgs(order).slice(0, 9)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
    expect(orgs(order).slice(9)).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
  });

  test('a newcomer behind a half-drained backlog starts next, then takes turns', async ({
    stack,
  }) => {
    await stack.add('a', 20);
    const order = await stack.drain(16, async (n) => {
      // While a's tenth runs, a-11..a-20 wait; b arrives now.
      if (n === 10) await stack.add('b', 2);
    });
    expect(order.slice(10)).toEqual(['b-1', 'a-11', 'b-2', 'a-12', 'a-13', 'a-14']);
  });

  test('an organization alone keeps first-in-first-out order, batch after batch', async ({
    stack,
  }) => {
    await stack.add('a', 5);
    await stack.add('a', 5, { from: 6 });
    const order = await stack.drain(10);
    expect(order).toEqual(Array.from({ length: 10 }, (_, i) => `a-${i + 1}`));
  });

  test('live events go before bulk items, and bulk items take turns too', async ({ stack }) => {
    await stack.add('a', 4, { bulk: true });
    await stack.add('b', 2, { bulk: true });
    await stack.add('c', 2);
    const order = await stack.drain(8);
    expect(order.slice(0, 2)).toEqual(['c-1', 'c-2']);
    expect(orgs(order.slice(2))).toEqual(['a', 'b', 'a', 'b', 'a', 'a']);
  });

  test('a job that ran re-enters at the front of its tier', async ({ stack }) => {
    await stack.add('b', 3);
    // Tied with b-1, which was added first.
    const [first] = await stack.add('a', 1);
    // As the retry policy does before a retry: the job is back at the front, before b's.
    await stack.fair.toFront(first!);
    expect(await stack.redis.hget(stack.queues[QUEUE.linkContact].toKey('a-1'), 'priority')).toBe(
      String(TIER_BANDS.live.front),
    );
    const order = await stack.drain(4);
    expect(order[0]).toBe('a-1');
  });

  test('an idle tier forgets its organizations', async ({ stack }) => {
    const tags = stack.queues[QUEUE.linkContact].toKey('fair:live');
    await stack.add('a', 2);
    expect(await stack.redis.hlen(tags)).toBe(1);
    await stack.drain(2);
    // The next tagging finds nothing waiting: every organization's tags are spent.
    await stack.add('b', 1);
    expect(await stack.redis.hkeys(tags)).toEqual(['b']);
  });

  test('a sweep forgets an organization whose work drained while others still wait', async ({
    stack,
  }) => {
    const tags = stack.queues[QUEUE.linkContact].toKey('fair:live');
    await stack.add('a', 2);
    await stack.add('b', 6);
    // a-1, b-1, a-2, b-2 started: a has nothing left, b has four waiting.
    await stack.drain(4);
    await stack.fair.sweep();
    expect(await stack.redis.hkeys(tags)).toEqual(['b']);
  });

  test('tags end at the end of the band, first-in-first-out beyond it', async ({ stack }) => {
    const tags = stack.queues[QUEUE.linkContact].toKey('fair:live');
    const max = TIER_BANDS.live.last - TIER_BANDS.live.front;
    await stack.add('a', 1);
    await stack.redis.hset(tags, 'a', max - 1);
    const jobs = await stack.add('a', 3, { from: 2 });
    expect(jobs.map((j) => j.priority)).toEqual([
      TIER_BANDS.live.last,
      TIER_BANDS.live.last,
      TIER_BANDS.live.last,
    ]);
    expect(await stack.drain(4)).toEqual(['a-1', 'a-2', 'a-3', 'a-4']);
  });

  test('thousands of organizations: one round each, and nothing left once their work is gone', async ({
    stack,
  }) => {
    const queue = stack.queues[QUEUE.linkContact];
    const organizations = Array.from({ length: 3_000 }, (_, i) => `org-${i}`);
    // Each organization's first event, then its second, in batches like the ingress's.
    for (const round of [1, 2]) {
      for (let i = 0; i < organizations.length; i += 500) {
        await stack.fair.add(
          organizations.slice(i, i + 500).map((organization) => {
            const id = `${organization}-${round}`;
            const data = toLinkContactJob({ id, organization, email: `${id}@example.com` }, 'NL');
            return linkContactEntry(data, { attempts: 3, bulk: false, jobId: id });
          }),
        );
      }
    }
    const tags = queue.toKey('fair:live');
    expect(await stack.redis.hlen(tags)).toBe(3_000);
    // BullMQ's start order: every organization's first event before any second one.
    const order = await stack.redis.zrange(queue.toKey('prioritized'), 0, -1);
    expect(order).toHaveLength(6_000);
    expect(order.slice(0, 3_000).every((id) => id.endsWith('-1'))).toBe(true);
    await queue.drain();
    await stack.fair.sweep();
    expect(await stack.redis.exists(tags)).toBe(0);
  });

  test('backlogs lists the largest first, with their oldest waiting job', async ({ stack }) => {
    const before = Date.now();
    await stack.add('big', 30);
    await stack.add('small', 3);
    await stack.add('seed', 7, { bulk: true });
    const backlogs = await stack.fair.backlogs({ limit: 2 });
    expect(
      backlogs.map(({ organization, tier, waiting }) => ({ organization, tier, waiting })),
    ).toEqual([
      { organization: 'big', tier: 'live', waiting: 30 },
      { organization: 'seed', tier: 'bulk', waiting: 7 },
    ]);
    for (const b of backlogs) {
      expect(b.oldestAcceptedAt?.getTime()).toBeGreaterThanOrEqual(before - 1);
      expect(b.oldestAcceptedAt?.getTime()).toBeLessThanOrEqual(Date.now());
    }
    await stack.drain(6);
    const after = await stack.fair.backlogs();
    // Three rounds of big and small, then big alone: big has 27 left, small none.
    expect(after.find((b) => b.organization === 'big')?.waiting).toBe(27);
    expect(after.find((b) => b.organization === 'small')).toBeUndefined();
  });
});
