/**
 * What `pnpm dev` sets up by default and `pnpm webhook:send` sends to by default, in one place so
 * the two agree: the ports, the webhook secret, the demo dealer and its contacts.
 */

export const DEV_DEFAULTS = {
  ingressPort: 4002,
  workerPort: 9464,
  web1on1Port: 4100,
  dmsPort: 4200,
  apiKey: 'dev-api-key-change-me',
  webhookSecret: 'dev-webhook-secret',
  adminUsername: 'admin',
  adminPassword: 'dev-admin-password',
  queuePrefix: '{contact-linker-dev}',
} as const;

export const DEMO_ORGANIZATION = 'demo-dealer';

/**
 * Sam Smit, the demo contact Web1on1 webhooks are sent for. Its ids are fixed (24-hex, like Web1on1's
 * own) so that `webhook:send` names a contact that exists in the dev sandbox without asking it.
 */
export const DEMO_WEBHOOK_CONTACT = {
  id: '5e1dc0ffee00000000000003',
  conversation: '5e1dc0ffee000000000c0003',
  profile: { email: 'sam@example.com', telephone: '+31201234567', name: 'Sam Smit' },
} as const;

/** The agent who "changed" the contact in a sent webhook (the activity's actor). */
export const DEMO_AGENT = { id: '5e1dc0ffee000000000a0001', name: 'Demo Agent' } as const;

/** The demo contacts the dev sandbox holds; the last one is `DEMO_WEBHOOK_CONTACT`. */
export const DEMO_CONTACTS = [
  { profile: { email: 'jane.doe@example.com', name: 'Jane Doe' } },
  { profile: { telephone: '+31612345678', name: 'Piet Jansen' } },
  {
    id: DEMO_WEBHOOK_CONTACT.id,
    conversation: DEMO_WEBHOOK_CONTACT.conversation,
    profile: { ...DEMO_WEBHOOK_CONTACT.profile },
  },
];
