import { redisTest, waitFor } from '@contact-linker/testkit';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import {
  closeQueues,
  createQueues,
  deadLetterId,
  listDeadLetters,
  moveToDeadLetter,
  purgeDeadLetters,
  QUEUE,
  type QueueSet,
  replayDeadLetter,
  startDeadLetterMover,
  sweepFailedJobs,
} from './index.ts';

const test = redisTest.extend('queues', async ({ redisUrl, prefix }, { onCleanup }) => {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queues = createQueues(redis, prefix);
  onCleanup(async () => {
    await closeQueues(queues);
    redis.disconnect();
  });
  return queues;
});

const data = {
  dmsContactId: 'D-1',
  organization: 'o',
  email: 'a@b.nl',
  receivedAt: '2026-11-24T00:00:00.000Z',
};

/**
 * Fails one job for good with no mover listening: what a worker killed between failing a job and
 * moving it leaves behind (or BullMQ failing a job that stalled too often).
 */
async function failWithoutLetter(
  queues: QueueSet,
  redisUrl: string,
  prefix: string,
  jobId?: string,
) {
  const job = await queues[QUEUE.linkContact].add('dms.contact', data, {
    attempts: 3,
    ...(jobId ? { jobId } : {}),
  });
  const worker = new Worker(
    QUEUE.linkContact,
    async () => {
      throw new UnrecoverableError('stalled too often');
    },
    { connection: { url: redisUrl }, prefix },
  );
  await new Promise<void>((resolve) => worker.on('failed', () => resolve()));
  await worker.close();
  return job as Job;
}

describe('dead letters', () => {
  test('moving the same job twice leaves one letter', async ({ queues }) => {
    const job = await queues[QUEUE.linkContact].add('dms.contact', data, { jobId: 'j-1' });
    await moveToDeadLetter(queues, QUEUE.linkContact, job, 'boom', 1);
    await moveToDeadLetter(queues, QUEUE.linkContact, job, 'boom again', 2);
    expect(await listDeadLetters(queues[QUEUE.deadLetter])).toEqual([
      {
        id: deadLetterId(QUEUE.linkContact, 'j-1'),
        queue: QUEUE.linkContact,
        name: 'dms.contact',
        failedReason: 'boom',
        attemptsMade: 1,
        failedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    ]);
  });

  test('a sweep moves a failed job nobody moved, once, and removes it', async ({
    queues,
    redisUrl,
    prefix,
  }) => {
    const job = await failWithoutLetter(queues, redisUrl, prefix);
    expect(await sweepFailedJobs(queues)).toBe(1);
    expect(await sweepFailedJobs(queues)).toBe(0);
    const [letter] = await listDeadLetters(queues[QUEUE.deadLetter]);
    expect(letter).toMatchObject({
      id: `link-contact-${job.id}`,
      failedReason: 'stalled too often',
      attemptsMade: 1,
    });
    expect(await queues[QUEUE.linkContact].getJobState(job.id!)).toBe('unknown');
  });

  test('the mover moves final failures as they happen, and leaves retried ones', async ({
    queues,
    redisUrl,
    prefix,
  }) => {
    const worker = new Worker(
      QUEUE.linkContact,
      async (job) => {
        if (job.data.dmsContactId === 'retry-me' && job.attemptsMade === 0) {
          throw new Error('once');
        }
        throw new UnrecoverableError('for good');
      },
      { connection: { url: redisUrl }, prefix },
    );
    const mover = startDeadLetterMover({ queues, workers: [worker], sweepIntervalMs: 60_000 });
    try {
      const retried = await queues[QUEUE.linkContact].add(
        'dms.contact',
        { ...data, dmsContactId: 'retry-me' },
        { attempts: 2, jobId: 'retried' },
      );
      const final = await queues[QUEUE.linkContact].add('dms.contact', data, {
        attempts: 5,
        jobId: 'final',
      });
      const letters = await waitFor(async () => {
        const listed = await listDeadLetters(queues[QUEUE.deadLetter]);
        return listed.length === 2 ? listed : undefined;
      });
      expect(letters.map((l) => [l.id, l.failedReason, l.attemptsMade]).sort()).toEqual([
        [deadLetterId(QUEUE.linkContact, 'final'), 'for good', 1],
        [deadLetterId(QUEUE.linkContact, 'retried'), 'for good', 2],
      ]);
      await waitFor(async () =>
        (
          await Promise.all(
            [retried, final].map((j) => queues[QUEUE.linkContact].getJobState(j.id!)),
          )
        ).every((state) => state === 'unknown'),
      );
    } finally {
      mover.close();
      await worker.close();
    }
  });

  test('replay of a letter whose move was cut short retries the failed origin in place', async ({
    queues,
    redisUrl,
    prefix,
  }) => {
    const job = await failWithoutLetter(queues, redisUrl, prefix, 'cut-short');
    // The state a worker killed between the move's two steps leaves: a letter, and the failed job.
    const fresh = (await queues[QUEUE.linkContact].getJob('cut-short'))!;
    await queues[QUEUE.deadLetter].add(
      'dms.contact',
      {
        queue: QUEUE.linkContact,
        name: 'dms.contact',
        jobId: 'cut-short',
        data,
        failedReason: fresh.failedReason,
        attemptsMade: fresh.attemptsMade,
        attempts: 3,
        failedAt: new Date().toISOString(),
      },
      { jobId: deadLetterId(QUEUE.linkContact, 'cut-short') },
    );
    const outcome = await replayDeadLetter(queues, deadLetterId(QUEUE.linkContact, job.id!));
    expect(outcome).toEqual({ replayed: true, queue: QUEUE.linkContact, jobId: job.id });
    const origin = await queues[QUEUE.linkContact].getJob(job.id!);
    expect(await origin?.getState()).toBe('waiting');
    expect(origin?.attemptsMade).toBe(0);
    expect(await listDeadLetters(queues[QUEUE.deadLetter])).toEqual([]);
  });

  test('replay re-adds the origin job the move removed, with its data', async ({
    queues,
    redisUrl,
    prefix,
  }) => {
    const job = await failWithoutLetter(queues, redisUrl, prefix);
    await sweepFailedJobs(queues);
    const outcome = await replayDeadLetter(queues, deadLetterId(QUEUE.linkContact, job.id!));
    if (!outcome.replayed) throw new Error('not replayed');
    // An integer id belongs to BullMQ's counter, so the re-added job gets a fresh one.
    expect(outcome.jobId).not.toBe(job.id);
    const readded = await queues[QUEUE.linkContact].getJob(outcome.jobId);
    expect(readded?.data).toEqual(data);
    expect(readded?.opts.attempts).toBe(3);
  });

  test('replay keeps a custom origin id when re-adding', async ({ queues }) => {
    const job = await queues[QUEUE.linkContact].add('dms.contact', data, { jobId: 'uuid-like-1' });
    await moveToDeadLetter(queues, QUEUE.linkContact, job, 'boom', 1);
    await job.remove();
    expect(await replayDeadLetter(queues, deadLetterId(QUEUE.linkContact, 'uuid-like-1'))).toEqual({
      replayed: true,
      queue: QUEUE.linkContact,
      jobId: 'uuid-like-1',
    });
    expect((await queues[QUEUE.linkContact].getJob('uuid-like-1'))?.data).toEqual(data);
  });

  test('replay of an unknown id says not_found', async ({ queues }) => {
    expect(await replayDeadLetter(queues, 'link-contact-nope')).toEqual({
      replayed: false,
      reason: 'not_found',
    });
  });

  test('purge removes letters and their failed origins, so a sweep does not bring them back', async ({
    queues,
    redisUrl,
    prefix,
  }) => {
    await failWithoutLetter(queues, redisUrl, prefix);
    await failWithoutLetter(queues, redisUrl, prefix);
    expect(await sweepFailedJobs(queues)).toBe(2);
    expect(await purgeDeadLetters(queues)).toBe(2);
    expect(await sweepFailedJobs(queues)).toBe(0);
    expect(await queues[QUEUE.linkContact].getFailedCount()).toBe(0);
  });
});
