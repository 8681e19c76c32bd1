import { type DmsNotification, NotifyDmsJob } from '@contact-linker/contracts';
import type { DmsNotifier } from '@contact-linker/dms';
import type { QUEUE } from '@contact-linker/queues';
import type { ContactObserver } from '../contact-observer.ts';
import { fingerprint, type NotifyState } from '../notify-state.ts';
import type { Processor } from './index.ts';

export interface NotifyDmsDeps {
  /** Absent when DMS_NOTIFY_URL is not set: jobs then complete as `disabled` instead of piling up. */
  dms?: Pick<DmsNotifier, 'send'>;
  /** WEB1ON1_APP_URL without a trailing slash. */
  appUrl: string;
  notifyState: NotifyState;
  /**
   * Takes in what a contact webhook shows for the system's own matching, before any delivery; for a
   * deleted contact, forgets it.
   */
  observeContact?: ContactObserver;
  /**
   * Forgets an organization's link memory and waiting DMS contacts, when its dealer deactivated the
   * bot (`LinkMemory.forgetOrganization`), before any delivery.
   */
  forgetOrganization?: (organization: string) => Promise<unknown>;
}

export function conversationUrl(appUrl: string, conversation: string | null): string | null {
  return conversation === null
    ? null
    : `${appUrl}/conversations/${encodeURIComponent(conversation)}`;
}

/** A job that is delivered to the DMS: every type but `contact.deleted`. */
type NotificationJob = Exclude<NotifyDmsJob, { type: 'contact.deleted' }>;

/** The body the DMS receives, built from the job at delivery time. */
export function buildNotification(data: NotificationJob, appUrl: string): DmsNotification {
  const { occurredAt: timestamp, organization } = data;
  if ('user' in data) {
    const { user } = data;
    return {
      type: data.type,
      timestamp,
      organization,
      data: {
        userId: user.id,
        email: user.email,
        name: user.name,
        ...(user.role === undefined ? {} : { role: user.role }),
      },
    };
  }
  if (!('contact' in data)) {
    return { type: data.type, timestamp, organization, data: { organization } };
  }
  const { contact } = data;
  return {
    type: data.type,
    timestamp,
    organization,
    data: {
      contactId: contact.id,
      conversation: contact.conversation,
      conversationUrl: conversationUrl(appUrl, contact.conversation),
      profile: contact.profile,
      ...(contact.dmsContactId === undefined ? {} : { dmsContactId: contact.dmsContactId }),
    },
  };
}

export function createNotifyDmsProcessor(deps: NotifyDmsDeps): Processor<typeof QUEUE.notifyDms> {
  return async (job) => {
    const data = NotifyDmsJob.parse(job.data);
    // A deleted Web1on1 contact is forgotten and nothing is sent: the contract names no
    // notification for it. Forgetting is the whole job, so it runs on every run until one succeeds
    // (it is idempotent), and also with DMS_NOTIFY_URL unset: the memory is the system's own.
    if (data.type === 'contact.deleted') {
      await deps.observeContact?.(data);
      return { outcome: 'forgotten' };
    }
    // Once per event: a retry of its delivery has nothing new to tell the link memory. A run cut
    // short by a crash runs again with `attemptsMade` still 0, and observing is idempotent.
    if (deps.observeContact && job.attemptsMade === 0 && 'contact' in data) {
      if (data.type !== 'contact.linked') await deps.observeContact(data);
    }
    // On every run until delivered, not only the first: forgetting is idempotent, and a run whose
    // forgetting failed must not leave the memory of a dealer who left. Also with DMS_NOTIFY_URL
    // unset: the memory is the system's own.
    if (deps.forgetOrganization && data.type === 'dealer.deactivated') {
      await deps.forgetOrganization(data.organization);
    }
    if (!deps.dms) return { outcome: 'disabled' };
    const notification = buildNotification(data, deps.appUrl);

    // Only updates are suppressed: creates and links are news even when the fields match. The
    // decision is keyed by the webhook-id, so retries and replays of one event decide alike.
    const contact = 'contact' in data ? data.contact : undefined;
    if (contact) {
      const news = await deps.notifyState.isNews(
        contact.id,
        fingerprint(contact.profile, contact.conversation),
        data.webhookId,
      );
      if (data.type === 'contact.updated' && !news) return { outcome: 'unchanged' };
    }
    const { status } = await deps.dms.send(data.webhookId, notification);
    // Only cleanup (the decision expires by itself): a Redis blip here must not resend a delivery.
    if (contact) await deps.notifyState.delivered(data.webhookId).catch(() => {});
    return { outcome: 'delivered', status };
  };
}
