import {
  LinkContactJob,
  type NotifyDmsJob,
  normalizeEmail,
  normalizePhone,
} from '@contact-linker/contracts';
import type { LinkMemory } from '@contact-linker/link-memory';
import { type FairOrder, linkContactEntry } from '@contact-linker/queues';

type ContactNotifyJob = Extract<NotifyDmsJob, { contact: unknown }>;

export interface ContactObserverOptions {
  memory: LinkMemory;
  /** Where its link-contact jobs go, in their organization's turn. */
  linkJobs: Pick<FairOrder, 'add'>;
  /** JOB_ATTEMPTS, for the link jobs it queues. */
  attempts: number;
  /** DEFAULT_PHONE_COUNTRY: webhooks carry the phone number as the visitor typed it. */
  defaultPhoneCountry: string;
}

/**
 * What the system does with a Web1on1 `contact.create` / `contact.update` for its own matching:
 * the link memory forgets links the contact no longer carries or matches, and each DMS contact
 * waiting for this contact's email or phone gets a link-contact job (a search, so two matches stay
 * `ambiguous`, then the PATCH, through the same budget and guard as any DMS event). A contact that
 * nobody waits for costs Redis reads only, and no Web1on1 request.
 *
 * A `contact.delete` (a `contact.deleted` job) makes the system forget that contact: every link it
 * made to it, so the next DMS post of those DMS contacts looks them up again, and every DMS contact
 * waiting for its email or phone; nothing is queued for a contact that is gone. One script call.
 * @returns how many waiting DMS contacts were queued
 */
export function createContactObserver({
  memory,
  linkJobs,
  attempts,
  defaultPhoneCountry,
}: ContactObserverOptions) {
  return async ({ type, organization, contact }: ContactNotifyJob): Promise<number> => {
    const { telephone } = contact.profile;
    const email = contact.profile.email ? normalizeEmail(contact.profile.email) : undefined;
    const phoneE164 = telephone ? normalizePhone(telephone, defaultPhoneCountry) : undefined;
    if (type === 'contact.deleted') {
      await memory.forgetContact({
        id: contact.id,
        organization,
        ...(email ? { email } : {}),
        ...(phoneE164 ? { phoneE164 } : {}),
      });
      return 0;
    }
    const waiting = await memory.observe({
      id: contact.id,
      organization,
      ...(email ? { email } : {}),
      ...(phoneE164 ? { phoneE164 } : {}),
      ...(contact.linkUrls ? { linkUrls: contact.linkUrls } : {}),
    });
    if (waiting.length === 0) return 0;
    const receivedAt = new Date().toISOString();
    await linkJobs.add(
      waiting.map((w) => {
        // The search uses what Web1on1 holds: the email, or else the number as the visitor typed it.
        const webhookMatch =
          email !== undefined && w.email === email
            ? { email }
            : { ...(telephone ? { telephone } : {}) };
        return linkContactEntry(LinkContactJob.parse({ ...w, receivedAt, webhookMatch }), {
          attempts,
          bulk: false,
        });
      }),
    );
    return waiting.length;
  };
}

export type ContactObserver = ReturnType<typeof createContactObserver>;
