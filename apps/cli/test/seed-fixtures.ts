import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { closeQueues, createQueues, QUEUE, type QueueSet } from '@contact-linker/queues';
import { redisTest } from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { seedId } from '../src/seed/checkpoint.ts';

/** `redisTest` plus the queues (and their connection) under the test's prefix, and a temp dir. */
export const seedTest = redisTest
  .extend('redisClient', async ({ redisUrl }, { onCleanup }) => {
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    onCleanup(() => redis.disconnect());
    return redis;
  })
  .extend('queues', async ({ redisClient, prefix }, { onCleanup }) => {
    const queues = createQueues(redisClient, prefix);
    onCleanup(() => closeQueues(queues));
    return queues;
  })
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads fixture dependencies from the pattern
  .extend('dir', async ({}, { onCleanup }) => {
    const dir = await mkdtemp(join(tmpdir(), 'cl-seed-'));
    onCleanup(() => rm(dir, { recursive: true, force: true }));
    return dir;
  });

export interface BadLine {
  line: number;
  /** What the reason must contain. */
  reason: RegExp;
}

/**
 * A CSV of `records` contacts for `organization` in which every 200th record (the 100th, 300th, …)
 * is broken in one of five ways, so 10,000 records hold exactly 50 bad ones. Record 2 carries a
 * quoted note with a line break, so every line number after it is one more than its record number:
 * line numbers are counted, not assumed. Columns are in an unusual order, with extra ones.
 */
export function contactsCsv(records: number, organization: string) {
  const lines = ['name,id,notes,email,organization,phone'];
  const bad: BadLine[] = [];
  const good = new Map<number, string>();
  let line = 1;
  for (let i = 1; i <= records; i += 1) {
    line += 1;
    const start = line;
    const name = `"Doe, ${i}"`;
    const email = i % 3 === 0 ? '' : `c${i}@example.com`;
    const phone = i % 3 === 0 ? `0612${String(i).padStart(6, '0')}` : '';
    const notes = i === 2 ? '"first line\nsecond line"' : 'plain';
    if (i === 2) line += 1;
    if (i % 200 === 100) {
      const kind = (i / 200 - 0.5) % 5;
      if (kind === 0) {
        lines.push(`${name},C${i},${notes},not-an-email,,${phone}`);
        bad.push({ line: start, reason: /^email: / });
      } else if (kind === 1) {
        lines.push(`${name},C${i},${notes},,,`);
        bad.push({ line: start, reason: /email, telephone or phone is required/ });
      } else if (kind === 2) {
        lines.push(`${name},bad id!,${notes},${email},,${phone}`);
        bad.push({ line: start, reason: /^id: / });
      } else if (kind === 3) {
        lines.push(`${name},C${i},${notes},${email},other-dealer,${phone}`);
        bad.push({ line: start, reason: /organization "other-dealer" is not the seed's/ });
      } else {
        lines.push(`${name},C${i}`);
        bad.push({ line: start, reason: /^CSV: 2 cells where the header has 6$/ });
      }
      continue;
    }
    // Every other good record repeats the seed's organization, which is allowed.
    const own = i % 2 === 0 ? organization : '';
    lines.push(`${name},C${i},${notes},${email},${own},${phone}`);
    good.set(start, `C${i}`);
  }
  return { text: `${lines.join('\n')}\n`, bad, good };
}

/** The seed id `runSeed` derives for this file and organization, to predict job ids. */
export async function seedIdOf(file: string, organization: string): Promise<string> {
  const info = await stat(file);
  return seedId({ path: resolve(file), size: info.size, mtimeMs: info.mtimeMs, organization });
}

/**
 * Deletes the link-contact queue's deduplication keys, as if every job had finished: BullMQ keeps a
 * content dedup id only while its job is pending. What then stops a replayed line from being queued
 * again is its deterministic job id alone. (`de:` is BullMQ's key for deduplication ids.)
 */
export async function forgetPendingContent(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(
      cursor,
      'MATCH',
      `${prefix}:${QUEUE.linkContact}:de:*`,
      'COUNT',
      1000,
    );
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Every link-contact job's DMS contact id, to check that no contact was queued twice. */
export async function queuedContactIds(queues: QueueSet): Promise<string[]> {
  const jobs = await queues[QUEUE.linkContact].getJobs(['prioritized', 'waiting'], 0, -1);
  return jobs.map((job) => job.data.dmsContactId);
}
