import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '@contact-linker/observability';
import { QUEUE } from '@contact-linker/queues';
import { REPO_ROOT, redisTest, signHubSignature } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { startIngress, WEBHOOK_SECRET } from './ingress-harness.ts';

const test = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({ redisUrl, prefix });
  onCleanup(() => ingress.close());
  return ingress;
});
const syncTest = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({ redisUrl, prefix, syncUsers: true });
  onCleanup(() => ingress.close());
  return ingress;
});

function signed(body: unknown, secret = WEBHOOK_SECRET) {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    method: 'POST' as const,
    url: '/webhook',
    headers: {
      'content-type': 'application/json',
      'x-hub-signature': signHubSignature(payload, secret),
    },
    payload,
  };
}

const HOUR = 3600_000;
const MINUTE = 60_000;

const contactEvent = (overrides: Record<string, unknown> = {}) => ({
  id: 'evt-1',
  event: 'contact.update',
  timestamp: Date.now(),
  organization: 'org-1',
  data: {
    contact: {
      id: 'c-1',
      conversation: 'conv-1',
      profile: { email: 'jane@example.com', telephone: '+31612345678', name: 'Jane', extra: 1 },
      links: [],
    },
  },
  ...overrides,
});

describe('GET /webhook', () => {
  test('answers the subscribe challenge as text', async ({ ingress }) => {
    const res = await ingress.app.inject('/webhook?type=subscribe&challenge=abc123');
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('abc123');
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
  });

  test.for([
    '/webhook',
    '/webhook?type=subscribe',
    '/webhook?type=other&challenge=x',
    `/webhook?type=subscribe&challenge=${'x'.repeat(2000)}`,
  ])('refuses %s with 403', async (url, { ingress }) => {
    const res = await ingress.app.inject(url);
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('forbidden');
  });
});

describe('POST /webhook', () => {
  test('queues a contact.update as a contact.updated notification', async ({ ingress }) => {
    const event = contactEvent();
    const res = await ingress.app.inject(signed(event));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'queued' });
    const [job] = await ingress.queues[QUEUE.notifyDms].getJobs(['waiting']);
    expect(job?.data).toEqual({
      webhookId: 'evt-1',
      type: 'contact.updated',
      organization: 'org-1',
      occurredAt: new Date(event.timestamp).toISOString(),
      contact: {
        id: 'c-1',
        conversation: 'conv-1',
        profile: { email: 'jane@example.com', telephone: '+31612345678', name: 'Jane' },
        // The event shows the contact's links (none): the worker's link memory reads them.
        linkUrls: [],
      },
    });
  });

  test('takes the organization from data.contact when the envelope has none', async ({
    ingress,
  }) => {
    const event = contactEvent({ organization: undefined, event: 'contact.create' });
    (event.data.contact as Record<string, unknown>).organization = 'org-2';
    expect((await ingress.app.inject(signed(event))).json()).toEqual({ status: 'queued' });
    const [job] = await ingress.queues[QUEUE.notifyDms].getJobs(['waiting']);
    expect(job?.data).toMatchObject({ type: 'contact.created', organization: 'org-2' });
  });

  test('an event id seen before answers duplicate and is not queued again', async ({ ingress }) => {
    expect((await ingress.app.inject(signed(contactEvent()))).json().status).toBe('queued');
    const again = await ingress.app.inject(signed(contactEvent({ timestamp: Date.now() + 1 })));
    expect(again.json()).toEqual({ status: 'duplicate' });
    expect(await ingress.queues[QUEUE.notifyDms].count()).toBe(1);
  });

  test('a duplicate is recognised even after the first job is gone', async ({ ingress }) => {
    await ingress.app.inject(signed(contactEvent()));
    const [job] = await ingress.queues[QUEUE.notifyDms].getJobs(['waiting']);
    await job?.remove();
    expect((await ingress.app.inject(signed(contactEvent()))).json().status).toBe('duplicate');
  });

  test('events without an id are deduplicated by their bytes', async ({ ingress }) => {
    const event = contactEvent({ id: undefined });
    expect((await ingress.app.inject(signed(event))).json().status).toBe('queued');
    expect((await ingress.app.inject(signed(event))).json().status).toBe('duplicate');
  });

  test.for(['conversation.create', 'message.create', 'user.update'])(
    'ignores %s (users only with SYNC_USERS)',
    async (event, { ingress }) => {
      const res = await ingress.app.inject(
        signed({ id: 'e', event, timestamp: Date.now(), data: { user: { id: 'u' } } }),
      );
      expect(res.json()).toEqual({ status: 'ignored' });
      expect(await ingress.queues[QUEUE.notifyDms].count()).toBe(0);
    },
  );

  redisTest(
    'says once, at info, that SYNC_USERS turns ignored user events on',
    async ({ redisUrl, prefix }) => {
      const lines: string[] = [];
      const logger = createLogger({
        name: 'ingress-test',
        destination: { write: (line: string) => void lines.push(line) },
      });
      const ingress = await startIngress({ redisUrl, prefix, logger });
      try {
        for (const [id, event] of [
          ['e-1', 'conversation.create'],
          ['e-2', 'user.update'],
          ['e-3', 'user.create'],
        ] as const) {
          const res = await ingress.app.inject(
            signed({ id, event, timestamp: Date.now(), data: { user: { id: 'u' } } }),
          );
          expect(res.json()).toEqual({ status: 'ignored' });
        }
      } finally {
        await ingress.close();
      }
      const hints = lines
        .map((line) => JSON.parse(line) as { level: number; msg: string; event?: string })
        .filter((entry) => entry.msg.includes('SYNC_USERS'));
      expect(hints).toEqual([
        expect.objectContaining({
          level: 30,
          event: 'user.update',
          msg: expect.stringContaining('set SYNC_USERS=true'),
        }),
      ]);
    },
  );

  syncTest('forwards user events with SYNC_USERS', async ({ ingress }) => {
    const res = await ingress.app.inject(
      signed({
        id: 'u-evt',
        event: 'user.create',
        timestamp: new Date().toISOString(),
        organization: 'org-1',
        data: {
          user: { id: 'u-1', email: 'agent@dealer.nl', displayName: 'Agent', role: 'agent' },
        },
      }),
    );
    expect(res.json()).toEqual({ status: 'queued' });
    const [job] = await ingress.queues[QUEUE.notifyDms].getJobs(['waiting']);
    expect(job?.data).toMatchObject({
      type: 'user.created',
      user: { id: 'u-1', email: 'agent@dealer.nl', name: 'Agent', role: 'agent' },
    });
  });

  test.for([
    ['no header', undefined],
    ['a malformed header', 'sha1=xyz'],
    ['a sha256 header', `sha256=${'0'.repeat(64)}`],
    ['a signature with another secret', 'other-secret'],
  ] as const)('rejects %s with 401', async ([, header], { ingress }) => {
    const payload = JSON.stringify(contactEvent());
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (header === 'other-secret') headers['x-hub-signature'] = signHubSignature(payload, header);
    else if (header !== undefined) headers['x-hub-signature'] = header;
    const res = await ingress.app.inject({ method: 'POST', url: '/webhook', headers, payload });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_signature');
    expect(await ingress.queues[QUEUE.notifyDms].count()).toBe(0);
  });

  test('a body changed after signing is rejected', async ({ ingress }) => {
    const request = signed(contactEvent());
    request.payload = request.payload.replace('Jane', 'Joan');
    expect((await ingress.app.inject(request)).statusCode).toBe(401);
  });

  test('the signature is HMAC-SHA1 over the exact bytes (independent computation)', async ({
    ingress,
  }) => {
    const payload = `{"event":"contact.update","id":"x","timestamp":${Date.now()},"organization":"o","data":{"contact":{"id":"c"}}}`;
    const signature = `sha1=${createHmac('sha1', WEBHOOK_SECRET).update(payload).digest('hex')}`;
    const res = await ingress.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { 'content-type': 'application/json', 'x-hub-signature': signature },
      payload,
    });
    expect(res.json()).toEqual({ status: 'queued' });
  });

  test.for([
    ['a contact without id', contactEvent({ data: { contact: { organization: 'o' } } })],
    ['a contact without organization', contactEvent({ organization: undefined })],
    ['no data', contactEvent({ data: undefined })],
    ['no event', { id: 'x', timestamp: Date.now() }],
    ['no timestamp', contactEvent({ timestamp: undefined })],
    ['a timestamp that is not ISO-8601', contactEvent({ timestamp: '07/12/2026 10:00' })],
    ['a timestamp of epoch ms as a string', contactEvent({ timestamp: String(Date.now()) })],
    ['an array body', []],
  ] as const)('rejects %s with 400', async ([, body], { ingress }) => {
    const res = await ingress.app.inject(signed(body));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_body');
  });

  test('rejects signed invalid JSON and forbidden keys with 400', async ({ ingress }) => {
    expect((await ingress.app.inject(signed('{"event":'))).json().error).toBe('invalid_json');
    const poisoned = '{"event":"contact.update","data":{"contact":{"id":"c","__proto__":{}}}}';
    expect((await ingress.app.inject(signed(poisoned))).json().error).toBe('forbidden_key');
  });

  test('rejects a non-JSON content type with 415', async ({ ingress }) => {
    const request = signed(contactEvent());
    request.headers['content-type'] = 'text/plain';
    expect((await ingress.app.inject(request)).statusCode).toBe(415);
  });

  test('rejects a body over 1 MiB with 413', async ({ ingress }) => {
    const big = contactEvent({ pad: 'x'.repeat(1024 * 1024) });
    expect((await ingress.app.inject(signed(big))).statusCode).toBe(413);
  });
});

/**
 * Web1on1's documented envelope, from the contracts' fixtures (`id` a UUID, an ISO-8601
 * `timestamp`, `activity`, and `data.links` keyed by resource name), stamped now so the replay
 * window lets it in. Everything else is sent exactly as the fixture holds it.
 */
function documented(event: string): Record<string, unknown> & { id: string } {
  const path = join(
    REPO_ROOT,
    'packages/contracts/test/fixtures/web1on1-webhooks',
    `${event}.json`,
  );
  const envelope = JSON.parse(readFileSync(path, 'utf8'));
  return { ...envelope, timestamp: new Date().toISOString() };
}

describe("POST /webhook: Web1on1's documented envelope", () => {
  test.for([
    ['contact.create', 'contact.created'],
    ['contact.update', 'contact.updated'],
  ] as const)('queues %s as %s with the contact it carries', async ([event, type], { ingress }) => {
    const body = documented(event);
    const res = await ingress.app.inject(signed(body));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'queued' });
    const [job] = await ingress.queues[QUEUE.notifyDms].getJobs(['waiting']);
    const linkUrls =
      event === 'contact.update' ? ['https://dms.example.com/customer/DMS-1001/'] : [];
    expect(job?.data).toEqual({
      webhookId: body.id,
      type,
      organization: '5e1dc0ffee00000000000001',
      occurredAt: new Date(body.timestamp as string).toISOString(),
      contact: {
        id: '5e1dc0ffee00000000000003',
        conversation: '5e1dc0ffee00000000000004',
        profile: { email: 'sam.smit@example.com', telephone: '06-12345678', name: 'Sam Smit' },
        // The contact's own links, never data.links (the event's API URLs).
        linkUrls,
      },
    });
  });

  test('queues contact.delete as a contact.deleted job, for the worker to forget the contact', async ({
    ingress,
  }) => {
    const body = documented('contact.delete');
    const res = await ingress.app.inject(signed(body));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'queued' });
    const [job] = await ingress.queues[QUEUE.notifyDms].getJobs(['waiting']);
    expect(job?.name).toBe('contact.deleted');
    expect(job?.data).toMatchObject({
      webhookId: body.id,
      type: 'contact.deleted',
      organization: '5e1dc0ffee00000000000001',
      contact: {
        id: '5e1dc0ffee00000000000003',
        profile: { email: 'sam.smit@example.com', telephone: '06-12345678' },
      },
    });
  });

  test('queues botinstance.create as dealer.activated', async ({ ingress }) => {
    const body = documented('botinstance.create');
    expect((await ingress.app.inject(signed(body))).json()).toEqual({ status: 'queued' });
    const [job] = await ingress.queues[QUEUE.notifyDms].getJobs(['waiting']);
    expect(job?.data).toMatchObject({
      webhookId: body.id,
      type: 'dealer.activated',
      organization: '5e1dc0ffee00000000000001',
    });
  });

  test('ignores user.create while SYNC_USERS is off', async ({ ingress }) => {
    const res = await ingress.app.inject(signed(documented('user.create')));
    expect(res.json()).toEqual({ status: 'ignored' });
    expect(await ingress.queues[QUEUE.notifyDms].count()).toBe(0);
  });

  syncTest('queues user.create as user.created with SYNC_USERS', async ({ ingress }) => {
    const body = documented('user.create');
    expect((await ingress.app.inject(signed(body))).json()).toEqual({ status: 'queued' });
    const [job] = await ingress.queues[QUEUE.notifyDms].getJobs(['waiting']);
    expect(job?.data).toMatchObject({
      webhookId: body.id,
      type: 'user.created',
      user: {
        id: '5e1dc0ffee000000000000a1',
        email: 'anna@dealer.example',
        name: 'Anna de Vries',
        role: 'agent',
      },
    });
  });

  test('the same documented event again is a duplicate', async ({ ingress }) => {
    const body = documented('contact.update');
    expect((await ingress.app.inject(signed(body))).json()).toEqual({ status: 'queued' });
    expect((await ingress.app.inject(signed(body))).json()).toEqual({ status: 'duplicate' });
  });
});

describe('POST /webhook: a dealer activates or deactivates the bot', () => {
  const botEvent = (event: string, overrides: Record<string, unknown> = {}) => ({
    id: `evt-${event}`,
    event,
    timestamp: new Date().toISOString(),
    data: { botinstance: { id: 'bi-1', bot: 'bot-1', organization: 'org-7' } },
    ...overrides,
  });

  test.for([
    ['botinstance.create', 'dealer.activated'],
    ['botinstance.delete', 'dealer.deactivated'],
  ] as const)(
    'queues %s as a %s notification with the organization',
    async ([event, type], { ingress }) => {
      const body = botEvent(event);
      const res = await ingress.app.inject(signed(body));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 'queued' });
      const [job] = await ingress.queues[QUEUE.notifyDms].getJobs(['waiting']);
      expect(job?.name).toBe(type);
      expect(job?.data).toEqual({
        webhookId: `evt-${event}`,
        type,
        organization: 'org-7',
        occurredAt: body.timestamp,
      });
    },
  );

  test('takes the organization from the envelope when data.botinstance has none', async ({
    ingress,
  }) => {
    const body = botEvent('botinstance.create', { organization: 'org-8', data: {} });
    expect((await ingress.app.inject(signed(body))).json()).toEqual({ status: 'queued' });
    const [job] = await ingress.queues[QUEUE.notifyDms].getJobs(['waiting']);
    expect(job?.data).toMatchObject({ type: 'dealer.activated', organization: 'org-8' });
  });

  test('a bot-instance event without an organization is refused with 400', async ({ ingress }) => {
    for (const data of [{}, { botinstance: { bot: 'bot-1' } }, undefined]) {
      const res = await ingress.app.inject(signed(botEvent('botinstance.delete', { data })));
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_body');
    }
    expect(await ingress.queues[QUEUE.notifyDms].count()).toBe(0);
  });

  test('a repeated bot-instance event answers duplicate', async ({ ingress }) => {
    const body = botEvent('botinstance.create');
    expect((await ingress.app.inject(signed(body))).json()).toEqual({ status: 'queued' });
    expect((await ingress.app.inject(signed(body))).json()).toEqual({ status: 'duplicate' });
    expect(await ingress.queues[QUEUE.notifyDms].count()).toBe(1);
  });
});

describe('POST /webhook: the replay window', () => {
  test.for([
    ['25 h old (epoch ms)', () => Date.now() - 25 * HOUR],
    ['25 h old (ISO-8601)', () => new Date(Date.now() - 25 * HOUR).toISOString()],
    ['6 min in the future (epoch ms)', () => Date.now() + 6 * MINUTE],
    ['6 min in the future (ISO-8601)', () => new Date(Date.now() + 6 * MINUTE).toISOString()],
    ['in 1970 (epoch seconds)', () => Math.floor(Date.now() / 1000)],
  ] as const)(
    'refuses an event stamped %s with 400, enqueueing nothing',
    async ([, timestamp], { ingress }) => {
      const res = await ingress.app.inject(signed(contactEvent({ timestamp: timestamp() })));
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        error: 'timestamp_out_of_window',
        details: [{ path: '/timestamp' }],
      });
      expect(await ingress.queues[QUEUE.notifyDms].count()).toBe(0);
      // Refused before its id is recorded: the same id, freshly stamped, is still news.
      const fresh = await ingress.app.inject(signed(contactEvent()));
      expect(fresh.json()).toEqual({ status: 'queued' });
    },
  );

  test.for([
    ['23 h old (epoch ms)', () => Date.now() - 23 * HOUR],
    ['23 h old (ISO-8601)', () => new Date(Date.now() - 23 * HOUR).toISOString()],
    ['4 min in the future (epoch ms)', () => Date.now() + 4 * MINUTE],
    ['4 min in the future (ISO-8601)', () => new Date(Date.now() + 4 * MINUTE).toISOString()],
  ] as const)('accepts an event stamped %s', async ([, timestamp], { ingress }) => {
    const res = await ingress.app.inject(signed(contactEvent({ timestamp: timestamp() })));
    expect(res.json()).toEqual({ status: 'queued' });
    expect(await ingress.queues[QUEUE.notifyDms].count()).toBe(1);
  });

  test('an old replay is refused even for a bot-instance or an ignored event', async ({
    ingress,
  }) => {
    const old = Date.now() - 25 * HOUR;
    for (const event of ['botinstance.delete', 'message.create']) {
      const res = await ingress.app.inject(
        signed({ id: `old-${event}`, event, timestamp: old, organization: 'org-1' }),
      );
      expect(res.json().error).toBe('timestamp_out_of_window');
    }
    expect(await ingress.queues[QUEUE.notifyDms].count()).toBe(0);
  });

  test('a replay within the window is a duplicate', async ({ ingress }) => {
    const event = contactEvent({ timestamp: Date.now() - 23 * HOUR });
    expect((await ingress.app.inject(signed(event))).json()).toEqual({ status: 'queued' });
    expect((await ingress.app.inject(signed(event))).json()).toEqual({ status: 'duplicate' });
    expect(await ingress.queues[QUEUE.notifyDms].count()).toBe(1);
  });

  test('remembers an accepted event id for 24 h 5 min, the whole window', async ({
    ingress,
    prefix,
  }) => {
    await ingress.app.inject(signed(contactEvent({ id: 'evt-ttl' })));
    // An event stamped 5 min ahead is accepted until 24 h 5 min after it arrived; its marker too.
    const ttl = await ingress.redis.pttl(`${prefix}:webhook-seen:evt-ttl`);
    expect(ttl).toBeGreaterThan(24 * HOUR + 4 * MINUTE);
    expect(ttl).toBeLessThanOrEqual(24 * HOUR + 5 * MINUTE);
  });
});
