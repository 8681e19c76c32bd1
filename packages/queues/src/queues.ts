import { Queue, type Telemetry } from 'bullmq';
import { type JobData, type JobResult, QUEUE_NAMES, type QueueName } from './catalog.ts';
import type { RedisClient } from './connection.ts';

export type TypedQueue<Q extends QueueName> = Queue<JobData<Q>, JobResult<Q>, string>;
export type QueueSet = { [Q in QueueName]: TypedQueue<Q> };

export interface CreateQueuesOptions {
  /**
   * Leave each queue's `meta` hash alone. BullMQ's `Queue` constructor otherwise writes it (library
   * version, event-stream length) as soon as it connects, so merely opening the queues creates keys.
   * For readers such as the CLI; the ingress and worker keep it current. @defaultValue false
   */
  readOnlyMeta?: boolean;
  /**
   * BullMQ's tracing (`startTracing(…).bullmq`): every add gets a producer span, and each job carries
   * its context to the worker. @defaultValue none: no spans, nothing stored with the jobs
   */
  telemetry?: Telemetry;
}

/** Opens every catalog queue on one shared connection. Close them with `closeQueues`. */
export function createQueues(
  connection: RedisClient,
  prefix: string,
  { readOnlyMeta = false, telemetry }: CreateQueuesOptions = {},
): QueueSet {
  const entries = QUEUE_NAMES.map((name) => [
    name,
    new Queue(name, {
      connection,
      prefix,
      skipMetasUpdate: readOnlyMeta,
      telemetry,
    }),
  ]);
  return Object.fromEntries(entries) as QueueSet;
}

export async function closeQueues(queues: QueueSet): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}

// `paused`: jobs of a queue an operator paused (Bull Board, `queue.pause()`) wait there, out of
// `waiting` and `prioritized`; without it a paused backlog would vanish from the gauge.
const DEPTH_STATES = [
  'waiting',
  'paused',
  'prioritized',
  'active',
  'delayed',
  'completed',
  'failed',
] as const;

/** Job counts per state of every queue, for metrics and `pnpm cli queues stats`. */
export async function queueDepths(
  queues: QueueSet,
): Promise<Array<{ queue: string; counts: Record<string, number> }>> {
  return Promise.all(
    QUEUE_NAMES.map(async (queue) => ({
      queue,
      counts: await queues[queue].getJobCounts(...DEPTH_STATES),
    })),
  );
}
