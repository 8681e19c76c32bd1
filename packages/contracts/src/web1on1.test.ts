import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BotInstanceWebhookEvents,
  ContactDeleteWebhookEvents,
  ContactWebhookEvents,
  UserWebhookEvents,
  Web1on1Contact,
  WebhookActivity,
  WebhookBotInstance,
  WebhookContact,
  WebhookDataLinks,
  WebhookEnvelope,
  WebhookUser,
} from './web1on1.ts';

/** Web1on1's documented envelope, one event of each kind this service handles, as JSON files. */
const fixture = (event: string): Record<string, unknown> =>
  JSON.parse(
    readFileSync(
      new URL(`../test/fixtures/web1on1-webhooks/${event}.json`, import.meta.url),
      'utf8',
    ),
  );

describe('WebhookEnvelope', () => {
  const event = {
    id: 'evt_1',
    event: 'contact.update',
    timestamp: '2025-01-01T00:00:00.000Z',
    organization: 'org_1',
    data: { contact: { id: 'c1' } },
  };

  it('accepts an event and keeps fields it does not know', () => {
    const parsed = WebhookEnvelope.parse({ ...event, bot: 'b1', meta: { retries: 0 } });
    expect(parsed).toMatchObject({ ...event, bot: 'b1', meta: { retries: 0 } });
  });

  it('needs nothing but `event` and `timestamp`, so events this service ignores still pass', () => {
    const bare = { event: 'message.create', timestamp: '2025-01-01T00:00:00Z' };
    expect(WebhookEnvelope.parse(bare)).toEqual(bare);
  });

  it.each([
    ['ISO-8601 in UTC with milliseconds', '2025-01-01T00:00:00.000Z'],
    ['ISO-8601 with an offset', '2025-01-01T01:00:00+01:00'],
    ['epoch milliseconds', 1735689600000],
  ])('accepts a timestamp as %s', (_, timestamp) => {
    expect(WebhookEnvelope.safeParse({ ...event, timestamp }).success).toBe(true);
  });

  it.each([
    ['missing', undefined],
    ['a date without a time', '2025-01-01'],
    ['a time without a zone', '2025-01-01T00:00:00'],
    ['an HTTP date', 'Wed, 01 Jan 2025 00:00:00 GMT'],
    ['epoch milliseconds as a string', '1735689600000'],
    ['a fractional number', 1735689600000.5],
    ['a negative number', -1],
    ['null', null],
  ])('rejects a timestamp that is %s', (_, timestamp) => {
    const result = WebhookEnvelope.safeParse({ ...event, timestamp });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['timestamp']);
  });

  it('accepts a numeric timestamp and a null organization', () => {
    const parsed = WebhookEnvelope.safeParse({
      ...event,
      timestamp: 1735689600000,
      organization: null,
    });
    expect(parsed.success).toBe(true);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['not a string', 42],
    ['over 100 characters', 'e'.repeat(101)],
  ])('rejects an event name that is %s', (_, name) => {
    const result = WebhookEnvelope.safeParse({ ...event, event: name });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['event']);
  });

  it('rejects data that is not an object', () => {
    expect(WebhookEnvelope.safeParse({ ...event, data: 'contact' }).success).toBe(false);
    expect(WebhookEnvelope.safeParse({ ...event, data: ['contact'] }).success).toBe(false);
  });

  it('never refuses a signed event for the shape of what nothing reads: activity, data.links', () => {
    for (const odd of [
      { activity: 'Update' },
      { activity: [1] },
      { data: { links: [{ url: 'x' }] } },
    ]) {
      const parsed = WebhookEnvelope.safeParse({ ...event, ...odd });
      expect(parsed.success, JSON.stringify(odd)).toBe(true);
    }
  });
});

describe("Web1on1's documented envelope (fixtures)", () => {
  const RESOURCE = {
    'contact.create': ['contact', WebhookContact],
    'contact.update': ['contact', WebhookContact],
    'contact.delete': ['contact', WebhookContact],
    'user.create': ['user', WebhookUser],
    'botinstance.create': ['botinstance', WebhookBotInstance],
  } as const;

  it.each(Object.keys(RESOURCE) as Array<keyof typeof RESOURCE>)(
    '%s: the envelope and its resource pass the schemas the ingress uses, kept whole',
    (name) => {
      const raw = fixture(name);
      const envelope = WebhookEnvelope.parse(raw);
      // Nothing dropped or rewritten: activity and data.links come through as sent.
      expect(envelope).toEqual(raw);
      expect(envelope.event).toBe(name);
      expect(envelope.id).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      expect(typeof envelope.timestamp).toBe('string');
      expect(Number.isNaN(Date.parse(String(envelope.timestamp)))).toBe(false);
      expect(WebhookActivity.parse(envelope.activity)).toMatchObject({
        '@context': 'https://www.w3.org/ns/activitystreams',
        type: expect.stringMatching(/^(Create|Update|Delete)$/),
      });
      const [key, schema] = RESOURCE[name];
      const links = WebhookDataLinks.parse(envelope.data?.links);
      // data.links: API URLs keyed by resource name, the event's own resource among them.
      expect(links[key]).toMatch(/^https:\/\/api\.web1on1\.chat\/v2\//);
      expect(schema.safeParse(envelope.data?.[key]).success).toBe(true);
    },
  );

  it("keeps data.links (the event's API URLs) apart from the contact's own links", () => {
    const { data } = WebhookEnvelope.parse(fixture('contact.update'));
    expect(Array.isArray(data?.links)).toBe(false);
    // The contact's links are the list the "View in DMS" link goes in; the schema reads their urls.
    expect(WebhookContact.parse(data?.contact).links).toEqual([
      'https://dms.example.com/customer/DMS-1001/',
    ]);
  });
});

describe('WebhookContact', () => {
  it('requires an id, allows the organization to be missing and keeps unknown fields', () => {
    expect(WebhookContact.safeParse({ organization: 'org_1' }).success).toBe(false);
    expect(WebhookContact.safeParse({ id: '' }).success).toBe(false);
    expect(WebhookContact.parse({ id: 'c1', tags: ['vip'] })).toEqual({ id: 'c1', tags: ['vip'] });
  });
});

describe('Web1on1Contact', () => {
  it('accepts a contact as the REST API returns it, nulls included', () => {
    const contact = {
      id: 'c1',
      organization: 'org_1',
      conversation: null,
      profile: { email: null, telephone: '+31612345678', name: 'Jan', locale: 'nl' },
      links: [{ label: 'View in DMS', url: 'https://dms/1', icon: 'https://dms/favicon.ico' }],
      createdAt: '2025-01-01T00:00:00.000Z',
    };
    expect(Web1on1Contact.parse(contact)).toEqual(contact);
  });

  it('rejects a link without a url', () => {
    expect(Web1on1Contact.safeParse({ id: 'c1', links: [{ label: 'x' }] }).success).toBe(false);
  });
});

describe('WebhookBotInstance', () => {
  it('allows the organization to be missing and keeps unknown fields', () => {
    expect(WebhookBotInstance.parse({ bot: 'b1', name: 'x' })).toEqual({ bot: 'b1', name: 'x' });
    expect(WebhookBotInstance.safeParse({ organization: '' }).success).toBe(false);
    expect(WebhookBotInstance.safeParse({ organization: 'o'.repeat(65) }).success).toBe(false);
  });
});

describe('webhook event lists', () => {
  it('name exactly the events the contract forwards', () => {
    expect(ContactWebhookEvents).toEqual(['contact.create', 'contact.update']);
    expect(ContactDeleteWebhookEvents).toEqual(['contact.delete']);
    expect(UserWebhookEvents).toEqual(['user.create', 'user.update']);
    expect(BotInstanceWebhookEvents).toEqual(['botinstance.create', 'botinstance.delete']);
  });
});
