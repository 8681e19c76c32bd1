export {
  DmsContactBulk,
  DmsContactEvent,
  DmsContactId,
  EmailInput,
  MAX_BULK_CONTACTS,
  OrganizationId,
  PhoneInput,
} from './dms-contact.ts';
export {
  type ClientError,
  errorForStatus,
  PermanentError,
  parseRetryAfter,
  RateLimitedError,
  TransientError,
} from './errors/index.ts';
export {
  ContactNotificationData,
  DeadLetterJob,
  DeadLetterSummary,
  DealerNotificationData,
  DmsNotification,
  JobStatus,
  LinkContactJob,
  LinkContactResult,
  LinkOutcome,
  NotificationType,
  NotifiedProfile,
  NotifyDmsJob,
  NotifyDmsResult,
  NotifyOutcome,
  UserNotificationData,
} from './jobs.ts';
export { describeIssues, FORBIDDEN_KEYS, findForbiddenKey } from './json-input.ts';
export { buildDmsContactUrl, normalizeEmail, normalizePhone, parseRateLimit } from './normalize.ts';
export {
  BotInstanceWebhookEvents,
  ContactDeleteWebhookEvents,
  ContactWebhookEvents,
  UserWebhookEvents,
  Web1on1Contact,
  Web1on1Link,
  Web1on1Profile,
  WebhookActivity,
  WebhookBotInstance,
  WebhookContact,
  WebhookDataLinks,
  WebhookEnvelope,
  WebhookTimestamp,
  WebhookUser,
} from './web1on1.ts';
