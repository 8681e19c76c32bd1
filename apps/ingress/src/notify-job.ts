import {
  BotInstanceWebhookEvents,
  ContactDeleteWebhookEvents,
  ContactWebhookEvents,
  type NotifyDmsJob,
  OrganizationId,
  UserWebhookEvents,
  WebhookBotInstance,
  WebhookContact,
  type WebhookEnvelope,
  WebhookUser,
} from '@contact-linker/contracts';
import type { z } from 'zod';
import { ApiError } from './errors.ts';

type ContactJob = Extract<NotifyDmsJob, { contact: unknown }>;
type UserNotifyJob = Extract<NotifyDmsJob, { user: unknown }>;
type DealerNotifyJob = Extract<NotifyDmsJob, { type: `dealer.${string}` }>;

const CONTACT_NOTIFICATION = {
  'contact.create': 'contact.created',
  'contact.update': 'contact.updated',
  // Not a notification: the worker forgets the contact, and the DMS is told nothing.
  'contact.delete': 'contact.deleted',
} as const satisfies Record<
  (typeof ContactWebhookEvents)[number] | (typeof ContactDeleteWebhookEvents)[number],
  ContactJob['type']
>;

const USER_NOTIFICATION = {
  'user.create': 'user.created',
  'user.update': 'user.updated',
} as const satisfies Record<(typeof UserWebhookEvents)[number], UserNotifyJob['type']>;

const DEALER_NOTIFICATION = {
  'botinstance.create': 'dealer.activated',
  'botinstance.delete': 'dealer.deactivated',
} as const satisfies Record<(typeof BotInstanceWebhookEvents)[number], DealerNotifyJob['type']>;

/** Whether `event` is one of `events` (and typed as such). */
export const isOneOf = <T extends string>(events: readonly T[], event: string): event is T =>
  (events as readonly string[]).includes(event);

function invalid(message: string, issues: z.core.$ZodIssue[] = []): ApiError {
  return new ApiError('invalid_body', {
    message,
    details: issues.map((i) => ({ path: `/${i.path.join('/')}`, message: i.message })),
  });
}

/** The event's own time; the route's window check (`event-window.ts`) has made sure it is one. */
function occurredAt(timestamp: WebhookEnvelope['timestamp']): string {
  return new Date(timestamp).toISOString();
}

function organizationOf(resource: { organization?: string | null }, envelope: WebhookEnvelope) {
  const organization = OrganizationId.safeParse(resource.organization ?? envelope.organization);
  if (!organization.success) throw invalid('organization is missing or invalid');
  return organization.data;
}

/**
 * The notify-dms job for a webhook event: a contact job for contact events (for `contact.delete`, a
 * `contact.deleted` job the worker forgets the contact by, and sends nothing for), a user job for
 * user events when user sync is on, a dealer job when a dealer activates (`botinstance.create`) or
 * deactivates (`botinstance.delete`) the bot, `undefined` for everything this service ignores.
 * Throws `invalid_body` (400) for a contact or user event without a valid resource, and for any of
 * these without a valid organization.
 */
export function toNotifyJob(
  envelope: WebhookEnvelope,
  eventId: string,
  syncUsers: boolean,
): NotifyDmsJob | undefined {
  const { event } = envelope;
  const base = { webhookId: eventId, occurredAt: occurredAt(envelope.timestamp) };
  if (isOneOf(ContactWebhookEvents, event) || isOneOf(ContactDeleteWebhookEvents, event)) {
    const parsed = WebhookContact.safeParse(envelope.data?.contact);
    if (!parsed.success) throw invalid('data.contact is invalid or has no id', parsed.error.issues);
    const contact = parsed.data;
    return {
      ...base,
      type: CONTACT_NOTIFICATION[event],
      organization: organizationOf(contact, envelope),
      contact: {
        id: contact.id,
        conversation: contact.conversation ?? null,
        profile: {
          email: contact.profile?.email ?? null,
          telephone: contact.profile?.telephone ?? null,
          name: contact.profile?.name ?? null,
        },
        ...(contact.links ? { linkUrls: contact.links } : {}),
      },
    } satisfies ContactJob;
  }
  if (syncUsers && isOneOf(UserWebhookEvents, event)) {
    const parsed = WebhookUser.safeParse(envelope.data?.user);
    if (!parsed.success) throw invalid('data.user is invalid or has no id', parsed.error.issues);
    const user = parsed.data;
    return {
      ...base,
      type: USER_NOTIFICATION[event],
      organization: organizationOf(user, envelope),
      user: {
        id: user.id,
        email: user.email ?? null,
        name: user.name ?? user.displayName ?? null,
        ...(user.role ? { role: user.role } : {}),
      },
    } satisfies UserNotifyJob;
  }
  if (isOneOf(BotInstanceWebhookEvents, event)) {
    // The organization is the whole news; Web1on1 names it on the event or on the bot instance.
    const parsed = WebhookBotInstance.nullish().safeParse(envelope.data?.botinstance);
    if (!parsed.success) throw invalid('data.botinstance is invalid', parsed.error.issues);
    return {
      ...base,
      type: DEALER_NOTIFICATION[event],
      organization: organizationOf(parsed.data ?? {}, envelope),
    } satisfies DealerNotifyJob;
  }
  return undefined;
}
