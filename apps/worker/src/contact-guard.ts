import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransientError } from '@contact-linker/contracts';
import { luaScript, type RedisClient } from '@contact-linker/queues';

export interface ContactGuardOptions {
  redis: RedisClient;
  prefix: string;
  /**
   * How long a holder may keep a contact's lock; it expires on its own if the holder dies. Longer
   * than the critical section can take: at most five Web1on1 requests (GET, PATCH, GET, PATCH, GET)
   * of at most 10 s each, each after a budget wait of at most 5 s.
   * @defaultValue 90_000
   */
  lockTtlMs?: number;
  /** How long a job waits for a busy lock before it is retried later. @defaultValue 30_000 */
  waitMs?: number;
}

export interface GuardedSection {
  /**
   * The Redis clock (`clock()`) taken before the list answer the caller holds, when that answer
   * shows the contact's whole `links`; without it the contact counts as changed.
   */
  listedAt?: bigint;
  /** The caller writes nothing when its list answer is current (it already shows the link). */
  noWriteIfUnchanged?: boolean;
}

/** Longer than any job can take from listing a contact to holding its lock (lists, budget, lock wait). */
const MARK_TTL_S = 300;

const CLOCK = luaScript(
  `local t = redis.call('TIME') return t[1] .. string.format('%06d', t[2])`,
  1,
);

/**
 * KEYS: the contact's lock, its write mark. ARGV: owner, lock TTL (ms), listedAt (µs, or ''),
 * '1' when the caller writes nothing to an unchanged contact, mark TTL (s).
 * Returns -1 when the lock is busy (nothing changed), else bit 0 = unchanged since listedAt and
 * bit 1 = the contact was marked `pending` (a write may follow).
 * µs times fit a Lua number (a double) exactly until the year 2255.
 */
const ACQUIRE = luaScript(
  `
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return -1 end
local mark = redis.call('GET', KEYS[2])
local unchanged = ARGV[3] ~= '' and (not mark or (mark ~= 'pending' and tonumber(mark) < tonumber(ARGV[3])))
if unchanged and ARGV[4] == '1' then return 1 end
redis.call('SET', KEYS[2], 'pending', 'EX', ARGV[5])
if unchanged then return 3 end
return 2
`,
  2,
);

/**
 * KEYS: the contact's lock, its write mark. ARGV: owner, '1' when the contact was marked, mark TTL.
 * A marked contact gets the time its writes ended; the lock is freed only while it is still ours.
 */
const RELEASE = luaScript(
  `
if ARGV[2] == '1' then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[2], t[1] .. string.format('%06d', t[2]), 'EX', ARGV[3])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`,
  2,
);

/**
 * Everything that keeps one Web1on1 contact's `links` consistent across worker processes, in two
 * Redis calls per job (it was five):
 * - a per-contact lock: the API's PATCH replaces the whole array, so two unserialised adds lose a
 *   link. A `SET NX PX` lock with an owner token is enough here: one Redis decides, and a lock
 *   outliving a dead holder only delays, never corrupts;
 * - write marks: when this system last wrote the contact, on the Redis server's clock. A job that
 *   listed the contact after the last write may PATCH from its list answer instead of reading the
 *   contact again (one Web1on1 request of three saved). While a section that may write runs, the
 *   mark says `pending`, and a writer that died mid-request leaves it so until it expires: every
 *   reader then reads again.
 * Every key is under the hash-tagged prefix, so on a Redis Cluster the scripts run on one node and
 * their TIME readings come from one clock.
 */
export function createContactGuard({
  redis,
  prefix,
  lockTtlMs = 90_000,
  waitMs = 30_000,
}: ContactGuardOptions) {
  const lockKey = (contactId: string) => `${prefix}:lock:contact:${contactId}`;
  const markKey = (contactId: string) => `${prefix}:contact-written:${contactId}`;

  return {
    /** The Redis server's time in microseconds: take it before listing. */
    async clock(): Promise<bigint> {
      return BigInt((await CLOCK(redis, markKey('clock'))) as string);
    },

    /**
     * Runs `critical` holding the contact's lock. It learns whether the caller's list answer is
     * still current (`unchanged`): no write of ours started or ended since `listedAt`.
     * @throws TransientError when the lock stays busy for `waitMs`
     */
    async withContact<T>(
      contactId: string,
      { listedAt, noWriteIfUnchanged = false }: GuardedSection,
      critical: (state: { unchanged: boolean }) => Promise<T>,
    ): Promise<T> {
      const keys = [lockKey(contactId), markKey(contactId)] as const;
      const owner = randomUUID();
      const deadline = performance.now() + waitMs;
      let pause = 5;
      let state: number;
      for (;;) {
        state = (await ACQUIRE(
          redis,
          ...keys,
          owner,
          lockTtlMs,
          listedAt === undefined ? '' : String(listedAt),
          noWriteIfUnchanged ? '1' : '0',
          MARK_TTL_S,
        )) as number;
        if (state !== -1) break;
        if (performance.now() > deadline) {
          throw new TransientError('Web1on1 contact is locked by another job for too long');
        }
        await sleep(pause + Math.floor(Math.random() * pause));
        pause = Math.min(pause * 2, 100);
      }
      const marked = (state & 2) !== 0;
      try {
        return await critical({ unchanged: (state & 1) !== 0 });
      } finally {
        await RELEASE(redis, ...keys, owner, marked ? '1' : '0', MARK_TTL_S).catch(() => {});
      }
    },
  };
}

export type ContactGuard = ReturnType<typeof createContactGuard>;
