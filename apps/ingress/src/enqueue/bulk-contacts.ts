import type { DmsContactEvent } from '@contact-linker/contracts';
import { bulkJobs } from '@contact-linker/queues';
import { REDIS_DEADLINE_MS, withDeadline } from '../redis-deadline.ts';
import type { LinkContactEnqueueOptions } from './live-contact.ts';

/**
 * Enqueues the valid items of `POST /updatecontacts` below live traffic, each organization's in its
 * turn (one fair-order tagging, one pipelined `addBulk`).
 * BullMQ pipelines the adds rather than wrapping them in a transaction, so after a failure part of
 * them may be in; each carries the same content deduplication as single events, so the client's
 * retry of the whole call adds exactly the missing ones and no duplicates. A thousand adds get four
 * times the deadline of one.
 */
export function createBulkContactsEnqueue({
  fairOrder,
  attempts,
  defaultPhoneCountry,
  deadlineMs = REDIS_DEADLINE_MS,
}: LinkContactEnqueueOptions) {
  return async (events: DmsContactEvent[]): Promise<{ accepted: number }> => {
    if (events.length === 0) return { accepted: 0 };
    const entries = bulkJobs(events, { attempts, defaultPhoneCountry });
    await withDeadline(fairOrder.add(entries), deadlineMs * 4);
    return { accepted: entries.length };
  };
}

export type BulkContactsEnqueue = ReturnType<typeof createBulkContactsEnqueue>;
