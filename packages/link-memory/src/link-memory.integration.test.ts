/**
 * The link memory and the waiting index on their own, against a real Redis: what is remembered,
 * what a webhook makes the system forget, which waiting DMS contacts a webhook finds, that entries
 * expire, that a deleted Web1on1 contact is forgotten, and that a deactivated organization is
 * forgotten whole.
 */
import type { LinkContactJob } from '@contact-linker/contracts';
import { redisTest, waitFor } from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { contentOf, createLinkMemory } from './index.ts';

const ORG = 'org-memory';
const url = (dmsId: string) => `https://dms.example.test/c/${dmsId}`;

const test = redisTest.extend('memory', async ({ redisUrl, prefix }, { onCleanup }) => {
  const redis = new Redis(redisUrl);
  onCleanup(() => redis.disconnect());
  return {
    redis,
    prefix,
    make: (ttlMs = 60_000, now?: () => number) =>
      createLinkMemory({ redis, prefix, ttlMs, linkUrl: url, ...(now ? { now } : {}) }),
  };
});

const job = (overrides: Partial<LinkContactJob> = {}): LinkContactJob => ({
  dmsContactId: 'D-1',
  organization: ORG,
  email: 'jane@example.com',
  phoneE164: '+31612345678',
  receivedAt: '2026-12-07T00:00:00.000Z',
  ...overrides,
});

describe('link memory', () => {
  test('remembers a link with the content it was found by', async ({ memory }) => {
    const links = memory.make();
    expect(await links.recall(ORG, 'D-1')).toBeUndefined();
    await links.remember(job(), { contactId: 'w-1', conversation: 'conv-1', url: url('D-1') });
    expect(await links.recall(ORG, 'D-1')).toEqual({
      contactId: 'w-1',
      conversation: 'conv-1',
      content: contentOf(job(), url('D-1')),
    });
    // Another email, another phone or another url is other content.
    const other = [
      contentOf(job({ email: 'janet@example.com' }), url('D-1')),
      contentOf(job({ phoneE164: '+31687654321' }), url('D-1')),
      contentOf(job(), 'https://dms.example.test/other/D-1'),
    ];
    expect(other).not.toContain(contentOf(job(), url('D-1')));
    expect(await links.recall('another-org', 'D-1')).toBeUndefined();
  });

  test('a webhook without our link, or matching no more, forgets it; a matching one keeps it', async ({
    memory,
  }) => {
    const links = memory.make();
    const seen = { id: 'w-1', organization: ORG, linkUrls: [url('D-1')] };
    await links.remember(job(), { contactId: 'w-1', conversation: null, url: url('D-1') });

    // Same email, phone changed: still found by its email.
    await links.observe({ ...seen, email: 'jane@example.com', phoneE164: '+31600000000' });
    expect(await links.recall(ORG, 'D-1')).toBeDefined();
    // Email gone, phone still the DMS's: still matches.
    await links.observe({ ...seen, phoneE164: '+31612345678' });
    expect(await links.recall(ORG, 'D-1')).toBeDefined();
    // Neither matches any more.
    await links.observe({ ...seen, email: 'someone@else.test', phoneE164: '+31600000000' });
    expect(await links.recall(ORG, 'D-1')).toBeUndefined();

    await links.remember(job(), { contactId: 'w-1', conversation: null, url: url('D-1') });
    // An agent removed our link.
    await links.observe({ ...seen, email: 'jane@example.com', linkUrls: ['https://crm.test/1'] });
    expect(await links.recall(ORG, 'D-1')).toBeUndefined();
  });

  test('forgetting one Web1on1 contact leaves a link since made to another', async ({ memory }) => {
    const links = memory.make();
    await links.remember(job(), { contactId: 'w-1', conversation: null, url: url('D-1') });
    await links.remember(job(), { contactId: 'w-2', conversation: null, url: url('D-1') });
    await links.observe({ id: 'w-1', organization: ORG, email: 'x@y.test', linkUrls: [] });
    expect((await links.recall(ORG, 'D-1'))?.contactId).toBe('w-2');
  });
});

describe('waiting DMS contacts', () => {
  test('a webhook finds a waiting contact by email or by phone, and nobody else', async ({
    memory,
  }) => {
    const links = memory.make();
    await links.wait(job());
    await links.wait(job({ dmsContactId: 'D-2', email: undefined, phoneE164: '+31699999999' }));
    const observe = (email?: string, phoneE164?: string) =>
      links.observe({
        id: 'w-9',
        organization: ORG,
        linkUrls: [],
        ...(email ? { email } : {}),
        ...(phoneE164 ? { phoneE164 } : {}),
      });
    expect((await observe('jane@example.com')).map((w) => w.dmsContactId)).toEqual(['D-1']);
    expect((await observe(undefined, '+31612345678')).map((w) => w.dmsContactId)).toEqual(['D-1']);
    expect((await observe(undefined, '+31699999999'))[0]).toEqual({
      dmsContactId: 'D-2',
      organization: ORG,
      phoneE164: '+31699999999',
    });
    expect(await observe('stranger@example.com', '+31611111111')).toEqual([]);
    // The same email in another organization is someone else.
    expect(
      await links.observe({
        id: 'w-9',
        organization: 'other',
        email: 'jane@example.com',
        linkUrls: [],
      }),
    ).toEqual([]);
  });

  test('a later event of the same DMS contact replaces what it waited for', async ({ memory }) => {
    const links = memory.make();
    await links.wait(job());
    await links.wait(job({ email: 'new@example.com', phoneE164: undefined }));
    const seen = (email: string) =>
      links.observe({ id: 'w', organization: ORG, email, linkUrls: [] });
    expect(await seen('jane@example.com')).toEqual([]);
    expect((await seen('new@example.com')).map((w) => w.dmsContactId)).toEqual(['D-1']);
    expect(
      await links.observe({ id: 'w', organization: ORG, phoneE164: '+31612345678', linkUrls: [] }),
    ).toEqual([]);
  });

  test('a link made, or an end to the wait, clears it', async ({ memory }) => {
    const links = memory.make();
    const seen = () =>
      links.observe({ id: 'w', organization: ORG, email: 'jane@example.com', linkUrls: [] });
    await links.wait(job());
    await links.remember(job(), { contactId: 'w-1', conversation: null, url: url('D-1') });
    expect(await seen()).toEqual([]);
    await links.wait(job());
    await links.stopWaiting(ORG, 'D-1');
    expect(await seen()).toEqual([]);
  });

  test('entries expire after the TTL', async ({ memory }) => {
    const links = memory.make(300);
    await links.wait(job({ dmsContactId: 'D-9' }));
    await links.remember(job(), { contactId: 'w-1', conversation: null, url: url('D-1') });
    await waitFor(async () => (await links.recall(ORG, 'D-1')) === undefined, { timeoutMs: 3000 });
    expect(
      await links.observe({ id: 'w', organization: ORG, email: 'jane@example.com', linkUrls: [] }),
    ).toEqual([]);
  });
});

describe('sweeping', () => {
  test('drops what has expired, keeps the rest, and forgets an organization left empty', async ({
    memory,
  }) => {
    let clock = Date.now();
    const links = memory.make(60_000, () => clock);
    await links.remember(job(), { contactId: 'w-1', conversation: null, url: url('D-1') });
    await links.wait(job({ dmsContactId: 'D-2', email: 'waits@example.com' }));
    clock += 30_000;
    await links.remember(job({ dmsContactId: 'D-3' }), {
      contactId: 'w-3',
      conversation: null,
      url: url('D-3'),
    });
    clock += 31_000;
    // D-1 and D-2 are past their 60 s; D-3 has 29 s left.
    expect(await links.recall(ORG, 'D-1')).toBeUndefined();
    expect(await links.recall(ORG, 'D-3')).toBeDefined();
    expect(await links.sweep()).toBe(2);
    const { redis, prefix } = memory;
    expect(await redis.hkeys(`${prefix}:links:${ORG}`)).toEqual(['D-3']);
    expect(await redis.hkeys(`${prefix}:waiting:${ORG}`)).toEqual([]);
    expect(await redis.exists(`${prefix}:waiting-email:${ORG}`)).toBe(0);
    // The by-contact index of the expired link went too.
    expect(await redis.hkeys(`${prefix}:linked:${ORG}`)).toEqual(['w-3']);
    expect(await links.sweep()).toBe(0);

    clock += 30_000;
    expect(await links.sweep()).toBe(1);
    expect(await redis.smembers(`${prefix}:memory-organizations`)).toEqual([ORG]);
    await links.sweep();
    expect(await redis.smembers(`${prefix}:memory-organizations`)).toEqual([]);
  });
});

describe('forgetting a deleted Web1on1 contact', () => {
  test('drops every link to it and the DMS contacts waiting for its email or phone, nothing else', async ({
    memory,
  }) => {
    const links = memory.make();
    const deleted = {
      id: 'w-1',
      organization: ORG,
      email: 'jane@example.com',
      phoneE164: '+31612345678',
    };
    // Two DMS contacts linked to it, one linked to another contact.
    await links.remember(job(), { contactId: 'w-1', conversation: 'c-1', url: url('D-1') });
    await links.remember(job({ dmsContactId: 'D-2' }), {
      contactId: 'w-1',
      conversation: null,
      url: url('D-2'),
    });
    await links.remember(job({ dmsContactId: 'D-3', email: 'other@example.com' }), {
      contactId: 'w-2',
      conversation: null,
      url: url('D-3'),
    });
    // DMS contacts waiting for its email, its phone, and someone else's email.
    await links.wait(job({ dmsContactId: 'D-4', phoneE164: undefined }));
    await links.wait(job({ dmsContactId: 'D-5', email: undefined }));
    await links.wait(
      job({ dmsContactId: 'D-6', email: 'stranger@example.com', phoneE164: undefined }),
    );

    expect(await links.forgetContact(deleted)).toBe(4);

    expect(await links.recall(ORG, 'D-1')).toBeUndefined();
    expect(await links.recall(ORG, 'D-2')).toBeUndefined();
    expect(await links.recall(ORG, 'D-3')).toMatchObject({ contactId: 'w-2' });
    expect(await memory.redis.hexists(`${memory.prefix}:linked:${ORG}`, 'w-1')).toBe(0);
    const waitingFor = (email?: string, phoneE164?: string) =>
      links.observe({
        id: 'w-9',
        organization: ORG,
        ...(email ? { email } : {}),
        ...(phoneE164 ? { phoneE164 } : {}),
      });
    expect(await waitingFor('jane@example.com', '+31612345678')).toEqual([]);
    expect((await waitingFor('stranger@example.com')).map((w) => w.dmsContactId)).toEqual(['D-6']);
    expect(await memory.redis.hkeys(`${memory.prefix}:waiting:${ORG}`)).toEqual(['D-6']);
    // Idempotent, and a contact known only by its id forgets its links alone.
    expect(await links.forgetContact(deleted)).toBe(0);
    expect(await links.forgetContact({ id: 'w-2', organization: ORG })).toBe(1);
    expect(await links.recall(ORG, 'D-3')).toBeUndefined();
    expect((await waitingFor('stranger@example.com')).map((w) => w.dmsContactId)).toEqual(['D-6']);
  });

  test("keeps a DMS contact's link made since to another Web1on1 contact", async ({ memory }) => {
    const links = memory.make();
    await links.remember(job(), { contactId: 'w-1', conversation: null, url: url('D-1') });
    await links.remember(job(), { contactId: 'w-2', conversation: null, url: url('D-1') });
    expect(await links.forgetContact({ id: 'w-1', organization: ORG })).toBe(0);
    expect(await links.recall(ORG, 'D-1')).toMatchObject({ contactId: 'w-2' });
  });
});

describe('forgetting an organization', () => {
  test("drops its links and waiting contacts, and nothing of another's", async ({ memory }) => {
    const links = memory.make();
    const OTHER = 'org-other';
    for (const organization of [ORG, OTHER]) {
      await links.remember(job({ organization }), {
        contactId: 'w-1',
        conversation: null,
        url: url('D-1'),
      });
      await links.wait(job({ organization, dmsContactId: 'D-2', email: 'waits@example.com' }));
    }
    const waitsFor = (organization: string) =>
      links.observe({ id: 'w-2', organization, email: 'waits@example.com' });
    expect(await waitsFor(ORG)).toHaveLength(1);

    expect(await links.forgetOrganization(ORG)).toBe(5);
    expect(await links.recall(ORG, 'D-1')).toBeUndefined();
    expect(await waitsFor(ORG)).toEqual([]);
    const { redis, prefix } = memory;
    for (const kind of ['links', 'linked', 'waiting', 'waiting-email', 'waiting-phone']) {
      expect(await redis.exists(`${prefix}:${kind}:${ORG}`), kind).toBe(0);
    }
    expect(await redis.smembers(`${prefix}:memory-organizations`)).toEqual([OTHER]);

    // The other organization keeps its link and its waiting contact.
    expect(await links.recall(OTHER, 'D-1')).toMatchObject({ contactId: 'w-1' });
    expect(await waitsFor(OTHER)).toEqual([
      expect.objectContaining({ dmsContactId: 'D-2', organization: OTHER }),
    ]);
    // Idempotent: nothing left to forget.
    expect(await links.forgetOrganization(ORG)).toBe(0);
  });
});
