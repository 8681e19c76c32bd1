import {
  type LinkContactJob,
  TransientError,
  type Web1on1Contact,
} from '@contact-linker/contracts';
import { createLinkMemory } from '@contact-linker/link-memory';
import { createLogger } from '@contact-linker/observability';
import { createRedisConnection } from '@contact-linker/queues';
import { redisTest } from '@contact-linker/testkit';
import type { Job } from 'bullmq';
import { describe, expect, vi } from 'vitest';
import { createContactGuard } from '../src/contact-guard.ts';
import { createNotifyState } from '../src/notify-state.ts';
import { createLinkContactProcessor } from '../src/processors/link-contact.ts';

const test = redisTest.extend('client', async ({ redisUrl }, { onCleanup }) => {
  const redis = createRedisConnection(redisUrl, { role: 'worker' });
  onCleanup(() => redis.quit().then(() => undefined));
  return redis;
});

const never = new Promise<never>(() => {});

describe('contact guard', () => {
  test('a list taken before a write, or during one, is not trusted; one taken after is', async ({
    client,
    prefix,
  }) => {
    const guard = createContactGuard({ redis: client, prefix });
    const currentSince = (contactId: string, listedAt: bigint) =>
      guard.withContact(contactId, { listedAt }, async ({ listIsCurrent }) => listIsCurrent);
    const before = await guard.clock();
    let during: bigint | undefined;
    // Nothing written yet: current. The section itself may write, so it marks the contact.
    expect(
      await guard.withContact('c-1', { listedAt: before }, async ({ listIsCurrent }) => {
        during = await guard.clock();
        return listIsCurrent;
      }),
    ).toBe(true);
    expect(await currentSince('c-1', before)).toBe(false);
    expect(await currentSince('c-1', during!)).toBe(false);
    // That read marked the contact again; a list taken after it ended is current, whether the
    // clock comes from this guard's last reply or from Redis.
    const later = await guard.clock();
    expect(later).toBeGreaterThan(before);
    expect(await currentSince('c-1', later)).toBe(true);
    const elsewhere = await createContactGuard({ redis: client, prefix }).clock();
    expect(await currentSince('c-1', elsewhere)).toBe(true);
    // Marks are per contact; a caller without a list answer never counts as current.
    expect(await currentSince('c-2', before)).toBe(true);
    expect(await guard.withContact('c-3', {}, async ({ listIsCurrent }) => listIsCurrent)).toBe(
      false,
    );
  });

  test('reads the clock from the replies it already has', async ({ client, prefix }) => {
    const guard = createContactGuard({ redis: client, prefix });
    const calls = vi.spyOn(client, 'evalsha');
    const first = await guard.clock();
    await guard.withContact('c-1', {}, async () => {});
    const scripts = calls.mock.calls.length;
    const reused = await guard.clock();
    expect(calls.mock.calls.length).toBe(scripts);
    calls.mockRestore();
    expect(reused).toBeGreaterThan(first);
  });

  test('a section that writes nothing to a current contact leaves no mark', async ({
    client,
    prefix,
  }) => {
    const guard = createContactGuard({ redis: client, prefix });
    const before = await guard.clock();
    const listing = { listedAt: before, skipWriteIfCurrent: true };
    expect(
      await guard.withContact('c-1', listing, async ({ listIsCurrent }) => listIsCurrent),
    ).toBe(true);
    expect(
      await guard.withContact('c-1', listing, async ({ listIsCurrent }) => listIsCurrent),
    ).toBe(true);
  });

  test('a holder that dies mid-write leaves the contact untrusted after its lock expired', async ({
    client,
    redisUrl,
    prefix,
  }) => {
    // A process that dies: its connection goes, so it renews nothing and releases nothing.
    const doomed = createRedisConnection(redisUrl, { role: 'worker' });
    const dying = createContactGuard({ redis: doomed, prefix, lockTtlMs: 150 });
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    void dying.withContact('c-1', {}, () => {
      entered();
      return never;
    });
    await inside;
    doomed.disconnect();
    const guard = createContactGuard({ redis: client, prefix });
    const listedAt = await guard.clock();
    // Waits for the lock to expire, then must not trust a list taken while the write was open.
    expect(
      await guard.withContact('c-1', { listedAt }, async ({ listIsCurrent }) => listIsCurrent),
    ).toBe(false);
  });

  test('a live holder keeps its lock however long its section runs', async ({ client, prefix }) => {
    const slow = createContactGuard({ redis: client, prefix, lockTtlMs: 150 });
    const impatient = createContactGuard({ redis: client, prefix, waitMs: 400 });
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const held = slow.withContact('c-1', {}, async () => {
      entered();
      await new Promise((resolve) => setTimeout(resolve, 600));
    });
    await inside;
    // Four lifetimes of the lock pass while the other guard waits for it.
    await expect(impatient.withContact('c-1', {}, async () => 'ran')).rejects.toBeInstanceOf(
      TransientError,
    );
    await held;
    await expect(impatient.withContact('c-1', {}, async () => 'ran')).resolves.toBe('ran');
  });

  test('serialises sections per contact across guards, not across contacts', async ({
    client,
    prefix,
  }) => {
    const guards = [0, 1, 2].map(() => createContactGuard({ redis: client, prefix }));
    const inside = new Map<string, number>();
    let overlapSame = 0;
    let overlapOther = 0;
    const section = (contactId: string) => async () => {
      inside.set(contactId, (inside.get(contactId) ?? 0) + 1);
      if ((inside.get(contactId) ?? 0) > 1) overlapSame += 1;
      if ([...inside.values()].reduce((a, b) => a + b, 0) > (inside.get(contactId) ?? 0))
        overlapOther += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      inside.set(contactId, (inside.get(contactId) ?? 0) - 1);
    };
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        guards[i % 3]!.withContact(i % 2 ? 'a' : 'b', {}, section(i % 2 ? 'a' : 'b')),
      ),
    );
    expect(overlapSame).toBe(0);
    expect(overlapOther).toBeGreaterThan(0);
  });

  test('gives up on a lock that stays busy, and never frees a lock it lost', async ({
    client,
    prefix,
  }) => {
    const first = createContactGuard({ redis: client, prefix });
    const impatient = createContactGuard({ redis: client, prefix, waitMs: 50 });
    let release!: () => void;
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const held = first.withContact('c-1', {}, () => {
      entered();
      return new Promise<void>((r) => (release = r));
    });
    await inside;
    await expect(impatient.withContact('c-1', {}, async () => 'ran')).rejects.toBeInstanceOf(
      TransientError,
    );
    // The first holder loses its lock (as if it had stalled past its lifetime); a new holder takes
    // it, and the first holder's release leaves it be.
    await client.del(`${prefix}:lock:contact:c-1`);
    const second = createContactGuard({ redis: client, prefix });
    let ran = false;
    await second.withContact('c-1', {}, async () => {
      release();
      await held;
      await expect(impatient.withContact('c-1', {}, async () => 'ran')).rejects.toBeInstanceOf(
        TransientError,
      );
      ran = true;
    });
    expect(ran).toBe(true);
  });

  test('a job whose fresh list already shows the link marks no write', async ({
    client,
    prefix,
  }) => {
    const guard = createContactGuard({ redis: client, prefix });
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
      web1on1: {
        findContacts: async () => ({ contacts: [contact], several: false }),
        getContact: unexpected,
        addLink: unexpected,
      },
      contactGuard: guard,
      link: { urlTemplate: 'https://dms.example.test/c/{id}', label: 'View in DMS', icon: 'x' },
      notifyState: createNotifyState(client, prefix),
      memory: createLinkMemory({ redis: client, prefix, ttlMs: 60_000, linkUrl: (id) => id }),
      notFoundAttempts: 3,
    });
    const before = await guard.clock();
    const data: LinkContactJob = {
      dmsContactId: 'D-1',
      organization: 'org',
      email: 'jane@example.com',
      receivedAt: '2026-11-29T10:00:00.000Z',
    };
    const job = { id: 'j-1', data, attemptsMade: 0, opts: { attempts: 3 } } as unknown as Job;
    await expect(
      link(job, { log: createLogger({ name: 'writes-test', level: 'silent' }) }),
    ).resolves.toMatchObject({ outcome: 'already_linked' });
    // Other jobs that listed this contact before may still trust their answers.
    expect(
      await guard.withContact(
        'w-1',
        { listedAt: before },
        async ({ listIsCurrent }) => listIsCurrent,
      ),
    ).toBe(true);
  });
});
