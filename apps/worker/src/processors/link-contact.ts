import {
  buildDmsContactUrl,
  LinkContactJob,
  type NotifyDmsJob,
  TransientError,
  type Web1on1Contact,
} from '@contact-linker/contracts';
import type { QUEUE } from '@contact-linker/queues';
import type { Web1on1Client } from '@contact-linker/web1on1';
import type { ContactGuard } from '../contact-guard.ts';
import { fingerprint, type NotifyState } from '../notify-state.ts';
import { isLastAttempt } from '../retry-policy.ts';
import type { Processor } from './index.ts';

export interface LinkContactDeps {
  web1on1: Pick<Web1on1Client, 'findContacts' | 'addLink' | 'getContact'>;
  /**
   * Serialises link writes per Web1on1 contact across processes, and knows when this system last
   * wrote each contact, so a current list answer spares a GET.
   */
  contactGuard: ContactGuard;
  link: { urlTemplate: string; label: string; icon: string };
  /** Enqueues the `contact.linked` notification; absent when DMS_NOTIFY_URL is not set. */
  notifyLinked?: (job: NotifyDmsJob, jobId: string) => Promise<void>;
  notifyState: NotifyState;
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

const notifiedProfile = (contact: Web1on1Contact) => ({
  email: contact.profile?.email ?? null,
  telephone: contact.profile?.telephone ?? null,
  name: contact.profile?.name ?? null,
});

const hasLink = (contact: Web1on1Contact, url: string) =>
  (contact.links ?? []).some((l) => l.url === url);

/**
 * Adds the link and checks that it stuck. `listed` is the contact as listed when no write of ours
 * can have changed it since, so the add needs no GET first. The PATCH answer is the API's state
 * right after the write; when it lacks the link (someone outside this system wrote `links` at the
 * same moment), the contact is read again and the add repeated once, from that read, before giving
 * up for a later retry.
 */
async function addLinkVerified(
  web1on1: LinkContactDeps['web1on1'],
  contactId: string,
  link: { label: string; url: string; icon: string },
  listed: Web1on1Contact | undefined,
) {
  let current = listed;
  if (current && hasLink(current, link.url))
    return { status: 'already_linked' as const, contact: current };
  for (let attempt = 0; attempt < 2; attempt++) {
    const result = await web1on1.addLink(contactId, link, current);
    if (hasLink(result.contact, link.url)) return result;
    current = await web1on1.getContact(contactId);
    if (hasLink(current, link.url)) return { status: result.status, contact: current };
  }
  throw new TransientError('the link did not stick on the Web1on1 contact');
}

export function createLinkContactProcessor(
  deps: LinkContactDeps,
): Processor<typeof QUEUE.linkContact> {
  return async (job, { log }) => {
    const data = LinkContactJob.parse(job.data);
    // Before the list request: any write of ours that ends after this may be missing from its answer.
    const listedAt = await deps.contactGuard.clock();
    const candidates = await findCandidates(deps.web1on1, data);

    if (candidates.length === 0) {
      // The contact may simply not exist in Web1on1 yet (the visitor has not chatted): retry with
      // backoff, and only when attempts run out settle for `not_found` instead of a dead letter.
      if (isLastAttempt(job)) return { outcome: 'not_found' };
      throw new TransientError('no Web1on1 contact matches yet');
    }
    if (candidates.length > 1) {
      log.info({ matches: candidates.length }, 'several Web1on1 contacts match; not linking');
      return { outcome: 'ambiguous' };
    }

    const target = candidates[0]!;
    const url = buildDmsContactUrl(deps.link.urlTemplate, data.dmsContactId);
    const link = { label: deps.link.label, url, icon: deps.link.icon };
    // A list answer without `links` may be a projection, never a contact without links: read it.
    const complete = Array.isArray(target.links);
    const listing = {
      ...(complete ? { listedAt } : {}),
      // Nothing to write: no mark, which would only send other jobs of this contact to read it again.
      skipWriteIfCurrent: complete && hasLink(target, url),
    };
    const { status, contact } = await deps.contactGuard.withContact(
      target.id,
      listing,
      async ({ listIsCurrent }) => {
        // Recorded before the PATCH, because Web1on1's own `contact.update` for it can reach a
        // worker before this job gets to enqueue `contact.linked`: that echo then finds its fields known.
        if (deps.notifyLinked) {
          await deps.notifyState.record(
            target.id,
            fingerprint(notifiedProfile(target), target.conversation ?? null),
            String(job.id),
          );
        }
        return addLinkVerified(deps.web1on1, target.id, link, listIsCurrent ? target : undefined);
      },
    );
    const conversation = contact.conversation ?? null;

    if (deps.notifyLinked) {
      const profile = notifiedProfile(contact);
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
