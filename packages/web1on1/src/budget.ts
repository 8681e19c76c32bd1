import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimitedError } from '@contact-linker/contracts';
import type { ClientContext, Cluster, Redis, Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /** The budget's reservation; see RESERVE. */
    contactLinkerBudgetReserve(
      schedule: string,
      pause: string,
      intervalMicros: number,
      maxWaitMicros: number,
    ): Result<[number, number], Context>;
  }
}

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
   * Added to the window the limiter enforces, because a slot is not an arrival: the request reaches
   * the API a few milliseconds after its slot, and those milliseconds differ per request. Any
   * `max + 1` slots span at least `durationMs + marginMs`.
   * The floor is what a busy two-core host showed: grant-to-arrival delays of two requests differed
   * by up to 32 ms (fault suite), so 25 ms let the API see 21 of 20 once.
   * @defaultValue max(40 ms, 2.5 % of `durationMs`), at most 250 ms
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
 * GCRA with no burst tolerance, in one script so that every process draws from one schedule.
 * KEYS[1] the theoretical arrival time (TAT, Redis-clock microseconds), KEYS[2] the 429 pause.
 * ARGV[1] emission interval (µs), ARGV[2] longest wait a caller accepts (µs).
 * Returns { -1, pause ms } while paused, { 0, wait µs } when the caller's slot would be further away
 * than it accepts (nothing reserved), else { 1, wait µs }: the slot `wait` from now is the caller's.
 */
const RESERVE = `
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return { -1, paused } end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local wait = slot - now
if wait > tonumber(ARGV[2]) then return { 0, wait } end
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX', math.ceil((wait + interval) / 1000) + 1000)
return { 1, wait }
`;

/**
 * The Web1on1 request budget shared by every worker process: a GCRA schedule in Redis (timed by the
 * Redis server's clock, so processes on different hosts agree) that hands out one send slot every
 * `(durationMs + marginMs) / max`, plus a pause key set when the API answers 429. Evenly spaced
 * slots mean that any window of `durationMs` holds at most `max` of them, and that requests never
 * leave in bursts: a burst queues up in the sending process and its last requests reach the API
 * late, bunched with the next ones, which is how a sliding-window log of grants still let the API
 * see 25 requests in a 1 s window with a 20/1s budget. Counting requests rather than jobs is the
 * point: one job makes one to five requests, and BullMQ's own limiter counts jobs.
 */
export function createWeb1on1Budget({
  redis,
  prefix,
  max,
  durationMs,
  maxWaitMs = 5_000,
  marginMs = Math.min(250, Math.max(40, Math.round(durationMs * 0.025))),
  onWait,
}: Web1on1BudgetOptions): Web1on1Budget {
  const intervalMicros = ((durationMs + marginMs) * 1000) / max;
  const scheduleKey = `${prefix}:web1on1:budget`;
  const pauseKey = `${prefix}:web1on1:paused`;
  // ioredis runs it by SHA and sends the text only when Redis does not know it (after a restart, or
  // on a new Cluster node): sending the text on every request cost ~10 % of the worker's CPU.
  redis.defineCommand('contactLinkerBudgetReserve', { numberOfKeys: 2, lua: RESERVE });

  return {
    async acquire() {
      const [kind, value] = await redis.contactLinkerBudgetReserve(
        scheduleKey,
        pauseKey,
        intervalMicros,
        maxWaitMs * 1000,
      );
      if (kind === -1) {
        throw new RateLimitedError('Web1on1 asked to pause (429)', { retryAfterMs: value });
      }
      const waitMs = value / 1000;
      if (kind === 0) {
        throw new RateLimitedError('Web1on1 request budget exhausted', {
          retryAfterMs: Math.ceil(waitMs - maxWaitMs),
        });
      }
      if (waitMs < 1) return;
      // Rounded up: a timer may fire a fraction of a millisecond early, a slot must not.
      await sleep(Math.ceil(waitMs));
      onWait?.(waitMs);
      // A 429 may have arrived while this caller waited for its slot; the slot then goes unused.
      const paused = await redis.pttl(pauseKey);
      if (paused > 0) {
        throw new RateLimitedError('Web1on1 asked to pause (429)', { retryAfterMs: paused });
      }
    },

    async pause(ms) {
      // Keep the later of two pauses; a race between two 429s can only pick one of two near-equal values.
      const current = await redis.pttl(pauseKey);
      if (current < ms) await redis.set(pauseKey, '1', 'PX', Math.max(1, Math.ceil(ms)));
    },
  };
}
