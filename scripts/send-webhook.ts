/**
 * `pnpm webhook:send`: posts one signed Web1on1 webhook event to an ingress, exactly as Web1on1
 * signs it (`X-Hub-Signature: sha1=<HMAC-SHA1 of the body>`). For trying the notify-dms flow by hand.
 *
 *   pnpm webhook:send --url http://127.0.0.1:4002/webhook --secret dev-webhook-secret \
 *     [--event contact.update] [--contact <id>] [--organization demo-dealer] [--email x@y.z] [--name N]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { signHubSignature } from '@contact-linker/testkit';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:4002/webhook' },
    secret: { type: 'string', default: process.env.WEB1ON1_WEBHOOK_SECRET ?? 'dev-webhook-secret' },
    event: { type: 'string', default: 'contact.update' },
    contact: { type: 'string', default: 'demo-contact' },
    organization: { type: 'string', default: 'demo-dealer' },
    conversation: { type: 'string', default: 'demo-conversation' },
    email: { type: 'string', default: 'sam@example.com' },
    name: { type: 'string', default: `Sam Smit (${new Date().toISOString().slice(11, 19)})` },
    id: { type: 'string' },
  },
});

const body = JSON.stringify({
  id: values.id ?? randomUUID(),
  event: values.event,
  timestamp: Date.now(),
  organization: values.organization,
  data: {
    contact: {
      id: values.contact,
      organization: values.organization,
      conversation: values.conversation,
      profile: { email: values.email, name: values.name },
    },
  },
});
const res = await fetch(values.url, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'x-hub-signature': signHubSignature(body, values.secret),
  },
  body,
});
console.log(res.status, await res.text());
process.exitCode = res.ok ? 0 : 1;
