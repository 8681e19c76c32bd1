/**
 * Echo suppression decided at the two moments that used to race (found by the fault suite):
 * - Web1on1's `contact.update` for a link this system added can be processed while the link job is
 *   still between its PATCH and enqueueing `contact.linked`;
 * - a `contact.updated` whose delivery failed must still be delivered on retry, even when another
 *   notification of the same contact recorded the same fields in between.
 * The processors run directly on real Redis, with stand-ins for their HTTP clients, so each
 * interleaving happens every time instead of by chance.
 */
import type {
  DmsNotification,
  LinkContactJob,
  NotifyDmsJob,
  Web1on1Contact,
} from '@contact-linker/contracts';
import { TransientError } from '@contact-linker/contracts';
import { createLinkMemory } from '@contact-linker/link-memory';
import { createLogger } from '@contact-linker/observability';
import { createRedisConnection } from '@contact-linker/queues';
import { redisTest } from '@contact-linker/testkit';
import type { Job } from 'bullmq';
import { describe, expect } from 'vitest';
import { createContactGuard } from '../src/contact-guard.ts';
import { createNotifyState } from '../src/notify-state.ts';
import { createLinkContactProcessor } from '../src/processors/link-contact.ts';
import { createNotifyDmsProcessor } from '../src/processors/notify-dms.ts';

const ORG = 'org-echo';
/** What the worker hands each processor besides the job. */
const context = { log: createLogger({ name: 'echo-test', level: 'silent' }) };
const profile = { email: 'jane@example.com', telephone: null, name: 'Jane' };

const asJob = <D>(id: string, data: D, attemptsMade = 0) =>
  ({ id, data, attemptsMade, opts: { attempts: 3 } }) as unknown as Job<D, never>;

const updateEvent = (webhookId: string): NotifyDmsJob => ({
  webhookId,
  type: 'contact.updated',
  organization: ORG,
  occurredAt: '2026-11-29T10:00:00.000Z',
  contact: { id: 'w-1', conversation: 'conv-1', profile },
});

const test = redisTest.extend('client', async ({ redisUrl }, { onCleanup }) => {
  const redis = createRedisConnection(redisUrl, { role: 'worker' });
  onCleanup(() => redis.quit().then(() => undefined));
  return redis;
});

describe('echo suppression', () => {
  test('the echo of a PATCH is suppressed even when it is handled before contact.linked is enqueued', async ({
    client: redis,
    prefix,
  }) => {
    const notifyState = createNotifyState(redis, prefix);
    const delivered: DmsNotification[] = [];
    const notifyDms = createNotifyDmsProcessor({
      appUrl: 'https://app.example.test',
      notifyState,
      dms: {
        send: async (_id, notification) => {
          delivered.push(notification);
          return { status: 204 };
        },
      },
    });
    const contact: Web1on1Contact = {
      id: 'w-1',
      organization: ORG,
      conversation: 'conv-1',
      profile,
      links: [],
    };
    let echo: Promise<unknown> | undefined;
    const link = createLinkContactProcessor({
      web1on1: {
        findContacts: async () => ({ contacts: [contact], several: false }),
        getContact: async () => contact,
        // Web1on1 sends its contact.update as it applies the PATCH; here the echo is handled to
        // completion before the PATCH even answers, the worst order the real system can produce.
        addLink: async (_id, l) => {
          echo = notifyDms(asJob('evt-echo', updateEvent('evt-echo')), context);
          await echo;
          return { status: 'linked', contact: { ...contact, links: [l] } };
        },
      },
      contactGuard: createContactGuard({ redis, prefix }),
      link: { urlTemplate: 'https://dms.example.test/c/{id}', label: 'View in DMS', icon: 'x' },
      notifyLinked: async (job) => {
        await notifyDms(asJob(job.webhookId, job), context);
      },
      notifyState,
      memory: createLinkMemory({ redis, prefix, ttlMs: 60_000, linkUrl: (id) => id }),
      notFoundAttempts: 3,
    });

    const data: LinkContactJob = {
      dmsContactId: 'D-1',
      organization: ORG,
      email: 'jane@example.com',
      receivedAt: '2026-11-29T10:00:00.000Z',
    };
    await expect(link(asJob('link-1', data), context)).resolves.toMatchObject({
      outcome: 'linked',
    });
    await expect(echo).resolves.toEqual({ outcome: 'unchanged' });
    expect(delivered.map((d) => d.type)).toEqual(['contact.linked']);
  });

  test('a failed update is delivered on retry after another one recorded the same fields', async ({
    client: redis,
    prefix,
  }) => {
    const notifyState = createNotifyState(redis, prefix);
    const delivered: string[] = [];
    let failNext = 1;
    const notifyDms = createNotifyDmsProcessor({
      appUrl: 'https://app.example.test',
      notifyState,
      dms: {
        send: async (id) => {
          if (failNext-- > 0) throw new TransientError('DMS answered 503');
          delivered.push(id);
          return { status: 204 };
        },
      },
    });

    await expect(notifyDms(asJob('1', updateEvent('evt-a')), context)).rejects.toThrow(/503/);
    // Same fields, another event: nothing new for the DMS, since evt-a carries them.
    await expect(notifyDms(asJob('2', updateEvent('evt-b')), context)).resolves.toEqual({
      outcome: 'unchanged',
    });
    await expect(notifyDms(asJob('1', updateEvent('evt-a'), 1), context)).resolves.toMatchObject({
      outcome: 'delivered',
    });
    expect(delivered).toEqual(['evt-a']);
    // Once delivered the decision is gone: a third event with the same fields stays an echo, and
    // so does its re-run after a worker crash (stalled jobs run again with the same data).
    for (let run = 0; run < 2; run++) {
      await expect(notifyDms(asJob('3', updateEvent('evt-c')), context)).resolves.toEqual({
        outcome: 'unchanged',
      });
    }
    expect(delivered).toEqual(['evt-a']);
  });
});
