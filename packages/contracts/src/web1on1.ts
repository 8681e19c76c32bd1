import { z } from 'zod';

export const Web1on1Link = z
  .object({
    label: z.string().optional(),
    url: z.string(),
    icon: z.string().optional(),
  })
  .loose();
export type Web1on1Link = z.infer<typeof Web1on1Link>;

export const Web1on1Profile = z
  .object({
    email: z.string().nullish(),
    telephone: z.string().nullish(),
    name: z.string().nullish(),
  })
  .loose();
export type Web1on1Profile = z.infer<typeof Web1on1Profile>;

/** A contact as the Web1on1 REST API returns it (only the fields this service reads are typed). */
export const Web1on1Contact = z
  .object({
    id: z.string().min(1),
    organization: z.string().nullish(),
    conversation: z.string().nullish(),
    profile: Web1on1Profile.nullish(),
    links: z.array(Web1on1Link).nullish(),
  })
  .loose();
export type Web1on1Contact = z.infer<typeof Web1on1Contact>;

const WebhookId = z.string().min(1).max(200);

/** The contact inside a `contact.*` webhook. `id` is required; `organization` may sit on the event instead. */
export const WebhookContact = z
  .object({
    id: WebhookId,
    organization: z.string().min(1).max(64).nullish(),
    conversation: z.string().max(200).nullish(),
    profile: Web1on1Profile.nullish(),
    /**
     * The urls of the contact's links. Read leniently: a link this service cannot read (no string
     * `url`, or past the first 100) is left out rather than refusing Web1on1's event.
     */
    links: z
      .unknown()
      .transform((links) =>
        Array.isArray(links)
          ? links
              .map((l: unknown) => (l as { url?: unknown } | null)?.url)
              .filter((url): url is string => typeof url === 'string' && url.length <= 2048)
              .slice(0, 100)
          : [],
      )
      .optional(),
  })
  .loose();
export type WebhookContact = z.infer<typeof WebhookContact>;

export const WebhookUser = z
  .object({
    id: WebhookId,
    organization: z.string().min(1).max(64).nullish(),
    email: z.string().max(254).nullish(),
    name: z.string().max(500).nullish(),
    displayName: z.string().max(500).nullish(),
    role: z.string().max(100).nullish(),
  })
  .loose();
export type WebhookUser = z.infer<typeof WebhookUser>;

/**
 * The bot instance inside a `botinstance.*` webhook: the bot and the organization it was activated
 * (or deactivated) in. `organization` may sit on the event instead.
 */
export const WebhookBotInstance = z
  .object({
    id: WebhookId.optional(),
    bot: z.string().max(200).nullish(),
    organization: z.string().min(1).max(64).nullish(),
  })
  .loose();
export type WebhookBotInstance = z.infer<typeof WebhookBotInstance>;

/**
 * When a webhook event happened: an ISO-8601 date-time with a zone (`Z` or an offset), as Web1on1
 * documents it, or milliseconds since the epoch, as older senders (and the sandbox) send it.
 */
export const WebhookTimestamp = z.union([
  z.iso.datetime({ offset: true }),
  z.number().int().nonnegative(),
]);
export type WebhookTimestamp = z.infer<typeof WebhookTimestamp>;

/**
 * The Activity Streams 2.0 object Web1on1 puts on every event: who (`actor`) did what (`type`:
 * `Create`, `Update`, `Delete`) to which resource (`object`), when (`published`), in words
 * (`summary`). Nothing in this service reads it.
 */
export const WebhookActivity = z.looseObject({
  '@context': z.unknown().optional(),
  type: z.string().optional(),
  actor: z.unknown().optional(),
  object: z.unknown().optional(),
  published: z.string().optional(),
  summary: z.string().optional(),
});
export type WebhookActivity = z.infer<typeof WebhookActivity>;

/**
 * `data.links` of an event: the API URLs of the resources involved, keyed by resource name
 * (`{"contact": "https://api.web1on1.chat/v2/contacts/…", "organization": …}`). Not the contact's
 * own `links` (`data.contact.links`, the `{label, url, icon}` list where "View in DMS" goes).
 * Nothing in this service reads it.
 */
export const WebhookDataLinks = z.record(z.string(), z.string());
export type WebhookDataLinks = z.infer<typeof WebhookDataLinks>;

/**
 * Envelope of every Web1on1 bot webhook, as Web1on1 documents it: `id` (a UUID), `event`,
 * `timestamp` (ISO-8601), `organization`, `activity` and `data`, which holds the resource
 * (`data.contact`, `data.user`, `data.botinstance`) and `data.links`. Only `event` and `timestamp`
 * are required at this level so that events this service ignores are accepted as they are; contact,
 * user and bot-instance events are checked further by the ingress. `timestamp` is required because
 * the ingress refuses an event outside its replay window, which an event without a time would
 * escape. `activity` and `data.links` are declared for the API document, but a signed event is never
 * refused for their shape (`catch`): nothing reads them.
 */
export const WebhookEnvelope = z
  .object({
    id: WebhookId.optional(),
    event: z.string().min(1).max(100),
    timestamp: WebhookTimestamp,
    organization: z.string().min(1).max(64).nullish(),
    activity: WebhookActivity.nullish().catch(undefined),
    data: z.looseObject({ links: WebhookDataLinks.optional().catch(undefined) }).nullish(),
  })
  .loose();
export type WebhookEnvelope = z.infer<typeof WebhookEnvelope>;

export const ContactWebhookEvents = ['contact.create', 'contact.update'] as const;
/**
 * A Web1on1 contact was deleted: the system forgets it (its links and the DMS contacts waiting for
 * it). The contract names no notification for it, so the DMS is not told.
 */
export const ContactDeleteWebhookEvents = ['contact.delete'] as const;
export const UserWebhookEvents = ['user.create', 'user.update'] as const;
/** A dealer activated (`create`) or deactivated (`delete`) the bot in its organization. */
export const BotInstanceWebhookEvents = ['botinstance.create', 'botinstance.delete'] as const;
