import type { DeadLetterJob, LinkContactResult } from '@contact-linker/contracts';
import { redisTest } from '@contact-linker/testkit';
import { UnrecoverableError, Worker } from 'bullmq';
import { describe, expect } from 'vitest';
import {
  closeQueues,
  createQueues,
  createRedisConnection,
  deadLetterId,
  QUEUE,
  type QueueSet,
  readJobStatus,
  type WorkQueueName,
} from './index.ts';

const test = redisTest
  .extend('queues', async ({ redisUrl, prefix }, { onCleanup }) => {
    const redis = createRedisConnection(redisUrl, { role: 'worker' });
    const queues = createQueues(redis, prefix);
    onCleanup(async () => {
      await closeQueues(queues);
      redis.disconnect();
    });
    return queues;
  })
  /** Runs the link-contact jobs added after it starts with `process`, for one test. */
  .extend('runLinkContact', ({ redisUrl, prefix }, { onCleanup }) => {
    const workers: Worker[] = [];
    onCleanup(async () => {
      await Promise.all(workers.map((w) => w.close()));
    });
    return async (
      process: () => Promise<LinkContactResult>,
      jobId: string,
    ): Promise<'completed' | 'failed'> => {
      const worker = new Worker(QUEUE.linkContact, process, {
        connection: { url: redisUrl },
        prefix,
      });
      workers.push(worker);
      return new Promise((resolve) => {
        worker.on('completed', (job) => job.id === jobId && resolve('completed'));
        worker.on('failed', (job) => job?.id === jobId && resolve('failed'));
      });
    };
  });

const data = {
  dmsContactId: 'D-1',
  organization: 'o',
  email: 'a@b.nl',
  receivedAt: '2026-11-24T00:00:00.000Z',
};

const add = (queues: QueueSet, jobId: string, opts: { delay?: number } = {}) =>
  queues[QUEUE.linkContact].add('dms.contact', data, { jobId, attempts: 1, ...opts });

/** A letter written the way dead-lettering writes it: under the id derived from its origin. */
async function writeLetter(queues: QueueSet, queue: WorkQueueName, jobId: string) {
  const letter: DeadLetterJob = {
    queue,
    name: 'dms.contact',
    jobId,
    data,
    failedReason: 'boom',
    attemptsMade: 1,
    attempts: 1,
    failedAt: '2026-11-24T00:00:01.000Z',
  };
  await queues[QUEUE.deadLetter].add('dms.contact', letter, {
    jobId: deadLetterId(queue, jobId),
  });
}

const fail = async () => {
  throw new UnrecoverableError('boom');
};

describe('readJobStatus', () => {
  test('is undefined for a job that never existed', async ({ queues }) => {
    expect(await readJobStatus(queues, 'no-such-job')).toBeUndefined();
  });

  test('reports a queued job as waiting and a delayed one as delayed', async ({ queues }) => {
    await add(queues, 'j-wait');
    await add(queues, 'j-later', { delay: 60_000 });
    expect(await readJobStatus(queues, 'j-wait')).toEqual({ jobId: 'j-wait', state: 'waiting' });
    expect(await readJobStatus(queues, 'j-later')).toEqual({ jobId: 'j-later', state: 'delayed' });
  });

  test('reports the outcome and result of a completed job', async ({ queues, runLinkContact }) => {
    await add(queues, 'j-linked');
    await runLinkContact(
      async () => ({ outcome: 'linked', contactId: 'c-1', conversation: null }),
      'j-linked',
    );
    expect(await readJobStatus(queues, 'j-linked')).toEqual({
      jobId: 'j-linked',
      state: 'completed',
      outcome: 'linked',
      result: { contactId: 'c-1', conversation: null },
    });
  });

  test('reports a completed job without a contact with its outcome only', async ({
    queues,
    runLinkContact,
  }) => {
    await add(queues, 'j-missing');
    await runLinkContact(async () => ({ outcome: 'not_found' }), 'j-missing');
    expect(await readJobStatus(queues, 'j-missing')).toEqual({
      jobId: 'j-missing',
      state: 'completed',
      outcome: 'not_found',
    });
  });

  test('reports a failed job without a letter as failed', async ({ queues, runLinkContact }) => {
    await add(queues, 'j-failed');
    expect(await runLinkContact(fail, 'j-failed')).toBe('failed');
    expect(await readJobStatus(queues, 'j-failed')).toEqual({ jobId: 'j-failed', state: 'failed' });
  });

  test('reports a failed job with its letter as dead-lettered', async ({
    queues,
    runLinkContact,
  }) => {
    await add(queues, 'j-dead');
    expect(await runLinkContact(fail, 'j-dead')).toBe('failed');
    await writeLetter(queues, QUEUE.linkContact, 'j-dead');
    expect(await readJobStatus(queues, 'j-dead')).toEqual({
      jobId: 'j-dead',
      state: 'dead-lettered',
    });
  });

  test('reports dead-lettered when only the letter is left of the job', async ({
    queues,
    runLinkContact,
  }) => {
    await add(queues, 'j-moved');
    expect(await runLinkContact(fail, 'j-moved')).toBe('failed');
    await writeLetter(queues, QUEUE.linkContact, 'j-moved');
    await queues[QUEUE.linkContact].remove('j-moved');
    expect(await readJobStatus(queues, 'j-moved')).toEqual({
      jobId: 'j-moved',
      state: 'dead-lettered',
    });
  });

  test('ignores a letter of another queue under the same job id', async ({ queues }) => {
    await writeLetter(queues, QUEUE.notifyDms, 'j-other');
    expect(await readJobStatus(queues, 'j-other')).toBeUndefined();
  });
});
