import type { LinkContactJob, Web1on1Contact } from '@contact-linker/contracts';
import { createLogger } from '@contact-linker/observability';
import { createRedisConnection } from '@contact-linker/queues';
import { redisTest } from '@contact-linker/testkit';
import type { Job } from 'bullmq';
import { describe, expect } from 'vitest';
import { createContactLock } from '../src/contact-lock.ts';
import { createContactWrites } from '../src/contact-writes.ts';
import { createNotifyState } from '../src/notify-state.ts';
import { createLinkContactProcessor } from '../src/processors/link-contact.ts';

const test = redisTest.extend('client', async ({ redisUrl }, { onCleanup }) => {
  const redis = createRedisConnection(redisUrl, { role: 'worker' });
  onCleanup(() => redis.quit().then(() => undefined));
  return redis;
});

describe('contact writes', () => {
  test('a list taken before a write, or during one, is not trusted; one taken after is', async ({
    client,
    prefix,
  }) => {
    const writes = createContactWrites(client, prefix);
    const before = await writes.clock();
    expect(await writes.unchangedSince('c-1', before)).toBe(true);

    await writes.pending('c-1');
    // A writer that dies here leaves the mark: nobody trusts any list until it expires.
    expect(await writes.unchangedSince('c-1', before)).toBe(false);
    expect(await writes.unchangedSince('c-1', await writes.clock())).toBe(false);

    await writes.done('c-1');
    expect(await writes.unchangedSince('c-1', before)).toBe(false);
    const after = await writes.clock();
    expect(after).toBeGreaterThan(before);
    expect(await writes.unchangedSince('c-1', after)).toBe(true);
    // Marks are per contact.
    expect(await writes.unchangedSince('c-2', before)).toBe(true);
  });

  test('a job whose fresh list already shows the link marks no write', async ({
    client,
    prefix,
  }) => {
    const writes = createContactWrites(client, prefix);
    const url = 'https://dms.example.test/c/D-1';
    const contact: Web1on1Contact = {
      id: 'w-1',
      organization: 'org',
      conversation: 'conv-1',
      profile: { email: 'jane@example.com' },
      links: [{ label: 'View in DMS', url }],
    };
    const unexpected = async (): Promise<never> => {
      throw new Error('no Web1on1 request beyond the list is expected');
    };
    const link = createLinkContactProcessor({
      web1on1: { findContacts: async () => [contact], getContact: unexpected, addLink: unexpected },
      withContactLock: createContactLock({ redis: client, prefix }),
      contactWrites: writes,
      link: { urlTemplate: 'https://dms.example.test/c/{id}', label: 'View in DMS', icon: 'x' },
      notifyState: createNotifyState(client, prefix),
      logger: createLogger({ name: 'writes-test', level: 'silent' }),
    });
    const before = await writes.clock();
    const data: LinkContactJob = {
      dmsContactId: 'D-1',
      organization: 'org',
      email: 'jane@example.com',
      receivedAt: '2026-11-29T10:00:00.000Z',
    };
    const job = { id: 'j-1', data, attemptsMade: 0, opts: { attempts: 3 } } as unknown as Job;
    await expect(link(job)).resolves.toMatchObject({ outcome: 'already_linked' });
    // Other jobs that listed this contact before may still trust their answers.
    expect(await writes.unchangedSince('w-1', before)).toBe(true);
  });
});
