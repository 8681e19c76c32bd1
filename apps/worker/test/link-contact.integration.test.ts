import { listDeadLetters, QUEUE, queueCatalog, TIER_BANDS } from '@contact-linker/queues';
import {
  makeWebhookSecret,
  redisTest,
  startDmsSandbox,
  startWeb1on1Sandbox,
  waitFor,
} from '@contact-linker/testkit';
import type { Job } from 'bullmq';
import { describe, expect } from 'vitest';
import { APP_URL, ORG, settled, startWorkerStack, type WorkerStack } from './worker-harness.ts';

const test = redisTest.extend('stack', async ({ redisUrl, prefix }, { onCleanup }) => {
  const stack = await startWorkerStack({ redisUrl, prefix });
  onCleanup(() => stack.close());
  return stack;
});

const finished = (stack: WorkerStack, job: Job) => settled(stack.queues, QUEUE.linkContact, job);
const result = async (stack: WorkerStack, job: Job) => {
  const { state, returnvalue } = await finished(stack, job);
  if (returnvalue === undefined) throw new Error(`job ${job.id} was ${state}, not completed`);
  return returnvalue;
};

const LINK = {
  label: 'View in DMS',
  url: 'https://dms.example.test/customer/DMS-1/',
  icon: 'https://dms.example.test/favicon.ico',
};

describe('link-contact', () => {
  test('links the one contact found by email and keeps its existing links', async ({ stack }) => {
    const existing = { label: 'CRM', url: 'https://crm.example.test/1' };
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'jane@example.com', name: 'Jane' },
      links: [existing],
    });
    const job = await stack.link({ dmsContactId: 'DMS-1', email: 'jane@example.com' });
    expect(await result(stack, job)).toEqual({
      outcome: 'linked',
      contactId: contact.id,
      conversation: contact.conversation,
    });
    expect(stack.web1on1.getContact(contact.id)?.links).toEqual([existing, LINK]);
  });

  test('sends contact.linked to the DMS with the conversation URL', async ({ stack }) => {
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'jane@example.com', name: 'Jane' },
    });
    await stack.link({ dmsContactId: 'DMS-1', email: 'jane@example.com' });
    const [delivery] = await waitFor(() =>
      stack.dms.accepted().length ? stack.dms.accepted() : undefined,
    );
    expect(delivery?.verified).toBe(true);
    expect(delivery?.body).toEqual({
      type: 'contact.linked',
      timestamp: expect.any(String),
      organization: ORG,
      data: {
        contactId: contact.id,
        conversation: contact.conversation,
        conversationUrl: `${APP_URL}/conversations/${contact.conversation}`,
        profile: { email: 'jane@example.com', telephone: null, name: 'Jane' },
        dmsContactId: 'DMS-1',
      },
    });
  });

  test('already_linked when a link with that url exists: no PATCH', async ({ stack }) => {
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'jane@example.com' },
      links: [LINK],
    });
    const job = await stack.link({ dmsContactId: 'DMS-1', email: 'jane@example.com' });
    expect((await result(stack, job)).outcome).toBe('already_linked');
    expect(stack.web1on1.getContact(contact.id)?.links).toEqual([LINK]);
    expect(stack.web1on1.requests.filter((r) => r.method === 'PATCH')).toHaveLength(0);
  });

  test('patches from the list answer when no write of ours came since: no GET', async ({
    stack,
  }) => {
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'jane@example.com' },
      links: [],
    });
    const job = await stack.link({ dmsContactId: 'DMS-1', email: 'jane@example.com' });
    expect((await result(stack, job)).outcome).toBe('linked');
    expect(stack.web1on1.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /v2/contacts',
      `PATCH /v2/contacts/${contact.id}`,
    ]);
    // The next job listed after that write ended, so it may trust its list too: no PATCH, no GET.
    // (A phone added in the DMS: new content, so the link memory does not answer for it.)
    const again = await stack.link({
      dmsContactId: 'DMS-1',
      email: 'jane@example.com',
      phoneE164: '+31612345678',
    });
    expect((await result(stack, again)).outcome).toBe('already_linked');
    expect(stack.web1on1.requests.map((r) => r.method)).toEqual(['GET', 'PATCH', 'GET']);
    expect(stack.web1on1.getContact(contact.id)?.links).toEqual([LINK]);
  });

  test('finds a national number by its E.164 form', async ({ stack }) => {
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { telephone: '+31612345678' },
    });
    const job = await stack.link({
      dmsContactId: 'DMS-2',
      phoneE164: '+31612345678',
      phoneRaw: '06 12345678',
    });
    expect(await result(stack, job)).toMatchObject({ outcome: 'linked', contactId: contact.id });
    const lists = stack.web1on1.requests.filter((r) => r.path === '/v2/contacts');
    expect(lists[0]?.query).toMatchObject({
      organization: ORG,
      'profile.telephone': '+31612345678',
    });
  });

  test('falls back from email to phone, and to the phone as the DMS sent it', async ({ stack }) => {
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { telephone: '06 12345678' },
    });
    const job = await stack.link({
      dmsContactId: 'DMS-3',
      email: 'nobody@example.com',
      phoneE164: '+31612345678',
      phoneRaw: '06 12345678',
    });
    expect(await result(stack, job)).toMatchObject({ outcome: 'linked', contactId: contact.id });
    const queries = stack.web1on1.requests
      .filter((r) => r.path === '/v2/contacts')
      .map((r) => r.query);
    expect(queries.map((q) => q['profile.email'] ?? q['profile.telephone'])).toEqual([
      'nobody@example.com',
      '+31612345678',
      '06 12345678',
    ]);
  });

  test('only searches the job organization', async ({ stack }) => {
    stack.web1on1.addContact({ organization: 'other-org', profile: { email: 'jane@example.com' } });
    const job = await stack.link({ dmsContactId: 'DMS-4', email: 'jane@example.com' });
    expect((await result(stack, job)).outcome).toBe('not_found');
  });

  test('not_found after retrying every attempt, not dead-lettered', async ({ stack }) => {
    const job = await stack.link({ dmsContactId: 'DMS-5', email: 'ghost@example.com' });
    expect(await result(stack, job)).toEqual({ outcome: 'not_found' });
    expect(stack.web1on1.requests.filter((r) => r.path === '/v2/contacts')).toHaveLength(3);
    expect(await listDeadLetters(stack.queues[QUEUE.deadLetter])).toEqual([]);
  });

  test('a contact created between attempts is found and linked', async ({ stack }) => {
    const job = await stack.link({ dmsContactId: 'DMS-6', email: 'late@example.com' });
    await waitFor(() => stack.web1on1.requests.length >= 1);
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'late@example.com' },
    });
    expect(await result(stack, job)).toMatchObject({ outcome: 'linked', contactId: contact.id });
    // Found by a later lookup, not the first.
    const lists = stack.web1on1.requests.filter((r) => r.path === '/v2/contacts');
    expect(lists.length).toBeGreaterThanOrEqual(2);
  });

  test('429s spend no attempt: the job waits out each Retry-After, then links', async ({
    stack,
  }) => {
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'busy@example.com' },
    });
    // Three 429s, one a second: as many as the job's attempts (3), each would have used one up.
    stack.web1on1.rateLimitFor(2500, 1);
    const job = await stack.link({ dmsContactId: 'DMS-429', email: 'busy@example.com' });
    expect(await result(stack, job)).toMatchObject({ outcome: 'linked', contactId: contact.id });
    const requests = stack.web1on1.requests;
    const limited = requests.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(3);
    // The budget holds every request until Retry-After has passed.
    for (const r of limited) {
      const next = requests.find((n) => n.startedAt > r.startedAt);
      if (next) expect(next.startedAt - r.startedAt).toBeGreaterThanOrEqual(990);
    }
    // It had its turn: after a pause it came back at the front of its tier, not behind newcomers.
    const after = await stack.queues[QUEUE.linkContact].getJob(String(job.id));
    expect(after?.priority).toBe(TIER_BANDS.live.front);
  });

  test('ambiguous when several contacts match: nothing changes', async ({ stack }) => {
    const a = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'twin@example.com' },
    });
    const b = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'twin@example.com' },
    });
    const job = await stack.link({ dmsContactId: 'DMS-7', email: 'twin@example.com' });
    expect(await result(stack, job)).toEqual({ outcome: 'ambiguous' });
    expect(stack.web1on1.getContact(a.id)?.links).toEqual([]);
    expect(stack.web1on1.getContact(b.id)?.links).toEqual([]);
    expect(stack.dms.deliveries).toHaveLength(0);
  });

  redisTest(
    'ambiguous from one request when the API pages one contact at a time and three match',
    async ({ redisUrl, prefix }) => {
      const web1on1 = await startWeb1on1Sandbox({ organizationId: ORG, pageSize: 1 });
      const secret = makeWebhookSecret();
      const dms = await startDmsSandbox({ secret });
      const stack = await startWorkerStack({ redisUrl, prefix, shared: { web1on1, dms, secret } });
      try {
        const twins = [1, 2, 3].map(() =>
          web1on1.addContact({ organization: ORG, profile: { email: 'triplet@example.com' } }),
        );
        const job = await stack.link({ dmsContactId: 'DMS-9', email: 'triplet@example.com' });
        expect(await result(stack, job)).toEqual({ outcome: 'ambiguous' });
        // The first page said more exist; the lookup stopped there.
        expect(web1on1.requests.map((r) => `${r.method} ${r.path} ${r.query.limit}`)).toEqual([
          'GET /v2/contacts 2',
        ]);
        for (const twin of twins) expect(web1on1.getContact(twin.id)?.links).toEqual([]);
      } finally {
        await stack.close();
        await Promise.all([web1on1.close(), dms.close()]);
      }
    },
  );

  test('retries a 5xx and then links', async ({ stack }) => {
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'x@example.com' },
    });
    stack.web1on1.failNext(2, { status: 503 });
    const job = await stack.link({ dmsContactId: 'DMS-8', email: 'x@example.com' });
    expect(await result(stack, job)).toMatchObject({ outcome: 'linked', contactId: contact.id });
    expect(stack.web1on1.requests.filter((r) => r.status === 503)).toHaveLength(2);
    // Each retry came back at the front of its tier.
    const after = await stack.queues[QUEUE.linkContact].getJob(String(job.id));
    expect(after?.priority).toBe(TIER_BANDS.live.front);
  });

  test('a 404 on PATCH is dead-lettered at once with its origin and error', async ({ stack }) => {
    stack.web1on1.addContact({ organization: ORG, profile: { email: 'gone@example.com' } });
    stack.web1on1.failNext(1, { status: 404, method: 'PATCH' });
    const job = await stack.link({ dmsContactId: 'DMS-9', email: 'gone@example.com' });
    const { state } = await finished(stack, job);
    expect(state).toBe('dead-lettered');
    const letters = await listDeadLetters(stack.queues[QUEUE.deadLetter]);
    expect(letters).toEqual([
      {
        id: `link-contact-${job.id}`,
        queue: 'link-contact',
        name: 'dms.contact',
        failedReason: expect.stringMatching(/^PermanentError/),
        attemptsMade: 1,
        failedAt: expect.any(String),
      },
    ]);
    expect(stack.web1on1.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
  });

  test('out of attempts on 5xx: dead-lettered exactly once', async ({ stack }) => {
    stack.web1on1.addContact({ organization: ORG, profile: { email: 'down@example.com' } });
    stack.web1on1.setFaults({ errorRate: 1, errorStatus: 502 });
    const job = await stack.link({ dmsContactId: 'DMS-10', email: 'down@example.com' });
    expect((await finished(stack, job)).state).toBe('dead-lettered');
    const letters = await waitFor(async () => {
      const l = await listDeadLetters(stack.queues[QUEUE.deadLetter]);
      return l.length ? l : undefined;
    });
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      attemptsMade: 3,
      failedReason: expect.stringMatching(/^TransientError/),
    });
  });

  test('invalid job data is dead-lettered without calling Web1on1', async ({ stack }) => {
    const job = await stack.link({ dmsContactId: '', email: 'a@b.nl' });
    expect((await finished(stack, job)).state).toBe('dead-lettered');
    expect(stack.web1on1.requests).toHaveLength(0);
    expect(await listDeadLetters(stack.queues[QUEUE.deadLetter])).toHaveLength(1);
  });

  test('finished jobs are trimmed by the workers, not by options stored in each job', async ({
    stack,
  }) => {
    stack.web1on1.addContact({ organization: ORG, profile: { email: 'kept@example.com' } });
    const job = await stack.link({ dmsContactId: 'DMS-9', email: 'kept@example.com' });
    const { state, job: done } = await finished(stack, job);
    expect(state).toBe('completed');
    expect(done.opts).not.toHaveProperty('removeOnComplete');
    expect(done.opts).not.toHaveProperty('removeOnFail');
    for (const name of [QUEUE.linkContact, QUEUE.notifyDms]) {
      const worker = stack.runtime.workers.find((w) => w.name === name);
      expect(worker?.opts.removeOnComplete).toEqual(queueCatalog[name].retention.removeOnComplete);
      expect(worker?.opts.removeOnFail).toEqual(queueCatalog[name].retention.removeOnFail);
    }
  });
});
