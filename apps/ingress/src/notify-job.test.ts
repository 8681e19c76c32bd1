import { NotifyDmsJob } from '@contact-linker/contracts';
import { describe, expect, it } from 'vitest';
import { toNotifyJob } from './notify-job.ts';

const contact = {
  id: 'c-1',
  organization: 'org-1',
  conversation: 'conv-1',
  profile: { email: 'a@b.nl', telephone: '+31612345678', name: 'Ann', locale: 'nl' },
};
const user = {
  id: 'u-1',
  organization: 'org-1',
  email: 'u@b.nl',
  displayName: 'Una',
  role: 'agent',
};
const at = '2026-01-01T10:00:00.000Z';

describe('toNotifyJob', () => {
  it.each([
    ['contact.create', 'contact.created'],
    ['contact.update', 'contact.updated'],
  ])('maps %s to a %s job carrying the contact only', (event, type) => {
    const job = toNotifyJob({ event, timestamp: at, data: { contact } }, 'evt-1', false);
    expect(job).toEqual({
      webhookId: 'evt-1',
      occurredAt: at,
      type,
      organization: 'org-1',
      contact: {
        id: 'c-1',
        conversation: 'conv-1',
        profile: { email: 'a@b.nl', telephone: '+31612345678', name: 'Ann' },
      },
    });
    expect(NotifyDmsJob.parse(job)).toEqual(job);
  });

  it("keeps the urls of the contact's links, leaving out what it cannot read", () => {
    const links = [
      { label: 'View in DMS', url: 'https://dms.test/c/1', icon: 'x' },
      { label: 'no url' },
      { url: 42 },
      null,
      { url: 'https://crm.test/2' },
    ];
    const job = toNotifyJob(
      { event: 'contact.update', timestamp: at, data: { contact: { ...contact, links } } },
      'evt-3',
      false,
    );
    expect(job && 'contact' in job ? job.contact.linkUrls : undefined).toEqual([
      'https://dms.test/c/1',
      'https://crm.test/2',
    ]);
    // An empty list is news too: the contact carries no link (any more).
    const bare = toNotifyJob(
      { event: 'contact.update', timestamp: at, data: { contact: { ...contact, links: [] } } },
      'evt-4',
      false,
    );
    expect(bare && 'contact' in bare ? bare.contact.linkUrls : undefined).toEqual([]);
  });

  it('maps contact.delete to a contact.deleted job, which the worker forgets it by', () => {
    const links = [{ label: 'View in DMS', url: 'https://dms.test/c/1' }];
    const job = toNotifyJob(
      { event: 'contact.delete', timestamp: at, data: { contact: { ...contact, links } } },
      'evt-6',
      false,
    );
    expect(job).toEqual({
      webhookId: 'evt-6',
      occurredAt: at,
      type: 'contact.deleted',
      organization: 'org-1',
      contact: {
        id: 'c-1',
        conversation: 'conv-1',
        profile: { email: 'a@b.nl', telephone: '+31612345678', name: 'Ann' },
        linkUrls: ['https://dms.test/c/1'],
      },
    });
    expect(NotifyDmsJob.parse(job)).toEqual(job);
  });

  it.each([
    ['user.create', 'user.created'],
    ['user.update', 'user.updated'],
  ])('maps %s to a %s job carrying the user only, with user sync on', (event, type) => {
    const job = toNotifyJob({ event, timestamp: at, data: { user } }, 'evt-2', true);
    expect(job).toEqual({
      webhookId: 'evt-2',
      occurredAt: at,
      type,
      organization: 'org-1',
      user: { id: 'u-1', email: 'u@b.nl', name: 'Una', role: 'agent' },
    });
    expect(NotifyDmsJob.parse(job)).toEqual(job);
  });

  it('ignores user events with user sync off, and events it does not forward', () => {
    const userEvent = { event: 'user.create', timestamp: at, data: { user } };
    expect(toNotifyJob(userEvent, 'e', false)).toBeUndefined();
    const message = { event: 'message.create', timestamp: at, data: { contact } };
    expect(toNotifyJob(message, 'e', true)).toBeUndefined();
  });

  it('takes the organization from the envelope when the resource has none', () => {
    const job = toNotifyJob(
      {
        event: 'contact.update',
        timestamp: at,
        organization: 'org-2',
        data: { contact: { id: 'c-2' } },
      },
      'e',
      false,
    );
    expect(job).toMatchObject({
      organization: 'org-2',
      contact: { id: 'c-2', conversation: null },
    });
  });

  it.each([
    ['botinstance.create', 'dealer.activated'],
    ['botinstance.delete', 'dealer.deactivated'],
  ])('maps %s to a %s job carrying the organization only', (event, type) => {
    const botinstance = { id: 'bi-1', bot: 'bot-1', organization: 'org-1' };
    const job = toNotifyJob({ event, timestamp: at, data: { botinstance } }, 'evt-5', false);
    expect(job).toEqual({ webhookId: 'evt-5', occurredAt: at, type, organization: 'org-1' });
    expect(NotifyDmsJob.parse(job)).toEqual(job);
  });

  it("takes a bot instance's organization from the envelope when data.botinstance has none", () => {
    const job = toNotifyJob(
      { event: 'botinstance.create', timestamp: at, organization: 'org-2' },
      'e',
      false,
    );
    expect(job).toMatchObject({ type: 'dealer.activated', organization: 'org-2' });
  });

  it.each([
    ['no contact', { event: 'contact.update', data: {} }],
    ['a contact without id', { event: 'contact.update', data: { contact: { organization: 'o' } } }],
    ['no organization', { event: 'contact.update', data: { contact: { id: 'c' } } }],
    ['a deleted contact without id', { event: 'contact.delete', data: { contact: {} } }],
    [
      'a deleted contact without organization',
      { event: 'contact.delete', data: { contact: { id: 'c' } } },
    ],
    ['a user without id', { event: 'user.update', data: { user: { organization: 'o' } } }],
    ['a bot instance without organization', { event: 'botinstance.create', data: {} }],
    [
      'a bot instance that is not an object',
      { event: 'botinstance.delete', data: { botinstance: 'b' } },
    ],
    [
      'a bot instance with an invalid organization',
      { event: 'botinstance.create', data: { botinstance: { organization: '../o' } } },
    ],
  ])('refuses a forwarded event with %s as invalid_body', (_name, envelope) => {
    expect(() => toNotifyJob({ ...envelope, timestamp: at }, 'e', true)).toThrow(
      expect.objectContaining({ code: 'invalid_body' }),
    );
  });
});
