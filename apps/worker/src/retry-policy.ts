import { PermanentError, RateLimitedError } from '@contact-linker/contracts';
import type { Logger } from '@contact-linker/observability';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { ZodError } from 'zod';
import type { JobContext } from './processors/index.ts';

/** True while running the job's final attempt (BullMQ counts `attemptsMade` after each failure). */
export function isLastAttempt(job: Pick<Job, 'attemptsMade' | 'opts'>): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

const outcomeOf = (result: unknown): string =>
  typeof result === 'object' && result !== null && 'outcome' in result
    ? String((result as { outcome: unknown }).outcome)
    : 'completed';

export interface RetryPolicyOptions {
  queueName: string;
  /** Each job gets `logger.child({ queue, jobId })`. */
  logger: Logger;
  /** Called as each run starts. */
  onStart?: (job: Job) => void;
  /** Called before a job is sent back to wait for another run (a retry, or a rate-limit pause). */
  beforeRunAgain?: (job: Job) => Promise<void>;
  /** Reports how each run ended (the result's `outcome`, or retry / dead_lettered / rate_limited). */
  onRun?: (outcome: string, seconds: number) => void;
}

/**
 * Applies the contract's retry rules around a processor, deciding by error class only:
 * - RateLimitedError (the Web1on1 budget is paused after a 429 or exhausted, or the DMS answered
 *   429): the job waits as delayed until `retryAfterMs` has passed, without spending an attempt.
 *   The pause itself belongs to the budget, which every Web1on1 request passes;
 * - PermanentError or invalid job data: fail now, no retry;
 * - anything else: retry with the queue's backoff; the last attempt fails the job.
 * A job that fails for good lands in BullMQ's failed set, from where `startDeadLetterMover`
 * (`@contact-linker/queues`) moves it to the dead-letter queue.
 */
export function withRetryPolicy<D, R>(
  processor: (job: Job<D, R>, context: JobContext) => Promise<R>,
  { queueName, logger, onStart, beforeRunAgain, onRun }: RetryPolicyOptions,
) {
  // Where the next run waits is an optimisation; it must never change the outcome.
  const runAgainLater = async (job: Job, log: Logger) => {
    await beforeRunAgain?.(job).catch((err: unknown) =>
      log.warn({ err }, 'could not requeue at the front'),
    );
  };
  return async (job: Job<D, R>, token?: string): Promise<R> => {
    onStart?.(job);
    const log = logger.child({ queue: queueName, jobId: job.id });
    const started = performance.now();
    const report = (outcome: string) => onRun?.(outcome, (performance.now() - started) / 1000);
    try {
      const result = await processor(job, { token, log });
      report(outcomeOf(result));
      return result;
    } catch (error) {
      if (error instanceof RateLimitedError) {
        log.warn({ retryAfterMs: error.retryAfterMs }, 'rate limited; waiting');
        await runAgainLater(job, log);
        await job.moveToDelayed(Date.now() + error.retryAfterMs, token);
        report('rate_limited');
        throw new DelayedError();
      }
      const permanent = error instanceof PermanentError || error instanceof ZodError;
      const final = permanent || isLastAttempt(job);
      report(final ? 'dead_lettered' : 'retry');
      if (!final) {
        await runAgainLater(job, log);
        throw error;
      }
      // Named, so the letter says which class of failure ended the job.
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      log.warn({ reason }, 'dead-lettered');
      throw new UnrecoverableError(reason);
    }
  };
}
