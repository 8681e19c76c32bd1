import { luaScript, type RedisClient } from '@contact-linker/queues';

/** Longer than any job can take from listing a contact to holding its lock (lists, budget, lock wait). */
const MARK_TTL_S = 300;
const PENDING = 'pending';

// Every script names a key under the hash-tagged prefix, so on a Redis Cluster all of them run on the
// one node that holds the marks: their TIME readings come from one clock.
const CLOCK = luaScript(
  `local t = redis.call('TIME') return t[1] .. string.format('%06d', t[2])`,
  1,
);
const MARK_DONE = luaScript(
  `local t = redis.call('TIME')
redis.call('SET', KEYS[1], t[1] .. string.format('%06d', t[2]), 'EX', ARGV[1]) return 1`,
  1,
);

/**
 * When this system last wrote a Web1on1 contact's `links`, on the Redis server's clock. A job that
 * listed the contact after the last write may PATCH from the list answer instead of reading the
 * contact again (one Web1on1 request of three saved). A write in progress, or one whose writer died
 * mid-request, is marked `pending` and makes every reader read again until it ends or expires.
 */
export function createContactWrites(redis: RedisClient, prefix: string) {
  const key = (contactId: string) => `${prefix}:contact-written:${contactId}`;
  return {
    /** The Redis server's time in microseconds: take it before listing. */
    async clock(): Promise<bigint> {
      return BigInt((await CLOCK(redis, key('clock'))) as string);
    },

    /** Whether no write to the contact started or ended at or after `since` (a `clock()` value). */
    async unchangedSince(contactId: string, since: bigint): Promise<boolean> {
      const mark = await redis.get(key(contactId));
      if (mark === null) return true;
      return mark !== PENDING && BigInt(mark) < since;
    },

    /** Call before a write; until `done`, nobody trusts an earlier list answer. */
    async pending(contactId: string): Promise<void> {
      await redis.set(key(contactId), PENDING, 'EX', MARK_TTL_S);
    },

    /** Call after the write was answered. */
    async done(contactId: string): Promise<void> {
      await MARK_DONE(redis, key(contactId), MARK_TTL_S);
    },
  };
}

export type ContactWrites = ReturnType<typeof createContactWrites>;
