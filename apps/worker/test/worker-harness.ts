import { randomUUID } from 'node:crypto';
import { createLogger, createWorkerMetrics } from '@contact-linker/observability';
import {
  createRedisConnection,
  deadLetterId,
  type JobData,
  type JobResult,
  jobOptionsFor,
  QUEUE,
  type QueueSet,
  type WorkQueueName,
} from '@contact-linker/queues';
import {
  type DmsSandbox,
  makeWebhookSecret,
  startDmsSandbox,
  startWeb1on1Sandbox,
  type Web1on1Sandbox,
  waitFor,
} from '@contact-linker/testkit';
import type { Job, Queue } from 'bullmq';
import { createWorkerRuntime, type WorkerRuntimeConfig } from '../src/runtime.ts';

export const ORG = 'org-test';
export const APP_URL = 'https://app.example.test';

/**
 * A worker runtime exactly as main.ts builds it (real chipchat client), against both sandboxes and
 * a real Redis, with a fast backoff so retry paths finish in milliseconds.
 */
export async function startWorkerStack({
  redisUrl,
  prefix,
  attempts = 3,
  notify = true,
  concurrency = 4,
  shared,
  clusterNodes,
  rateLimit = { max: 1000, durationMs: 1000 },
  notFoundAttempts = attempts,
  linkMemoryTtlMs = 30 * 86_400_000,
}: {
  redisUrl: string;
  prefix: string;
  attempts?: number;
  notify?: boolean;
  concurrency?: number;
  /** Sandboxes owned by the caller, for tests that run several worker stacks against one API. */
  shared?: { web1on1: Web1on1Sandbox; dms: DmsSandbox; secret: string };
  /** Connect to this Redis Cluster instead of `redisUrl`. */
  clusterNodes?: string[];
  /** @defaultValue no budget to speak of (1000/1s) */
  rateLimit?: { max: number; durationMs: number };
  /** @defaultValue `attempts` */
  notFoundAttempts?: number;
  /** @defaultValue 30 days */
  linkMemoryTtlMs?: number;
}) {
  const web1on1 = shared?.web1on1 ?? (await startWeb1on1Sandbox({ organizationId: ORG }));
  const secret = shared?.secret ?? makeWebhookSecret();
  const dms = shared?.dms ?? (await startDmsSandbox({ secret }));
  const connection = createRedisConnection(redisUrl, { role: 'worker', clusterNodes });
  const config: WorkerRuntimeConfig = {
    queuePrefix: prefix,
    web1on1: {
      apiUrl: web1on1.url,
      token: web1on1.issueToken(),
      refreshToken: web1on1.refreshToken,
      botEmail: web1on1.botEmail,
      appUrl: APP_URL,
      rateLimit,
    },
    link: {
      urlTemplate: 'https://dms.example.test/customer/{id}/',
      label: 'View in DMS',
      icon: 'https://dms.example.test/favicon.ico',
    },
    notify: notify ? { url: dms.url, secret } : undefined,
    concurrency,
    jobAttempts: attempts,
    notFoundAttempts,
    linkMemoryTtlMs,
    defaultPhoneCountry: 'NL',
  };
  const metrics = createWorkerMetrics();
  const runtime = createWorkerRuntime({
    config,
    connection,
    logger: createLogger({ name: 'worker-test', level: 'silent' }),
    drainTimeoutMs: 5000,
    metrics,
  });
  const fast = { backoff: { type: 'fixed', delay: 20 } };

  return {
    web1on1,
    dms,
    secret,
    runtime,
    metrics,
    queues: runtime.queues,
    /** Adds a link-contact job with the catalog's options but a 20 ms backoff. */
    async link(data: Partial<JobData<'link-contact'>> & { dmsContactId: string }) {
      return runtime.queues[QUEUE.linkContact].add(
        'dms.contact',
        { organization: ORG, receivedAt: new Date().toISOString(), ...data },
        // A custom id, as every producer gives: replay re-adds a job under it.
        { ...jobOptionsFor(QUEUE.linkContact, attempts), ...fast, jobId: randomUUID() },
      );
    },
    async notify(data: JobData<'notify-dms'>) {
      return runtime.queues[QUEUE.notifyDms].add(data.type, data, {
        ...jobOptionsFor(QUEUE.notifyDms, attempts),
        ...fast,
        jobId: randomUUID(),
      });
    },
    async close() {
      await runtime.close();
      connection.disconnect();
      if (!shared) await Promise.all([web1on1.close(), dms.close()]);
    },
  };
}

export type WorkerStack = Awaited<ReturnType<typeof startWorkerStack>>;

/**
 * Waits until a job completed or was dead-lettered (it failed for good, its letter is written and
 * the failed job removed) and returns that state, with the job's result or, dead-lettered, its
 * letter.
 */
export async function settled<Q extends WorkQueueName>(
  queues: QueueSet,
  queueName: Q,
  job: Job<unknown, JobResult<Q>>,
) {
  const queue = queues[queueName] as Queue;
  const letterId = deadLetterId(queueName, job.id!);
  return waitFor(
    async () => {
      // State first, then the job: read the other way round, a job finishing in between looks
      // completed without a return value.
      const state = await queue.getJobState(job.id!);
      if (state === 'completed') {
        const fresh = await queue.getJob(job.id!);
        if (!fresh) return undefined;
        return { state, returnvalue: fresh.returnvalue as JobResult<Q>, job: fresh };
      }
      if (state !== 'unknown') return undefined;
      const letter = await queues[QUEUE.deadLetter].getJob(letterId);
      if (!letter) return undefined;
      return { state: 'dead-lettered' as const, returnvalue: undefined, job: letter };
    },
    { timeoutMs: 10_000, message: `job ${job.id} to settle` },
  );
}
