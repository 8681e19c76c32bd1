/**
 * The DMS sandbox is what every notify-dms test trusts, so its verification is checked against
 * requests signed here with node:crypto, not with the library the sandbox itself uses.
 */
import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DmsSandbox, makeWebhookSecret, startDmsSandbox } from './dms-sandbox.ts';
import { waitFor } from './wait-for.ts';

const secret = makeWebhookSecret();
let sandbox: DmsSandbox;

beforeAll(async () => {
  sandbox = await startDmsSandbox({ secret });
});
afterEach(() => sandbox.clear());
afterAll(() => sandbox.close());

function signedHeaders(
  body: string,
  opts: { id?: string; timestampSec?: number; key?: string } = {},
) {
  const id = opts.id ?? 'evt_1';
  const timestamp = opts.timestampSec ?? Math.floor(Date.now() / 1000);
  const key = Buffer.from((opts.key ?? secret).slice('whsec_'.length), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': `v1,${mac}`,
  };
}

function post(body: string, headers: Record<string, string>, init: RequestInit = {}) {
  return fetch(sandbox.url, { method: 'POST', body, headers, ...init });
}

const body = JSON.stringify({ type: 'contact.updated', data: { contactId: 'c1' } });

describe('makeWebhookSecret', () => {
  it('makes a fresh whsec_ secret of 32 random bytes', () => {
    const a = makeWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(makeWebhookSecret()).not.toBe(a);
  });
});

describe('verification', () => {
  it('accepts a correctly signed delivery and records it', async () => {
    const res = await post(body, signedHeaders(body, { id: 'evt_ok' }));
    expect(res.status).toBe(200);
    expect(sandbox.accepted()).toHaveLength(1);
    expect(sandbox.deliveries[0]).toMatchObject({
      webhookId: 'evt_ok',
      contentType: 'application/json',
      rawBody: body,
      body: JSON.parse(body),
      verified: true,
      status: 200,
      path: '/webhooks/contact-linker',
    });
  });

  it('answers 401 to a wrong signature and records it as unverified', async () => {
    const res = await post(body, signedHeaders(body, { key: makeWebhookSecret() }));
    expect(res.status).toBe(401);
    expect(sandbox.deliveries[0]).toMatchObject({ verified: false, status: 401 });
    expect(sandbox.accepted()).toEqual([]);
  });

  it('answers 401 when the body was changed after signing', async () => {
    const res = await post(`${body} `, signedHeaders(body));
    expect(res.status).toBe(401);
  });

  it('answers 401 when the signature headers are missing', async () => {
    const res = await post(body, { 'content-type': 'application/json' });
    expect(res.status).toBe(401);
    expect(sandbox.deliveries[0]).toMatchObject({ webhookId: undefined, verified: false });
  });

  it('answers 401 to a timestamp outside the 5-minute tolerance', async () => {
    const old = Math.floor(Date.now() / 1000) - 6 * 60;
    const res = await post(body, signedHeaders(body, { timestampSec: old }));
    expect(res.status).toBe(401);
  });
});

describe('faults', () => {
  it('failNext answers the next requests with the given status and headers, then recovers', async () => {
    sandbox.failNext(2, { status: 429, retryAfterSec: 3 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await post(body, signedHeaders(body));
      statuses.push(res.status);
      if (res.status === 429) expect(res.headers.get('retry-after')).toBe('3');
    }
    expect(statuses).toEqual([429, 429, 200]);
    expect(sandbox.accepted()).toHaveLength(1);
  });

  it('failNext can answer with a redirect Location', async () => {
    sandbox.failNext(1, { status: 302, location: 'http://example.invalid/elsewhere' });
    const res = await post(body, signedHeaders(body), { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('http://example.invalid/elsewhere');
  });

  it('hangNext leaves a request unanswered, then answers the next one', async () => {
    sandbox.hangNext(1);
    await expect(
      post(body, signedHeaders(body), { signal: AbortSignal.timeout(200) }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(sandbox.deliveries[0]).toMatchObject({ verified: true, status: 0 });
    expect((await post(body, signedHeaders(body))).status).toBe(200);
  });

  it('setFaults: a standing status until cleared', async () => {
    sandbox.setFaults({ status: 503 });
    expect((await post(body, signedHeaders(body))).status).toBe(503);
    expect((await post(body, signedHeaders(body))).status).toBe(503);
    sandbox.setFaults({});
    expect((await post(body, signedHeaders(body))).status).toBe(200);
  });

  it('setFaults: errorRate with an injected random source', async () => {
    const draws = [0.1, 0.9];
    sandbox.setFaults({ errorRate: 0.5, errorStatus: 502, random: () => draws.shift() ?? 1 });
    expect((await post(body, signedHeaders(body))).status).toBe(502);
    expect((await post(body, signedHeaders(body))).status).toBe(200);
  });

  it('setFaults: latency delays the answer', async () => {
    sandbox.setFaults({ latencyMs: 150 });
    const started = performance.now();
    expect((await post(body, signedHeaders(body))).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('records requests to other paths with 404, so a followed redirect would show', async () => {
    const res = await fetch(`${sandbox.baseUrl}/elsewhere`, { method: 'POST', body });
    expect(res.status).toBe(404);
    expect(sandbox.deliveries.map((d) => [d.path, d.status])).toEqual([['/elsewhere', 404]]);
  });
});

describe('HTTP controls', () => {
  it('GET /_sandbox/deliveries lists the deliveries', async () => {
    await post(body, signedHeaders(body, { id: 'evt_listed' }));
    const res = await fetch(`${sandbox.baseUrl}/_sandbox/deliveries`);
    expect(await res.json()).toMatchObject([{ webhookId: 'evt_listed', verified: true }]);
  });

  it('POST /_sandbox/faults sets standing faults and queues failures', async () => {
    const res = await fetch(`${sandbox.baseUrl}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ failNext: { count: 1, status: 500 }, status: 418 }),
    });
    expect(res.status).toBe(200);
    expect((await post(body, signedHeaders(body))).status).toBe(500);
    expect((await post(body, signedHeaders(body))).status).toBe(418);
    await fetch(`${sandbox.baseUrl}/_sandbox/clear`, { method: 'POST' });
    expect(sandbox.deliveries).toEqual([]);
    expect((await post(body, signedHeaders(body))).status).toBe(200);
  });
});

describe('close', () => {
  it('returns quickly even while a request hangs', async () => {
    const own = await startDmsSandbox({ secret });
    own.hangNext(1);
    const hanging = new Promise<string>((resolve) => {
      const req = request(own.url, { method: 'POST', headers: signedHeaders(body) }, () =>
        resolve('answered'),
      );
      req.on('error', (error) => resolve(error.message));
      req.end(body);
    });
    await waitFor(() => own.deliveries.length === 1, { message: 'the hanging request to arrive' });
    const started = performance.now();
    await own.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await hanging).toBe('socket hang up');
  });
});
