import { closeQueues, createQueues, moveToDeadLetter, QUEUE } from '@contact-linker/queues';
import { redisTest } from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { runCli } from './cli-harness.ts';

const test = redisTest.extend('queues', async ({ redisUrl, prefix }, { onCleanup }) => {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queues = createQueues(redis, prefix);
  onCleanup(async () => {
    await closeQueues(queues);
    redis.disconnect();
  });
  return queues;
});

const link = { dmsContactId: 'D-1', organization: 'o', email: 'a@b.nl', receivedAt: 'now' };
const notify = {
  webhookId: 'evt-9',
  type: 'contact.updated' as const,
  organization: 'o',
  occurredAt: 'now',
  contact: { id: 'c', conversation: null, profile: { email: null, telephone: null, name: null } },
};

async function seedLetters(queues: ReturnType<typeof createQueues>) {
  const a = await queues[QUEUE.linkContact].add('dms.contact', link, {
    jobId: 'job-a',
    attempts: 3,
  });
  const b = await queues[QUEUE.notifyDms].add('contact.updated', notify, {
    jobId: 'job-b',
    attempts: 3,
  });
  await moveToDeadLetter(queues, QUEUE.linkContact, a, 'PermanentError: 404', 1);
  await moveToDeadLetter(queues, QUEUE.notifyDms, b, 'PermanentError: 410', 1);
  await a.remove();
  await b.remove();
}

describe('pnpm cli dlq', () => {
  test('list prints a table, and JSON with --json', async ({ queues, redisUrl, prefix }) => {
    await seedLetters(queues);
    const { out, exitCode } = await runCli(['dlq', 'list'], { redisUrl, prefix });
    expect(exitCode).toBe(0);
    expect(out.split('\n')[0]).toMatch(/^ID\s+QUEUE\s+NAME\s+ATTEMPTS\s+FAILED AT\s+REASON$/);
    expect(out).toContain('link-contact-job-a');
    expect(out).toContain('notify-dms-job-b');
    const json = await runCli(['dlq', 'list', '--json'], { redisUrl, prefix });
    expect(JSON.parse(json.out).map((l: { id: string }) => l.id)).toEqual([
      'link-contact-job-a',
      'notify-dms-job-b',
    ]);
  });

  test('show prints the letter with its data', async ({ queues, redisUrl, prefix }) => {
    await seedLetters(queues);
    const { out } = await runCli(['dlq', 'show', 'notify-dms-job-b'], { redisUrl, prefix });
    expect(JSON.parse(out)).toMatchObject({
      id: 'notify-dms-job-b',
      queue: 'notify-dms',
      data: { webhookId: 'evt-9' },
      failedReason: 'PermanentError: 410',
    });
    const missing = await runCli(['dlq', 'show', 'nope'], { redisUrl, prefix });
    expect(missing.exitCode).toBe(1);
    expect(missing.err).toContain('no dead letter nope');
  });

  test('replay --all empties the dead-letter queue into the origin queues', async ({
    queues,
    redisUrl,
    prefix,
  }) => {
    await seedLetters(queues);
    const { out, exitCode } = await runCli(['dlq', 'replay', '--all'], { redisUrl, prefix });
    expect(exitCode).toBe(0);
    expect(out).toContain('replayed 2 dead letter(s)');
    expect(await queues[QUEUE.deadLetter].count()).toBe(0);
    expect((await queues[QUEUE.linkContact].getJob('job-a'))?.data).toEqual(link);
    // The notification keeps its webhook-id, so the DMS can drop a copy it already has.
    expect((await queues[QUEUE.notifyDms].getJob('job-b'))?.data.webhookId).toBe('evt-9');
  });

  test('replay of one id, and the argument rules', async ({ queues, redisUrl, prefix }) => {
    await seedLetters(queues);
    const one = await runCli(['dlq', 'replay', 'link-contact-job-a'], { redisUrl, prefix });
    expect(one.out).toBe('replayed link-contact-job-a → link-contact job job-a');
    expect(await queues[QUEUE.deadLetter].count()).toBe(1);
    expect((await runCli(['dlq', 'replay'], { redisUrl, prefix })).exitCode).toBe(1);
    expect((await runCli(['dlq', 'replay', 'x', '--all'], { redisUrl, prefix })).exitCode).toBe(1);
    expect((await runCli(['dlq', 'replay', 'nope'], { redisUrl, prefix })).exitCode).toBe(1);
  });

  test('purge needs --yes', async ({ queues, redisUrl, prefix }) => {
    await seedLetters(queues);
    const dry = await runCli(['dlq', 'purge'], { redisUrl, prefix });
    expect(dry.exitCode).toBe(1);
    expect(dry.err).toContain('would delete 2 dead letter(s)');
    expect(await queues[QUEUE.deadLetter].count()).toBe(2);
    const real = await runCli(['dlq', 'purge', '--yes'], { redisUrl, prefix });
    expect(real.out).toBe('purged 2 dead letter(s)');
    expect(await queues[QUEUE.deadLetter].count()).toBe(0);
  });
});
