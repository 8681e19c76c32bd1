import { expect, it } from 'vitest';

it('exports exactly the public surface', async () => {
  const surface = Object.keys(await import('./index.ts')).sort();
  expect(surface).toMatchInlineSnapshot(`
    [
      "ContactNotificationData",
      "ContactWebhookEvents",
      "DeadLetterJob",
      "DmsContactBulk",
      "DmsContactEvent",
      "DmsContactId",
      "DmsNotification",
      "EmailInput",
      "LinkContactJob",
      "LinkContactResult",
      "LinkOutcome",
      "MAX_BULK_CONTACTS",
      "NotificationType",
      "NotifiedProfile",
      "NotifyDmsJob",
      "NotifyDmsResult",
      "NotifyOutcome",
      "OrganizationId",
      "PermanentError",
      "PhoneInput",
      "RateLimitedError",
      "TransientError",
      "UserNotificationData",
      "UserWebhookEvents",
      "Web1on1Contact",
      "Web1on1Link",
      "Web1on1Profile",
      "WebhookContact",
      "WebhookEnvelope",
      "WebhookUser",
      "buildDmsContactUrl",
      "errorForStatus",
      "normalizeEmail",
      "normalizePhone",
      "parseRateLimit",
      "parseRetryAfter",
    ]
  `);
});
