import { z } from 'zod';
import { OrganizationId } from './dms-contact.ts';
import { Web1on1Profile } from './web1on1.ts';

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
]);
export type NotificationType = z.infer<typeof NotificationType>;

export const ContactNotificationData = z.object({
  contactId: z.string(),
  conversation: z.string().nullable(),
  conversationUrl: z.string().nullable(),
  profile: Web1on1Profile,
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
]);
export type DmsNotification = z.infer<typeof DmsNotification>;

/**
 * Data of a `notify-dms` job. `webhookId` is fixed when the job is created, so every retry and every
 * replay of the same event carries the same `webhook-id` header and the DMS can drop copies.
 */
export const NotifyDmsJob = z.object({
  webhookId: z.string().min(1).max(200),
  notification: DmsNotification,
});
export type NotifyDmsJob = z.infer<typeof NotifyDmsJob>;

export const NotifyOutcome = z.enum(['delivered', 'unchanged']);
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
