import { describe, expect, it } from 'vitest';
import {
  DeadLetterJob,
  DmsNotification,
  LinkContactJob,
  LinkContactResult,
  NotifyDmsJob,
} from './jobs.ts';

const linkJob = {
  dmsContactId: 'C-1001',
  organization: 'org_1',
  email: 'jan@example.com',
  phoneE164: '+31612345678',
  phoneRaw: '06 12345678',
  receivedAt: '2025-01-01T00:00:00.000Z',
};

const notifyJob = {
  webhookId: 'msg_2a1b',
  type: 'contact.updated',
  organization: 'org_1',
  occurredAt: '2025-01-01T00:00:00.000Z',
  contact: {
    id: 'w1o1-contact',
    conversation: 'conv-1',
    profile: { email: 'jan@example.com', telephone: null, name: 'Jan' },
  },
};

const deadLetter = {
  queue: 'origin-queue',
  name: 'link',
  jobId: '42',
  data: linkJob,
  failedReason: 'PermanentError: HTTP 404',
  attemptsMade: 1,
  attempts: 10,
  failedAt: '2025-01-01T00:00:00.000Z',
};

describe('LinkContactJob', () => {
  it('accepts a valid job, and one with only the required fields', () => {
    expect(LinkContactJob.parse(linkJob)).toEqual(linkJob);
    const minimal = { dmsContactId: '1', organization: 'o', receivedAt: linkJob.receivedAt };
    expect(LinkContactJob.safeParse(minimal).success).toBe(true);
  });

  it.each([
    ['a numeric dmsContactId (the ingress stringifies it)', { dmsContactId: 42 }],
    ['an empty dmsContactId', { dmsContactId: '' }],
    ['a dmsContactId over 128 characters', { dmsContactId: 'a'.repeat(129) }],
    ['an invalid organization', { organization: 'org 1' }],
    ['no receivedAt', { receivedAt: undefined }],
  ])('rejects %s', (_, change) => {
    expect(LinkContactJob.safeParse({ ...linkJob, ...change }).success).toBe(false);
  });
});

describe('LinkContactResult', () => {
  it('accepts the four outcomes and nothing else', () => {
    for (const outcome of ['linked', 'already_linked', 'not_found', 'ambiguous']) {
      expect(LinkContactResult.safeParse({ outcome }).success, outcome).toBe(true);
    }
    expect(LinkContactResult.safeParse({ outcome: 'failed' }).success).toBe(false);
  });
});

describe('NotifyDmsJob', () => {
  it('accepts a valid contact job and a valid user job', () => {
    expect(NotifyDmsJob.parse(notifyJob)).toEqual(notifyJob);
    const userJob = {
      webhookId: 'msg_3',
      type: 'user.created',
      organization: 'org_1',
      occurredAt: '2025-01-01T00:00:00.000Z',
      user: { id: 'u1', email: null, name: 'Agent', role: 'agent' },
    };
    expect(NotifyDmsJob.safeParse(userJob).success).toBe(true);
  });

  it('accepts a dealer job, which carries no contact and no user', () => {
    const dealerJob = {
      webhookId: 'msg_4',
      type: 'dealer.activated',
      organization: 'org_1',
      occurredAt: '2025-01-01T00:00:00.000Z',
    };
    expect(NotifyDmsJob.parse(dealerJob)).toEqual(dealerJob);
    expect(NotifyDmsJob.parse({ ...dealerJob, type: 'dealer.deactivated' }).type).toBe(
      'dealer.deactivated',
    );
    expect(NotifyDmsJob.safeParse({ ...dealerJob, organization: undefined }).success).toBe(false);
  });

  it('accepts a contact.deleted job, which only the worker reads, and no notification of it', () => {
    const deleted = { ...notifyJob, type: 'contact.deleted' };
    expect(NotifyDmsJob.parse(deleted)).toEqual(deleted);
    expect(NotifyDmsJob.safeParse({ ...deleted, contact: undefined }).success).toBe(false);
    const body = { type: 'contact.deleted', timestamp: deleted.occurredAt, organization: 'org_1' };
    const data = { contactId: 'c', conversation: null, conversationUrl: null, profile: {} };
    expect(DmsNotification.safeParse({ ...body, data }).success).toBe(false);
  });

  it.each([
    ['an unknown type', { type: 'contact.removed' }],
    ['the webhook event name instead of the notification type', { type: 'contact.update' }],
    ['an empty webhookId', { webhookId: '' }],
    ['no occurredAt', { occurredAt: undefined }],
    ['an organization over 64 characters', { organization: 'o'.repeat(65) }],
    ['a contact without a profile', { contact: { id: 'c', conversation: null } }],
    ['a contact with an empty id', { contact: { ...notifyJob.contact, id: '' } }],
  ])('rejects %s', (_, change) => {
    expect(NotifyDmsJob.safeParse({ ...notifyJob, ...change }).success).toBe(false);
  });
});

describe('DmsNotification', () => {
  it('accepts a contact notification and rejects user data under a contact type', () => {
    const contact = {
      type: 'contact.linked',
      timestamp: '2025-01-01T00:00:00.000Z',
      organization: 'org_1',
      data: {
        contactId: 'c1',
        conversation: 'conv-1',
        conversationUrl: 'https://app.web1on1.chat/conversations/conv-1',
        profile: { email: 'jan@example.com', telephone: '+31612345678', name: 'Jan' },
        dmsContactId: 'C-1001',
      },
    };
    expect(DmsNotification.safeParse(contact).success).toBe(true);
    const mixed = { ...contact, data: { userId: 'u1', email: null, name: null } };
    expect(DmsNotification.safeParse(mixed).success).toBe(false);
  });

  it('accepts a dealer notification carrying its organization, and only that shape', () => {
    const dealer = {
      type: 'dealer.activated',
      timestamp: '2025-01-01T00:00:00.000Z',
      organization: 'org_1',
      data: { organization: 'org_1' },
    };
    expect(DmsNotification.parse(dealer)).toEqual(dealer);
    expect(DmsNotification.safeParse({ ...dealer, data: {} }).success).toBe(false);
  });
});

describe('DeadLetterJob', () => {
  it('accepts a valid dead letter, with any data', () => {
    expect(DeadLetterJob.parse(deadLetter)).toEqual(deadLetter);
    expect(DeadLetterJob.safeParse({ ...deadLetter, data: 'anything' }).success).toBe(true);
  });

  it.each([
    ['a negative attemptsMade', { attemptsMade: -1 }],
    ['a fractional attemptsMade', { attemptsMade: 1.5 }],
    ['zero attempts', { attempts: 0 }],
    ['no queue', { queue: undefined }],
    ['no failedReason', { failedReason: undefined }],
    ['a numeric jobId', { jobId: 42 }],
  ])('rejects %s', (_, change) => {
    expect(DeadLetterJob.safeParse({ ...deadLetter, ...change }).success).toBe(false);
  });
});
