/**
 * `toClientError` fed with what chipchat really rejects with: every row makes a real request through a
 * chipchat instance set up like the client's (retries off, short timeout) to a loopback server that
 * answers as the row says, so the shapes of got's errors are not guessed.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type ClientError,
  PermanentError,
  RateLimitedError,
  TransientError,
} from '@contact-linker/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChipChatInstance, createChipChat } from './chipchat.ts';
import { isRejectedToken, maskSensitive, toClientError } from './errors.ts';

// A JWT-shaped token: chipchat only decodes it; the loopback server never checks it.
const TOKEN = [
  Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url'),
  Buffer.from('{"_id":"u1","scope":["bot"]}').toString('base64url'),
  'sig',
].join('.');

type Scenario = (res: import('node:http').ServerResponse) => void;

function answer(status: number, headers: Record<string, string> = {}, body?: unknown): Scenario {
  return (res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body ?? { error: { status, message: `status ${status}` } }));
  };
}

const scenarios: Record<string, Scenario> = {
  hang: () => undefined,
  reset: (res) => res.socket?.destroy(),
  'retry-after-date': (res) =>
    answer(429, { 'retry-after': new Date(Date.now() + 30_000).toUTCString() })(res),
  'retry-after-seconds': answer(429, { 'retry-after': '7' }),
  'ok-with-error-body': answer(200, {}, { error: { message: 'odd' } }),
  'ok-not-json': (res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html>proxy</html>');
  },
  '401-jwt-expired': answer(401, {}, { error: { status: 401, message: 'jwt expired' } }),
  '403-jwt-expired': answer(
    403,
    {},
    { error: { status: 403, name: 'ForbiddenError', message: 'jwt expired' } },
  ),
  '403-invalid-signature': answer(403, {}, { error: { message: 'invalid signature' } }),
  '403-scope': answer(403, {}, { error: { message: 'Insufficient scope' } }),
  '404-jwt-expired': answer(404, {}, { error: { message: 'jwt expired' } }),
  'leaky-message': answer(
    404,
    {},
    {
      error: {
        message: `no contact jan.jansen@example.com / +31 6 1234 5678 for Bearer ${TOKEN}`,
      },
    },
  ),
};

let server: Server;
let chip: ChipChatInstance;
let closedPortChip: ChipChatInstance;

beforeAll(async () => {
  server = createServer((req, res) => {
    const key = decodeURIComponent(
      new URL(req.url ?? '/', 'http://x').pathname.split('/').pop() ?? '',
    );
    const scenario = scenarios[key] ?? answer(/^\d{3}$/.test(key) ? Number(key) : 400);
    scenario(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const setup = {
    token: TOKEN,
    timeoutMs: 200,
    hooks: { beforeRequest: [], afterResponse: [], beforeError: [] },
  };
  chip = createChipChat({ ...setup, host: `http://127.0.0.1:${port}` });

  const spare = createServer();
  spare.listen(0, '127.0.0.1');
  await once(spare, 'listening');
  const sparePort = (spare.address() as AddressInfo).port;
  await new Promise((resolve) => spare.close(resolve));
  closedPortChip = createChipChat({ ...setup, host: `http://127.0.0.1:${sparePort}` });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** The error a real chipchat `contacts.get(scenario)` rejects with, converted. */
async function converted(scenario: string, client = chip): Promise<ClientError> {
  try {
    await client.contacts.get(scenario);
  } catch (error) {
    return toClientError(error);
  }
  throw new Error(`scenario ${scenario} did not fail`);
}

type Row = [
  scenario: string,
  kind: typeof PermanentError | typeof RateLimitedError | typeof TransientError,
  status: number | undefined,
];

describe('toClientError maps every answer to its retry class', () => {
  const rows: Row[] = [
    ['400', PermanentError, 400],
    ['401', PermanentError, 401],
    ['403', PermanentError, 403],
    ['404', PermanentError, 404],
    ['408', TransientError, 408],
    ['409', PermanentError, 409],
    ['410', PermanentError, 410],
    ['422', PermanentError, 422],
    ['429', RateLimitedError, 429],
    ['retry-after-seconds', RateLimitedError, 429],
    ['retry-after-date', RateLimitedError, 429],
    ['500', TransientError, 500],
    ['502', TransientError, 502],
    ['503', TransientError, 503],
    ['504', TransientError, 504],
    ['ok-with-error-body', TransientError, 200],
    ['ok-not-json', TransientError, 200],
    ['hang', TransientError, undefined],
    ['reset', TransientError, undefined],
  ];

  it.each(rows)('%s → %o', async (scenario, kind, status) => {
    const error = await converted(scenario);
    expect(error).toBeInstanceOf(kind);
    expect(error.status).toBe(status);
    expect(error.cause).toBeTruthy();
    expect(error.message).toMatch(/^Web1on1 GET \/v2\/contacts\//);
  });

  it('a 2xx body with `error` rejects with the bare response, which becomes the cause', async () => {
    const error = await converted('ok-with-error-body');
    expect(error.cause).not.toBeInstanceOf(Error);
    expect((error.cause as { statusCode: number }).statusCode).toBe(200);
    expect(error.message).toBe(
      'Web1on1 GET /v2/contacts/ok-with-error-body answered 200: odd (unusable 200 answer)',
    );
  });

  it('429 carries retryAfterMs: the fallback without Retry-After, seconds, and an HTTP date', async () => {
    const without = (await converted('429')) as RateLimitedError;
    const seconds = (await converted('retry-after-seconds')) as RateLimitedError;
    const date = (await converted('retry-after-date')) as RateLimitedError;
    expect(without.retryAfterMs).toBe(1000);
    expect(seconds.retryAfterMs).toBe(7000);
    // An HTTP date has whole seconds, so up to one second of the 30 is lost to rounding.
    expect(date.retryAfterMs).toBeGreaterThan(28_000);
    expect(date.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('a timeout is transient and says so', async () => {
    const started = performance.now();
    const error = await converted('hang');
    expect(performance.now() - started).toBeLessThan(2000);
    expect(error.message).toBe('Web1on1 GET /v2/contacts/hang timed out');
    expect((error.cause as Error).name).toBe('TimeoutError');
  });

  it('a connection reset is transient and names the code', async () => {
    const error = await converted('reset');
    expect(error.message).toBe('Web1on1 GET /v2/contacts/reset failed: ECONNRESET');
  });

  it('ECONNREFUSED is transient and keeps the original as cause', async () => {
    const error = await converted('anything', closedPortChip);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe('Web1on1 GET /v2/contacts/anything failed: ECONNREFUSED');
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('keeps the API message but masks emails, phone numbers and tokens', async () => {
    const error = await converted('leaky-message');
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toContain('no contact');
    expect(error.message).not.toContain('jan.jansen@example.com');
    expect(error.message).not.toContain('1234');
    expect(error.message).not.toContain(TOKEN);
    expect(error.message).not.toContain('eyJ');
  });

  it('never puts the query string (emails, phone numbers) in the message', async () => {
    let raw: unknown;
    try {
      await chip.contacts.list({ organization: 'o', 'profile.email': 'a.b@example.com' });
    } catch (error) {
      raw = error;
    }
    const error = toClientError(raw);
    expect(error.message).toMatch(/^Web1on1 GET \/v2\/contacts answered/);
    expect(error.message).not.toContain('example.com');
  });
});

describe('isRejectedToken: the answers that renew the token', () => {
  it.each([
    ['401-jwt-expired', true],
    ['403-jwt-expired', true],
    ['403-invalid-signature', true],
    ['401', false],
    ['403', false],
    ['403-scope', false],
    ['404-jwt-expired', false],
    ['500', false],
    ['reset', false],
  ] as const)('%s → %s', async (scenario, renews) => {
    const rejection = await chip.contacts.get(scenario).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(rejection).toBeDefined();
    expect(isRejectedToken(rejection)).toBe(renews);
    // Whether renewed or not, the answer itself stays a permanent error.
    if (scenario.startsWith('40')) expect(toClientError(rejection)).toBeInstanceOf(PermanentError);
  });
});

describe('toClientError without an HTTP answer', () => {
  it('passes a ClientError through unchanged', () => {
    const original = new RateLimitedError('slow down', { retryAfterMs: 5 });
    expect(toClientError(original)).toBe(original);
  });

  it('treats any other error, or a non-error, as transient', () => {
    const plain = toClientError(new TypeError('boom'));
    expect(plain).toBeInstanceOf(TransientError);
    expect(plain.message).toBe('Web1on1 request failed: TypeError');
    expect(toClientError('weird')).toBeInstanceOf(TransientError);
  });
});

describe('maskSensitive', () => {
  it.each([
    ['mail jan@example.com now', 'mail <email> now'],
    ['call +31 (0)6-1234 5678', 'call <number>'],
    ['call 0612345678.', 'call <number>.'],
    [`token ${TOKEN}`, 'token <token>'],
    ['Bearer abc.def', 'Bearer <token>'],
    ['contact 507f1f77bcf86cd799439011 not found', 'contact 507f1f77bcf86cd799439011 not found'],
    ['status 503', 'status 503'],
  ])('%s → %s', (input, expected) => {
    expect(maskSensitive(input)).toBe(expected);
  });
});
