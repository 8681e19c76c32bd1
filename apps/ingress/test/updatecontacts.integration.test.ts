import { QUEUE, tierOfPriority } from '@contact-linker/queues';
import { redisTest, waitFor } from '@contact-linker/testkit';
import { Worker } from 'bullmq';
import { describe, expect } from 'vitest';
import { auth, json, startIngress } from './ingress-harness.ts';

const test = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({ redisUrl, prefix });
  onCleanup(() => ingress.close());
  return ingress;
});

const bulk = (body: unknown) => ({
  method: 'POST' as const,
  url: '/updatecontacts',
  headers: { ...auth, ...json },
  payload: typeof body === 'string' ? body : JSON.stringify(body),
});
const contact = (i: number) => ({ id: `B-${i}`, organization: 'o', email: `c${i}@b.nl` });

describe('POST /updatecontacts', () => {
  test('queues the valid items at bulk priority and lists the invalid ones', async ({
    ingress,
  }) => {
    const res = await ingress.app.inject(
      bulk({
        contacts: [
          contact(0),
          { id: 'x' },
          contact(2),
          'nonsense',
          { ...contact(4), phone: '06 1234 5678' },
        ],
      }),
    );
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({
      status: 'queued',
      accepted: 3,
      rejected: [
        { index: 1, error: expect.stringContaining('organization') },
        { index: 3, error: expect.any(String) },
      ],
    });
    const jobs = await ingress.queues[QUEUE.linkContact].getJobs(['prioritized', 'waiting']);
    expect(jobs).toHaveLength(3);
    for (const job of jobs) {
      expect(job.name).toBe('dms.contact.bulk');
      expect(tierOfPriority(job.opts.priority)).toBe('bulk');
    }
    expect(jobs.map((j) => j.data.dmsContactId).sort()).toEqual(['B-0', 'B-2', 'B-4']);
    expect(jobs.find((j) => j.data.dmsContactId === 'B-4')?.data.phoneE164).toBe('+31612345678');
  });

  test('an item already pending is not queued twice', async ({ ingress }) => {
    await ingress.app.inject(bulk({ contacts: [contact(0), contact(1)] }));
    const again = await ingress.app.inject(
      bulk({ contacts: [contact(0), contact(1), contact(2)] }),
    );
    expect(again.json().accepted).toBe(3);
    expect(await ingress.queues[QUEUE.linkContact].count()).toBe(3);
  });

  test('live events are processed before a pending seed', async ({ ingress, redisUrl, prefix }) => {
    await ingress.app.inject(bulk({ contacts: Array.from({ length: 20 }, (_, i) => contact(i)) }));
    await ingress.app.inject({
      method: 'POST',
      url: '/updatecontact',
      headers: { ...auth, ...json },
      payload: JSON.stringify({ id: 'LIVE', organization: 'o', email: 'live@b.nl' }),
    });
    const order: string[] = [];
    const worker = new Worker(
      QUEUE.linkContact,
      async (job) => {
        order.push(job.data.dmsContactId);
      },
      { connection: { url: redisUrl }, prefix, concurrency: 1 },
    );
    try {
      await waitFor(() => order.length === 21);
      expect(order[0]).toBe('LIVE');
    } finally {
      await worker.close();
    }
  });

  test.for([
    ['1001 items', { contacts: Array.from({ length: 1001 }, (_, i) => contact(i)) }, 400],
    ['no contacts key', { items: [] }, 400],
    ['contacts not an array', { contacts: {} }, 400],
    ['an empty list', { contacts: [] }, 400],
    [
      'a forbidden key inside an item',
      '{"contacts":[{"id":"a","organization":"o","email":"a@b.nl","constructor":{}}]}',
      400,
    ],
    ['a body over 1 MiB', { contacts: [{ ...contact(0), pad: 'x'.repeat(1024 * 1024) }] }, 413],
  ] as const)('rejects %s as a whole, queueing nothing', async ([, body, status], { ingress }) => {
    const res = await ingress.app.inject(bulk(body));
    expect(res.statusCode).toBe(status);
    expect(res.json().error).toEqual(expect.any(String));
    expect(await ingress.queues[QUEUE.linkContact].count()).toBe(0);
  });

  test('requires the API key', async ({ ingress }) => {
    const res = await ingress.app.inject({ ...bulk({ contacts: [contact(0)] }), headers: json });
    expect(res.statusCode).toBe(401);
  });
});
