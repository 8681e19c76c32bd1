import { createHash } from 'node:crypto';
import type { NotifiedProfile } from '@contact-linker/contracts';
import type { RedisClient } from '@contact-linker/queues';

/** How long the last-notified state of a contact is kept; a contact quiet for longer is re-sent once. */
const STATE_TTL_S = 30 * 24 * 3600;

/** The fields the DMS cares about, reduced to one comparable value. */
export function fingerprint(profile: NotifiedProfile, conversation: string | null): string {
  return createHash('sha256')
    .update(JSON.stringify([profile.email, profile.telephone, profile.name, conversation]))
    .digest('base64url');
}

/**
 * Remembers, per Web1on1 contact, what the DMS was last told, so the `contact.update` that Web1on1
 * sends because this service added a link is not echoed back. `SET … GET` swaps and compares in one
 * atomic command, so two workers handling updates of one contact cannot both decide "changed".
 */
export function createNotifyState(redis: RedisClient, prefix: string) {
  const key = (contactId: string) => `${prefix}:notify-state:${contactId}`;
  return {
    /**
     * Records that `writer` (a job id) told the DMS `value`, and answers whether the DMS already
     * knew it from someone else. A retry of the same job sees its own record and sends again, so a
     * failed delivery is never mistaken for an echo.
     */
    async swap(contactId: string, value: string, writer: string): Promise<boolean> {
      const previous = await redis.set(
        key(contactId),
        `${value} ${writer}`,
        'EX',
        STATE_TTL_S,
        'GET',
      );
      if (previous === null) return true;
      const [previousValue, previousWriter] = previous.split(' ');
      return previousValue !== value || previousWriter === writer;
    },
  };
}

export type NotifyState = ReturnType<typeof createNotifyState>;
