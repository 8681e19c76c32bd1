import { redisTest } from '@contact-linker/testkit';
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
  reconcileDeadLetters,
  replayDeadLetter,
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

/** Fails one job permanently the way BullMQ does when nobody writes a letter (e.g. stalled). */
async function failWithoutLetter(queues: QueueSet, redisUrl: string, prefix: string) {
  const job = await queues[QUEUE.linkContact].add('dms.contact', data, { attempts: 3 });
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
    await moveToDeadLetter(queues[QUEUE.deadLetter], QUEUE.linkContact, job, 'boom', 1);
    await moveToDeadLetter(queues[QUEUE.deadLetter], QUEUE.linkContact, job, 'boom again', 2);
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

  test('reconcile writes the letter a dead worker could not, once', async ({
    queues,
    redisUrl,
    prefix,
  }) => {
    const job = await failWithoutLetter(queues, redisUrl, prefix);
    expect(await reconcileDeadLetters(queues)).toBe(1);
    expect(await reconcileDeadLetters(queues)).toBe(0);
    const [letter] = await listDeadLetters(queues[QUEUE.deadLetter]);
    expect(letter).toMatchObject({
      id: `link-contact-${job.id}`,
      failedReason: 'stalled too often',
    });
  });

  test('replay retries a kept origin job under its id, with attempts reset', async ({
    queues,
    redisUrl,
    prefix,
  }) => {
    const job = await failWithoutLetter(queues, redisUrl, prefix);
    await reconcileDeadLetters(queues);
    const outcome = await replayDeadLetter(queues, deadLetterId(QUEUE.linkContact, job.id!));
    expect(outcome).toEqual({ replayed: true, queue: QUEUE.linkContact, jobId: job.id });
    const origin = await queues[QUEUE.linkContact].getJob(job.id!);
    expect(await origin?.getState()).toBe('waiting');
    expect(origin?.attemptsMade).toBe(0);
    expect(await listDeadLetters(queues[QUEUE.deadLetter])).toEqual([]);
  });

  test('replay re-adds an origin job that retention removed, with its data', async ({
    queues,
    redisUrl,
    prefix,
  }) => {
    const job = await failWithoutLetter(queues, redisUrl, prefix);
    await reconcileDeadLetters(queues);
    await job.remove();
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
    await moveToDeadLetter(queues[QUEUE.deadLetter], QUEUE.linkContact, job, 'boom', 1);
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

  test('purge removes letters and their failed origins, so reconcile does not bring them back', async ({
    queues,
    redisUrl,
    prefix,
  }) => {
    await failWithoutLetter(queues, redisUrl, prefix);
    await failWithoutLetter(queues, redisUrl, prefix);
    expect(await reconcileDeadLetters(queues)).toBe(2);
    expect(await purgeDeadLetters(queues)).toBe(2);
    expect(await reconcileDeadLetters(queues)).toBe(0);
    expect(await queues[QUEUE.linkContact].getFailedCount()).toBe(0);
  });
});
