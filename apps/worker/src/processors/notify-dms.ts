import {
  type DmsNotification,
  NotifyDmsJob,
  type NotifyDmsResult,
} from '@contact-linker/contracts';
import type { DmsNotifier } from '@contact-linker/dms';
import type { Job } from 'bullmq';
import { fingerprint, type NotifyState } from '../notify-state.ts';

export interface NotifyDmsDeps {
  /** Absent when DMS_NOTIFY_URL is not set: jobs then complete as `disabled` instead of piling up. */
  dms?: Pick<DmsNotifier, 'send'>;
  /** WEB1ON1_APP_URL without a trailing slash. */
  appUrl: string;
  notifyState: NotifyState;
}

export function conversationUrl(appUrl: string, conversation: string | null): string | null {
  return conversation === null
    ? null
    : `${appUrl}/conversations/${encodeURIComponent(conversation)}`;
}

/** The body the DMS receives, built from the job at delivery time. */
export function buildNotification(data: NotifyDmsJob, appUrl: string): DmsNotification {
  const { type, occurredAt: timestamp, organization } = data;
  if (type === 'user.created' || type === 'user.updated') {
    const user = data.user;
    if (!user) throw new TypeError(`${type} job without a user`);
    return {
      type,
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
  const contact = data.contact;
  if (!contact) throw new TypeError(`${type} job without a contact`);
  return {
    type,
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

export function createNotifyDmsProcessor(deps: NotifyDmsDeps) {
  return async (job: Job<NotifyDmsJob, NotifyDmsResult>): Promise<NotifyDmsResult> => {
    const data = NotifyDmsJob.parse(job.data);
    if (!deps.dms) return { outcome: 'disabled' };
    const notification = buildNotification(data, deps.appUrl);

    // Only updates are suppressed: creates and links are news even when the fields match. The
    // decision is keyed by the webhook-id, so retries and replays of one event decide alike.
    const contact = data.contact;
    if (contact) {
      const changed = await deps.notifyState.decide(
        contact.id,
        fingerprint(contact.profile, contact.conversation),
        data.webhookId,
      );
      if (data.type === 'contact.updated' && !changed) return { outcome: 'unchanged' };
    }
    const { status } = await deps.dms.send(data.webhookId, notification);
    // Only cleanup (the decision expires by itself): a Redis blip here must not resend a delivery.
    if (contact) await deps.notifyState.delivered(data.webhookId).catch(() => {});
    return { outcome: 'delivered', status };
  };
}
