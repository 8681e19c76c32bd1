import { DeadLetterJob } from '@contact-linker/contracts';
import { type QueueSet, replayLetter } from '@contact-linker/queues';
import { type Job, UnrecoverableError } from 'bullmq';

export interface DeadLetterDeps {
  queues: QueueSet;
}

/**
 * Parks and replays dead letters. A new letter runs once and is failed on purpose with its original
 * reason, so it waits in the dead-letter queue's failed list, where Bull Board shows it with a
 * "Retry" button. A retried letter has one failed attempt behind it (BullMQ counts failures, not
 * stalls, in `attemptsMade`), and that second run replays it onto its origin queue; completing
 * removes it.
 */
export function createDeadLetterProcessor({ queues }: DeadLetterDeps) {
  return async (job: Job<DeadLetterJob>): Promise<{ queue: string; jobId: string }> => {
    const letter = DeadLetterJob.parse(job.data);
    if (job.attemptsMade === 0) throw new UnrecoverableError(letter.failedReason);
    const replayed = await replayLetter(queues, letter);
    if (!replayed) throw new UnrecoverableError(`unknown origin queue ${letter.queue}`);
    return replayed;
  };
}
