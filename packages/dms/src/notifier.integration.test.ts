/**
 * The notifier against the DMS sandbox from the test kit: a real HTTP server that verifies Standard
 * Webhooks signatures with the `standardwebhooks` library and can fail, redirect or hang on demand.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout } from 'node:timers/promises';
import {
  type DmsNotification,
  PermanentError,
  RateLimitedError,
  TransientError,
} from '@contact-linker/contracts';
import { type DmsSandbox, makeWebhookSecret, startDmsSandbox } from '@contact-linker/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDmsNotifier, type DmsNotifierOptions } from './index.ts';

const secret = makeWebhookSecret();
let sandbox: DmsSandbox;

beforeAll(async () => {
  sandbox = await startDmsSandbox({ secret });
});
afterEach(() => sandbox.clear());
afterAll(() => sandbox.close());

const notification: DmsNotification = {
  type: 'contact.linked',
  timestamp: '2025-01-02T03:04:05.000Z',
  organization: 'org_1',
  data: {
    contactId: 'c1',
    conversation: 'conv1',
    conversationUrl: 'https://app.web1on1.chat/conversations/conv1',
    profile: { email: 'ann@example.com', telephone: '+31612345678', name: 'Ann Example' },
    dmsContactId: 'dms-42',
  },
};

function notifier(overrides: Partial<DmsNotifierOptions> = {}) {
  return createDmsNotifier({ url: sandbox.url, secret, timeoutMs: 2_000, ...overrides });
}

/** Resolves with what `promise` rejected with; fails the test if it resolved. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ resolved: value }),
    (error: unknown) => ({ error }),
  );
  if ('resolved' in outcome)
    throw new Error(`expected a rejection, got ${JSON.stringify(outcome)}`);
  expect(outcome.error).toBeInstanceOf(Error);
  return outcome.error as Error;
}

/** No error text may carry the secret (or its key) or anything from the notification body. */
function expectNoSecretsOrBody(error: Error) {
  const text = `${error.message} ${String(error.cause ?? '')}`;
  expect(text).not.toContain(secret);
  expect(text).not.toContain(secret.slice('whsec_'.length));
  expect(text).not.toContain('ann@example.com');
  expect(text).not.toContain('Ann Example');
}

describe('delivery', () => {
  it('POSTs the notification as signed JSON that the sandbox verifies', async () => {
    const before = Math.floor(Date.now() / 1000);
    await expect(notifier().send('evt_1', notification)).resolves.toEqual({ status: 200 });

    const [delivery] = sandbox.accepted();
    expect(sandbox.deliveries).toHaveLength(1);
    expect(delivery).toMatchObject({
      verified: true,
      status: 200,
      webhookId: 'evt_1',
      contentType: 'application/json',
      rawBody: JSON.stringify(notification),
      body: notification,
      path: new URL(sandbox.url).pathname,
    });
    const timestamp = Number(delivery?.timestamp);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
  });

  it('keeps the same webhook-id when the same event is sent again', async () => {
    sandbox.failNext(1, { status: 503 });
    const client = notifier();
    await rejection(client.send('evt_retry', notification));
    await expect(client.send('evt_retry', notification)).resolves.toEqual({ status: 200 });

    expect(sandbox.deliveries.map((d) => [d.webhookId, d.verified, d.status])).toEqual([
      ['evt_retry', true, 503],
      ['evt_retry', true, 200],
    ]);
  });

  it('puts neither the secret nor its key in any header', async () => {
    await notifier().send('evt_headers', notification);
    const [delivery] = sandbox.deliveries;
    const headerValues = [delivery?.webhookId, delivery?.timestamp, delivery?.signature].join(' ');
    expect(headerValues).not.toContain(secret);
    expect(headerValues).not.toContain(secret.slice('whsec_'.length));
    expect(delivery?.signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });

  it('is refused (401 → PermanentError) when signed with another secret', async () => {
    const error = await rejection(
      notifier({ secret: makeWebhookSecret() }).send('evt_wrong', notification),
    );
    expect(error).toBeInstanceOf(PermanentError);
    expect(sandbox.deliveries[0]).toMatchObject({ verified: false, status: 401 });
  });

  it('reports each request to onRequest', async () => {
    const seen: { status: number | 'error'; durationMs: number }[] = [];
    sandbox.failNext(1, { status: 500 });
    const client = notifier({ onRequest: (e) => seen.push(e) });
    await rejection(client.send('evt_m', notification));
    await client.send('evt_m', notification);
    expect(seen.map((e) => e.status)).toEqual([500, 200]);
    for (const e of seen) expect(e.durationMs).toBeGreaterThanOrEqual(0);
  });
});

describe('failures become retry classes', () => {
  it('500 → TransientError', async () => {
    sandbox.failNext(1, { status: 500 });
    const error = await rejection(notifier().send('evt_500', notification));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ status: 500, message: 'DMS answered 500' });
    expectNoSecretsOrBody(error);
  });

  it('410 → PermanentError', async () => {
    sandbox.failNext(1, { status: 410 });
    const error = await rejection(notifier().send('evt_410', notification));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ status: 410 });
  });

  it('429 with Retry-After → RateLimitedError carrying retryAfterMs', async () => {
    sandbox.failNext(1, { status: 429, retryAfterSec: 7 });
    const error = await rejection(notifier().send('evt_429', notification));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(7_000);
  });

  it('302 → PermanentError, and the redirect target is never requested', async () => {
    const location = `${sandbox.baseUrl}/moved-here`;
    sandbox.failNext(1, { status: 302, location });
    const error = await rejection(notifier().send('evt_302', notification));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toContain(location);
    expectNoSecretsOrBody(error);
    // Give a (wrongly) following client time to reach the target before looking.
    await setTimeout(100);
    expect(sandbox.deliveries.map((d) => d.path)).toEqual([new URL(sandbox.url).pathname]);
  });

  it('a DMS that never answers → TransientError after timeoutMs', async () => {
    sandbox.hangNext(1);
    const started = performance.now();
    const error = await rejection(notifier({ timeoutMs: 300 }).send('evt_hang', notification));
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe('DMS did not answer within 300 ms');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
    expect(sandbox.deliveries).toHaveLength(1);
  });

  it('a refused connection → TransientError', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));

    const error = await rejection(
      notifier({ url: `http://127.0.0.1:${port}/hook` }).send('evt_down', notification),
    );
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe('DMS request failed: ECONNREFUSED');
    expectNoSecretsOrBody(error);
  });
});

describe('connection reuse', () => {
  it('drains answers, so consecutive sends (failed ones included) share one socket', async () => {
    let connections = 0;
    let requests = 0;
    const server = createServer((req, res) => {
      requests += 1;
      req.resume();
      req.on('end', () => {
        res.writeHead(requests === 1 ? 500 : 200, { 'content-type': 'application/json' });
        // Larger than undici's buffers: unread, it would keep the socket busy and force a new one.
        res.end(JSON.stringify({ padding: 'x'.repeat(256 * 1024) }));
      });
    });
    server.on('connection', () => {
      connections += 1;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const client = notifier({ url: `http://127.0.0.1:${port}/hook` });
      // undici frees a socket a moment after its body ends; a send in that instant opens another one,
      // which is not what this test is about, hence the pauses.
      await rejection(client.send('evt_a', notification));
      await setTimeout(20);
      await client.send('evt_a', notification);
      await setTimeout(20);
      await client.send('evt_b', notification);
      expect(requests).toBe(3);
      expect(connections).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
