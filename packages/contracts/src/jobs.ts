import { z } from 'zod';
import { OrganizationId } from './dms-contact.ts';

/**
 * Data of a `link-contact` job: only validated, normalised fields, so a waiting job costs as little
 * Redis memory as it can and the worker never sees unchecked input.
 */
export const LinkContactJob = z.object({
  /** DMS contact id, always as a string (numbers are stringified by the ingress). */
  dmsContactId: z.string().min(1).max(128),
  organization: OrganizationId,
  /** Trimmed, lower-cased email. */
  email: z.string().optional(),
  /** E.164 form when the number could be normalised. */
  phoneE164: z.string().optional(),
  /** The phone number as the DMS sent it, tried when the E.164 form finds nothing. */
  phoneRaw: z.string().optional(),
  receivedAt: z.string(),
  /**
   * Set on the job of a waiting DMS contact whose Web1on1 contact a webhook showed: that contact's
   * email or telephone exactly as Web1on1 holds it (a visitor's `06-12345678`, not the DMS's E.164
   * form), searched instead of the DMS's values, once. Absent for a DMS event.
   */
  webhookMatch: z
    .object({ email: z.string().optional(), telephone: z.string().optional() })
    .optional(),
});
export type LinkContactJob = z.infer<typeof LinkContactJob>;

export const LinkOutcome = z.enum(['linked', 'already_linked', 'not_found', 'ambiguous']);
export type LinkOutcome = z.infer<typeof LinkOutcome>;

export const LinkContactResult = z.object({
  outcome: LinkOutcome,
  contactId: z.string().optional(),
  conversation: z.string().nullish(),
});
export type LinkContactResult = z.infer<typeof LinkContactResult>;

export const NotificationType = z.enum([
  'contact.created',
  'contact.updated',
  'contact.linked',
  'user.created',
  'user.updated',
  'dealer.activated',
  'dealer.deactivated',
]);
export type NotificationType = z.infer<typeof NotificationType>;

/** The profile fields the DMS cares about; echo suppression compares exactly these plus the conversation. */
export const NotifiedProfile = z.object({
  email: z.string().nullable(),
  telephone: z.string().nullable(),
  name: z.string().nullable(),
});
export type NotifiedProfile = z.infer<typeof NotifiedProfile>;

export const ContactNotificationData = z.object({
  contactId: z.string(),
  conversation: z.string().nullable(),
  conversationUrl: z.string().nullable(),
  profile: NotifiedProfile,
  dmsContactId: z.string().optional(),
});
export type ContactNotificationData = z.infer<typeof ContactNotificationData>;

export const UserNotificationData = z.object({
  userId: z.string(),
  email: z.string().nullable(),
  name: z.string().nullable(),
  role: z.string().optional(),
});
export type UserNotificationData = z.infer<typeof UserNotificationData>;

/** The organization (dealer) the bot was activated or deactivated in. */
export const DealerNotificationData = z.object({
  organization: z.string(),
});
export type DealerNotificationData = z.infer<typeof DealerNotificationData>;

/** The JSON body POSTed to `DMS_NOTIFY_URL`. */
export const DmsNotification = z.discriminatedUnion('type', [
  z.object({
    type: z.enum(['contact.created', 'contact.updated', 'contact.linked']),
    timestamp: z.string(),
    organization: z.string(),
    data: ContactNotificationData,
  }),
  z.object({
    type: z.enum(['user.created', 'user.updated']),
    timestamp: z.string(),
    organization: z.string(),
    data: UserNotificationData,
  }),
  z.object({
    type: z.enum(['dealer.activated', 'dealer.deactivated']),
    timestamp: z.string(),
    organization: z.string(),
    data: DealerNotificationData,
  }),
]);
export type DmsNotification = z.infer<typeof DmsNotification>;

const NotifyDmsJobBase = {
  webhookId: z.string().min(1).max(200),
  organization: z.string().min(1).max(64),
  /** When the event happened (ISO-8601); sent as the notification's `timestamp`. */
  occurredAt: z.string(),
};

/** The Web1on1 contact a contact job is about, as its webhook (or the link) showed it. */
const NotifyDmsJobContact = z.object({
  id: z.string().min(1).max(200),
  conversation: z.string().nullable(),
  profile: NotifiedProfile,
  dmsContactId: z.string().optional(),
  /** The `url` of each link the contact carries, as the webhook showed it. */
  linkUrls: z.array(z.string().max(2048)).max(100).optional(),
});

/**
 * Data of a `notify-dms` job: the validated facts of one event. The worker turns it into the
 * DmsNotification body when it sends, so settings such as WEB1ON1_APP_URL apply at delivery.
 * `webhookId` is fixed when the job is created, so every retry and every replay carries the same
 * `webhook-id` header and the DMS can drop copies. The type decides which of `contact` and `user`
 * the job carries, so a job without it fails validation instead of failing at delivery; a dealer
 * job carries neither, its organization is all there is to tell. `contact.deleted` is the one type
 * that is no notification: the worker only forgets that contact (the contract names no
 * notification for a deleted contact), so it never reaches the DMS.
 */
export const NotifyDmsJob = z.discriminatedUnion('type', [
  z.object({
    ...NotifyDmsJobBase,
    type: z.enum(['contact.created', 'contact.updated', 'contact.linked']),
    contact: NotifyDmsJobContact,
  }),
  z.object({
    ...NotifyDmsJobBase,
    type: z.literal('contact.deleted'),
    contact: NotifyDmsJobContact,
  }),
  z.object({
    ...NotifyDmsJobBase,
    type: z.enum(['user.created', 'user.updated']),
    user: z.object({
      id: z.string().min(1).max(200),
      email: z.string().nullable(),
      name: z.string().nullable(),
      role: z.string().optional(),
    }),
  }),
  z.object({
    ...NotifyDmsJobBase,
    type: z.enum(['dealer.activated', 'dealer.deactivated']),
  }),
]);
export type NotifyDmsJob = z.infer<typeof NotifyDmsJob>;

/**
 * `unchanged`: echo suppressed; `disabled`: DMS_NOTIFY_URL is not set on the worker; `forgotten`: a
 * deleted Web1on1 contact was forgotten (nothing is sent for it).
 */
export const NotifyOutcome = z.enum(['delivered', 'unchanged', 'disabled', 'forgotten']);
export type NotifyOutcome = z.infer<typeof NotifyOutcome>;

export const NotifyDmsResult = z.object({
  outcome: NotifyOutcome,
  status: z.number().optional(),
});
export type NotifyDmsResult = z.infer<typeof NotifyDmsResult>;

/** A job that failed for good, kept with everything needed to replay it onto its original queue. */
export const DeadLetterJob = z.object({
  queue: z.string(),
  name: z.string(),
  jobId: z.string(),
  data: z.unknown(),
  failedReason: z.string(),
  attemptsMade: z.number().int().nonnegative(),
  /** The origin job's attempt budget, restored on replay. */
  attempts: z.number().int().positive(),
  failedAt: z.string(),
  createdAt: z.string().optional(),
});
export type DeadLetterJob = z.infer<typeof DeadLetterJob>;

/** What `GET /jobs/:jobId` answers about an accepted DMS event. */
export const JobStatus = z.object({
  jobId: z.string(),
  state: z.enum(['waiting', 'active', 'delayed', 'completed', 'failed', 'dead-lettered']),
  outcome: LinkOutcome.optional(),
  result: z.object({ contactId: z.string(), conversation: z.string().nullable() }).optional(),
});
export type JobStatus = z.infer<typeof JobStatus>;

/** What the admin API and the CLI show of one dead letter. */
export const DeadLetterSummary = z.object({
  id: z.string(),
  queue: z.string(),
  name: z.string(),
  failedReason: z.string(),
  attemptsMade: z.number(),
  failedAt: z.string(),
});
export type DeadLetterSummary = z.infer<typeof DeadLetterSummary>;
