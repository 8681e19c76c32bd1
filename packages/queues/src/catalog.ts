import {
  DeadLetterJob,
  LinkContactJob,
  LinkContactResult,
  NotifyDmsJob,
  NotifyDmsResult,
} from '@contact-linker/contracts';
import type { JobsOptions, WorkerOptions } from 'bullmq';
import { z } from 'zod';

interface QueueDefinition {
  /** Validates job data at both ends: producers parse before adding, processors before acting. */
  schema: z.ZodType;
  result: z.ZodType;
  /** Job options every producer applies; `attempts` comes from JOB_ATTEMPTS at runtime. */
  jobOptions: Omit<JobsOptions, 'attempts'>;
  /**
   * Retention of finished jobs, applied by the queue's workers rather than stored in every job:
   * BullMQ keeps a job's options in its hash, and these two were ~90 bytes of each waiting job.
   */
  retention?: Pick<WorkerOptions, 'removeOnComplete' | 'removeOnFail'>;
}
type QueueCatalog = Record<string, QueueDefinition>;

const DAY_S = 24 * 3600;

/**
 * Retention keeps Redis memory bounded: finished jobs are kept long enough to answer `GET /jobs/:id`
 * and to debug from Bull Board, then trimmed by age and count. Dead letters are kept until replayed
 * or purged by an operator, so they are not trimmed here.
 */
const retention = {
  removeOnComplete: { age: DAY_S, count: 100_000 },
  removeOnFail: { age: 7 * DAY_S, count: 100_000 },
} satisfies QueueDefinition['retention'];

/** Exponential backoff from 1 s with ±50% jitter, so retries of one outage spread out instead of stampeding. */
const backoff = { type: 'exponential', delay: 1000, jitter: 0.5 } as const;

/** Every queue the system uses, declared once. Queue-name literals live only in this file. */
export const queueCatalog = {
  'link-contact': {
    schema: LinkContactJob,
    result: LinkContactResult,
    jobOptions: { backoff },
    retention,
  },
  'notify-dms': {
    schema: NotifyDmsJob,
    result: NotifyDmsResult,
    jobOptions: { backoff },
    retention,
  },
  'dead-letter': {
    schema: DeadLetterJob,
    result: z.object({ queue: z.string(), jobId: z.string() }),
    // A letter is parked as a failed job (kept until replayed or purged); "Retry" on it, from Bull
    // Board or anywhere, runs it once more, which replays it onto its origin queue and removes it.
    jobOptions: { removeOnComplete: true, removeOnFail: false },
  },
} as const satisfies QueueCatalog;

export type QueueName = keyof typeof queueCatalog;
/** Queues whose jobs do the product's work, with retries and dead-lettering (not the dead letters). */
export type WorkQueueName = Exclude<QueueName, 'dead-letter'>;
export type JobData<Q extends QueueName> = z.output<(typeof queueCatalog)[Q]['schema']>;
export type JobResult<Q extends QueueName> = z.output<(typeof queueCatalog)[Q]['result']>;

export const QUEUE_NAMES = Object.keys(queueCatalog) as QueueName[];
export const WORK_QUEUE_NAMES = QUEUE_NAMES.filter((q): q is WorkQueueName => q !== 'dead-letter');
/** Names to use in code, so queue-name literals appear only in this file. */
export const QUEUE = {
  linkContact: 'link-contact',
  notifyDms: 'notify-dms',
  deadLetter: 'dead-letter',
} as const satisfies Record<string, QueueName>;

export function isWorkQueueName(name: string): name is WorkQueueName {
  return (WORK_QUEUE_NAMES as string[]).includes(name);
}

export type Tier = 'live' | 'bulk';

/**
 * The link-contact queue's BullMQ priorities (lower first; BullMQ allows 1 to 2^21 − 1, and a job
 * with no priority goes before all of them). Each tier is a band, live below bulk, so a dealer's
 * seed never delays what is happening now; within a band the priority is the job's fair-order tag
 * (`fair-order.ts`). `front` is where a job that already ran re-enters; `last` is where a job added
 * without a tag waits, and where tags end.
 */
export const TIER_BANDS = {
  live: { front: 1, last: 2 ** 20 - 1 },
  bulk: { front: 2 ** 20, last: 2 ** 21 - 1 },
} as const satisfies Record<Tier, { front: number; last: number }>;

/** The tier of a link-contact job, from the priority it was added with. */
export function tierOfPriority(priority: number | undefined): Tier {
  return priority !== undefined && priority >= TIER_BANDS.bulk.front ? 'bulk' : 'live';
}

/** The options a producer passes for a job on `queue`. */
export function jobOptionsFor(queue: QueueName, attempts: number): JobsOptions {
  return { ...queueCatalog[queue].jobOptions, attempts };
}
