import type { WebhookTimestamp } from '@contact-linker/contracts';
import { ApiError } from './errors.ts';

/** An event older than this is refused: its id may have left the dedup window. */
export const EVENT_MAX_AGE_MS = 24 * 3600 * 1000;
/** Allowed clock skew between Web1on1 and this ingress; an event further ahead is refused. */
export const EVENT_MAX_AHEAD_MS = 5 * 60 * 1000;
/**
 * How long an accepted event id is remembered. It covers the whole time an event is accepted: an
 * event stamped up to 5 minutes ahead stays acceptable for 24 h 5 min after it first arrived, and
 * a replay within that time must still meet its marker. So every replay of a captured event is
 * either a duplicate or refused.
 */
export const EVENT_DEDUP_MS = EVENT_MAX_AGE_MS + EVENT_MAX_AHEAD_MS;

/**
 * Closes the replay window of signed webhooks: Web1on1 signs the body, and the body carries the
 * event's `timestamp`, so an event stamped more than 24 h ago or more than 5 min ahead of `now` is
 * refused (`timestamp_out_of_window`, 400), whatever its event type.
 */
export function checkEventTime(timestamp: WebhookTimestamp, now: number): void {
  const ms = new Date(timestamp).getTime();
  // An epoch number past the last date JavaScript can hold (year 275760) is ahead of any window.
  if (Number.isNaN(ms) || ms < now - EVENT_MAX_AGE_MS || ms > now + EVENT_MAX_AHEAD_MS) {
    const from = new Date(now - EVENT_MAX_AGE_MS).toISOString();
    const to = new Date(now + EVENT_MAX_AHEAD_MS).toISOString();
    throw new ApiError('timestamp_out_of_window', {
      details: [{ path: '/timestamp', message: `must lie between ${from} and ${to}` }],
    });
  }
}
