import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransientError } from '@contact-linker/contracts';
import { deleteIfValue, type RedisClient } from '@contact-linker/queues';

export interface ContactLockOptions {
  redis: RedisClient;
  prefix: string;
  /**
   * How long a holder may keep the lock; it expires on its own if the holder dies. Longer than the
   * critical section can take: three Web1on1 requests of at most 10 s each.
   * @defaultValue 35_000
   */
  ttlMs?: number;
  /** How long a job waits for a busy lock before it is retried later. @defaultValue 30_000 */
  waitMs?: number;
}

/**
 * Serialises the read-modify-write of one Web1on1 contact's `links` across every worker process.
 * The API's PATCH replaces the whole array, so two unserialised adds lose one link. A plain
 * `SET NX PX` lock with an owner token (released by compare-and-delete) is enough here: one Redis
 * decides, and a lock outliving a dead holder only delays, never corrupts.
 */
export function createContactLock({
  redis,
  prefix,
  ttlMs = 35_000,
  waitMs = 30_000,
}: ContactLockOptions) {
  return async function withContactLock<T>(
    contactId: string,
    critical: () => Promise<T>,
  ): Promise<T> {
    const key = `${prefix}:lock:contact:${contactId}`;
    const owner = randomUUID();
    const deadline = performance.now() + waitMs;
    let pause = 5;
    while ((await redis.set(key, owner, 'PX', ttlMs, 'NX')) !== 'OK') {
      if (performance.now() > deadline) {
        throw new TransientError('Web1on1 contact is locked by another job for too long');
      }
      await sleep(pause + Math.floor(Math.random() * pause));
      pause = Math.min(pause * 2, 100);
    }
    try {
      return await critical();
    } finally {
      await deleteIfValue(redis, key, owner).catch(() => {});
    }
  };
}

export type WithContactLock = ReturnType<typeof createContactLock>;
