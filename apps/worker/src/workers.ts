import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, WorkerMetrics } from '@contact-linker/observability';
import {
  type FairOrder,
  QUEUE,
  queueCatalog,
  type RedisClient,
  tierOfPriority,
  WORK_QUEUE_NAMES,
  type WorkQueueName,
} from '@contact-linker/queues';
import { type Job, type Telemetry, Worker } from 'bullmq';
import type { JobContext, ProcessorTable } from './processors/index.ts';
import { withRetryPolicy } from './retry-policy.ts';

export interface WorkerDeps {
  /** A `worker`-role connection; BullMQ duplicates it for its blocking reads. */
  connection: RedisClient;
  prefix: string;
  processors: ProcessorTable;
  /** Link-contact jobs that run again (a retry, a pause) re-enter at the front of their tier. */
  fairOrder: Pick<FairOrder, 'toFront'>;
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
  metrics?: Pick<WorkerMetrics, 'observeJob' | 'observePause' | 'observeLinkWait'>;
  /**
   * BullMQ's tracing (`startTracing(…).bullmq`): each job runs in a `process <queue>` span, the
   * child of the span that queued it. @defaultValue none
   */
  telemetry?: Telemetry;
}

export interface RunningWorkers {
  /** The work queues' workers, whose final failures the dead-letter mover moves. */
  workers: Worker[];
  close(): Promise<void>;
}

/**
 * Starts one BullMQ worker per work queue, each job under the retry policy with a logger of its
 * own, and a small worker that parks and replays dead letters. `close()` stops taking jobs, waits for in-flight ones up to `drainTimeoutMs`, then
 * closes.
 */
export function startWorkers({
  connection,
  prefix,
  processors,
  fairOrder,
  logger,
  concurrency = 16,
  drainTimeoutMs = 25_000,
  lockDurationMs = 15_000,
  stalledIntervalMs = 5_000,
  metrics,
  telemetry,
}: WorkerDeps): RunningWorkers {
  const common = {
    connection,
    prefix,
    lockDuration: lockDurationMs,
    stalledInterval: stalledIntervalMs,
    telemetry,
  };
  const workers = WORK_QUEUE_NAMES.map((queueName: WorkQueueName) => {
    // The table is typed per queue; the policy is the same for every queue.
    const process = processors[queueName] as (job: Job, context: JobContext) => Promise<unknown>;
    const policy = withRetryPolicy(process, {
      queueName,
      logger,
      // How long accepted DMS events wait for a worker, live and bulk apart: the first start only
      // (a retry's or a stalled re-run's wait is backoff or recovery, not queueing).
      ...(queueName === QUEUE.linkContact && metrics
        ? {
            onStart: (job: Job) => {
              if ((job.attemptsStarted ?? 1) > 1) return;
              const tier = tierOfPriority(job.opts.priority);
              metrics.observeLinkWait(tier, Math.max(0, Date.now() - job.timestamp) / 1000);
            },
          }
        : {}),
      ...(queueName === QUEUE.linkContact ? { beforeRunAgain: fairOrder.toFront } : {}),
      onRun: (outcome, seconds) => {
        metrics?.observeJob(queueName, outcome, seconds);
        if (outcome === 'rate_limited') metrics?.observePause(queueName);
      },
    });
    const worker = new Worker(queueName, policy, {
      ...common,
      concurrency,
      // A job whose worker died is picked up again; only a job that keeps killing workers fails.
      maxStalledCount: 5,
      ...queueCatalog[queueName].retention,
    });
    worker.on('error', (err) => logger.error({ err, queue: queueName }, 'worker error'));
    return worker;
  });

  // One at a time: parking and replaying are single Redis round trips.
  const parkOrReplay = processors[QUEUE.deadLetter];
  const deadLetterWorker = new Worker(
    QUEUE.deadLetter,
    (job: Job, token?: string) =>
      parkOrReplay(job, { token, log: logger.child({ queue: QUEUE.deadLetter, jobId: job.id }) }),
    { ...common, concurrency: 1 },
  );
  deadLetterWorker.on('error', (err) =>
    logger.error({ err, queue: QUEUE.deadLetter }, 'worker error'),
  );
  const all = [...workers, deadLetterWorker];

  return {
    workers,
    async close() {
      const drained = await Promise.race([
        Promise.all(all.map((w) => w.close())).then(() => true),
        sleep(drainTimeoutMs, false, { ref: false }),
      ]);
      if (!drained) {
        logger.warn(
          { drainTimeoutMs },
          'in-flight jobs did not finish; leaving them to stall recovery',
        );
        await Promise.all(all.map((w) => w.close(true)));
      }
    },
  };
}
