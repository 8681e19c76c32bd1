import { deadLetterId, listDeadLetters, QUEUE } from '@contact-linker/queues';
import { redisTest, waitFor } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { ORG, settled, startWorkerStack } from './worker-harness.ts';

const test = redisTest.extend('stack', async ({ redisUrl, prefix }, { onCleanup }) => {
  const stack = await startWorkerStack({ redisUrl, prefix });
  onCleanup(() => stack.close());
  return stack;
});

describe('dead-letter queue', () => {
  test('a letter is parked as failed with its reason, and retrying it replays the job', async ({
    stack,
  }) => {
    const contact = stack.web1on1.addContact({ organization: ORG, profile: { email: 'p@x.nl' } });
    stack.web1on1.failNext(1, { status: 404, method: 'PATCH' });
    const job = await stack.link({ dmsContactId: 'D-404', email: 'p@x.nl' });
    expect((await settled(stack.queues, QUEUE.linkContact, job)).state).toBe('dead-lettered');
    // The failed job is removed once its letter exists: the letter is the only copy left.
    expect(await stack.queues[QUEUE.linkContact].getJob(String(job.id))).toBeUndefined();

    const dlq = stack.queues[QUEUE.deadLetter];
    const letterId = deadLetterId(QUEUE.linkContact, String(job.id));
    await waitFor(async () => (await dlq.getJobState(letterId)) === 'failed', {
      message: 'the letter to be parked',
    });
    const parked = await dlq.getJob(letterId);
    expect(parked?.failedReason).toMatch(/^PermanentError/);
    expect(await listDeadLetters(dlq)).toHaveLength(1);

    // What Bull Board's "Retry" button does.
    await parked!.retry('failed');
    await waitFor(async () => (await dlq.getJob(letterId)) === undefined, {
      message: 'the replayed letter to be removed',
    });
    const origin = await settled(stack.queues, QUEUE.linkContact, job);
    expect(origin.state).toBe('completed');
    expect(origin.returnvalue).toMatchObject({ outcome: 'linked', contactId: contact.id });
    expect(stack.web1on1.getContact(contact.id)?.links).toHaveLength(1);
    expect(await listDeadLetters(dlq)).toEqual([]);
  });
});
