import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimitedError } from '@contact-linker/contracts';
import type { Cluster, Redis } from 'ioredis';
import { RedisSlidingWindowRateLimiter } from 'sliding-window-rate-limiter';

export interface Web1on1BudgetOptions {
  /** Shared Redis (any role); every process using the same `prefix` shares one budget. */
  redis: Redis | Cluster;
  /** Key prefix (QUEUE_PREFIX), hash-tagged so the keys live in one Cluster slot. */
  prefix: string;
  /** Most requests in any window of `durationMs`. */
  max: number;
  durationMs: number;
  /**
   * Longest a caller waits in place for a free slot; beyond that `acquire` throws
   * RateLimitedError so the job goes back to the queue (without spending an attempt) and the
   * worker slot is freed. @defaultValue 5_000
   */
  maxWaitMs?: number;
  /**
   * Added to the window the limiter enforces, because a grant is not an arrival: the request reaches
   * the API a few milliseconds after Redis granted it, and those milliseconds differ per request.
   * @defaultValue max(25 ms, 2.5 % of `durationMs`), at most 250 ms
   */
  marginMs?: number;
  /** Reports every wait, for metrics. */
  onWait?: (ms: number) => void;
}

export interface Web1on1Budget {
  /** Resolves when one request may be sent now; throws RateLimitedError when it should wait long. */
  acquire(): Promise<void>;
  /** No request may be sent for `ms` (Web1on1 answered 429). Never shortens a longer pause. */
  pause(ms: number): Promise<void>;
}

/**
 * The Web1on1 request budget shared by every worker process: a sliding-window log in Redis
 * (`sliding-window-rate-limiter`, timed by the Redis server's clock, so processes on different hosts
 * agree), plus a pause key set when the API answers 429. Counting requests rather than jobs is the
 * point: one job makes one to five requests, and BullMQ's own limiter counts jobs and releases each
 * window's jobs in a burst.
 */
export function createWeb1on1Budget({
  redis,
  prefix,
  max,
  durationMs,
  maxWaitMs = 5_000,
  marginMs = Math.min(250, Math.max(25, Math.round(durationMs * 0.025))),
  onWait,
}: Web1on1BudgetOptions): Web1on1Budget {
  const limiter = new RedisSlidingWindowRateLimiter({
    redis: redis as never,
    interval: durationMs + marginMs,
  });
  const windowKey = `${prefix}:web1on1:budget`;
  const pauseKey = `${prefix}:web1on1:paused`;

  return {
    async acquire() {
      let waited = 0;
      for (;;) {
        const paused = await redis.pttl(pauseKey);
        if (paused > 0) {
          throw new RateLimitedError('Web1on1 asked to pause (429)', { retryAfterMs: paused });
        }
        const { token, reset } = await limiter.reserve(windowKey, max);
        if (token) {
          if (waited > 0) onWait?.(waited);
          return;
        }
        // `reset` is when the oldest counted request leaves the window; a little jitter keeps the
        // waiting callers of all processes from asking again in the same millisecond.
        const wait = Math.max(1, reset ?? 1) + Math.floor(Math.random() * 5);
        if (waited + wait > maxWaitMs) {
          onWait?.(waited);
          throw new RateLimitedError('Web1on1 request budget exhausted', { retryAfterMs: wait });
        }
        await sleep(wait);
        waited += wait;
      }
    },

    async pause(ms) {
      // Keep the later of two pauses; a race between two 429s can only pick one of two near-equal values.
      const current = await redis.pttl(pauseKey);
      if (current < ms) await redis.set(pauseKey, '1', 'PX', Math.max(1, Math.ceil(ms)));
    },
  };
}
