import { Webhook } from 'standardwebhooks';

/** The three Standard Webhooks headers of one signed request. */
export interface SignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** Standard Webhooks secrets: `whsec_` and the base64 of the HMAC key (the form DMS_NOTIFY_SECRET takes). */
const SECRET_FORM = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/**
 * Returns a function that signs `${id}.${timestamp}.${body}` with HMAC-SHA256 under the secret's
 * base64-decoded key, through the `standardwebhooks` library, so sender and receivers agree by
 * construction. The body must be the exact string that is sent. Throws at once, without echoing the
 * secret, when the secret is not in `whsec_<base64>` form.
 */
export function createSigner(
  secret: string,
): (webhookId: string, timestampSec: number, body: string) => SignatureHeaders {
  if (!SECRET_FORM.test(secret)) {
    throw new TypeError('DMS notify secret must be "whsec_" followed by base64');
  }
  const webhook = new Webhook(secret);
  return (webhookId, timestampSec, body) => ({
    'webhook-id': webhookId,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': webhook.sign(webhookId, new Date(timestampSec * 1000), body),
  });
}
