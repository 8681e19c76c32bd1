import {
  buildDmsContactUrl,
  LinkContactJob,
  type LinkContactResult,
  type NotifyDmsJob,
  TransientError,
  type Web1on1Contact,
} from '@contact-linker/contracts';
import { contentOf, type LinkMemory } from '@contact-linker/link-memory';
import { type QUEUE, tierOfPriority } from '@contact-linker/queues';
import { type FoundContacts, type Web1on1Client, withBudgetShare } from '@contact-linker/web1on1';
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
  /** Links this system made and DMS contacts waiting for their Web1on1 contact. */
  memory: LinkMemory;
  /**
   * Lookups of a live DMS event that finds nobody before it completes `not_found`
   * (NOT_FOUND_ATTEMPTS); a bulk item and a waiting contact's webhook match look up once.
   */
  notFoundAttempts: number;
  /** Reports each link added, by what started it: a DMS post, or a webhook of a waiting contact. */
  onLinked?: (via: 'dms_post' | 'webhook') => void;
}

/**
 * Email first (exact match); when that finds nobody and a phone is known, the E.164 form, then the
 * number exactly as the DMS sent it (Web1on1 stores what the visitor typed). A webhook match
 * searches what the webhook showed of the Web1on1 contact instead: one request. Each search is one
 * request for at most two contacts, enough to tell one match from several.
 */
async function findCandidates(
  web1on1: LinkContactDeps['web1on1'],
  data: LinkContactJob,
): Promise<FoundContacts> {
  const { organization } = data;
  const emails = data.webhookMatch ? [data.webhookMatch.email] : [data.email];
  const phones = data.webhookMatch
    ? [data.webhookMatch.email === undefined ? data.webhookMatch.telephone : undefined]
    : [data.phoneE164, data.phoneRaw];
  for (const email of emails) {
    if (email === undefined) continue;
    const byEmail = await web1on1.findContacts({ organization, email });
    if (byEmail.contacts.length > 0) return byEmail;
  }
  for (const telephone of phones) {
    if (telephone === undefined) continue;
    const byPhone = await web1on1.findContacts({ organization, telephone });
    if (byPhone.contacts.length > 0) return byPhone;
  }
  return { contacts: [], several: false };
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
  const link = linkOne(deps);
  // Every Web1on1 request of the job waits for its slot in its organization's turn, within its tier.
  return async (job, context) => {
    const data = LinkContactJob.parse(job.data);
    const share = { key: data.organization, tier: tierOfPriority(job.opts.priority) };
    return withBudgetShare(share, () => link(job, data, context));
  };
}

function linkOne(deps: LinkContactDeps) {
  return async (
    job: Parameters<Processor<typeof QUEUE.linkContact>>[0],
    data: LinkContactJob,
    { log }: Parameters<Processor<typeof QUEUE.linkContact>>[1],
  ): Promise<LinkContactResult> => {
    const url = buildDmsContactUrl(deps.link.urlTemplate, data.dmsContactId);
    // The same content as a link this system made: nothing to ask Web1on1.
    const remembered = await deps.memory.recall(data.organization, data.dmsContactId);
    if (remembered?.content === contentOf(data, url)) {
      return {
        outcome: 'already_linked',
        contactId: remembered.contactId,
        conversation: remembered.conversation,
      };
    }

    const lookups =
      tierOfPriority(job.opts.priority) === 'bulk' || data.webhookMatch ? 1 : deps.notFoundAttempts;
    const lastLookup = job.attemptsMade + 1 >= lookups || isLastAttempt(job);
    // Waiting starts before the last lookup, so the webhook of a Web1on1 contact created while it
    // runs finds this DMS contact; a link or an ambiguous answer ends the wait.
    if (lastLookup) await deps.memory.wait(data);
    // Before the list request: any write of ours that ends after this may be missing from its answer.
    const listedAt = await deps.contactGuard.clock();
    const { contacts: candidates, several } = await findCandidates(deps.web1on1, data);

    if (candidates.length === 0) {
      // The visitor may not have chatted yet: look again with backoff while lookups remain, then
      // settle for `not_found` (not a dead letter) and wait for the contact's webhook.
      if (lastLookup) return { outcome: 'not_found' };
      throw new TransientError('no Web1on1 contact matches yet');
    }
    if (several) {
      log.info('several Web1on1 contacts match; not linking');
      await deps.memory.stopWaiting(data.organization, data.dmsContactId);
      return { outcome: 'ambiguous' };
    }

    const target = candidates[0]!;
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
    // Last, after `contact.linked` is queued: a remembered link answers the next event of this
    // content without a lookup and sends nothing, so a worker killed between the two must leave no
    // memory. The job then runs again, finds the link on the contact (`already_linked`), queues the
    // same notification (same id) and remembers it.
    await deps.memory.remember(data, { contactId: contact.id, conversation, url });
    if (status === 'linked') deps.onLinked?.(data.webhookMatch ? 'webhook' : 'dms_post');
    return { outcome: status, contactId: contact.id, conversation };
  };
}
