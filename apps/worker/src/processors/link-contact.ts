import {
  buildDmsContactUrl,
  LinkContactJob,
  type LinkContactResult,
  type NotifyDmsJob,
  TransientError,
  type Web1on1Contact,
} from '@contact-linker/contracts';
import type { Logger } from '@contact-linker/observability';
import type { Web1on1Client } from '@contact-linker/web1on1';
import type { Job } from 'bullmq';
import { fingerprint, type NotifyState } from '../notify-state.ts';
import { isLastAttempt } from '../retry-policy.ts';

export interface LinkContactDeps {
  web1on1: Pick<Web1on1Client, 'findContacts' | 'addLink'>;
  link: { urlTemplate: string; label: string; icon: string };
  /** Enqueues the `contact.linked` notification; absent when DMS_NOTIFY_URL is not set. */
  notifyLinked?: (job: NotifyDmsJob, jobId: string) => Promise<void>;
  notifyState: NotifyState;
  logger: Logger;
}

/**
 * Email first (exact match); when that finds nobody and a phone is known, the E.164 form, then the
 * number exactly as the DMS sent it (Web1on1 stores what the visitor typed).
 */
async function findCandidates(
  web1on1: LinkContactDeps['web1on1'],
  data: LinkContactJob,
): Promise<Web1on1Contact[]> {
  const { organization } = data;
  if (data.email !== undefined) {
    const byEmail = await web1on1.findContacts({ organization, email: data.email });
    if (byEmail.length > 0) return byEmail;
  }
  for (const telephone of [data.phoneE164, data.phoneRaw]) {
    if (telephone === undefined) continue;
    const byPhone = await web1on1.findContacts({ organization, telephone });
    if (byPhone.length > 0) return byPhone;
  }
  return [];
}

export function createLinkContactProcessor(deps: LinkContactDeps) {
  return async (job: Job<LinkContactJob, LinkContactResult>): Promise<LinkContactResult> => {
    const data = LinkContactJob.parse(job.data);
    const candidates = await findCandidates(deps.web1on1, data);

    if (candidates.length === 0) {
      // The contact may simply not exist in Web1on1 yet (the visitor has not chatted): retry with
      // backoff, and only when attempts run out settle for `not_found` instead of a dead letter.
      if (isLastAttempt(job)) return { outcome: 'not_found' };
      throw new TransientError('no Web1on1 contact matches yet');
    }
    if (candidates.length > 1) {
      deps.logger.info(
        { matches: candidates.length },
        'several Web1on1 contacts match; not linking',
      );
      return { outcome: 'ambiguous' };
    }

    const target = candidates[0]!;
    const url = buildDmsContactUrl(deps.link.urlTemplate, data.dmsContactId);
    const { status, contact } = await deps.web1on1.addLink(target.id, {
      label: deps.link.label,
      url,
      icon: deps.link.icon,
    });
    const conversation = contact.conversation ?? null;

    if (deps.notifyLinked) {
      const profile = {
        email: contact.profile?.email ?? null,
        telephone: contact.profile?.telephone ?? null,
        name: contact.profile?.name ?? null,
      };
      // Recorded before Web1on1's own `contact.update` for this PATCH can be processed, so that
      // echo is recognised as "nothing changed".
      await deps.notifyState.swap(contact.id, fingerprint(profile, conversation), String(job.id));
      // One id per (Web1on1 contact, DMS contact): a retry after a crash between the PATCH and this
      // line, or a later `already_linked`, sends the same notification and the DMS can drop copies.
      const webhookId = `linked-${contact.id}-${Buffer.from(data.dmsContactId).toString('base64url')}`;
      await deps.notifyLinked(
        {
          webhookId,
          type: 'contact.linked',
          organization: data.organization,
          occurredAt: new Date().toISOString(),
          contact: { id: contact.id, conversation, profile, dmsContactId: data.dmsContactId },
        },
        webhookId,
      );
    }
    return { outcome: status, contactId: contact.id, conversation };
  };
}
