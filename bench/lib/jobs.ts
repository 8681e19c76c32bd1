/** Queue plumbing of the bench: preloading jobs, timing a drain, reading Redis. */
import { setTimeout as sleep } from 'node:timers/promises';
import { UNFINISHED_JOB_STATES } from '@contact-linker/testkit';
import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { LINK_QUEUE } from './data.ts';

export function openQueue(conn: Redis, prefix: string): Queue {
  return new Queue(LINK_QUEUE, { connection: conn, prefix });
}

export interface BulkEntry {
  name: string;
  data: unknown;
  opts?: JobsOptions;
}

/**
 * Adds `count` jobs made by `make(i)` with `addBulk`, `chunk` per call and two calls in flight, so
 * building the next chunk overlaps with Redis storing the previous one.
 */
export async function addJobs(
  queue: Queue,
  count: number,
  make: (i: number) => BulkEntry,
  { chunk = 2000, onProgress }: { chunk?: number; onProgress?: (added: number) => void } = {},
): Promise<void> {
  let inFlight: Array<Promise<unknown>> = [];
  for (let from = 0; from < count; from += chunk) {
    const batch: BulkEntry[] = [];
    for (let i = from; i < Math.min(count, from + chunk); i++) batch.push(make(i));
    inFlight.push(queue.addBulk(batch as Parameters<Queue['addBulk']>[0]));
    if (inFlight.length >= 2) {
      await Promise.all(inFlight);
      inFlight = [];
      onProgress?.(Math.min(count, from + chunk));
    }
  }
  await Promise.all(inFlight);
}

/** Completed and failed jobs of the queue right now. */
export async function finishedCount(queue: Queue): Promise<{ completed: number; failed: number }> {
  const counts = await queue.getJobCounts('completed', 'failed');
  return { completed: counts.completed ?? 0, failed: counts.failed ?? 0 };
}

/**
 * Polls until `completed + failed >= total` or `timeoutMs` passed; resolves with the counts and the
 * finish time of the newest completed job (BullMQ's own `finishedOn`, so the poll interval does not
 * blur the figure).
 */
export async function waitDrained(
  queue: Queue,
  total: number,
  timeoutMs: number,
  intervalMs = 25,
): Promise<{ completed: number; failed: number; lastFinishedOn: number; timedOut: boolean }> {
  const deadline = performance.now() + timeoutMs;
  let counts = await finishedCount(queue);
  while (counts.completed + counts.failed < total && performance.now() < deadline) {
    await sleep(intervalMs);
    counts = await finishedCount(queue);
  }
  const [newest] = await queue.getJobs(['completed'], 0, 0, false);
  return {
    ...counts,
    lastFinishedOn: newest?.finishedOn ?? Date.now(),
    timedOut: counts.completed + counts.failed < total,
  };
}

/** `INFO memory` used_memory, in bytes. */
export async function usedMemory(conn: Redis): Promise<number> {
  const info = await conn.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

/** Commands Redis has processed so far (`INFO stats` total_commands_processed). */
export async function redisCommands(conn: Redis): Promise<number> {
  const info = await conn.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

/** `MEMORY USAGE key` in bytes, or NaN when the key does not exist. */
export async function memoryUsage(conn: Redis, key: string): Promise<number> {
  const bytes = (await conn.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) as number | null;
  return bytes === null ? Number.NaN : Number(bytes);
}

/** Jobs not yet finished in any of `queues`. */
export async function pendingJobs(queues: Queue[]): Promise<number> {
  let pending = 0;
  for (const queue of queues) {
    const counts = await queue.getJobCounts(...UNFINISHED_JOB_STATES);
    for (const n of Object.values(counts)) pending += n;
  }
  return pending;
}

/**
 * Waits until `done()` holds and no job is pending in `queues` for 300 ms running (a webhook the
 * sandbox sent after a PATCH reaches the queue within that); false on timeout.
 */
export async function settle(
  queues: Queue[],
  { done = () => true, timeoutMs }: { done?: () => boolean | Promise<boolean>; timeoutMs: number },
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  let quiet = 0;
  while (performance.now() < deadline) {
    if ((await done()) && (await pendingJobs(queues)) === 0) quiet += 1;
    else quiet = 0;
    if (quiet >= 3) return true;
    await sleep(100);
  }
  return false;
}
