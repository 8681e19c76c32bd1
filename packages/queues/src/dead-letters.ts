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
  await dlq.add(job.name, letter, {
    ...jobOptionsFor(DEAD_LETTER_QUEUE, 1),
    jobId: deadLetterId(queue, jobId),
  });
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

/**
 * Every state a letter can be in until it is replayed: just written (waiting), parked by the
 * dead-letter worker (failed), or on its way back (active).
 */
const LETTER_STATES = ['failed', 'waiting', 'prioritized', 'delayed', 'active'] as const;

async function allLetters(
  dlq: TypedQueue<typeof DEAD_LETTER_QUEUE>,
): Promise<Job<DeadLetterJob>[]> {
  const jobs = await dlq.getJobs([...LETTER_STATES], 0, -1, true);
  return jobs.filter((job): job is Job<DeadLetterJob> => job !== undefined);
}

/** Dead letters, oldest failure first. */
export async function listDeadLetters(
  dlq: TypedQueue<typeof DEAD_LETTER_QUEUE>,
): Promise<DeadLetterView[]> {
  return (await allLetters(dlq))
    .map(toDeadLetterView)
    .sort((a, b) => a.failedAt.localeCompare(b.failedAt) || a.id.localeCompare(b.id));
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
/**
 * Puts a letter's job back on its origin queue under its original id: retried in place when the
 * origin job is still kept as failed (so `GET /jobs/:id` follows it), re-added from the letter when
 * retention already removed it. An origin job that is no longer failed counts as replayed, so
 * repeating this after a crash is safe.
 */
export async function replayLetter(
  queues: QueueSet,
  letter: DeadLetterJob,
): Promise<{ queue: WorkQueueName; jobId: string } | undefined> {
  const { queue, jobId, name, data, attempts } = letter;
  if (!isWorkQueueName(queue)) return undefined;
  const origin = queues[queue];
  const existing = await origin.getJob(jobId);
  if (existing === undefined) {
    // The letter holds data that passed the catalog schema when it was first enqueued. BullMQ
    // reserves integer ids for its own counter, so only a custom id (all of ours) is reused.
    const reuseId = !/^\d+$/.test(jobId);
    const added = await origin.add(name, data as never, {
      ...jobOptionsFor(queue, attempts),
      ...(reuseId ? { jobId } : {}),
    });
    return { queue, jobId: String(added.id) };
  }
  if ((await existing.getState()) === 'failed') {
    await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  }
  return { queue, jobId };
}

/** Replays one dead letter by id and removes it (the admin API and the CLI). */
export async function replayDeadLetter(queues: QueueSet, id: string): Promise<ReplayOutcome> {
  const letter = (await queues[DEAD_LETTER_QUEUE].getJob(id)) as Job<DeadLetterJob> | undefined;
  if (!letter) return { replayed: false, reason: 'not_found' };
  const replayed = await replayLetter(queues, letter.data);
  if (!replayed) return { replayed: false, reason: 'unknown_queue' };
  await letter.remove();
  return { replayed: true, ...replayed };
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
    const present = (await allLetters(dlq)).slice(0, 500);
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
