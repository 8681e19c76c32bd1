import { randomUUID } from 'node:crypto';
import {
  type DmsContactEvent,
  type LinkContactResult,
  NotifyDmsJob,
} from '@contact-linker/contracts';
import {
  bulkJobs,
  deadLetterId,
  jobOptionsFor,
  linkContactEntry,
  QUEUE,
  type QueueSet,
  type RedisClient,
  redisReady,
  toLinkContactJob,
} from '@contact-linker/queues';
import { ApiError } from './errors.ts';
import { createGroupCommit } from './group-commit.ts';

/** Web1on1 may resend an event; an id seen within this window is not enqueued again. */
const WEBHOOK_DEDUP_MS = 24 * 3600 * 1000;

export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'dead-lettered';

export interface ContactJobStatus {
  jobId: string;
  state: JobState;
  outcome?: LinkContactResult['outcome'];
  result?: { contactId: string; conversation: string | null };
}

export interface ProducerOptions {
  queues: QueueSet;
  /** The producer connection, for the webhook dedup marker and readiness. */
  redis: RedisClient;
  prefix: string;
  attempts: number;
  defaultPhoneCountry: string;
  /**
   * How long an enqueue may take before the ingress answers 503; the contract allows 1 s in all.
   * @defaultValue 800
   */
  enqueueTimeoutMs?: number;
}

async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } catch (cause) {
    throw new ApiError('queue_unavailable', { headers: { 'retry-after': '1' }, cause });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Everything the ingress does to Redis. Each call resolves only after Redis acknowledged it, and
 * fails with `queue_unavailable` (503) within `enqueueTimeoutMs` when Redis is away.
 */
export function createProducer({
  queues,
  redis,
  prefix,
  attempts,
  defaultPhoneCountry,
  enqueueTimeoutMs = 800,
}: ProducerOptions) {
  const linkQueue = queues[QUEUE.linkContact];
  const notifyQueue = queues[QUEUE.notifyDms];
  // Single events from concurrent requests share one pipelined addBulk (one Redis round trip), and
  // one deadline: a timer per batch rather than per request.
  const addLive = createGroupCommit((jobs: Parameters<typeof linkQueue.addBulk>[0]) =>
    withDeadline(
      linkQueue.addBulk(jobs).then((added) => added.map((job) => String(job.id))),
      enqueueTimeoutMs,
    ),
  );
  const seenKey = (eventId: string) => `${prefix}:webhook-seen:${eventId}`;

  return {
    async enqueueContact(event: DmsContactEvent): Promise<{ jobId: string }> {
      const data = toLinkContactJob(event, defaultPhoneCountry);
      const jobId = await addLive(linkContactEntry(data, { attempts, bulk: false }));
      return { jobId };
    },

    /**
     * Enqueues many DMS events in one Redis round trip, below live traffic. BullMQ pipelines the
     * adds rather than wrapping them in a transaction, so after a failure part of them may be in;
     * each carries the same content deduplication as single events, so the client's retry of the
     * whole call adds exactly the missing ones and no duplicates.
     */
    async enqueueContacts(events: DmsContactEvent[]): Promise<{ accepted: number }> {
      if (events.length === 0) return { accepted: 0 };
      const jobs = bulkJobs(events, { attempts, defaultPhoneCountry });
      await withDeadline(linkQueue.addBulk(jobs), enqueueTimeoutMs * 4);
      return { accepted: jobs.length };
    },

    /**
     * Enqueues a webhook event unless its id was accepted in the last 24 h. BullMQ's deduplication
     * with a TTL decides atomically with the add; the marker key keeps the window even after
     * retention has removed the job (removal clears BullMQ's own key).
     */
    async enqueueNotification(
      job: NotifyDmsJob,
      eventId: string,
    ): Promise<{ duplicate: boolean; jobId: string }> {
      const data = NotifyDmsJob.parse(job);
      return withDeadline(
        (async () => {
          const seen = await redis.get(seenKey(eventId));
          if (seen !== null) return { duplicate: true, jobId: seen };
          const jobId = randomUUID();
          const added = await notifyQueue.add(data.type, data, {
            ...jobOptionsFor(QUEUE.notifyDms, attempts),
            jobId,
            deduplication: { id: `webhook-${eventId}`, ttl: WEBHOOK_DEDUP_MS },
          });
          const addedId = String(added.id);
          await redis.set(seenKey(eventId), addedId, 'PX', WEBHOOK_DEDUP_MS, 'NX');
          return { duplicate: addedId !== jobId, jobId: addedId };
        })(),
        enqueueTimeoutMs,
      );
    },

    async getContactJob(jobId: string): Promise<ContactJobStatus | undefined> {
      return withDeadline(
        (async () => {
          // State before data: read the other way round, a job finishing in between would show
          // `completed` without its outcome.
          const raw = await linkQueue.getJobState(jobId);
          const job = raw === 'unknown' ? undefined : await linkQueue.getJob(jobId);
          if (!job) return undefined;
          let state: JobState;
          if (raw === 'completed' || raw === 'active' || raw === 'delayed') state = raw;
          else if (raw === 'failed') {
            const letter = await queues[QUEUE.deadLetter].getJob(
              deadLetterId(QUEUE.linkContact, jobId),
            );
            state = letter ? 'dead-lettered' : 'failed';
          } else state = 'waiting';
          const value = raw === 'completed' ? job.returnvalue : undefined;
          return {
            jobId,
            state,
            ...(value ? { outcome: value.outcome } : {}),
            ...(value?.contactId
              ? { result: { contactId: value.contactId, conversation: value.conversation ?? null } }
              : {}),
          };
        })(),
        enqueueTimeoutMs,
      );
    },

    ready: () => redisReady(redis, enqueueTimeoutMs),
  };
}

export type Producer = ReturnType<typeof createProducer>;
