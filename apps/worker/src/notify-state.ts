import { createHash } from 'node:crypto';
import type { NotifiedProfile } from '@contact-linker/contracts';
import type { RedisClient } from '@contact-linker/queues';
import type { ClientContext, Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /** See DECIDE. */
    contactLinkerNotifyDecide(
      stateKey: string,
      decisionKey: string,
      value: string,
      writer: string,
      stateTtlS: number,
      decisionTtlS: number,
    ): Result<number, Context>;
  }
}

/** How long the last-notified state of a contact is kept; a contact quiet for longer is re-sent once. */
const STATE_TTL_S = 30 * 24 * 3600;
/**
 * How long a "deliver" decision outlives its notification's last failure: longer than any retry
 * schedule (20 attempts of exponential backoff from 1 s is ~6 days), so a retry or a replay from the
 * dead-letter queue within that time still delivers.
 */
const DECISION_TTL_S = 7 * 24 * 3600;

/** The fields the DMS cares about, reduced to one comparable value. */
export function fingerprint(profile: NotifiedProfile, conversation: string | null): string {
  return createHash('sha256')
    .update(JSON.stringify([profile.email, profile.telephone, profile.name, conversation]))
    .digest('base64url');
}

/**
 * KEYS[1] the contact's last-notified state, KEYS[2] this notification's decision.
 * ARGV: value, writer, state TTL, decision TTL. Returns 1 (news: deliver) or 0.
 * A decision once taken to deliver is kept, so the notification's own retries deliver even after
 * another notification of the same contact recorded the same fields in between. A suppressed one
 * leaves the state as it was, so its re-run (its worker died before completing it) is suppressed
 * again instead of finding itself as the last writer.
 */
const DECIDE = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
local previous = redis.call('GET', KEYS[1])
if previous then
  local space = string.find(previous, ' ', 1, true)
  if string.sub(previous, 1, space - 1) == ARGV[1] and string.sub(previous, space + 1) ~= ARGV[2] then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'EX', ARGV[3])
redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
return 1
`;

/**
 * Remembers, per Web1on1 contact, what the DMS was last told (or is being told), so the
 * `contact.update` that Web1on1 sends because this service added a link is not echoed back. Compare
 * and record happen in one script, so two workers handling updates of one contact cannot both decide
 * "changed" for the same fields.
 */
export function createNotifyState(redis: RedisClient, prefix: string) {
  const stateKey = (contactId: string) => `${prefix}:notify-state:${contactId}`;
  const decisionKey = (notificationId: string) => `${prefix}:notify-decision:${notificationId}`;
  redis.defineCommand('contactLinkerNotifyDecide', { numberOfKeys: 2, lua: DECIDE });
  return {
    /**
     * Records that `writer` tells (or will tell) the DMS `value` about the contact, without a
     * decision of its own: for the link job, before its PATCH, so the echo Web1on1 sends for that
     * PATCH already finds the fields recorded however fast it arrives.
     */
    async record(contactId: string, value: string, writer: string): Promise<void> {
      await redis.set(stateKey(contactId), `${value} ${writer}`, 'EX', STATE_TTL_S);
    },

    /**
     * Records that notification `notificationId` tells the DMS `value`, and answers whether that is
     * news: false when someone else already recorded the same fields. A notification that once got
     * true keeps getting true (its retries, stalled re-runs and replays), until `delivered` is called.
     */
    async isNews(contactId: string, value: string, notificationId: string): Promise<boolean> {
      const news = await redis.contactLinkerNotifyDecide(
        stateKey(contactId),
        decisionKey(notificationId),
        value,
        notificationId,
        STATE_TTL_S,
        DECISION_TTL_S,
      );
      return news === 1;
    },

    /** The notification reached the DMS: its decision is no longer needed. */
    async delivered(notificationId: string): Promise<void> {
      await redis.del(decisionKey(notificationId));
    },
  };
}

export type NotifyState = ReturnType<typeof createNotifyState>;
