import { RateLimitedError } from '@contact-linker/contracts';
import { maxInSlidingWindow, redisTest } from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { createWeb1on1Budget, type Web1on1Budget } from './index.ts';

const test = redisTest.extend('connections', async ({ redisUrl }, { onCleanup }) => {
  const connections = [new Redis(redisUrl), new Redis(redisUrl)];
  onCleanup(() => {
    for (const c of connections) c.disconnect();
  });
  return connections;
});

/** Asks for `count` slots at once, round-robin over `budgets`; resolves with when each was granted. */
function grantTimes(budgets: Web1on1Budget[], count: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      await budgets[i % budgets.length]!.acquire();
      return performance.now();
    }),
  );
}

describe('Web1on1 request budget', () => {
  test('two budgets sharing Redis never grant more than max in any sliding window', async ({
    connections,
    prefix,
  }) => {
    const budgets = connections.map((redis) =>
      createWeb1on1Budget({ redis, prefix, max: 5, durationMs: 200, marginMs: 40 }),
    );
    const started = performance.now();
    const grants = await grantTimes(budgets, 30);
    expect(grants).toHaveLength(30);
    expect(maxInSlidingWindow(grants, 200)).toBeLessThanOrEqual(5);
    // One slot every 48 ms ((200 + 40) / 5): the 30th is 29 slots after the first. The margin
    // absorbs this process's own timer and event-loop jitter between a slot and its stamp here.
    expect(performance.now() - started).toBeGreaterThanOrEqual(29 * 48 - 5);
  });

  test('spaces the slots evenly instead of granting a whole window at once', async ({
    connections,
    prefix,
  }) => {
    const budget = createWeb1on1Budget({
      redis: connections[0]!,
      prefix,
      max: 10,
      durationMs: 500,
      marginMs: 0,
    });
    const grants = await grantTimes([budget], 10);
    // 50 ms apart: a limiter that grants a window's worth at once puts all ten in one 50 ms window;
    // two allows for this process's timer jitter.
    expect(maxInSlidingWindow(grants, 50)).toBeLessThanOrEqual(2);
    expect(Math.max(...grants) - Math.min(...grants)).toBeGreaterThanOrEqual(9 * 50 - 5);
  });

  test('throws RateLimitedError instead of waiting longer than maxWaitMs', async ({
    connections,
    prefix,
  }) => {
    const budget = createWeb1on1Budget({
      redis: connections[0]!,
      prefix,
      max: 1,
      durationMs: 60_000,
      maxWaitMs: 100,
    });
    await budget.acquire();
    const error = await budget.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(50_000);
  });

  test('a pause stops every process until it has passed, and never shrinks', async ({
    connections,
    prefix,
  }) => {
    const [a, b] = connections.map((redis) =>
      createWeb1on1Budget({ redis, prefix, max: 100, durationMs: 1000 }),
    );
    await a!.pause(300);
    await a!.pause(50);
    const error = await b!.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(200);
    await new Promise((resolve) => setTimeout(resolve, 320));
    await expect(b!.acquire()).resolves.toBeUndefined();
  });
});
