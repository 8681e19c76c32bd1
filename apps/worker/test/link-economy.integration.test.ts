/**
 * Where the Web1on1 budget goes (issue: spend it only where it changes something): a remembered
 * link costs no request, a webhook corrects the memory, a DMS contact nobody matched waits and is
 * linked from its Web1on1 contact's webhook, and strangers' webhooks cost nothing. The worker
 * runtime as main.ts builds it, chipchat against the sandbox, a real Redis.
 */
import { type NotifyDmsJob, TransientError, type Web1on1Contact } from '@contact-linker/contracts';
import { createLinkMemory } from '@contact-linker/link-memory';
import { createLogger } from '@contact-linker/observability';
import { QUEUE, TIER_BANDS } from '@contact-linker/queues';
import { parsePrometheusText, redisTest, sampleValue, waitFor } from '@contact-linker/testkit';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { createContactGuard } from '../src/contact-guard.ts';
import { createNotifyState } from '../src/notify-state.ts';
import { createLinkContactProcessor } from '../src/processors/link-contact.ts';
import { ORG, settled, startWorkerStack, type WorkerStack } from './worker-harness.ts';

const test = redisTest.extend('stack', async ({ redisUrl, prefix }, { onCleanup }) => {
  // One lookup per live event, so a DMS contact nobody matches waits at once.
  const stack = await startWorkerStack({ redisUrl, prefix, notFoundAttempts: 1 });
  onCleanup(() => stack.close());
  return stack;
});

const URL_OF = (dmsId: string) => `https://dms.example.test/customer/${dmsId}/`;

const result = async (stack: WorkerStack, job: Job) => {
  const { state, returnvalue } = await settled(stack.queues, QUEUE.linkContact, job);
  if (returnvalue === undefined) throw new Error(`job ${job.id} was ${state}, not completed`);
  return returnvalue;
};

/** The notify-dms job the ingress makes of a Web1on1 contact webhook. */
function contactEvent(
  contact: {
    id: string;
    profile?: { email?: string; telephone?: string };
    links?: { url: string }[];
  },
  type: 'contact.created' | 'contact.updated' = 'contact.updated',
): NotifyDmsJob {
  return {
    webhookId: `evt-${Math.random().toString(36).slice(2)}`,
    type,
    organization: ORG,
    occurredAt: new Date().toISOString(),
    contact: {
      id: contact.id,
      conversation: null,
      profile: {
        email: contact.profile?.email ?? null,
        telephone: contact.profile?.telephone ?? null,
        name: null,
      },
      linkUrls: (contact.links ?? []).map((l) => l.url),
    },
  };
}

const linkJobs = (stack: WorkerStack) =>
  stack.queues[QUEUE.linkContact].getJobs([
    'completed',
    'waiting',
    'prioritized',
    'active',
    'delayed',
  ]);

describe('link memory', () => {
  test('a re-post of a linked contact sends no Web1on1 request', async ({ stack }) => {
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'jane@example.com' },
    });
    const first = await stack.link({ dmsContactId: 'D-1', email: 'jane@example.com' });
    expect(await result(stack, first)).toMatchObject({ outcome: 'linked' });
    const before = stack.web1on1.requests.length;
    const again = await stack.link({ dmsContactId: 'D-1', email: 'jane@example.com' });
    expect(await result(stack, again)).toEqual({
      outcome: 'already_linked',
      contactId: contact.id,
      conversation: contact.conversation,
    });
    expect(stack.web1on1.requests).toHaveLength(before);
  });

  test('a changed email is looked up again', async ({ stack }) => {
    stack.web1on1.addContact({ organization: ORG, profile: { email: 'jane@example.com' } });
    const moved = stack.web1on1.addContact({ organization: ORG, profile: { email: 'j@new.test' } });
    await result(stack, await stack.link({ dmsContactId: 'D-1', email: 'jane@example.com' }));
    const before = stack.web1on1.requests.length;
    const changed = await stack.link({ dmsContactId: 'D-1', email: 'j@new.test' });
    expect(await result(stack, changed)).toMatchObject({ outcome: 'linked', contactId: moved.id });
    expect(stack.web1on1.requests.length).toBeGreaterThan(before);
  });

  test('a webhook without our link makes it forget; the next post links again', async ({
    stack,
  }) => {
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'jane@example.com' },
    });
    await result(stack, await stack.link({ dmsContactId: 'D-1', email: 'jane@example.com' }));
    // An agent removes the link; Web1on1 says so in its contact.update.
    const unlinked = { ...stack.web1on1.getContact(contact.id)!, links: [] };
    stack.web1on1.addContact(unlinked);
    const event = await stack.notify(contactEvent(unlinked));
    await settled(stack.queues, QUEUE.notifyDms, event);
    // Not relinked on the webhook alone.
    expect(stack.web1on1.getContact(contact.id)?.links).toEqual([]);

    const again = await stack.link({ dmsContactId: 'D-1', email: 'jane@example.com' });
    expect(await result(stack, again)).toMatchObject({ outcome: 'linked', contactId: contact.id });
    expect(stack.web1on1.getContact(contact.id)?.links?.map((l) => l.url)).toEqual([URL_OF('D-1')]);
  });

  test('a webhook that still shows the link and the email keeps the memory', async ({ stack }) => {
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'jane@example.com' },
    });
    await result(stack, await stack.link({ dmsContactId: 'D-1', email: 'jane@example.com' }));
    const event = await stack.notify(contactEvent(stack.web1on1.getContact(contact.id)!));
    await settled(stack.queues, QUEUE.notifyDms, event);
    const before = stack.web1on1.requests.length;
    await result(stack, await stack.link({ dmsContactId: 'D-1', email: 'jane@example.com' }));
    expect(stack.web1on1.requests).toHaveLength(before);
  });
});

describe('waiting DMS contacts', () => {
  test('a contact nobody matched is linked from its webhook, by email, with contact.linked', async ({
    stack,
  }) => {
    const job = await stack.link({ dmsContactId: 'D-7', email: 'later@example.com' });
    expect(await result(stack, job)).toEqual({ outcome: 'not_found' });

    // The visitor starts chatting next week.
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'later@example.com' },
    });
    stack.web1on1.clearRequests();
    const event = await stack.notify(contactEvent(contact, 'contact.created'));
    await waitFor(() => stack.web1on1.getContact(contact.id)?.links?.length === 1, {
      message: 'the waiting contact to be linked',
    });
    expect(stack.web1on1.getContact(contact.id)?.links?.[0]?.url).toBe(URL_OF('D-7'));
    // A search (so two matches would stay ambiguous), then the PATCH.
    expect(stack.web1on1.requests.map((r) => r.method)).toEqual(['GET', 'PATCH']);
    await settled(stack.queues, QUEUE.notifyDms, event);
    await waitFor(() =>
      stack.dms
        .accepted()
        .some(
          (d) =>
            (d.body as { type?: string; data?: { dmsContactId?: string } }).type ===
              'contact.linked' &&
            (d.body as { data?: { dmsContactId?: string } }).data?.dmsContactId === 'D-7',
        ),
    );
    const samples = parsePrometheusText(await stack.metrics.registry.metrics());
    expect(sampleValue(samples, 'contact_linker_links_total', { via: 'webhook' })).toBe(1);
    // Linked, it waits no more: another webhook of that contact costs nothing.
    stack.web1on1.clearRequests();
    await settled(
      stack.queues,
      QUEUE.notifyDms,
      await stack.notify(contactEvent(stack.web1on1.getContact(contact.id)!)),
    );
    expect(stack.web1on1.requests).toEqual([]);
  });

  test('a national phone number in the webhook matches the DMS E.164 number', async ({ stack }) => {
    const job = await stack.link({ dmsContactId: 'D-8', phoneE164: '+31612345678' });
    expect(await result(stack, job)).toEqual({ outcome: 'not_found' });
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { telephone: '06-12345678' },
    });
    stack.web1on1.clearRequests();
    await stack.notify(contactEvent(contact, 'contact.created'));
    await waitFor(() => stack.web1on1.getContact(contact.id)?.links?.length === 1, {
      message: 'the waiting contact to be linked by phone',
    });
    // One search, by the number as Web1on1 holds it, then the PATCH.
    expect(stack.web1on1.requests.map((r) => [r.method, r.query['profile.telephone']])).toEqual([
      ['GET', '06-12345678'],
      ['PATCH', undefined],
    ]);
  });

  test('two matching Web1on1 contacts stay ambiguous, and nothing is written', async ({
    stack,
  }) => {
    await result(stack, await stack.link({ dmsContactId: 'D-9', email: 'twin@example.com' }));
    const a = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'twin@example.com' },
    });
    stack.web1on1.addContact({ organization: ORG, profile: { email: 'twin@example.com' } });
    await stack.notify(contactEvent(a, 'contact.created'));
    const matched = await waitFor(async () => {
      const jobs = (await linkJobs(stack)).filter((j) => j.data.webhookMatch !== undefined);
      return jobs.length === 1 ? jobs[0] : undefined;
    });
    expect(await result(stack, matched!)).toEqual({ outcome: 'ambiguous' });
    expect(stack.web1on1.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
  });

  test("strangers' webhooks cost no Web1on1 request and queue nothing", async ({ stack }) => {
    await result(stack, await stack.link({ dmsContactId: 'D-3', email: 'waiting@example.com' }));
    stack.web1on1.clearRequests();
    const jobsBefore = (await linkJobs(stack)).length;
    for (let i = 0; i < 5; i++) {
      const stranger = stack.web1on1.addContact({
        organization: ORG,
        profile: { email: `stranger-${i}@example.com`, telephone: `+3161111111${i}` },
      });
      await settled(stack.queues, QUEUE.notifyDms, await stack.notify(contactEvent(stranger)));
    }
    // The same email in another organization is someone else.
    const elsewhere = { ...contactEvent({ id: 'x', profile: { email: 'waiting@example.com' } }) };
    await settled(
      stack.queues,
      QUEUE.notifyDms,
      await stack.notify({ ...elsewhere, organization: 'another-org' }),
    );
    expect(stack.web1on1.requests).toEqual([]);
    expect((await linkJobs(stack)).length).toBe(jobsBefore);
  });
});

describe('lookups of a contact nobody matches', () => {
  redisTest(
    'a live event looks up NOT_FOUND_ATTEMPTS times, a bulk item once',
    async ({ redisUrl, prefix }) => {
      const stack = await startWorkerStack({ redisUrl, prefix, attempts: 5, notFoundAttempts: 2 });
      try {
        const lists = () => stack.web1on1.requests.filter((r) => r.path === '/v2/contacts').length;
        const live = await stack.link({ dmsContactId: 'L-1', email: 'nobody@example.com' });
        expect(await result(stack, live)).toEqual({ outcome: 'not_found' });
        expect(lists()).toBe(2);
        const bulk = await stack.queues[QUEUE.linkContact].add(
          'dms.contact.bulk',
          {
            dmsContactId: 'B-1',
            organization: ORG,
            email: 'nobody-bulk@example.com',
            receivedAt: new Date().toISOString(),
          },
          {
            attempts: 5,
            priority: TIER_BANDS.bulk.last,
            jobId: 'bulk-1',
            backoff: { type: 'fixed', delay: 20 },
          },
        );
        expect(await result(stack, bulk)).toEqual({ outcome: 'not_found' });
        expect(lists()).toBe(3);
      } finally {
        await stack.close();
      }
    },
  );
});

describe('the memory and contact.linked', () => {
  redisTest(
    'a link is remembered only once its contact.linked is queued, so a run cut short before that sends it on the retry',
    async ({ redisUrl, prefix }) => {
      const redis = new Redis(redisUrl);
      try {
        const contact: Web1on1Contact = {
          id: 'w-1',
          organization: ORG,
          conversation: 'conv-1',
          profile: { email: 'jane@example.com' },
          links: [],
        };
        const queued: string[] = [];
        let failNotify = 1;
        const link = createLinkContactProcessor({
          web1on1: {
            findContacts: async () => ({ contacts: [contact], several: false }),
            getContact: async () => contact,
            addLink: async (_id, l) => {
              contact.links = [...(contact.links ?? []), l];
              return { status: 'linked', contact };
            },
          },
          contactGuard: createContactGuard({ redis, prefix }),
          link: { urlTemplate: 'https://dms.example.test/c/{id}', label: 'View in DMS', icon: 'x' },
          // The worker dies (here: Redis fails) between the PATCH and queueing contact.linked.
          notifyLinked: async (job) => {
            if (failNotify-- > 0) throw new TransientError('Redis went away');
            queued.push(job.webhookId);
          },
          notifyState: createNotifyState(redis, prefix),
          memory: createLinkMemory({ redis, prefix, ttlMs: 60_000, linkUrl: (id) => id }),
          notFoundAttempts: 3,
        });
        const data = {
          dmsContactId: 'D-1',
          organization: ORG,
          email: 'jane@example.com',
          receivedAt: new Date().toISOString(),
        };
        const job = (attemptsMade: number) =>
          ({ id: 'j-1', data, attemptsMade, opts: { attempts: 3 } }) as unknown as Job;
        const context = { log: createLogger({ name: 'order-test', level: 'silent' }) };
        await expect(link(job(0), context)).rejects.toThrow(/Redis went away/);
        // The retry finds the link on the contact and queues the notification the first run could not.
        await expect(link(job(1), context)).resolves.toMatchObject({ outcome: 'already_linked' });
        expect(queued).toHaveLength(1);
      } finally {
        redis.disconnect();
      }
    },
  );
});
