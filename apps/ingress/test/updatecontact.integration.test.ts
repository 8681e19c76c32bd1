import { QUEUE } from '@contact-linker/queues';
import { redisTest } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { auth, json, startIngress } from './ingress-harness.ts';

const test = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({ redisUrl, prefix });
  onCleanup(() => ingress.close());
  return ingress;
});

const post = (body: unknown, headers: Record<string, string> = { ...auth, ...json }) => ({
  method: 'POST' as const,
  url: '/updatecontact',
  headers,
  payload: typeof body === 'string' ? body : JSON.stringify(body),
});

describe('POST /updatecontact', () => {
  test('queues a normalised link-contact job and answers 202 with its id', async ({ ingress }) => {
    const res = await ingress.app.inject(
      post({
        id: 42,
        organization: 'org-1',
        email: '  Jane@Example.COM ',
        phone: '06 12345678',
        x: 1,
      }),
    );
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toEqual({ status: 'queued', jobId: expect.any(String) });
    const job = await ingress.queues[QUEUE.linkContact].getJob(body.jobId);
    expect(job?.data).toEqual({
      dmsContactId: '42',
      organization: 'org-1',
      email: 'jane@example.com',
      phoneE164: '+31612345678',
      phoneRaw: '06 12345678',
      receivedAt: expect.any(String),
    });
    expect(job?.opts.attempts).toBe(3);
  });

  test('prefers telephone over phone', async ({ ingress }) => {
    const res = await ingress.app.inject(
      post({ id: 'a', organization: 'o', telephone: '+31 20 123 4567', phone: '0612345678' }),
    );
    const job = await ingress.queues[QUEUE.linkContact].getJob(res.json().jobId);
    expect(job?.data.phoneE164).toBe('+31201234567');
  });

  test('the same normalised content while pending gets the same jobId; other content a new one', async ({
    ingress,
  }) => {
    const first = await ingress.app.inject(post({ id: 'A1', organization: 'o', email: 'a@b.nl' }));
    const again = await ingress.app.inject(post({ id: 'A1', organization: 'o', email: ' A@B.NL' }));
    const other = await ingress.app.inject(post({ id: 'A1', organization: 'o', email: 'c@b.nl' }));
    expect(again.json().jobId).toBe(first.json().jobId);
    expect(other.json().jobId).not.toBe(first.json().jobId);
    expect(await ingress.queues[QUEUE.linkContact].count()).toBe(2);
  });

  test('once the first job is gone, the same content is queued again', async ({ ingress }) => {
    const first = await ingress.app.inject(post({ id: 'A1', organization: 'o', email: 'a@b.nl' }));
    const job = await ingress.queues[QUEUE.linkContact].getJob(first.json().jobId);
    await job?.remove();
    const again = await ingress.app.inject(post({ id: 'A1', organization: 'o', email: 'a@b.nl' }));
    expect(again.statusCode).toBe(202);
    expect(again.json().jobId).not.toBe(first.json().jobId);
  });

  test.for([
    ['no auth header', {}],
    ['an unknown key', { authorization: 'Bearer nope-nope-nope-nope' }],
    ['a Basic header', { authorization: 'Basic dGVzdDp0ZXN0' }],
  ] as const)('rejects %s with 401 before reading the body', async ([, headers], { ingress }) => {
    const res = await ingress.app.inject(post('{not json', { ...headers, ...json }));
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: 'unauthorized', message: expect.any(String) });
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });

  test.for([
    ['text/plain', 415],
    ['application/x-www-form-urlencoded', 415],
    ['application/jsonx', 415],
    ['application/json; charset=utf-8', 202],
    ['Application/JSON', 202],
  ] as const)('content type %s answers %i', async ([type, status], { ingress }) => {
    const res = await ingress.app.inject(
      post({ id: 'a', organization: 'o', email: 'a@b.nl' }, { ...auth, 'content-type': type }),
    );
    expect(res.statusCode).toBe(status);
    if (status === 415) expect(res.json().error).toBe('unsupported_media_type');
  });

  test('a POST without a content type is 415', async ({ ingress }) => {
    const res = await ingress.app.inject({ method: 'POST', url: '/updatecontact', headers: auth });
    expect(res.statusCode).toBe(415);
  });

  test.for([
    ['invalid JSON', '{"id":', 'invalid_json'],
    ['an array', '[]', 'invalid_body'],
    ['a scalar', '"hello"', 'invalid_body'],
    ['null', 'null', 'invalid_body'],
    ['no contact method', { id: 'a', organization: 'o' }, 'invalid_body'],
    ['a bad email', { id: 'a', organization: 'o', email: 'not-an-email' }, 'invalid_body'],
    ['an id with a slash', { id: '../etc', organization: 'o', email: 'a@b.nl' }, 'invalid_body'],
    [
      'an id with javascript:',
      { id: 'javascript:alert(1)', organization: 'o', email: 'a@b.nl' },
      'invalid_body',
    ],
    ['a negative id', { id: -1, organization: 'o', email: 'a@b.nl' }, 'invalid_body'],
    ['an unsafe integer id', { id: 2 ** 60, organization: 'o', email: 'a@b.nl' }, 'invalid_body'],
    [
      'an id over 128 chars',
      { id: 'a'.repeat(129), organization: 'o', email: 'a@b.nl' },
      'invalid_body',
    ],
    ['a missing organization', { id: 'a', email: 'a@b.nl' }, 'invalid_body'],
    [
      'an organization with a dot',
      { id: 'a', organization: 'o.x', email: 'a@b.nl' },
      'invalid_body',
    ],
    ['a phone of letters', { id: 'a', organization: 'o', phone: 'call me' }, 'invalid_body'],
    [
      'a __proto__ key',
      '{"id":"a","organization":"o","email":"a@b.nl","__proto__":{"x":1}}',
      'forbidden_key',
    ],
    [
      'a nested constructor.prototype',
      { id: 'a', organization: 'o', email: 'a@b.nl', x: [{ constructor: { prototype: {} } }] },
      'forbidden_key',
    ],
    [
      'an escaped __proto__',
      '{"id":"a","organization":"o","email":"a@b.nl","\\u005f_proto__":1}',
      'forbidden_key',
    ],
  ] as const)('rejects %s with 400', async ([, body, code], { ingress }) => {
    const res = await ingress.app.inject(post(body));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe(code);
    expect(await ingress.queues[QUEUE.linkContact].count()).toBe(0);
  });

  test('lists every schema problem in details', async ({ ingress }) => {
    const res = await ingress.app.inject(post({ id: '', organization: '' }));
    expect(res.json().details.map((d: { path: string }) => d.path)).toEqual(
      expect.arrayContaining(['/id', '/organization']),
    );
  });

  test('rejects a body over 64 KiB with 413', async ({ ingress }) => {
    const res = await ingress.app.inject(
      post({ id: 'a', organization: 'o', email: 'a@b.nl', pad: 'x'.repeat(65 * 1024) }),
    );
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toBe('payload_too_large');
  });
});
