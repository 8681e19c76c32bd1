import { moveToDeadLetter, QUEUE } from '@contact-linker/queues';
import { redisTest } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { startIngress } from './ingress-harness.ts';

const ADMIN = { username: 'ops', password: 'correct-horse-battery' };
const basic = {
  authorization: `Basic ${Buffer.from('ops:correct-horse-battery').toString('base64')}`,
};

const test = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({ redisUrl, prefix, admin: ADMIN });
  onCleanup(() => ingress.close());
  return ingress;
});

const data = {
  dmsContactId: 'D-1',
  organization: 'o',
  email: 'jane.doe@example.com',
  phoneE164: '+31612345678',
  receivedAt: '2026-11-24T00:00:00.000Z',
};

interface BoardQueue {
  name: string;
  jobs: Array<{ id: string; name: string; data: Record<string, unknown> }>;
  allowRetries: boolean;
}

describe('Bull Board at /admin/queues', () => {
  test('needs the admin credentials', async ({ ingress }) => {
    for (const url of ['/admin/queues', '/admin/queues/api/queues']) {
      const res = await ingress.app.inject(url);
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
    }
  });

  test('serves the UI with security headers', async ({ ingress }) => {
    const res = await ingress.app.inject({ url: '/admin/queues', headers: basic });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<title>');
    expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['strict-transport-security']).toEqual(expect.any(String));
    expect(res.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
  });

  test('lists the three queues and masks emails and phones in job data', async ({ ingress }) => {
    await ingress.queues[QUEUE.linkContact].add('dms.contact', data, { jobId: 'job-1' });
    const res = await ingress.app.inject({
      url: '/admin/queues/api/queues?activeQueue=link-contact&status=waiting&page=1',
      headers: basic,
    });
    expect(res.statusCode).toBe(200);
    const queues = res.json().queues as BoardQueue[];
    expect(queues.map((q) => q.name).sort()).toEqual(['dead-letter', 'link-contact', 'notify-dms']);
    const link = queues.find((q) => q.name === 'link-contact')!;
    expect(link.allowRetries).toBe(false);
    expect(queues.find((q) => q.name === 'dead-letter')?.allowRetries).toBe(true);
    expect(JSON.stringify(res.json())).not.toMatch(/jane\.doe|612345/);
    expect(link.jobs[0]?.data).toMatchObject({
      email: 'j***@example.com',
      phoneE164: '+3********78',
    });
    // The job itself keeps everything.
    expect((await ingress.queues[QUEUE.linkContact].getJob('job-1'))?.data).toEqual(data);
  });

  test.for([
    ['PATCH', '/admin/queues/api/queues/link-contact/job-1/update-data'],
    ['POST', '/admin/queues/api/queues/link-contact/add'],
    ['PUT', '/admin/queues/api/queues/link-contact/empty'],
    ['PUT', '/admin/queues/api/queues/link-contact/obliterate'],
  ] as const)('refuses %s %s', async ([method, url], { ingress }) => {
    await ingress.queues[QUEUE.linkContact].add('dms.contact', data, { jobId: 'job-1' });
    const res = await ingress.app.inject({
      method,
      url,
      headers: { ...basic, 'content-type': 'application/json' },
      payload: '{"data":{"email":"x"}}',
    });
    expect(res.statusCode).toBe(403);
    expect(await ingress.queues[QUEUE.linkContact].count()).toBe(1);
    expect((await ingress.queues[QUEUE.linkContact].getJob('job-1'))?.data).toEqual(data);
  });

  test('shows a dead letter, masked', async ({ ingress }) => {
    const job = await ingress.queues[QUEUE.linkContact].add('dms.contact', data, {
      jobId: 'job-2',
    });
    await moveToDeadLetter(ingress.queues, QUEUE.linkContact, job, 'boom', 1);
    const res = await ingress.app.inject({
      url: '/admin/queues/api/queues?activeQueue=dead-letter&status=waiting&page=1',
      headers: basic,
    });
    const dead = (res.json().queues as BoardQueue[]).find((q) => q.name === 'dead-letter')!;
    expect(dead.jobs.map((j) => j.id)).toEqual(['link-contact-job-2']);
    expect(JSON.stringify(dead.jobs)).not.toContain('jane.doe');
  });
});
