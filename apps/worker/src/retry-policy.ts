import { PermanentError, RateLimitedError } from '@contact-linker/contracts';
import type { Logger } from '@contact-linker/observability';
import {
  type DEAD_LETTER_QUEUE,
  deadLetterId,
  moveToDeadLetter,
  type TypedQueue,
  type WorkQueueName,
} from '@contact-linker/queues';
import { type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import { ZodError } from 'zod';

/** True while running the job's final attempt (BullMQ counts `attemptsMade` after each failure). */
export function isLastAttempt(job: Pick<Job, 'attemptsMade' | 'opts'>): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

const outcomeOf = (result: unknown): string =>
  typeof result === 'object' && result !== null && 'outcome' in result
    ? String((result as { outcome: unknown }).outcome)
    : 'completed';

export interface RetryPolicyDeps {
  queueName: WorkQueueName;
  /** The job's own queue, paused as a whole when the remote side answers 429. */
  queue: Queue;
  deadLetters: TypedQueue<typeof DEAD_LETTER_QUEUE>;
  logger: Logger;
  /** Reports how each run ended (the result's `outcome`, or retry / dead_lettered / rate_limited). */
  onRun?: (outcome: string, seconds: number) => void;
}

/**
 * Applies the contract's retry rules around a processor, deciding by error class only:
 * - RateLimitedError: pause the whole queue for `retryAfterMs` (every worker process sees the same
 *   Redis key) and put the job back without spending an attempt;
 * - PermanentError or invalid job data: dead-letter now, no retry;
 * - anything else: retry with the queue's backoff, dead-lettering on the final attempt.
 * The dead letter is written before the job is failed, under an id derived from the job, so a worker
 * killed in between neither loses it nor writes it twice.
 */
export function withRetryPolicy<D, R>(
  processor: (job: Job<D, R>) => Promise<R>,
  { queueName, queue, deadLetters, logger, onRun }: RetryPolicyDeps,
) {
  return async (job: Job<D, R>): Promise<R> => {
    const started = performance.now();
    const report = (outcome: string) => onRun?.(outcome, (performance.now() - started) / 1000);
    try {
      const result = await processor(job);
      report(outcomeOf(result));
      // A start that left no failure behind means a worker died mid-run; if that run had already
      // written the dead letter (final attempt, killed before failing the job), this success voids it.
      if ((job.attemptsStarted ?? 0) > job.attemptsMade + 1) {
        await deadLetters.remove(deadLetterId(queueName, String(job.id)));
      }
      return result;
    } catch (error) {
      if (error instanceof RateLimitedError) {
        logger.warn(
          { queue: queueName, retryAfterMs: error.retryAfterMs },
          'rate limited; pausing',
        );
        await queue.rateLimit(error.retryAfterMs);
        report('rate_limited');
        throw Worker.RateLimitError();
      }
      const permanent = error instanceof PermanentError || error instanceof ZodError;
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      if (permanent || isLastAttempt(job)) {
        await moveToDeadLetter(deadLetters, queueName, job, message, job.attemptsMade + 1);
        logger.warn({ queue: queueName, jobId: job.id, reason: message }, 'dead-lettered');
      }
      report(permanent || isLastAttempt(job) ? 'dead_lettered' : 'retry');
      if (permanent) throw new UnrecoverableError(message);
      throw error;
    }
  };
}
