/**
 * The systematic hostile-input proof for the ingress HTTP API (README, "HTTP API"; OpenAPI at /docs):
 * every input from outside is hostile until validated, so every row below must answer a clear 4xx
 * JSON error from the catalog (`API_ERRORS`), quickly, without enqueueing anything, and leave the
 * process healthy. The rows run through `app.inject`; the things `inject` cannot do (slow or
 * never-finished requests, malformed HTTP, raw paths) run over a real socket further down.
 */
import { connect } from 'node:net';
import { QUEUE, type QueueName } from '@contact-linker/queues';
import { redisTest, signHubSignature } from '@contact-linker/testkit';
import fc from 'fast-check';
import { afterAll, describe, expect } from 'vitest';
import { API_ERRORS, type ApiErrorCode } from '../src/errors.ts';
import { API_KEY, auth, startIngress, WEBHOOK_SECRET } from './ingress-harness.ts';

type Ingress = Awaited<ReturnType<typeof startIngress>>;

const test = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({ redisUrl, prefix });
  onCleanup(() => ingress.close());
  return ingress;
});

/** A client mistake must be answered well within this; the contract's slowest answer is 1 s. */
const ANSWER_WITHIN_MS = 2_000;
/**
 * How long a client may keep a request unfinished (headers or body) before the ingress must give up
 * on it with a 408 or by closing the connection. Node's own default is 300 s, Fastify turns it off
 * (`requestTimeout: 0`); 15 s is generous for a 64 KiB JSON body and short enough for a test.
 */
const SLOW_CLIENT_BOUND_MS = 15_000;

const CATALOG_CODES = Object.keys(API_ERRORS) as ApiErrorCode[];
const MiB = 1024 * 1024;

// --- request builders -----------------------------------------------------------------------------

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

interface Row {
  /** What the request is, as it appears in the printed table. */
  name: string;
  method: Method;
  url: string;
  headers: Record<string, string>;
  body?: string;
  status: number;
  error: ApiErrorCode;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const valid = { id: 'DMS-1', organization: 'org-1', email: 'jane@example.com' };
const contactWith = (fields: Record<string, unknown>) => JSON.stringify({ ...valid, ...fields });
const without = (key: keyof typeof valid) => {
  const { [key]: _dropped, ...rest } = valid;
  return JSON.stringify(rest);
};

/** POST /updatecontact, authenticated, as application/json unless `headers` says otherwise. */
const single = (
  name: string,
  body: string | undefined,
  status: number,
  error: ApiErrorCode,
  headers: Record<string, string> = JSON_TYPE,
): Row => ({
  name,
  method: 'POST',
  url: '/updatecontact',
  headers: { ...auth, ...headers },
  ...(body === undefined ? {} : { body }),
  status,
  error,
});

const bulk = (
  name: string,
  body: string,
  status: number,
  error: ApiErrorCode,
  headers: Record<string, string> = JSON_TYPE,
): Row => ({
  name,
  method: 'POST',
  url: '/updatecontacts',
  headers: { ...auth, ...headers },
  body,
  status,
  error,
});

/** POST /webhook signed with the right secret: the point of these rows is the body. */
const hook = (
  name: string,
  body: string,
  status: number,
  error: ApiErrorCode,
  headers: Record<string, string> = JSON_TYPE,
): Row => ({
  name,
  method: 'POST',
  url: '/webhook',
  headers: { ...headers, 'x-hub-signature': signHubSignature(body, WEBHOOK_SECRET) },
  body,
  status,
  error,
});

const jobs = (
  name: string,
  path: string,
  status: number,
  error: ApiErrorCode,
  headers: Record<string, string> = auth,
  method: Method = 'GET',
): Row => ({ name, method, url: `/jobs/${path}`, headers, status, error });

const get = (name: string, url: string, status: number, error: ApiErrorCode): Row => ({
  name,
  method: 'GET',
  url,
  headers: {},
  status,
  error,
});

const contactEvent = (contact: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 'evt-1',
    event: 'contact.update',
    timestamp: Date.now(),
    organization: 'org-1',
    data: { contact: { id: 'c-1', conversation: 'conv-1', ...contact } },
    ...extra,
  });

const nestedArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const twoMiB = 'x'.repeat(2 * MiB);

const ROWS: Row[] = [
  // --- POST /updatecontact: syntax and media type ---
  single('invalid JSON', '{id: "DMS-1", organization: org-1}', 400, 'invalid_json'),
  single('truncated JSON', contactWith({}).slice(0, -7), 400, 'invalid_json'),
  single('empty body as application/json', '', 400, 'invalid_json'),
  single('BOM-prefixed body', `\uFEFF${contactWith({})}`, 400, 'invalid_json'),
  single('trailing garbage after JSON', `${contactWith({})}}`, 400, 'invalid_json'),
  single('text/plain', contactWith({}), 415, 'unsupported_media_type', {
    'content-type': 'text/plain',
  }),
  single(
    'form-urlencoded',
    'id=DMS-1&organization=org-1&email=jane%40example.com',
    415,
    'unsupported_media_type',
    { 'content-type': 'application/x-www-form-urlencoded' },
  ),
  single(
    'multipart/form-data',
    '--xx\r\nContent-Disposition: form-data; name="id"\r\n\r\nDMS-1\r\n--xx--\r\n',
    415,
    'unsupported_media_type',
    { 'content-type': 'multipart/form-data; boundary=xx' },
  ),
  single('application/json-patch+json', contactWith({}), 415, 'unsupported_media_type', {
    'content-type': 'application/json-patch+json',
  }),
  single('missing content type, JSON body', contactWith({}), 415, 'unsupported_media_type', {}),
  single('missing content type, no body', undefined, 415, 'unsupported_media_type', {}),
  single('two media types in one header', contactWith({}), 415, 'unsupported_media_type', {
    'content-type': 'text/plain, application/json',
  }),
  // --- POST /updatecontact: body shapes ---
  single('array body', `[${contactWith({})}]`, 400, 'invalid_body'),
  single('number body', '42', 400, 'invalid_body'),
  single('string body', '"DMS-1"', 400, 'invalid_body'),
  single('null body', 'null', 400, 'invalid_body'),
  single('boolean body', 'true', 400, 'invalid_body'),
  single('empty object', '{}', 400, 'invalid_body'),
  single('2 MiB body', contactWith({ pad: twoMiB }), 413, 'payload_too_large'),
  // --- POST /updatecontact: prototype-pollution keys ---
  single(
    '__proto__ key',
    `{"__proto__":{"isAdmin":true},${contactWith({}).slice(1)}`,
    400,
    'forbidden_key',
  ),
  single(
    'constructor.prototype nested',
    contactWith({ x: { constructor: { prototype: { isAdmin: true } } } }),
    400,
    'forbidden_key',
  ),
  single(
    'prototype key deep in an array',
    contactWith({ x: [1, [{ prototype: 1 }]] }),
    400,
    'forbidden_key',
  ),
  single(
    'unicode-escaped __proto__ key',
    `{"\\u005f\\u005fproto\\u005f\\u005f":{"isAdmin":true},${contactWith({}).slice(1)}`,
    400,
    'forbidden_key',
  ),
  single(
    'unicode-escaped constructor key',
    `{"\\u0063onstructor":{"prototype":{}},${contactWith({}).slice(1)}`,
    400,
    'forbidden_key',
  ),
  // --- POST /updatecontact: ids ---
  single('id with ../', contactWith({ id: '../../admin' }), 400, 'invalid_body'),
  single('id of two dots', contactWith({ id: '..' }), 400, 'invalid_body'),
  single('id javascript:alert(1)', contactWith({ id: 'javascript:alert(1)' }), 400, 'invalid_body'),
  single('id with CR/LF', contactWith({ id: 'a\r\nSet-Cookie: x=1' }), 400, 'invalid_body'),
  single('id with NUL', contactWith({ id: 'a\u0000b' }), 400, 'invalid_body'),
  single('id with unicode', contactWith({ id: 'café-ünïcode' }), 400, 'invalid_body'),
  single('id with emoji', contactWith({ id: 'car-🚗' }), 400, 'invalid_body'),
  single('id with a slash-encoded %2F', contactWith({ id: 'a%2Fb' }), 400, 'invalid_body'),
  single('id of 129 chars', contactWith({ id: 'a'.repeat(129) }), 400, 'invalid_body'),
  single('id empty string', contactWith({ id: '' }), 400, 'invalid_body'),
  single('id negative number', contactWith({ id: -1 }), 400, 'invalid_body'),
  single('id fractional number', contactWith({ id: 1.5 }), 400, 'invalid_body'),
  single(
    'id unsafe integer',
    '{"id":9007199254740993,"organization":"org-1","email":"jane@example.com"}',
    400,
    'invalid_body',
  ),
  single(
    'id huge number 1e400',
    '{"id":1e400,"organization":"org-1","email":"jane@example.com"}',
    400,
    'invalid_body',
  ),
  single('id boolean', contactWith({ id: true }), 400, 'invalid_body'),
  single('id as object', contactWith({ id: { $gt: '' } }), 400, 'invalid_body'),
  single(
    'id nested 10k levels deep',
    `{"id":${nestedArrays(10_000)},"organization":"org-1","email":"jane@example.com"}`,
    400,
    'invalid_body',
  ),
  single(
    'duplicate id key, last one bad',
    `{"id":"DMS-1",${contactWith({ id: '../x' }).slice(1)}`,
    400,
    'invalid_body',
  ),
  // --- POST /updatecontact: other fields ---
  single('missing id', without('id'), 400, 'invalid_body'),
  single('missing organization', without('organization'), 400, 'invalid_body'),
  single('no email, telephone or phone', without('email'), 400, 'invalid_body'),
  single(
    'organization of 65 chars',
    contactWith({ organization: 'o'.repeat(65) }),
    400,
    'invalid_body',
  ),
  single('organization as number', contactWith({ organization: 12345 }), 400, 'invalid_body'),
  single('organization with ../', contactWith({ organization: '../org' }), 400, 'invalid_body'),
  single(
    'email of 300 chars',
    contactWith({ email: `${'a'.repeat(288)}@example.com` }),
    400,
    'invalid_body',
  ),
  single('email as number', contactWith({ email: 42 }), 400, 'invalid_body'),
  single(
    'email with CR/LF header injection',
    contactWith({ email: 'a@b.nl\r\nBcc: x@y.nl' }),
    400,
    'invalid_body',
  ),
  single('email null', contactWith({ email: null }), 400, 'invalid_body'),
  single(
    'phone of 100 digits',
    contactWith({ email: undefined, phone: '1'.repeat(100) }),
    400,
    'invalid_body',
  ),
  single(
    'phone as number',
    contactWith({ email: undefined, phone: 612345678 }),
    400,
    'invalid_body',
  ),
  single(
    'telephone of letters',
    contactWith({ email: undefined, telephone: 'call me maybe' }),
    400,
    'invalid_body',
  ),
  // --- POST /updatecontact: request line and headers ---
  {
    ...single(
      'query-string junk (__proto__, %00, bad %), bad body',
      without('id'),
      400,
      'invalid_body',
    ),
    url: '/updatecontact?__proto__[admin]=1&constructor[prototype][x]=1&a=%00&b=%ZZ&c[]=1&c[]=2',
  },
  { ...single('no Authorization', contactWith({}), 401, 'unauthorized'), headers: JSON_TYPE },
  {
    ...single('Authorization with CR/LF-injected header', contactWith({}), 401, 'unauthorized'),
    headers: { ...JSON_TYPE, authorization: `Bearer x\r\nX-Injected: 1\r\n${API_KEY}` },
  },
  {
    ...single('two Bearer keys in one header', contactWith({}), 401, 'unauthorized'),
    headers: { ...JSON_TYPE, authorization: `Bearer ${API_KEY}, Bearer ${API_KEY}` },
  },
  {
    ...single(
      'content type with CR/LF-injected header',
      contactWith({}),
      415,
      'unsupported_media_type',
    ),
    headers: { ...auth, 'content-type': 'text/plain\r\nContent-Type: application/json' },
  },
  // --- wrong methods ---
  { ...single('GET /updatecontact', undefined, 404, 'not_found', {}), method: 'GET' },
  { ...single('PUT /updatecontact', contactWith({}), 404, 'not_found'), method: 'PUT' },
  { ...single('DELETE /updatecontact', undefined, 404, 'not_found', {}), method: 'DELETE' },
  { ...bulk('GET /updatecontacts', '', 404, 'not_found', {}), method: 'GET', body: undefined },
  { ...hook('PATCH /webhook', contactEvent({}), 404, 'not_found'), method: 'PATCH' },
  {
    ...jobs('POST /jobs/:id', 'abc', 404, 'not_found', { ...auth, ...JSON_TYPE }, 'POST'),
    body: '{}',
  },
  // No such route: routing answers before any content-type check.
  jobs('POST /jobs/:id without a content type', 'abc', 404, 'not_found', auth, 'POST'),
  jobs('DELETE /jobs/:id', 'abc', 404, 'not_found', auth, 'DELETE'),
  // --- POST /updatecontacts ---
  bulk('bulk: invalid JSON', '{"contacts":[', 400, 'invalid_json'),
  bulk('bulk: contacts not an array', '{"contacts":"all"}', 400, 'invalid_body'),
  bulk('bulk: empty contacts', '{"contacts":[]}', 400, 'invalid_body'),
  bulk(
    'bulk: 1001 contacts',
    JSON.stringify({ contacts: Array(1001).fill(valid) }),
    400,
    'invalid_body',
  ),
  bulk('bulk: array body', `[${contactWith({})}]`, 400, 'invalid_body'),
  bulk(
    'bulk: __proto__ in an item',
    `{"contacts":[{"__proto__":{}},${contactWith({})}]}`,
    400,
    'forbidden_key',
  ),
  bulk(
    'bulk: 2 MiB body',
    JSON.stringify({ contacts: [valid], pad: twoMiB }),
    413,
    'payload_too_large',
  ),
  bulk('bulk: text/plain', JSON.stringify({ contacts: [valid] }), 415, 'unsupported_media_type', {
    'content-type': 'text/plain',
  }),
  {
    ...bulk('bulk: no Authorization', JSON.stringify({ contacts: [valid] }), 401, 'unauthorized'),
    headers: JSON_TYPE,
  },
  // --- POST /webhook (signed with the right secret unless the row is about the signature) ---
  hook('webhook: invalid JSON', '{"event":"contact.update",', 400, 'invalid_json'),
  hook('webhook: truncated JSON', contactEvent({}).slice(0, -3), 400, 'invalid_json'),
  hook('webhook: empty body', '', 400, 'invalid_json'),
  hook('webhook: BOM-prefixed body', `\uFEFF${contactEvent({})}`, 400, 'invalid_json'),
  hook('webhook: array body', `[${contactEvent({})}]`, 400, 'invalid_body'),
  hook('webhook: scalar body', '"contact.update"', 400, 'invalid_body'),
  hook(
    'webhook: __proto__ in data.contact',
    contactEvent({ profile: JSON.parse('{"__proto__":{"x":1}}') }),
    400,
    'forbidden_key',
  ),
  hook(
    'webhook: escaped prototype key',
    contactEvent({}).replace('"conversation"', '"\\u0070rototype":1,"conversation"'),
    400,
    'forbidden_key',
  ),
  hook('webhook: contact without id', contactEvent({ id: undefined }), 400, 'invalid_body'),
  hook(
    'webhook: contact id of 201 chars',
    contactEvent({ id: 'c'.repeat(201) }),
    400,
    'invalid_body',
  ),
  hook('webhook: contact id as number', contactEvent({ id: 42 }), 400, 'invalid_body'),
  hook(
    'webhook: organization of 65 chars',
    contactEvent({}, { organization: 'o'.repeat(65) }),
    400,
    'invalid_body',
  ),
  hook(
    'webhook: organization with ../',
    contactEvent({}, { organization: '../o' }),
    400,
    'invalid_body',
  ),
  hook(
    'webhook: no organization anywhere',
    contactEvent({}, { organization: undefined }),
    400,
    'invalid_body',
  ),
  hook('webhook: event as number', contactEvent({}, { event: 7 }), 400, 'invalid_body'),
  hook(
    'webhook: event nested 10k levels deep',
    `{"event":${nestedObjects(10_000)}}`,
    400,
    'invalid_body',
  ),
  hook('webhook: data as string', contactEvent({}, { data: 'contact' }), 400, 'invalid_body'),
  hook('webhook: no timestamp', contactEvent({}, { timestamp: undefined }), 400, 'invalid_body'),
  hook(
    'webhook: timestamp as object',
    contactEvent({}, { timestamp: { $date: 1 } }),
    400,
    'invalid_body',
  ),
  hook(
    'webhook: timestamp of 10k digits',
    contactEvent({}, { timestamp: '9'.repeat(10_000) }),
    400,
    'invalid_body',
  ),
  hook(
    'webhook: timestamp 30 days old',
    contactEvent({}, { timestamp: Date.now() - 30 * 86_400_000 }),
    400,
    'timestamp_out_of_window',
  ),
  hook(
    'webhook: timestamp past the last JavaScript date',
    contactEvent({}, { timestamp: 9e15 }),
    400,
    'timestamp_out_of_window',
  ),
  hook(
    'webhook: timestamp in the year 9999',
    contactEvent({}, { timestamp: '9999-12-31T23:59:59Z' }),
    400,
    'timestamp_out_of_window',
  ),
  hook(
    'webhook: profile email as array',
    contactEvent({ profile: { email: ['a@b.nl'] } }),
    400,
    'invalid_body',
  ),
  hook('webhook: 2 MiB body', contactEvent({}, { pad: twoMiB }), 413, 'payload_too_large'),
  hook('webhook: text/plain', contactEvent({}), 415, 'unsupported_media_type', {
    'content-type': 'text/plain',
  }),
  hook('webhook: missing content type', contactEvent({}), 415, 'unsupported_media_type', {}),
  {
    ...hook('webhook: wrong secret', contactEvent({}), 401, 'invalid_signature'),
    headers: { ...JSON_TYPE, 'x-hub-signature': signHubSignature(contactEvent({}), 'wrong') },
  },
  {
    ...hook(
      'webhook: signature with CR/LF-injected header',
      contactEvent({}),
      401,
      'invalid_signature',
    ),
    headers: {
      ...JSON_TYPE,
      'x-hub-signature': `${signHubSignature(contactEvent({}), 'wrong')}\r\nX-Injected: 1`,
    },
  },
  get(
    'webhook: GET with a challenge but no type',
    '/webhook?challenge=<script>x</script>',
    403,
    'forbidden',
  ),
  get(
    'webhook: GET with the challenge twice',
    '/webhook?type=subscribe&challenge=a&challenge=b',
    400,
    'invalid_body',
  ),
  get(
    'webhook: GET with a 2000-char challenge',
    `/webhook?type=subscribe&challenge=${'x'.repeat(2000)}`,
    403,
    'forbidden',
  ),
  // --- GET /jobs/:id ---
  jobs('jobs: ..%2F traversal', '..%2F..%2Fadmin%2Fdead-letters', 404, 'not_found'),
  jobs('jobs: encoded NUL', 'abc%00def', 404, 'not_found'),
  jobs('jobs: encoded CR/LF', 'abc%0D%0ASet-Cookie:%20x=1', 404, 'not_found'),
  jobs('jobs: emoji id', encodeURIComponent('🚗'), 404, 'not_found'),
  jobs('jobs: unknown UUID', '00000000-0000-4000-8000-000000000000', 404, 'not_found'),
  jobs('jobs: Redis glob id', '*', 404, 'not_found'),
  jobs('jobs: id of 200 chars', 'a'.repeat(200), 404, 'not_found'),
  jobs('jobs: malformed percent-encoding', '%E0%A4%A', 400, 'bad_request'),
  jobs('jobs: query-string junk', 'abc?__proto__[x]=1&%ZZ', 404, 'not_found'),
  jobs('jobs: no Authorization', 'abc', 401, 'unauthorized', {}),
  jobs('jobs: Basic instead of Bearer', 'abc', 401, 'unauthorized', {
    authorization: `Basic ${Buffer.from(`x:${API_KEY}`).toString('base64')}`,
  }),
];

// --- checks ---------------------------------------------------------------------------------------

async function jobsInAllQueues(ingress: Ingress): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const name of Object.keys(ingress.queues) as QueueName[]) {
    const byState = await ingress.queues[name].getJobCounts();
    counts[name] = Object.values(byState).reduce((a, b) => a + b, 0);
  }
  return counts;
}

async function expectNothingEnqueued(ingress: Ingress, prefix: string): Promise<void> {
  const counts = await jobsInAllQueues(ingress);
  expect(counts).toEqual(Object.fromEntries(Object.keys(ingress.queues).map((name) => [name, 0])));
  // The webhook's duplicate marker is written only after an enqueue.
  expect(await ingress.redis.keys(`${prefix}:webhook-seen:*`)).toEqual([]);
}

async function expectHealthy(ingress: Ingress): Promise<void> {
  const res = await ingress.app.inject('/healthz');
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual({ status: 'ok' });
}

/** A catalog error: JSON `{error, message, details?}` with a known code and the status it implies. */
function expectCatalogError(
  status: number,
  contentType: string | undefined,
  text: string,
  expected?: { status: number; error: ApiErrorCode },
): void {
  expect(status, text).toBeGreaterThanOrEqual(400);
  expect(status, text).toBeLessThan(500);
  expect(contentType, text).toMatch(/^application\/json\b/);
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(body, text).toEqual({
    error: expect.any(String),
    message: expect.any(String),
    ...('details' in body ? { details: expect.any(Array) } : {}),
  });
  expect(CATALOG_CODES, `error code ${String(body.error)}`).toContain(body.error);
  expect(API_ERRORS[body.error as ApiErrorCode].status, text).toBe(status);
  if (expected) {
    expect({ status, error: body.error }, text).toEqual(expected);
  }
}

/** The `error` code of a body, for the printed table. */
function codeOf(text: string): string {
  try {
    return String((JSON.parse(text) as { error?: unknown }).error);
  } catch {
    return `(not JSON: ${text.slice(0, 40)})`;
  }
}

const results: Array<{ request: string; expected: string; actual: string; ms: number }> = [];

function printTable(): void {
  if (results.length === 0) return;
  const lines = [
    '| # | request | expected | answered | ms |',
    '| --- | --- | --- | --- | --- |',
    ...results.map(
      (r, i) =>
        `| ${i + 1} | ${r.request.replaceAll('|', '\\|')} | ${r.expected} | ${r.actual} | ${r.ms} |`,
    ),
  ];
  console.log(`\nHostile-input table (${results.length} requests)\n${lines.join('\n')}\n`);
}

afterAll(printTable);

// --- the table, through inject ---------------------------------------------------------------------

describe('hostile input: the request table (inject)', () => {
  test('has at least 40 distinct rows', () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(40);
    expect(new Set(ROWS.map((r) => r.name)).size).toBe(ROWS.length);
  });

  test.for(ROWS.map((row) => [row.name, row] as const))(
    '%s',
    async ([, row], { ingress, prefix }) => {
      const started = performance.now();
      const res = await ingress.app.inject({
        method: row.method,
        url: row.url,
        headers: row.headers,
        ...(row.body === undefined ? {} : { payload: row.body }),
      });
      const ms = Math.round(performance.now() - started);
      results.push({
        request: `${row.method} ${row.url.length > 60 ? `${row.url.slice(0, 57)}...` : row.url} — ${row.name}`,
        expected: `${row.status} ${row.error}`,
        actual: `${res.statusCode} ${codeOf(res.body)}`,
        ms,
      });

      expect(ms, 'answered within 2 s').toBeLessThan(ANSWER_WITHIN_MS);
      expectCatalogError(res.statusCode, res.headers['content-type'] as string, res.body, {
        status: row.status,
        error: row.error,
      });
      await expectNothingEnqueued(ingress, prefix);
      await expectHealthy(ingress);
    },
  );
});

// --- (d) property: random JSON bodies on /updatecontact ----------------------------------------------

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** Bodies that are often valid: each field drawn mostly from good values, sometimes hostile ones. */
const mostly = (good: fc.Arbitrary<unknown>, ...bad: fc.Arbitrary<unknown>[]) =>
  fc.oneof({ weight: 3 * bad.length, arbitrary: good }, ...bad);

const nearlyValidContact = fc.record(
  {
    id: mostly(
      fc.oneof(fc.stringMatching(/^[A-Za-z0-9._~:@-]{1,128}$/), fc.maxSafeNat()),
      fc.string({ maxLength: 140 }),
      fc.constantFrom('..', '.', '../x', 'javascript:alert(1)', '', -1, 1.5, 2 ** 60),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    organization: mostly(
      fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      fc.string({ maxLength: 70 }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    email: mostly(
      fc.constantFrom('jane@example.com', '  Jane.Doe@Example.COM ', 'a.b+c@sub.example.nl'),
      fc.emailAddress(),
      fc.string({ maxLength: 40 }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    telephone: mostly(
      fc.stringMatching(/^\+?[0-9 ()-]{3,20}$/),
      fc.string({ maxLength: 50 }),
      fc.integer(),
    ),
    phone: mostly(fc.stringMatching(/^0[0-9 ]{8,12}$/), fc.string({ maxLength: 50 })),
    extra: fc.jsonValue({ maxDepth: 3 }),
  },
  { requiredKeys: ['id', 'organization'] },
);

const randomBody = fc
  .oneof(
    { weight: 3, arbitrary: nearlyValidContact },
    { weight: 1, arbitrary: fc.jsonValue() },
    { weight: 1, arbitrary: fc.object() },
  )
  .map((value) => JSON.stringify(value) ?? 'null');

describe('hostile input: random JSON bodies (fast-check)', () => {
  test('POST /updatecontact answers 202 (job stored) or a 4xx catalog error, never 5xx', async ({
    ingress,
  }) => {
    const answered = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(randomBody, async (payload) => {
        const started = performance.now();
        const res = await ingress.app.inject({
          method: 'POST',
          url: '/updatecontact',
          headers: { ...auth, ...JSON_TYPE },
          payload,
        });
        expect(performance.now() - started).toBeLessThan(ANSWER_WITHIN_MS);
        answered.set(res.statusCode, (answered.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode === 202) {
          const body = res.json() as { status: string; jobId: string };
          expect(body).toEqual({ status: 'queued', jobId: expect.any(String) });
          // Accepted means stored: the job is in Redis right now.
          const job = await ingress.queues[QUEUE.linkContact].getJob(body.jobId);
          expect(job?.data.organization).toBe(
            (JSON.parse(payload) as { organization: string }).organization,
          );
        } else {
          expectCatalogError(res.statusCode, res.headers['content-type'] as string, res.body);
          // A forbidden key is the only reason a parseable body with no schema problem is refused.
          if (res.json().error === 'forbidden_key') {
            expect([...FORBIDDEN].some((k) => payload.includes(`"${k}"`))).toBe(true);
          }
        }
      }),
      { numRuns: 200 },
    );
    // The generators must reach both answers, or the property proves little.
    expect(answered.get(202) ?? 0, JSON.stringify([...answered])).toBeGreaterThan(5);
    expect(answered.get(400) ?? 0, JSON.stringify([...answered])).toBeGreaterThan(5);
    expect([...answered.keys()].every((s) => s === 202 || (s >= 400 && s < 500))).toBe(true);
    await expectHealthy(ingress);
  });
});

// --- over a real socket ----------------------------------------------------------------------------

interface RawAnswer {
  /** Status of the first response, or 0 when none came. */
  status: number;
  contentType: string | undefined;
  body: string;
  /** The server closed the connection (with or without an answer). */
  closed: boolean;
  ms: number;
}

/** Writes `text` on a fresh connection and collects what comes back until close or `waitMs`. */
function rawRequest(
  port: number,
  text: string | Buffer,
  waitMs: number,
  { halfClose = false }: { halfClose?: boolean } = {},
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = raw.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const contentType = /\r\ncontent-type:\s*([^\r\n]+)/i.exec(head)?.[1];
      resolve({
        status,
        contentType,
        body: rest.join('\r\n\r\n'),
        closed,
        ms: Math.round(performance.now() - started),
      });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('end', () => {});
    if (halfClose) socket.end(text);
    else socket.write(text);
  });
}

const socketTest = test.extend('port', async ({ ingress }) => {
  const address = await ingress.app.listen({ port: 0, host: '127.0.0.1' });
  return Number(new URL(address).port);
});

const validBody = contactWith({});
const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;
const authLine = `Authorization: Bearer ${API_KEY}`;

interface SocketRow {
  name: string;
  request: string;
  /** Send FIN after the request (the client will send nothing more, but can still read). */
  halfClose?: boolean;
  status: number;
  error: ApiErrorCode;
}

const SOCKET_ROWS: SocketRow[] = [
  {
    name: 'raw path /jobs/../../admin/dead-letters (not normalised by a client)',
    request: head([
      'GET /jobs/../../admin/dead-letters HTTP/1.1',
      'Host: x',
      authLine,
      'Connection: close',
    ]),
    status: 404,
    error: 'not_found',
  },
  {
    name: 'raw path /jobs/..%2F..%2Fadmin',
    request: head(['GET /jobs/..%2F..%2Fadmin HTTP/1.1', 'Host: x', authLine, 'Connection: close']),
    status: 404,
    error: 'not_found',
  },
  {
    name: 'Content-Length larger than the body, then the client half-closes',
    request: `${head([
      'POST /updatecontact HTTP/1.1',
      'Host: x',
      authLine,
      'Content-Type: application/json',
      `Content-Length: ${validBody.length + 50}`,
    ])}${validBody}`,
    halfClose: true,
    status: 400,
    error: 'bad_request',
  },
  {
    name: 'header value with a NUL byte',
    request: `${head([
      'POST /updatecontact HTTP/1.1',
      'Host: x',
      `${authLine}\u0000X-Injected: 1`,
      'Content-Type: application/json',
      `Content-Length: ${validBody.length}`,
      'Connection: close',
    ])}${validBody}`,
    status: 400,
    error: 'bad_request',
  },
  {
    name: 'bare LF inside the headers (header smuggling)',
    request: `${head([
      'POST /updatecontact HTTP/1.1',
      'Host: x',
      'X-A: a\nTransfer-Encoding: chunked',
      authLine,
      'Content-Type: application/json',
      `Content-Length: ${validBody.length}`,
      'Connection: close',
    ])}${validBody}`,
    status: 400,
    error: 'bad_request',
  },
  {
    name: 'two different Content-Length headers',
    request: `${head([
      'POST /updatecontact HTTP/1.1',
      'Host: x',
      authLine,
      'Content-Type: application/json',
      `Content-Length: ${validBody.length}`,
      'Content-Length: 5',
      'Connection: close',
    ])}${validBody}`,
    status: 400,
    error: 'bad_request',
  },
  {
    name: 'Content-Length and Transfer-Encoding: chunked together',
    request: `${head([
      'POST /updatecontact HTTP/1.1',
      'Host: x',
      authLine,
      'Content-Type: application/json',
      'Content-Length: 5',
      'Transfer-Encoding: chunked',
      'Connection: close',
    ])}0\r\n\r\n`,
    status: 400,
    error: 'bad_request',
  },
  {
    name: 'invalid chunk size',
    request: `${head([
      'POST /updatecontact HTTP/1.1',
      'Host: x',
      authLine,
      'Content-Type: application/json',
      'Transfer-Encoding: chunked',
      'Connection: close',
    ])}zz\r\n${validBody}\r\n0\r\n\r\n`,
    status: 400,
    error: 'bad_request',
  },
  {
    name: 'TLS ClientHello bytes on the plain-HTTP port',
    request: '\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003',
    status: 400,
    error: 'bad_request',
  },
];

describe('hostile input: over a real socket', () => {
  socketTest.for(SOCKET_ROWS.map((row) => [row.name, row] as const))(
    '%s',
    async ([, row], { ingress, prefix, port }) => {
      const answer = await rawRequest(port, row.request, ANSWER_WITHIN_MS, {
        halfClose: row.halfClose ?? false,
      });
      results.push({
        request: `raw socket — ${row.name}`,
        expected: `${row.status} ${row.error}`,
        actual: answer.status === 0 ? 'no answer' : `${answer.status} ${codeOf(answer.body)}`,
        ms: answer.ms,
      });
      expect(answer.status, `no answer within ${ANSWER_WITHIN_MS} ms`).not.toBe(0);
      expectCatalogError(answer.status, answer.contentType, answer.body, {
        status: row.status,
        error: row.error,
      });
      await expectNothingEnqueued(ingress, prefix);
      await expectHealthy(ingress);
    },
  );

  socketTest(
    'a 2 MiB chunked body without Content-Length (fetch, streamed) is cut off with 413',
    async ({ ingress, prefix, port }) => {
      const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(new TextEncoder().encode('{"id":"a","pad":"'));
          if (sent >= 2 * MiB) return controller.close();
          sent += chunk.length;
          controller.enqueue(chunk);
        },
      });
      const started = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/updatecontact`, {
        method: 'POST',
        headers: { ...auth, ...JSON_TYPE },
        body,
        duplex: 'half',
        signal: AbortSignal.timeout(5_000),
      } as RequestInit);
      const text = await res.text();
      const ms = Math.round(performance.now() - started);
      results.push({
        request: 'fetch — POST /updatecontact, 2 MiB chunked body, no Content-Length',
        expected: '413 payload_too_large',
        actual: `${res.status} ${codeOf(text)}`,
        ms,
      });
      expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
      expectCatalogError(res.status, res.headers.get('content-type') ?? undefined, text, {
        status: 413,
        error: 'payload_too_large',
      });
      await expectNothingEnqueued(ingress, prefix);
      await expectHealthy(ingress);
    },
  );

  socketTest(
    'fetch: a /jobs id with ..%2F and an unnormalised path never reaches another route',
    async ({ port }) => {
      // (`/jobs/%2E%2E/healthz` would be normalised to `/healthz` by fetch itself, before sending.)
      for (const path of ['/jobs/..%2F..%2Fhealthz', '/jobs/%2E%2E%2F%2E%2E%2Fhealthz']) {
        const started = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}${path}`, {
          headers: auth,
          signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
        });
        const text = await res.text();
        results.push({
          request: `fetch — GET ${path}`,
          expected: '404 not_found',
          actual: `${res.status} ${codeOf(text)}`,
          ms: Math.round(performance.now() - started),
        });
        expectCatalogError(res.status, res.headers.get('content-type') ?? undefined, text, {
          status: 404,
          error: 'not_found',
        });
      }
    },
  );

  /**
   * Slowloris: a client that sends the headers (or part of them) and then nothing. The server must
   * give up on it by itself, with a 408 or by closing the socket, and keep serving everyone else in
   * the meantime. With the default Fastify options it holds such a socket forever.
   */
  for (const [name, request] of [
    [
      'a never-finished body',
      `${head([
        'POST /updatecontact HTTP/1.1',
        'Host: x',
        authLine,
        'Content-Type: application/json',
        'Content-Length: 1000',
      ])}{"id":`,
    ],
    [
      'never-finished headers',
      ['POST /updatecontact HTTP/1.1', 'Host: x', authLine, ''].join('\r\n'),
    ],
  ] as const) {
    socketTest(
      `${name} does not hold the connection forever, and others are served meanwhile`,
      { timeout: SLOW_CLIENT_BOUND_MS + 10_000 },
      async ({ ingress, prefix, port }) => {
        const slow = rawRequest(port, request, SLOW_CLIENT_BOUND_MS);
        // While the slow client hangs on, a normal client is served at once.
        const health = await fetch(`http://127.0.0.1:${port}/healthz`, {
          signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
        });
        expect(health.status).toBe(200);
        const answer = await slow;
        results.push({
          request: `raw socket — ${name}`,
          expected: `408 or close within ${SLOW_CLIENT_BOUND_MS / 1000} s`,
          actual: answer.closed
            ? `${answer.status || 'closed'} after ${answer.ms} ms`
            : `still open after ${answer.ms} ms`,
          ms: answer.ms,
        });
        expect(
          answer.closed,
          `the server still held the connection after ${SLOW_CLIENT_BOUND_MS} ms`,
        ).toBe(true);
        if (answer.status !== 0) expect(answer.status).toBeGreaterThanOrEqual(400);
        expect(answer.status).toBeLessThan(500);
        await expectNothingEnqueued(ingress, prefix);
        await expectHealthy(ingress);
      },
    );
  }
});
