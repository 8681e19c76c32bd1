import { moveToDeadLetter, QUEUE } from '@contact-linker/queues';
import { redisTest } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { startIngress } from './ingress-harness.ts';

const ADMIN = { username: 'ops', password: 'correct-horse-battery' };
const basic = (user: string, pass: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
});

const test = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({ redisUrl, prefix, admin: ADMIN });
  onCleanup(() => ingress.close());
  return ingress;
});
const noAdminTest = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({ redisUrl, prefix });
  onCleanup(() => ingress.close());
  return ingress;
});

const data = { dmsContactId: 'D-1', organization: 'o', email: 'a@b.nl', receivedAt: 'now' };

describe('/admin', () => {
  noAdminTest('does not exist without admin credentials', async ({ ingress }) => {
    const res = await ingress.app.inject({
      url: '/admin/dead-letters',
      headers: basic(ADMIN.username, ADMIN.password),
    });
    expect(res.statusCode).toBe(404);
  });

  test.for([
    ['no credentials', {}],
    ['a wrong password', basic('ops', 'wrong-password-123')],
    ['a wrong user', basic('root', ADMIN.password)],
    ['a Bearer token', { authorization: 'Bearer correct-horse-battery' }],
    ['garbage', { authorization: 'Basic !!!' }],
  ] as const)('answers 401 with a Basic challenge for %s', async ([, headers], { ingress }) => {
    for (const [method, url] of [
      ['GET', '/admin/dead-letters'],
      ['POST', '/admin/dead-letters/x/replay'],
    ] as const) {
      const res = await ingress.app.inject({ method, url, headers });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
      expect(res.json()).toMatchObject({ error: 'unauthorized' });
      // Says where the credentials come from, and never what they are.
      const { message } = res.json();
      expect(message).toContain('ADMIN_USERNAME and ADMIN_PASSWORD');
      expect(message).not.toContain(ADMIN.password);
      expect(message).not.toMatch(/\bops\b/);
    }
  });

  test('lists dead letters and replays one onto its origin queue', async ({ ingress }) => {
    const job = await ingress.queues[QUEUE.linkContact].add('dms.contact', data, {
      jobId: 'job-1',
      attempts: 3,
    });
    await moveToDeadLetter(ingress.queues, QUEUE.linkContact, job, 'boom', 3);
    await job.remove();

    const list = await ingress.app.inject({
      url: '/admin/dead-letters',
      headers: basic(ADMIN.username, ADMIN.password),
    });
    expect(list.json()).toEqual([
      {
        id: 'link-contact-job-1',
        queue: 'link-contact',
        name: 'dms.contact',
        failedReason: 'boom',
        attemptsMade: 3,
        failedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      },
    ]);

    const replay = await ingress.app.inject({
      method: 'POST',
      url: '/admin/dead-letters/link-contact-job-1/replay',
      headers: basic(ADMIN.username, ADMIN.password),
    });
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toEqual({ status: 'replayed', queue: 'link-contact', jobId: 'job-1' });
    expect((await ingress.queues[QUEUE.linkContact].getJob('job-1'))?.data).toEqual(data);
    const after = await ingress.app.inject({
      url: '/admin/dead-letters',
      headers: basic(ADMIN.username, ADMIN.password),
    });
    expect(after.json()).toEqual([]);
  });

  test('replaying an unknown letter is 404', async ({ ingress }) => {
    const res = await ingress.app.inject({
      method: 'POST',
      url: '/admin/dead-letters/nope/replay',
      headers: { ...basic(ADMIN.username, ADMIN.password), 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('not_found');
  });
});
