import type { Logger, WorkerMetrics } from '@contact-linker/observability';
import {
  moveToDeadLetter,
  QUEUE,
  type QueueSet,
  queueCatalog,
  type RedisClient,
  WORK_QUEUE_NAMES,
  type WorkQueueName,
} from '@contact-linker/queues';
import { UnrecoverableError, Worker } from 'bullmq';
import type { ProcessorTable } from './processors/index.ts';
import { withRetryPolicy } from './retry-policy.ts';

export interface WorkerDeps {
  /** A `worker`-role connection; BullMQ duplicates it for its blocking reads. */
  connection: RedisClient;
  queues: QueueSet;
  prefix: string;
  processors: ProcessorTable;
  logger: Logger;
  /** @defaultValue 16 */
  concurrency?: number;
  /** How long `close()` waits for in-flight jobs before abandoning them to stall recovery. @defaultValue 25_000 */
  drainTimeoutMs?: number;
  /**
   * How long a job's lock lives without renewal (BullMQ renews it at half-time while the job runs).
   * With `stalledIntervalMs` it bounds how soon the jobs of a killed worker run again elsewhere.
   * @defaultValue 15_000
   */
  lockDurationMs?: number;
  /** @defaultValue 5_000 */
  stalledIntervalMs?: number;
  metrics?: Pick<WorkerMetrics, 'observeJob' | 'observePause'>;
}

export interface RunningWorkers {
  workers: Worker[];
  close(): Promise<void>;
}

/**
 * Starts one BullMQ worker per work queue. Returns `close()`, which stops taking jobs, waits for
 * in-flight ones up to `drainTimeoutMs`, then closes.
 */
export function startWorkers({
  connection,
  queues,
  prefix,
  processors,
  logger,
  concurrency = 16,
  drainTimeoutMs = 25_000,
  lockDurationMs = 15_000,
  stalledIntervalMs = 5_000,
  metrics,
}: WorkerDeps): RunningWorkers {
  const workers = WORK_QUEUE_NAMES.map((queueName: WorkQueueName) => {
    const log = logger.child({ queue: queueName });
    const processor = withRetryPolicy(processors[queueName], {
      queueName,
      queue: queues[queueName],
      deadLetters: queues[QUEUE.deadLetter],
      logger: log,
      onRun: (outcome, seconds) => {
        metrics?.observeJob(queueName, outcome, seconds);
        if (outcome === 'rate_limited') metrics?.observePause(queueName);
      },
    });
    const worker = new Worker(queueName, processor, {
      connection,
      prefix,
      concurrency,
      lockDuration: lockDurationMs,
      stalledInterval: stalledIntervalMs,
      // A job whose worker died is picked up again; only a job that keeps killing workers fails.
      maxStalledCount: 5,
      ...queueCatalog[queueName].retention,
      // BullMQ honours a queue-wide pause (`queue.rateLimit`) only when a limiter is set; this one
      // never limits by itself.
      limiter: { max: Number.MAX_SAFE_INTEGER, duration: 1000 },
    });
    worker.on('failed', (job, error) => {
      if (!job) return;
      const final =
        error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      // Jobs failed by BullMQ itself (stalled too often) never ran our policy; the dead letter's
      // id is derived from the job, so this is a no-op when the policy already wrote it.
      if (final) {
        moveToDeadLetter(
          queues[QUEUE.deadLetter],
          queueName,
          job,
          error.message,
          job.attemptsMade,
        ).catch((err: unknown) => log.error({ err, jobId: job.id }, 'could not dead-letter'));
      }
    });
    worker.on('error', (err) => log.error({ err }, 'worker error'));
    return worker;
  });

  // Dead letters get their own small worker: no retry policy (a letter is never dead-lettered
  // again), one at a time, since parking and replaying are single Redis round trips.
  const deadLetterWorker = new Worker(QUEUE.deadLetter, processors[QUEUE.deadLetter], {
    connection,
    prefix,
    concurrency: 1,
    lockDuration: lockDurationMs,
    stalledInterval: stalledIntervalMs,
  });
  deadLetterWorker.on('error', (err) =>
    logger.error({ err, queue: QUEUE.deadLetter }, 'worker error'),
  );
  workers.push(deadLetterWorker);

  return {
    workers,
    async close() {
      let timer: NodeJS.Timeout | undefined;
      const graceful = Promise.all(workers.map((w) => w.close()));
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), drainTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        logger.warn(
          { drainTimeoutMs },
          'in-flight jobs did not finish; leaving them to stall recovery',
        );
        await Promise.all(workers.map((w) => w.close(true)));
      }
    },
  };
}
