import { createHmac } from 'node:crypto';
import type { LinkContactJob, NotifyDmsJob } from '@contact-linker/contracts';
import { createLinkMemory } from '@contact-linker/link-memory';
import {
  createRedisConnection,
  listDeadLetters,
  QUEUE,
  replayDeadLetter,
} from '@contact-linker/queues';
import { redisTest, waitFor } from '@contact-linker/testkit';
import type { Job } from 'bullmq';
import { describe, expect } from 'vitest';
import { APP_URL, ORG, settled, startWorkerStack, type WorkerStack } from './worker-harness.ts';

const settledNotify = (stack: WorkerStack, job: Job) => settled(stack.queues, QUEUE.notifyDms, job);

const test = redisTest.extend('stack', async ({ redisUrl, prefix }, { onCleanup }) => {
  const stack = await startWorkerStack({ redisUrl, prefix });
  onCleanup(() => stack.close());
  return stack;
});
const disabledTest = redisTest.extend('stack', async ({ redisUrl, prefix }, { onCleanup }) => {
  const stack = await startWorkerStack({ redisUrl, prefix, notify: false });
  onCleanup(() => stack.close());
  return stack;
});

/**
 * The link memory as the worker keeps it (same prefix and link urls as the harness), filled for
 * two organizations: a remembered link and a waiting DMS contact each.
 */
async function fillMemory(redisUrl: string, prefix: string, orgs: string[]) {
  const redis = createRedisConnection(redisUrl, { role: 'worker' });
  const memory = createLinkMemory({
    redis,
    prefix,
    ttlMs: 60_000,
    linkUrl: (id) => `https://dms.example.test/customer/${id}/`,
  });
  const job = (organization: string, dmsContactId: string, email: string): LinkContactJob => ({
    dmsContactId,
    organization,
    email,
    receivedAt: new Date().toISOString(),
  });
  for (const org of orgs) {
    await memory.remember(job(org, 'D-1', 'linked@example.com'), {
      contactId: 'w-1',
      conversation: null,
      url: 'https://dms.example.test/customer/D-1/',
    });
    await memory.wait(job(org, 'D-2', 'waits@example.com'));
  }
  const waitingFor = async (organization: string) =>
    (await memory.observe({ id: 'w-2', organization, email: 'waits@example.com' })).map(
      (w) => w.dmsContactId,
    );
  return { memory, waitingFor, close: () => redis.quit() };
}

const dealer = (type: 'dealer.activated' | 'dealer.deactivated', organization = ORG) =>
  ({
    webhookId: `evt-${type}`,
    type,
    organization,
    occurredAt: '2026-12-07T10:00:00.000Z',
  }) satisfies NotifyDmsJob;

type ContactNotifyJob = Extract<NotifyDmsJob, { contact: unknown }>;
const update = (overrides: Partial<ContactNotifyJob> = {}): ContactNotifyJob => ({
  webhookId: 'evt-1',
  type: 'contact.updated',
  organization: ORG,
  occurredAt: '2026-11-24T10:00:00.000Z',
  contact: {
    id: 'c-1',
    conversation: 'conv/1',
    profile: { email: 'jane@example.com', telephone: '+31612345678', name: 'Jane' },
  },
  ...overrides,
});

/** The receiver's own check, computed here independently of the notifier and the sandbox. */
function expectedSignature(secret: string, id: string, timestamp: string, body: string): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

describe('notify-dms', () => {
  test('delivers a signed contact.updated the DMS can verify', async ({ stack }) => {
    const job = await stack.notify(update());
    expect((await settledNotify(stack, job)).job.returnvalue).toEqual({
      outcome: 'delivered',
      status: 200,
    });
    const [delivery] = stack.dms.deliveries;
    expect(delivery?.verified).toBe(true);
    expect(delivery?.contentType).toBe('application/json');
    expect(delivery?.webhookId).toBe('evt-1');
    expect(delivery?.signature).toBe(
      expectedSignature(stack.secret, 'evt-1', delivery!.timestamp!, delivery!.rawBody),
    );
    expect(delivery?.body).toEqual({
      type: 'contact.updated',
      timestamp: '2026-11-24T10:00:00.000Z',
      organization: ORG,
      data: {
        contactId: 'c-1',
        conversation: 'conv/1',
        conversationUrl: `${APP_URL}/conversations/conv%2F1`,
        profile: { email: 'jane@example.com', telephone: '+31612345678', name: 'Jane' },
      },
    });
  });

  test('an update with nothing new for the DMS is not forwarded', async ({ stack }) => {
    await settledNotify(stack, await stack.notify(update({ webhookId: 'evt-1' })));
    const echo = await stack.notify(update({ webhookId: 'evt-2' }));
    expect((await settledNotify(stack, echo)).job.returnvalue).toEqual({ outcome: 'unchanged' });
    const changed = await stack.notify(
      update({
        webhookId: 'evt-3',
        contact: { ...update().contact!, profile: { ...update().contact!.profile, name: 'Janet' } },
      }),
    );
    expect((await settledNotify(stack, changed)).job.returnvalue.outcome).toBe('delivered');
    expect(stack.dms.accepted().map((d) => d.webhookId)).toEqual(['evt-1', 'evt-3']);
  });

  test('a conversation change counts as a change', async ({ stack }) => {
    await settledNotify(stack, await stack.notify(update({ webhookId: 'a' })));
    const moved = await stack.notify(
      update({ webhookId: 'b', contact: { ...update().contact!, conversation: 'conv-2' } }),
    );
    expect((await settledNotify(stack, moved)).job.returnvalue.outcome).toBe('delivered');
  });

  test('the update echoing a link is suppressed after contact.linked', async ({ stack }) => {
    const contact = stack.web1on1.addContact({
      organization: ORG,
      profile: { email: 'jane@example.com', name: 'Jane' },
    });
    const link = await stack.link({ dmsContactId: 'D-1', email: 'jane@example.com' });
    await settled(stack.queues, QUEUE.linkContact, link);
    await waitFor(() => stack.dms.accepted().length === 1);
    const echo = await stack.notify(
      update({
        webhookId: 'echo',
        contact: {
          id: contact.id,
          conversation: contact.conversation,
          profile: { email: 'jane@example.com', telephone: null, name: 'Jane' },
        },
      }),
    );
    expect((await settledNotify(stack, echo)).job.returnvalue).toEqual({ outcome: 'unchanged' });
    expect(stack.dms.accepted().map((d) => (d.body as { type: string }).type)).toEqual([
      'contact.linked',
    ]);
  });

  test('creates are always forwarded, even when nothing changed', async ({ stack }) => {
    await settledNotify(stack, await stack.notify(update({ webhookId: 'u' })));
    const create = await stack.notify(update({ webhookId: 'c', type: 'contact.created' }));
    expect((await settledNotify(stack, create)).job.returnvalue.outcome).toBe('delivered');
  });

  test('retries 5xx with the same webhook-id until delivered', async ({ stack }) => {
    stack.dms.failNext(2, { status: 503 });
    const job = await stack.notify(update());
    expect((await settledNotify(stack, job)).state).toBe('completed');
    expect(stack.dms.deliveries.map((d) => [d.status, d.webhookId])).toEqual([
      [503, 'evt-1'],
      [503, 'evt-1'],
      [200, 'evt-1'],
    ]);
    expect(stack.dms.deliveries.every((d) => d.verified)).toBe(true);
  });

  test('a failed delivery is retried even though the state was recorded', async ({ stack }) => {
    stack.dms.failNext(1, { status: 500 });
    const job = await stack.notify(update());
    expect((await settledNotify(stack, job)).job.returnvalue.outcome).toBe('delivered');
    expect(stack.dms.accepted()).toHaveLength(1);
  });

  test('410 is dead-lettered at once; replay keeps the webhook-id', async ({ stack }) => {
    stack.dms.failNext(1, { status: 410 });
    const job = await stack.notify(update());
    expect((await settledNotify(stack, job)).state).toBe('dead-lettered');
    const letters = await listDeadLetters(stack.queues[QUEUE.deadLetter]);
    expect(letters).toMatchObject([{ queue: 'notify-dms', attemptsMade: 1 }]);
    expect(letters[0]?.failedReason).toMatch(/^PermanentError/);

    const replay = await replayDeadLetter(stack.queues, letters[0]!.id);
    expect(replay).toEqual({ replayed: true, queue: 'notify-dms', jobId: job.id });
    await waitFor(() => stack.dms.accepted().length === 1, { timeoutMs: 10_000 });
    expect(stack.dms.deliveries.map((d) => [d.status, d.webhookId])).toEqual([
      [410, 'evt-1'],
      [200, 'evt-1'],
    ]);
    expect(await listDeadLetters(stack.queues[QUEUE.deadLetter])).toEqual([]);
  });

  test('user notifications carry the user fields', async ({ stack }) => {
    const job = await stack.notify({
      webhookId: 'u-1',
      type: 'user.created',
      organization: ORG,
      occurredAt: '2026-11-24T10:00:00.000Z',
      user: { id: 'u-1', email: 'agent@dealer.nl', name: 'Agent', role: 'agent' },
    });
    await settledNotify(stack, job);
    expect(stack.dms.accepted()[0]?.body).toEqual({
      type: 'user.created',
      timestamp: '2026-11-24T10:00:00.000Z',
      organization: ORG,
      data: { userId: 'u-1', email: 'agent@dealer.nl', name: 'Agent', role: 'agent' },
    });
  });

  test('delivers a signed dealer.activated carrying the organization', async ({ stack }) => {
    const job = await stack.notify(dealer('dealer.activated'));
    expect((await settledNotify(stack, job)).job.returnvalue).toEqual({
      outcome: 'delivered',
      status: 200,
    });
    const [delivery] = stack.dms.deliveries;
    expect(delivery?.verified).toBe(true);
    expect(delivery?.webhookId).toBe('evt-dealer.activated');
    expect(delivery?.signature).toBe(
      expectedSignature(
        stack.secret,
        'evt-dealer.activated',
        delivery!.timestamp!,
        delivery!.rawBody,
      ),
    );
    expect(JSON.parse(delivery!.rawBody)).toEqual({
      type: 'dealer.activated',
      timestamp: '2026-12-07T10:00:00.000Z',
      organization: ORG,
      data: { organization: ORG },
    });
  });

  test('a dealer notification is retried with the same webhook-id and dead-lettered like any', async ({
    stack,
  }) => {
    stack.dms.failNext(1, { status: 503 });
    const retried = await stack.notify(dealer('dealer.activated'));
    expect((await settledNotify(stack, retried)).state).toBe('completed');
    stack.dms.failNext(1, { status: 410 });
    const gone = await stack.notify(dealer('dealer.deactivated'));
    expect((await settledNotify(stack, gone)).state).toBe('dead-lettered');
    expect(stack.dms.deliveries.map((d) => [d.status, d.webhookId])).toEqual([
      [503, 'evt-dealer.activated'],
      [200, 'evt-dealer.activated'],
      [410, 'evt-dealer.deactivated'],
    ]);
  });

  test("dealer.deactivated forgets that organization's links and waiting contacts, no other's", async ({
    stack,
    redisUrl,
    prefix,
  }) => {
    const OTHER = 'org-other';
    const memory = await fillMemory(redisUrl, prefix, [ORG, OTHER]);
    try {
      expect(await memory.waitingFor(ORG)).toEqual(['D-2']);
      const job = await stack.notify(dealer('dealer.deactivated'));
      expect((await settledNotify(stack, job)).job.returnvalue.outcome).toBe('delivered');
      expect(stack.dms.accepted()[0]?.body).toEqual({
        type: 'dealer.deactivated',
        timestamp: '2026-12-07T10:00:00.000Z',
        organization: ORG,
        data: { organization: ORG },
      });
      expect(await memory.memory.recall(ORG, 'D-1')).toBeUndefined();
      expect(await memory.waitingFor(ORG)).toEqual([]);
      expect(await memory.memory.recall(OTHER, 'D-1')).toMatchObject({ contactId: 'w-1' });
      expect(await memory.waitingFor(OTHER)).toEqual(['D-2']);
    } finally {
      await memory.close();
    }
  });

  test("contact.deleted forgets that contact's links and whoever waits for it; the DMS hears nothing", async ({
    stack,
    redisUrl,
    prefix,
  }) => {
    const OTHER = 'org-other';
    const memory = await fillMemory(redisUrl, prefix, [ORG, OTHER]);
    try {
      // Web1on1 deleted w-1 (linked to D-1), whose email D-2 waits for.
      const deleted = update({
        webhookId: 'evt-delete',
        type: 'contact.deleted',
        contact: {
          id: 'w-1',
          conversation: null,
          profile: { email: 'Waits@example.com', telephone: null, name: null },
        },
      });
      const job = await stack.notify(deleted);
      expect((await settledNotify(stack, job)).job.returnvalue).toEqual({ outcome: 'forgotten' });
      expect(await memory.memory.recall(ORG, 'D-1')).toBeUndefined();
      expect(await memory.waitingFor(ORG)).toEqual([]);
      expect(await memory.memory.recall(OTHER, 'D-1')).toMatchObject({ contactId: 'w-1' });
      expect(await memory.waitingFor(OTHER)).toEqual(['D-2']);
      // Neither sent nor queued: the contract names no notification for a deleted contact.
      expect(stack.dms.deliveries).toHaveLength(0);
      expect(await stack.queues[QUEUE.linkContact].count()).toBe(0);
    } finally {
      await memory.close();
    }
  });

  test('dealer.activated forgets nothing', async ({ stack, redisUrl, prefix }) => {
    const memory = await fillMemory(redisUrl, prefix, [ORG]);
    try {
      await settledNotify(stack, await stack.notify(dealer('dealer.activated')));
      expect(await memory.memory.recall(ORG, 'D-1')).toMatchObject({ contactId: 'w-1' });
      expect(await memory.waitingFor(ORG)).toEqual(['D-2']);
    } finally {
      await memory.close();
    }
  });

  disabledTest(
    'without DMS_NOTIFY_URL a dealer.deactivated still forgets the organization',
    async ({ stack, redisUrl, prefix }) => {
      const memory = await fillMemory(redisUrl, prefix, [ORG]);
      try {
        const job = await stack.notify(dealer('dealer.deactivated'));
        expect((await settledNotify(stack, job)).job.returnvalue).toEqual({ outcome: 'disabled' });
        expect(await memory.memory.recall(ORG, 'D-1')).toBeUndefined();
        expect(await memory.waitingFor(ORG)).toEqual([]);
      } finally {
        await memory.close();
      }
    },
  );

  disabledTest(
    'without DMS_NOTIFY_URL a contact.deleted still forgets the contact',
    async ({ stack, redisUrl, prefix }) => {
      const memory = await fillMemory(redisUrl, prefix, [ORG]);
      try {
        const job = await stack.notify(
          update({ type: 'contact.deleted', contact: { ...update().contact, id: 'w-1' } }),
        );
        expect((await settledNotify(stack, job)).job.returnvalue).toEqual({ outcome: 'forgotten' });
        expect(await memory.memory.recall(ORG, 'D-1')).toBeUndefined();
        // Its email is not the one D-2 waits for: D-2 still waits.
        expect(await memory.waitingFor(ORG)).toEqual(['D-2']);
      } finally {
        await memory.close();
      }
    },
  );

  disabledTest(
    'without DMS_NOTIFY_URL jobs complete as disabled and nothing is sent',
    async ({ stack }) => {
      const job = await stack.notify(update());
      expect((await settledNotify(stack, job)).job.returnvalue).toEqual({ outcome: 'disabled' });
      expect(stack.dms.deliveries).toHaveLength(0);
    },
  );
});
