import type { WorkerConfig } from '@contact-linker/config';
import { buildDmsContactUrl } from '@contact-linker/contracts';
import { createDmsNotifier } from '@contact-linker/dms';
import { createLinkMemory } from '@contact-linker/link-memory';
import type { Logger, WorkerMetrics } from '@contact-linker/observability';
import {
  closeQueues,
  createFairOrder,
  createPipelinedDuplicate,
  createQueues,
  notifyDmsEntry,
  QUEUE,
  type RedisClient,
  startDeadLetterMover,
} from '@contact-linker/queues';
import {
  createRedisTokenStore,
  createWeb1on1Budget,
  createWeb1on1Client,
  type Web1on1Client,
} from '@contact-linker/web1on1';
import type { Telemetry } from 'bullmq';
import { createContactGuard } from './contact-guard.ts';
import { createContactObserver } from './contact-observer.ts';
import { createNotifyState } from './notify-state.ts';
import { createProcessors } from './processors/index.ts';
import { startWorkers } from './workers.ts';

export type WorkerRuntimeConfig = Pick<
  WorkerConfig,
  | 'queuePrefix'
  | 'web1on1'
  | 'link'
  | 'notify'
  | 'concurrency'
  | 'jobAttempts'
  | 'notFoundAttempts'
  | 'linkMemoryTtlMs'
  | 'defaultPhoneCountry'
>;

export interface WorkerRuntimeDeps {
  config: WorkerRuntimeConfig;
  /** A `worker`-role connection, owned by the caller. */
  connection: RedisClient;
  logger: Logger;
  /**
   * @defaultValue a chipchat client built from `config.web1on1`, gated by the shared request budget
   * (which also owns the pause after a 429), with the Redis token store
   */
  web1on1?: Web1on1Client;
  /** @defaultValue 25_000 */
  drainTimeoutMs?: number;
  /** @defaultValue 60_000 */
  deadLetterSweepMs?: number;
  /** How often expired link memory is deleted. @defaultValue 3_600_000 */
  memorySweepMs?: number;
  metrics?: WorkerMetrics;
  /**
   * BullMQ's tracing for every queue and worker (`startTracing(…).bullmq`); the Web1on1 and DMS
   * requests are traced by the HTTP instrumentations, in the job's span. @defaultValue none
   */
  telemetry?: Telemetry;
}

/**
 * Everything a worker process runs, built from its config: queues, clients, processors and BullMQ
 * workers. main.ts adds only the process concerns (env, signals, the ops listener).
 */
export function createWorkerRuntime({
  config,
  connection,
  logger,
  web1on1,
  drainTimeoutMs,
  deadLetterSweepMs,
  memorySweepMs = 3_600_000,
  metrics,
  telemetry,
}: WorkerRuntimeDeps) {
  // BullMQ works on `connection`; the product's own scripts and keys go through this one.
  const pipelined = createPipelinedDuplicate(connection);
  const budget = createWeb1on1Budget({
    redis: pipelined,
    prefix: config.queuePrefix,
    max: config.web1on1.rateLimit.max,
    durationMs: config.web1on1.rateLimit.durationMs,
    ...(metrics ? { onWait: metrics.observeBudgetWait } : {}),
  });
  const client =
    web1on1 ??
    createWeb1on1Client({
      host: config.web1on1.apiUrl,
      token: config.web1on1.token,
      ...(config.web1on1.refreshToken === undefined
        ? {}
        : { refreshToken: config.web1on1.refreshToken, email: config.web1on1.botEmail }),
      tokenStore: createRedisTokenStore({ redis: pipelined, prefix: config.queuePrefix }),
      budget,
      ...(metrics
        ? { onRequest: (e) => metrics.observeWeb1on1(e.operation, e.status, e.durationMs) }
        : {}),
    });
  const queues = createQueues(connection, config.queuePrefix, { telemetry });
  const fairOrder = createFairOrder({ queue: queues[QUEUE.linkContact], redis: pipelined });
  const notifyState = createNotifyState(pipelined, config.queuePrefix);
  const dms = config.notify
    ? createDmsNotifier({
        ...config.notify,
        ...(metrics ? { onRequest: (e) => metrics.observeDms(e.status, e.durationMs) } : {}),
      })
    : undefined;
  const notifyQueue = queues[QUEUE.notifyDms];
  const memory = createLinkMemory({
    redis: pipelined,
    prefix: config.queuePrefix,
    ttlMs: config.linkMemoryTtlMs,
    linkUrl: (dmsContactId) => buildDmsContactUrl(config.link.urlTemplate, dmsContactId),
  });

  const processors = createProcessors({
    linkContact: {
      web1on1: client,
      contactGuard: createContactGuard({ redis: pipelined, prefix: config.queuePrefix }),
      link: config.link,
      notifyState,
      memory,
      notFoundAttempts: config.notFoundAttempts,
      ...(metrics ? { onLinked: metrics.observeLink } : {}),
      ...(dms
        ? {
            notifyLinked: async (job, jobId) => {
              const entry = notifyDmsEntry(job, { attempts: config.jobAttempts, jobId });
              await notifyQueue.add(entry.name, entry.data, entry.opts);
            },
          }
        : {}),
    },
    notifyDms: {
      ...(dms ? { dms } : {}),
      appUrl: config.web1on1.appUrl,
      notifyState,
      observeContact: createContactObserver({
        memory,
        linkJobs: fairOrder,
        attempts: config.jobAttempts,
        defaultPhoneCountry: config.defaultPhoneCountry,
      }),
      forgetOrganization: (organization) => memory.forgetOrganization(organization),
    },
    deadLetter: { queues },
  });

  const workers = startWorkers({
    connection,
    prefix: config.queuePrefix,
    processors,
    fairOrder,
    logger,
    concurrency: config.concurrency,
    ...(drainTimeoutMs === undefined ? {} : { drainTimeoutMs }),
    ...(metrics ? { metrics } : {}),
    telemetry,
  });
  // Reads ignore expired memory entries; this deletes them. Every worker sweeps (it is idempotent),
  // at a random offset so that several workers rarely sweep at once.
  const memorySweep = setInterval(
    () => {
      memory.sweep().catch((err: unknown) => logger.warn({ err }, 'link memory sweep failed'));
    },
    memorySweepMs + Math.floor(Math.random() * 60_000),
  );
  memorySweep.unref();
  // Forgets organizations whose link-contact jobs have all started (see FairOrder.sweep).
  const fairSweep = setInterval(() => {
    fairOrder.sweep().catch((err: unknown) => logger.warn({ err }, 'fair order sweep failed'));
  }, 10_000);
  fairSweep.unref();
  // Final failures wait in BullMQ's failed sets; this moves them to the dead-letter queue.
  const deadLetters = startDeadLetterMover({
    queues,
    workers: workers.workers,
    ...(deadLetterSweepMs === undefined ? {} : { sweepIntervalMs: deadLetterSweepMs }),
    onError: (err) => logger.warn({ err }, 'dead-letter move failed; the next sweep retries it'),
    onSwept: (moved) => logger.warn({ moved }, 'moved dead letters a stopped worker left behind'),
  });

  return {
    queues,
    workers: workers.workers,
    async close() {
      deadLetters.close();
      clearInterval(memorySweep);
      clearInterval(fairSweep);
      await workers.close();
      await closeQueues(queues);
      await pipelined.quit().catch(() => pipelined.disconnect());
    },
  };
}

export type WorkerRuntime = ReturnType<typeof createWorkerRuntime>;
