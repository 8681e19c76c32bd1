import type { DeadLetterJob } from '@contact-linker/contracts';
import type { Job } from 'bullmq';
import {
  DEAD_LETTER_QUEUE,
  isWorkQueueName,
  jobOptionsFor,
  WORK_QUEUE_NAMES,
  type WorkQueueName,
} from './catalog.ts';
import type { QueueSet, TypedQueue } from './queues.ts';

/**
 * A dead letter's id is derived from its origin, so moving the same failed job twice (a worker that
 * died between the move and acknowledging the failure, then retried) adds it once: BullMQ ignores an
 * add whose job id already exists.
 */
export function deadLetterId(queue: WorkQueueName, jobId: string): string {
  return `${queue}-${jobId}`;
}

/** What the admin API and the CLI show of one dead letter. */
export interface DeadLetterView {
  id: string;
  queue: string;
  name: string;
  failedReason: string;
  attemptsMade: number;
  failedAt: string;
}

export async function moveToDeadLetter(
  dlq: TypedQueue<typeof DEAD_LETTER_QUEUE>,
  queue: WorkQueueName,
  job: Job,
  failedReason: string,
  attemptsMade: number,
): Promise<void> {
  const jobId = String(job.id);
  const letter: DeadLetterJob = {
    queue,
    name: job.name,
    jobId,
    data: job.data,
    failedReason,
    attemptsMade,
    attempts: job.opts.attempts ?? attemptsMade,
    failedAt: new Date().toISOString(),
    createdAt: new Date(job.timestamp).toISOString(),
  };
  await dlq.add(job.name, letter, { jobId: deadLetterId(queue, jobId) });
}

export function toDeadLetterView(job: Job<DeadLetterJob>): DeadLetterView {
  return {
    id: String(job.id),
    queue: job.data.queue,
    name: job.data.name,
    failedReason: job.data.failedReason,
    attemptsMade: job.data.attemptsMade,
    failedAt: job.data.failedAt,
  };
}

/** Dead letters, oldest first. They sit in the dead-letter queue's wait list; nothing consumes them. */
export async function listDeadLetters(
  dlq: TypedQueue<typeof DEAD_LETTER_QUEUE>,
  { start = 0, end = -1 }: { start?: number; end?: number } = {},
): Promise<DeadLetterView[]> {
  const jobs = await dlq.getJobs(['waiting', 'prioritized', 'delayed'], start, end, true);
  return jobs.filter((job): job is Job<DeadLetterJob> => job !== undefined).map(toDeadLetterView);
}

export type ReplayOutcome =
  | { replayed: true; queue: WorkQueueName; jobId: string }
  | { replayed: false; reason: 'not_found' | 'unknown_queue' };

/**
 * Puts a dead letter back on its origin queue under its original job id, then removes the letter.
 * The origin job is retried in place when it is still kept as failed (so `GET /jobs/:id` follows it),
 * and re-added from the letter when retention already removed it. Safe to repeat after a crash: an
 * origin job that is no longer failed counts as replayed.
 */
export async function replayDeadLetter(queues: QueueSet, id: string): Promise<ReplayOutcome> {
  const letter = (await queues[DEAD_LETTER_QUEUE].getJob(id)) as Job<DeadLetterJob> | undefined;
  if (!letter) return { replayed: false, reason: 'not_found' };
  const { queue, jobId, name, data, attempts } = letter.data;
  if (!isWorkQueueName(queue)) return { replayed: false, reason: 'unknown_queue' };

  const origin = queues[queue];
  const existing = await origin.getJob(jobId);
  let replayedId = jobId;
  if (existing === undefined) {
    // The letter holds data that passed the catalog schema when it was first enqueued. BullMQ
    // reserves integer ids for its own counter, so only a custom id (all of ours) is reused.
    const reuseId = !/^\d+$/.test(jobId);
    const added = await origin.add(name, data as never, {
      ...jobOptionsFor(queue, attempts),
      ...(reuseId ? { jobId } : {}),
    });
    replayedId = String(added.id);
  } else if ((await existing.getState()) === 'failed') {
    await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  }
  await letter.remove();
  return { replayed: true, queue, jobId: replayedId };
}

/**
 * Writes the dead letter of every failed job that has none: jobs BullMQ failed on its own (stalled
 * too often), or whose worker died between failing the job and the `failed` event. Idempotent (the
 * letter id is derived from the job), so it is safe to run from every worker at start and on a timer.
 * @returns how many letters were written
 */
export async function reconcileDeadLetters(
  queues: QueueSet,
  { pageSize = 500 }: { pageSize?: number } = {},
): Promise<number> {
  const dlq = queues[DEAD_LETTER_QUEUE];
  let written = 0;
  for (const queue of WORK_QUEUE_NAMES) {
    for (let start = 0; ; start += pageSize) {
      const failed = await queues[queue].getFailed(start, start + pageSize - 1);
      for (const job of failed) {
        if (!job?.id) continue;
        if (await dlq.getJob(deadLetterId(queue, job.id))) continue;
        await moveToDeadLetter(dlq, queue, job, job.failedReason || 'failed', job.attemptsMade);
        written += 1;
      }
      if (failed.length < pageSize) break;
    }
  }
  return written;
}

/**
 * Removes dead letters and the failed origin jobs they stand for (otherwise the reconciler would
 * write the letters again). @returns how many letters were removed
 */
export async function purgeDeadLetters(queues: QueueSet): Promise<number> {
  const dlq = queues[DEAD_LETTER_QUEUE];
  let removed = 0;
  for (;;) {
    const letters = (await dlq.getJobs(['waiting', 'prioritized', 'delayed'], 0, 499)) as Array<
      Job<DeadLetterJob> | undefined
    >;
    const present = letters.filter((l): l is Job<DeadLetterJob> => l !== undefined);
    if (present.length === 0) return removed;
    for (const letter of present) {
      const { queue, jobId } = letter.data;
      if (isWorkQueueName(queue)) {
        const origin = await queues[queue].getJob(jobId);
        if (origin && (await origin.getState()) === 'failed') await origin.remove();
      }
      await letter.remove();
      removed += 1;
    }
  }
}
