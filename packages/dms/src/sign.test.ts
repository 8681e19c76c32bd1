/**
 * Signing is checked three ways: against an HMAC computed here with node:crypto (not with the library
 * the code uses), against the published Standard Webhooks/Svix test vector, and end to end through
 * `send` with a fixed clock, id and body, whose expected signature is pinned as a literal.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { DmsNotification } from '@contact-linker/contracts';
import { describe, expect, it } from 'vitest';
import { createDmsNotifier } from './notifier.ts';
import { createSigner } from './sign.ts';

/** The test-side builder: Standard Webhooks by the spec, with nothing but node:crypto. */
function expectedSignature(secret: string, id: string, timestampSec: number, body: string) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64');
  return `v1,${mac}`;
}

const notification: DmsNotification = {
  type: 'contact.updated',
  timestamp: '2025-01-02T03:04:05.000Z',
  organization: 'org_1',
  data: {
    contactId: 'c1',
    conversation: 'conv1',
    conversationUrl: 'https://app.web1on1.chat/conversations/conv1',
    profile: { email: 'ann@example.com', telephone: '+31612345678', name: 'Ann' },
  },
};

describe('createSigner', () => {
  it('matches an HMAC-SHA256 computed independently', () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const body = JSON.stringify({ hello: 'wörld', n: [1, 2, 3] });
    const headers = createSigner(secret)('evt_123', 1_700_000_000, body);
    expect(headers).toEqual({
      'webhook-id': 'evt_123',
      'webhook-timestamp': '1700000000',
      'webhook-signature': expectedSignature(secret, 'evt_123', 1_700_000_000, body),
    });
  });

  it('reproduces the published known-answer vector', () => {
    const sign = createSigner('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    const headers = sign('msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    expect(headers['webhook-signature']).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs the body byte for byte: one changed character changes the signature', () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const sign = createSigner(secret);
    expect(sign('id', 1, '{"a":1}')['webhook-signature']).not.toBe(
      sign('id', 1, '{"a":2}')['webhook-signature'],
    );
  });

  it.each(['plain', 'whsec_', 'whsec_not base64!', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'])(
    'refuses the malformed secret %j without echoing it',
    (secret) => {
      expect(() => createSigner(secret)).toThrow(
        new TypeError('DMS notify secret must be "whsec_" followed by base64'),
      );
    },
  );
});

describe('send signs what it sends', () => {
  const secret = 'whsec_c2VjcmV0LWtleS1mb3ItY29udGFjdC1saW5rZXItdGVzdHM=';
  const now = Date.parse('2025-01-02T03:04:05.678Z');

  async function capture(): Promise<{ url: string; init: RequestInit }> {
    let seen: { url: string; init: RequestInit } | undefined;
    // A recording fetch: the real exchange is covered against the DMS sandbox in the integration test.
    const recordingFetch = (async (url: string, init: RequestInit) => {
      seen = { url, init };
      return new Response(null, { status: 204 });
    }) as typeof fetch;
    const notifier = createDmsNotifier({
      url: 'https://dms.example/hook',
      secret,
      fetch: recordingFetch,
      now: () => now,
    });
    await expect(notifier.send('evt_fixed', notification)).resolves.toEqual({ status: 204 });
    if (!seen) throw new Error('fetch was not called');
    return seen;
  }

  it('pins the signature of a fixed secret, id, clock and notification', async () => {
    const { url, init } = await capture();
    expect(url).toBe('https://dms.example/hook');
    expect(init.method).toBe('POST');
    expect(init.redirect).toBe('manual');
    expect(init.body).toBe(JSON.stringify(notification));
    expect(init.headers).toMatchObject({
      'content-type': 'application/json',
      'webhook-id': 'evt_fixed',
      'webhook-timestamp': '1735787045',
      'webhook-signature': 'v1,U3gcWBvuT/FZZ+MePKSTeyQkwtnIWBxT8s3j1b7JJMw=',
    });
  });

  it('the pinned value is what node:crypto computes for the bytes that were sent', async () => {
    const { init } = await capture();
    const headers = init.headers as Record<string, string>;
    expect(headers['webhook-signature']).toBe(
      expectedSignature(secret, 'evt_fixed', 1735787045, init.body as string),
    );
  });
});
