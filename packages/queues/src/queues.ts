import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type JobData, type JobResult, QUEUE_NAMES, type QueueName } from './catalog.ts';

export type TypedQueue<Q extends QueueName> = Queue<JobData<Q>, JobResult<Q>, string>;
export type QueueSet = { [Q in QueueName]: TypedQueue<Q> };

/** Opens every catalog queue on one shared connection. Close them with `closeQueues`. */
export function createQueues(connection: Redis, prefix: string): QueueSet {
  const entries = QUEUE_NAMES.map((name) => [name, new Queue(name, { connection, prefix })]);
  return Object.fromEntries(entries) as QueueSet;
}

export async function closeQueues(queues: QueueSet): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
