import { moveToDeadLetter, QUEUE, type QueueSet } from '@contact-linker/queues';
import { redisTest, waitFor } from '@contact-linker/testkit';
import { UnrecoverableError, Worker } from 'bullmq';
import { describe, expect } from 'vitest';
import { auth, json, startIngress } from './ingress-harness.ts';

const test = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({ redisUrl, prefix });
  onCleanup(() => ingress.close());
  return ingress;
});

async function postContact(ingress: Awaited<ReturnType<typeof startIngress>>, id: string) {
  const res = await ingress.app.inject({
    method: 'POST',
    url: '/updatecontact',
    headers: { ...auth, ...json },
    payload: JSON.stringify({ id, organization: 'o', email: `${id}@b.nl` }),
  });
  return res.json().jobId as string;
}

describe('GET /jobs/:jobId', () => {
  test('reports waiting, then the outcome and result once linked', async ({
    ingress,
    redisUrl,
    prefix,
  }) => {
    const jobId = await postContact(ingress, 'a1');
    const waiting = await ingress.app.inject({ url: `/jobs/${jobId}`, headers: auth });
    expect(waiting.json()).toEqual({ jobId, state: 'waiting' });

    const worker = new Worker(
      QUEUE.linkContact,
      async () => ({ outcome: 'linked', contactId: 'c-9', conversation: 'conv-9' }),
      { connection: { url: redisUrl }, prefix },
    );
    try {
      const done = await waitFor(async () => {
        const res = await ingress.app.inject({ url: `/jobs/${jobId}`, headers: auth });
        return res.json().state === 'completed' ? res.json() : undefined;
      });
      expect(done).toEqual({
        jobId,
        state: 'completed',
        outcome: 'linked',
        result: { contactId: 'c-9', conversation: 'conv-9' },
      });
    } finally {
      await worker.close();
    }
  });

  /** A worker that letters each job and fails it for good, as the real worker's mover would. */
  const letteringWorker = (ingress: { queues: QueueSet }, redisUrl: string, prefix: string) =>
    new Worker(
      QUEUE.linkContact,
      async (job) => {
        await moveToDeadLetter(ingress.queues, QUEUE.linkContact, job, 'boom', 1);
        throw new UnrecoverableError('boom');
      },
      { connection: { url: redisUrl }, prefix },
    );

  test('reports dead-lettered for a job that failed into the dead-letter queue', async ({
    ingress,
    redisUrl,
    prefix,
  }) => {
    const jobId = await postContact(ingress, 'a2');
    const worker = letteringWorker(ingress, redisUrl, prefix);
    try {
      const res = await waitFor(async () => {
        const r = await ingress.app.inject({ url: `/jobs/${jobId}`, headers: auth });
        return r.json().state === 'dead-lettered' ? r : undefined;
      });
      expect(res.json()).toEqual({ jobId, state: 'dead-lettered' });
    } finally {
      await worker.close();
    }
  });

  test('still reports dead-lettered once the failed job itself is gone', async ({
    ingress,
    redisUrl,
    prefix,
  }) => {
    const jobId = await postContact(ingress, 'a4');
    const worker = letteringWorker(ingress, redisUrl, prefix);
    try {
      await waitFor(async () =>
        (await ingress.queues[QUEUE.linkContact].getJobState(jobId)) === 'failed'
          ? true
          : undefined,
      );
    } finally {
      await worker.close();
    }
    // Dead-lettering removes the failed job once its letter is written; only the letter is left.
    await ingress.queues[QUEUE.linkContact].remove(jobId);
    const res = await ingress.app.inject({ url: `/jobs/${jobId}`, headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ jobId, state: 'dead-lettered' });
  });

  test.for(['00000000-0000-0000-0000-000000000000', 'not..valid', '%2E%2E%2Fetc'])(
    'answers 404 for %s',
    async (id, { ingress }) => {
      const res = await ingress.app.inject({ url: `/jobs/${id}`, headers: auth });
      expect(res.statusCode).toBe(404);
      expect(res.json().error).toBe('not_found');
    },
  );

  test('requires the API key', async ({ ingress }) => {
    const jobId = await postContact(ingress, 'a3');
    expect((await ingress.app.inject({ url: `/jobs/${jobId}` })).statusCode).toBe(401);
  });
});

describe('health', () => {
  test('healthz and readyz answer 200 with Redis up', async ({ ingress }) => {
    expect((await ingress.app.inject('/healthz')).statusCode).toBe(200);
    expect((await ingress.app.inject('/readyz')).json()).toEqual({ status: 'ready' });
  });
});
