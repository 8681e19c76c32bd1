import { randomUUID } from 'node:crypto';
import type { NotifyDmsJob } from '@contact-linker/contracts';
import { notifyDmsEntry, QUEUE, type QueueSet, type RedisClient } from '@contact-linker/queues';
import { EVENT_DEDUP_MS } from '../event-window.ts';
import { REDIS_DEADLINE_MS, withDeadline } from '../redis-deadline.ts';

/**
 * Web1on1 may resend an event; an id seen within this window is not enqueued again. It outlasts
 * the time an event's timestamp is accepted (`event-window.ts`), so no replay gets through.
 */
const WEBHOOK_DEDUP_MS = EVENT_DEDUP_MS;

export interface WebhookEventEnqueueOptions {
  queues: QueueSet;
  /** The producer connection, which holds the seen-event markers. */
  redis: RedisClient;
  /** `QUEUE_PREFIX`, under which the markers are kept. */
  prefix: string;
  /** Attempts before a notification is dead-lettered (`JOB_ATTEMPTS`). */
  attempts: number;
  /**
   * How long Redis may take before the request answers 503.
   * @defaultValue {@link REDIS_DEADLINE_MS} (800)
   */
  deadlineMs?: number;
}

/**
 * Enqueues the notify-dms job of a webhook event unless its id was accepted in the last 24 h (and
 * 5 min), and
 * says which happened. BullMQ's deduplication with a TTL decides atomically with the add; the marker
 * key keeps the window even after retention has removed the job (removal clears BullMQ's own key).
 */
export function createWebhookEventEnqueue({
  queues,
  redis,
  prefix,
  attempts,
  deadlineMs = REDIS_DEADLINE_MS,
}: WebhookEventEnqueueOptions) {
  const queue = queues[QUEUE.notifyDms];
  const seenKey = (eventId: string) => `${prefix}:webhook-seen:${eventId}`;
  return async (
    job: NotifyDmsJob,
    eventId: string,
  ): Promise<{ duplicate: boolean; jobId: string }> => {
    const jobId = randomUUID();
    const entry = notifyDmsEntry(job, {
      attempts,
      jobId,
      deduplication: { id: `webhook-${eventId}`, ttlMs: WEBHOOK_DEDUP_MS },
    });
    const enqueueOnce = async () => {
      const seen = await redis.get(seenKey(eventId));
      if (seen !== null) return { duplicate: true, jobId: seen };
      const added = await queue.add(entry.name, entry.data, entry.opts);
      const addedId = String(added.id);
      await redis.set(seenKey(eventId), addedId, 'PX', WEBHOOK_DEDUP_MS, 'NX');
      return { duplicate: addedId !== jobId, jobId: addedId };
    };
    return withDeadline(enqueueOnce(), deadlineMs);
  };
}

export type WebhookEventEnqueue = ReturnType<typeof createWebhookEventEnqueue>;
