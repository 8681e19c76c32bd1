import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransientError } from '@contact-linker/contracts';
import type { RedisClient } from '@contact-linker/queues';
import type { ClientContext, Result } from 'ioredis';

type Arg = string | number;
declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /** The contact guard's scripts, defined by `createContactGuard`; see CLOCK, ACQUIRE, RELEASE, RENEW. */
    contactLinkerGuardClock(clock: string): Result<string, Context>;
    contactLinkerGuardAcquire(...keysAndArgs: Arg[]): Result<[number, string], Context>;
    contactLinkerGuardRelease(...keysAndArgs: Arg[]): Result<string, Context>;
    contactLinkerGuardRenew(...keysAndArgs: Arg[]): Result<number, Context>;
  }
}

export interface ContactGuardOptions {
  redis: RedisClient;
  prefix: string;
  /**
   * How long a contact's lock outlives its holder: the holder renews it every third of this while
   * its section runs, however long that takes, and a holder that died frees it this long after.
   * @defaultValue 15_000, as BullMQ's job locks
   */
  lockTtlMs?: number;
  /** How long a job waits for a busy lock before it is retried later. @defaultValue 30_000 */
  waitMs?: number;
}

/** What the caller knows of the contact from its list answer. */
export interface Listing {
  /**
   * The write clock (`clock()`) read before the list request whose answer the caller holds, when
   * that answer shows the contact's whole `links`; without it the list answer is never current.
   */
  listedAt?: bigint;
  /** The caller writes nothing when its list answer is current (it already shows the link). */
  skipWriteIfCurrent?: boolean;
}

/** Longer than any job can take from listing a contact to holding its lock (lists, budget, lock wait). */
const MARK_TTL_S = 300;

/**
 * The write clock: KEYS[3] holds the number of the last write that ended, a logical clock that
 * starts at the Redis server's time in µs and then goes up by at least 1 per write, so it keeps
 * rising across a Redis that lost its data. Read as a string: a Lua number in a reply is an integer
 * but `tostring` would print it as a float.
 */
const LAST = `local last = redis.call('GET', KEYS[3]) or '0'`;

const CLOCK = `return redis.call('GET', KEYS[1]) or '0'`;

/**
 * How old (by this process's monotonic clock) a write-clock reading from a reply may be and still be
 * handed out by `clock()`. Older only costs efficiency: writes since then count as changes.
 */
const CLOCK_REUSE_MS = 1000;

/**
 * KEYS: the contact's lock, its write mark, the write clock. ARGV: owner, lock TTL (ms), listedAt
 * (or ''), '1' when the caller writes nothing to an unchanged contact, mark TTL (s).
 * Returns { state, clock }: state -1 when the lock is busy (nothing changed), else bit 0 = unchanged
 * since listedAt and bit 1 = the contact was marked `pending` (a write may follow).
 * Clock values fit a Lua number (a double) exactly until the year 2255.
 */
const ACQUIRE = `
${LAST}
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return { -1, last } end
local mark = redis.call('GET', KEYS[2])
local unchanged = ARGV[3] ~= '' and (not mark or (mark ~= 'pending' and tonumber(mark) <= tonumber(ARGV[3])))
if unchanged and ARGV[4] == '1' then return { 1, last } end
redis.call('SET', KEYS[2], 'pending', 'EX', ARGV[5])
if unchanged then return { 3, last } end
return { 2, last }
`;

/**
 * KEYS: the contact's lock, its write mark, the write clock. ARGV: owner, '1' when the contact was
 * marked, mark TTL (s). A marked contact gets the next clock value (its writes ended now); the lock
 * is freed only while it is still ours. Returns the clock.
 */
const RELEASE = `
${LAST}
if ARGV[2] == '1' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  last = string.format('%.0f', math.max(now, tonumber(last) + 1))
  redis.call('SET', KEYS[3], last)
  redis.call('SET', KEYS[2], last, 'EX', ARGV[3])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return last
`;

/**
 * KEYS: the contact's lock, its write mark. ARGV: owner, lock TTL (ms), mark TTL (s). Renews the
 * lock while it is still ours, and a `pending` mark with it, so neither expires under a live writer.
 */
const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('GET', KEYS[2]) == 'pending' then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
return 1
`;

/**
 * Everything that keeps one Web1on1 contact's `links` consistent across worker processes, in two
 * Redis calls per job (it was five):
 * - a per-contact lock: the API's PATCH replaces the whole array, so two unserialised adds lose a
 *   link. A `SET NX PX` lock with an owner token is enough here: one Redis decides, and a lock
 *   outliving a dead holder only delays, never corrupts;
 * - write marks: when this system last wrote the contact, on a write clock in Redis. A job that
 *   listed the contact after the last write may PATCH from its list answer instead of reading the
 *   contact again (one Web1on1 request of three saved). While a section that may write runs, the
 *   mark says `pending`, and a writer that died mid-request leaves it so until it expires: every
 *   reader then reads again.
 * Every script answers with the write clock, and `clock()` hands out the latest reading: every write
 * numbered up to it ended before that reply was sent, so a list request sent after it arrived shows
 * them. A busy worker thus needs no Redis call of its own to read the clock. Every key is under the
 * hash-tagged prefix, so on a Redis Cluster all of them live on one node.
 */
export function createContactGuard({
  redis,
  prefix,
  lockTtlMs = 15_000,
  waitMs = 30_000,
}: ContactGuardOptions) {
  const lockKey = (contactId: string) => `${prefix}:lock:contact:${contactId}`;
  const markKey = (contactId: string) => `${prefix}:contact-written:${contactId}`;
  const clockKey = `${prefix}:contact-write-clock`;
  // ioredis runs each by SHA and sends its text only when Redis does not know it yet.
  redis.defineCommand('contactLinkerGuardClock', { numberOfKeys: 1, lua: CLOCK });
  redis.defineCommand('contactLinkerGuardAcquire', { numberOfKeys: 3, lua: ACQUIRE });
  redis.defineCommand('contactLinkerGuardRelease', { numberOfKeys: 3, lua: RELEASE });
  redis.defineCommand('contactLinkerGuardRenew', { numberOfKeys: 2, lua: RENEW });
  let seen: { value: bigint; at: number } | undefined;
  const observe = (reading: string): void => {
    const value = BigInt(reading);
    // The latest rather than the largest: an older reading only makes the caller more cautious,
    // and after Redis lost its data only readings taken since are true.
    seen = { value, at: performance.now() };
  };

  return {
    /**
     * A reading of the write clock: take it before listing. Every write of ours numbered up to it
     * has ended, so the list answer shows it; later ones may be missing.
     */
    async clock(): Promise<bigint> {
      if (seen !== undefined && performance.now() - seen.at < CLOCK_REUSE_MS) return seen.value;
      const reading = await redis.contactLinkerGuardClock(clockKey);
      observe(reading);
      return BigInt(reading);
    },

    /**
     * Runs `critical` holding the contact's lock. It learns whether the caller's list answer is
     * still current (`listIsCurrent`): no write of ours is open or ended after `listedAt`.
     * @throws TransientError when the lock stays busy for `waitMs`
     */
    async withContact<T>(
      contactId: string,
      { listedAt, skipWriteIfCurrent = false }: Listing,
      critical: (state: { listIsCurrent: boolean }) => Promise<T>,
    ): Promise<T> {
      const keys = [lockKey(contactId), markKey(contactId), clockKey] as const;
      const owner = randomUUID();
      const deadline = performance.now() + waitMs;
      let pause = 5;
      let state: number;
      for (;;) {
        let reading: string;
        [state, reading] = await redis.contactLinkerGuardAcquire(
          ...keys,
          owner,
          lockTtlMs,
          listedAt === undefined ? '' : String(listedAt),
          skipWriteIfCurrent ? '1' : '0',
          MARK_TTL_S,
        );
        observe(reading);
        if (state !== -1) break;
        if (performance.now() > deadline) {
          throw new TransientError('Web1on1 contact is locked by another job for too long');
        }
        await sleep(pause + Math.floor(Math.random() * pause));
        pause = Math.min(pause * 2, 100);
      }
      const marked = (state & 2) !== 0;
      // A slow section (several Web1on1 requests of up to 10 s, budget waits) must not lose its lock
      // to another writer; renewing costs nothing in the usual sub-second section.
      const renewal = setInterval(() => {
        redis
          .contactLinkerGuardRenew(keys[0], keys[1], owner, lockTtlMs, MARK_TTL_S)
          .catch(() => {});
      }, lockTtlMs / 3);
      renewal.unref();
      try {
        return await critical({ listIsCurrent: (state & 1) !== 0 });
      } finally {
        clearInterval(renewal);
        await redis
          .contactLinkerGuardRelease(...keys, owner, marked ? '1' : '0', MARK_TTL_S)
          .then(observe, () => {});
      }
    },
  };
}

export type ContactGuard = ReturnType<typeof createContactGuard>;
