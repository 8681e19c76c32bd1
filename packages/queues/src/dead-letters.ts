/**
 * Dead letters, every step of them in one place. A work-queue job that fails for good (a permanent
 * error, or its last attempt) simply fails: BullMQ's failed set is the inbox. One idempotent step,
 * `moveToDeadLetter`, turns a failed job into a letter in the dead-letter queue under an id derived
 * from the job, then removes the failed job. It runs from the workers' `failed` event and from a
 * sweep of the failed sets (at start and on a timer, for a worker killed between the two), so a
 * letter is written exactly once whatever dies when, and the sweep costs only the jobs not yet moved.
 *
 * In the dead-letter queue a letter runs once and is failed on purpose, so it waits in that queue's
 * failed list, where Bull Board shows it with a "Retry" button; that retry, the admin API and the CLI
 * all replay it onto its origin queue under its original job id, and remove it.
 */
import type { DeadLetterJob, DeadLetterSummary } from '@contact-linker/contracts';
import { type Job, UnrecoverableError, type Worker } from 'bullmq';
import {
  isWorkQueueName,
  jobOptionsFor,
  QUEUE,
  WORK_QUEUE_NAMES,
  type WorkQueueName,
} from './catalog.ts';
import type { QueueSet, TypedQueue } from './queues.ts';

type DeadLetterQueue = TypedQueue<typeof QUEUE.deadLetter>;

/**
 * A letter's id is derived from its origin, so moving the same failed job twice (from the `failed`
 * event and a sweep, or again after a crash) adds it once: BullMQ ignores an add whose id exists.
 */
export function deadLetterId(queue: WorkQueueName, jobId: string): string {
  return `${queue}-${jobId}`;
}

/**
 * The one step from a failed job to its letter: writes the letter (a no-op when it exists), then
 * removes the failed job, so each failed job is moved once and `GET /jobs/:id` finds the letter.
 * The job is removed only while it is still failed: one an operator replayed in the meantime (its
 * letter already gone) stays. `failedReason` and `attemptsMade` default to the job's own.
 */
export async function moveToDeadLetter(
  queues: QueueSet,
  queue: WorkQueueName,
  job: Job,
  failedReason: string = job.failedReason || 'failed',
  attemptsMade: number = job.attemptsMade,
): Promise<void> {
  const jobId = String(job.id);
  const letter: DeadLetterJob = {
    queue,
    name: job.name,
    jobId,
    data: job.data,
    failedReason,
    attemptsMade,
    attempts: job.opts.attempts ?? Math.max(1, attemptsMade),
    failedAt: new Date(job.finishedOn ?? Date.now()).toISOString(),
    createdAt: new Date(job.timestamp).toISOString(),
  };
  await queues[QUEUE.deadLetter].add(job.name, letter, {
    ...jobOptionsFor(QUEUE.deadLetter, 1),
    jobId: deadLetterId(queue, jobId),
  });
  if ((await queues[queue].getJobState(jobId)) === 'failed') await queues[queue].remove(jobId);
}

/**
 * Moves every job still in a work queue's failed set: the ones whose worker died between failing
 * them and moving them. Every job in a failed set failed for good (retries wait as delayed), and
 * each is removed once moved, so this reads only what is left to do.
 * @returns how many jobs were moved
 */
export async function sweepFailedJobs(
  queues: QueueSet,
  { pageSize = 100 }: { pageSize?: number } = {},
): Promise<number> {
  let moved = 0;
  for (const queue of WORK_QUEUE_NAMES) {
    for (let previous = ''; ; ) {
      const failed = (await queues[queue].getFailed(0, pageSize - 1)).filter(
        (job): job is Job => job?.id !== undefined,
      );
      // Moved jobs leave the set; the same page twice means none of it could be moved.
      const ids = failed.map((job) => job.id).join(',');
      if (failed.length === 0 || ids === previous) break;
      previous = ids;
      for (const job of failed) await moveToDeadLetter(queues, queue, job);
      moved += failed.length;
    }
  }
  return moved;
}

export interface DeadLetterMoverOptions {
  queues: QueueSet;
  /** The work queues' workers, whose final failures are moved as they happen. */
  workers: readonly Worker[];
  /** @defaultValue 60_000 */
  sweepIntervalMs?: number;
  /** A move or sweep that failed (Redis away); the next sweep takes the job again. */
  onError?: (err: unknown) => void;
  /** Jobs moved by a sweep: a worker died before it could move them. */
  onSwept?: (moved: number) => void;
}

/**
 * Moves each final failure of `workers` as it happens, and sweeps the failed sets at start and
 * every `sweepIntervalMs` for the moves a dead worker left undone. `close()` stops the sweeps.
 */
export function startDeadLetterMover({
  queues,
  workers,
  sweepIntervalMs = 60_000,
  onError = () => {},
  onSwept = () => {},
}: DeadLetterMoverOptions): { close(): void } {
  for (const worker of workers) {
    const queue = worker.name;
    if (!isWorkQueueName(queue)) continue;
    worker.on('failed', (job) => {
      if (job?.id === undefined) return;
      // The event fires for every failed attempt; only a job left in the failed set failed for good.
      void queues[queue]
        .getJobState(job.id)
        .then((state) => (state === 'failed' ? moveToDeadLetter(queues, queue, job) : undefined))
        .catch(onError);
    });
  }
  const sweep = () =>
    sweepFailedJobs(queues).then((moved) => {
      if (moved > 0) onSwept(moved);
    }, onError);
  void sweep();
  const timer = setInterval(sweep, sweepIntervalMs);
  return { close: () => clearInterval(timer) };
}

function summaryOf(job: Job<DeadLetterJob>): DeadLetterSummary {
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
 * Every state a letter can be in until it is replayed: just written (waiting), parked (failed), or
 * on its way back (active).
 */
const LETTER_STATES = ['failed', 'waiting', 'prioritized', 'delayed', 'active'] as const;

async function allLetters(dlq: DeadLetterQueue): Promise<Job<DeadLetterJob>[]> {
  const jobs = await dlq.getJobs([...LETTER_STATES], 0, -1, true);
  return jobs.filter((job): job is Job<DeadLetterJob> => job !== undefined);
}

/** Dead letters, oldest failure first. */
export async function listDeadLetters(dlq: DeadLetterQueue): Promise<DeadLetterSummary[]> {
  return (await allLetters(dlq))
    .map(summaryOf)
    .sort((a, b) => a.failedAt.localeCompare(b.failedAt) || a.id.localeCompare(b.id));
}

export type ReplayOutcome =
  | { replayed: true; queue: WorkQueueName; jobId: string }
  | { replayed: false; reason: 'not_found' | 'unknown_queue' };

/**
 * Puts a letter's job back on its origin queue under its original id: re-added from the letter,
 * or retried in place when the origin job is still failed (its move was cut short), so
 * `GET /jobs/:id` follows it. An origin job in any other state counts as replayed, so repeating this
 * after a crash is safe.
 */
async function replayOnOrigin(
  queues: QueueSet,
  { queue, jobId, name, data, attempts }: DeadLetterJob,
): Promise<{ queue: WorkQueueName; jobId: string } | undefined> {
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
  const letter = (await queues[QUEUE.deadLetter].getJob(id)) as Job<DeadLetterJob> | undefined;
  if (!letter) return { replayed: false, reason: 'not_found' };
  const replayed = await replayOnOrigin(queues, letter.data);
  if (!replayed) return { replayed: false, reason: 'unknown_queue' };
  await letter.remove();
  return { replayed: true, ...replayed };
}

/**
 * The dead-letter queue's processor. A new letter is failed on purpose with its original reason,
 * which parks it in the failed list. A letter retried from there (Bull Board's "Retry") has one
 * failed attempt behind it (BullMQ counts failures, not stalls, in `attemptsMade`), and that run
 * replays it; completing removes it (the catalog's `removeOnComplete`).
 */
export function createDeadLetterProcessor(queues: QueueSet) {
  return async (job: Job<DeadLetterJob>): Promise<{ queue: string; jobId: string }> => {
    if (job.attemptsMade === 0) throw new UnrecoverableError(job.data.failedReason);
    const replayed = await replayOnOrigin(queues, job.data);
    if (!replayed) throw new UnrecoverableError(`unknown origin queue ${job.data.queue}`);
    return replayed;
  };
}

/**
 * Removes dead letters, and any failed origin job whose move was cut short (otherwise a sweep
 * would write its letter again). @returns how many letters were removed
 */
export async function purgeDeadLetters(queues: QueueSet): Promise<number> {
  const dlq = queues[QUEUE.deadLetter];
  let removed = 0;
  for (;;) {
    const present = (await allLetters(dlq)).slice(0, 500);
    if (present.length === 0) return removed;
    for (const letter of present) {
      const { queue, jobId } = letter.data;
      if (isWorkQueueName(queue) && (await queues[queue].getJobState(jobId)) === 'failed') {
        await queues[queue].remove(jobId);
      }
      await letter.remove();
      removed += 1;
    }
  }
}
