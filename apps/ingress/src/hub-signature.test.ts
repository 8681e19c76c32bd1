import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyHubSignature } from './hub-signature.ts';

const SECRET = "It's a Secret to Everybody";
const BODY = 'Hello, World!';
// Computed with `printf 'Hello, World!' | openssl dgst -sha1 -hmac "It's a Secret to Everybody"`.
const KNOWN = 'sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59';

/** Test-side signer: an independent computation, not the code under test. */
const sign = (body: string, secret: string) =>
  `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`;

describe('verifyHubSignature', () => {
  it('accepts the known-answer vector', () => {
    expect(verifyHubSignature(BODY, KNOWN, SECRET)).toBe(true);
  });

  it('accepts a signature computed independently, upper-case hex too', () => {
    const body = JSON.stringify({ event: 'contact.update', data: { contact: { id: 'ü' } } });
    expect(verifyHubSignature(body, sign(body, 'k'), 'k')).toBe(true);
    expect(
      verifyHubSignature(body, sign(body, 'k').toUpperCase().replace('SHA1', 'sha1'), 'k'),
    ).toBe(true);
  });

  it('rejects a missing header', () => {
    expect(verifyHubSignature(BODY, undefined, SECRET)).toBe(false);
  });

  it('rejects a repeated header', () => {
    expect(verifyHubSignature(BODY, [KNOWN, KNOWN], SECRET)).toBe(false);
  });

  it.each([
    ['no prefix', '01dc10d0c83e72ed246219cdd91669667fe2ca59'],
    ['another algorithm', 'sha256=01dc10d0c83e72ed246219cdd91669667fe2ca59'],
    ['too short', 'sha1=01dc10d0'],
    ['not hex', `sha1=${'z'.repeat(40)}`],
    ['empty', ''],
  ])('rejects a malformed header (%s)', (_name, header) => {
    expect(verifyHubSignature(BODY, header, SECRET)).toBe(false);
  });

  it('rejects a wrong signature', () => {
    expect(verifyHubSignature(BODY, sign(BODY, 'another secret'), SECRET)).toBe(false);
    expect(verifyHubSignature(`${BODY} `, KNOWN, SECRET)).toBe(false);
  });
});
