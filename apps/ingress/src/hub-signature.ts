import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Checks Web1on1's `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>` in constant time.
 * (chipchat's own server compares with `!==` and, in router mode, processes the body even when the
 * signature is wrong, which is why the ingress does not use it.)
 */
export function verifyHubSignature(
  rawBody: string | Buffer,
  header: string | string[] | undefined,
  secret: string,
): boolean {
  if (typeof header !== 'string') return false;
  const match = /^sha1=([0-9a-fA-F]{40})$/.exec(header.trim());
  if (!match?.[1]) return false;
  const expected = createHmac('sha1', secret).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(match[1], 'hex'));
}
