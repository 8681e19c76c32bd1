import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody, sendJson } from './http-util.ts';

/** A contact as the sandbox stores it; every field beyond the typed ones is kept and returned as-is. */
export interface SandboxContact {
  id: string;
  organization: string;
  conversation: string;
  profile: { email?: string; telephone?: string; name?: string; [k: string]: unknown };
  links: Array<{ label?: string; url: string; icon?: string }>;
  [k: string]: unknown;
}

/** One `/v2/*` request the sandbox received (control requests under `/_sandbox/` are not recorded). */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/v2/contacts/5f…`. */
  path: string;
  /** Decoded query parameters (a `%2B` arrives here as `+`, a bare `+` as a space). */
  query: Record<string, string>;
  /** Parsed JSON body; the raw text when it is not JSON; `undefined` when there was none. */
  body: unknown;
  /** Status the sandbox answered with; `0` while it is delaying or hanging the request. */
  status: number;
  /** `Date.now()` when the request arrived. */
  startedAt: number;
  /** `Date.now()` when it was answered (or its socket closed unanswered); `0` until then. */
  endedAt: number;
}

/** Standing faults; they apply to every `/v2/*` request (token renewal included) until replaced. */
export interface Web1on1Faults {
  /** Delay before every answer. @defaultValue the `latencyMs` the sandbox was started with */
  latencyMs?: number;
  /** Share of requests (0–1) answered with `errorStatus`. */
  errorRate?: number;
  /** @defaultValue 500 */
  errorStatus?: number;
  /** Share of requests (0–1) that are never answered. */
  hangRate?: number;
  /** Source of randomness for the rates, injectable for deterministic tests. @defaultValue Math.random */
  random?: () => number;
}

export interface Web1on1SandboxOptions {
  /** @defaultValue 0 (a free port) */
  port?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** Delay before every `/v2/*` answer unless `setFaults` sets another. @defaultValue 0 */
  latencyMs?: number;
  /**
   * Where to POST signed `contact.create` / `contact.update` webhooks after a contact was created or
   * changed over HTTP (`POST`/`PATCH /v2/contacts`, `POST /_sandbox/contacts`). `addContact()` is seeding
   * and sends none.
   */
  webhook?: { url: string; secret: string };
  /** Organization claim of issued tokens and default organization of created contacts. @defaultValue a random 24-hex id */
  organizationId?: string;
}

export interface Web1on1Sandbox {
  /** `http://127.0.0.1:<port>`: give it to chipchat as `host`. */
  url: string;
  /**
   * An HS256 JWT signed by the sandbox, carrying the claims chipchat decodes (`_id`, `organization`,
   * `scope`). Scope defaults to `['bot']`, so chipchat allows token renewal with it.
   * @defaultValue expiresInSec 86_400; a negative value gives an already-expired token
   */
  issueToken(opts?: { expiresInSec?: number; scope?: string[]; email?: string }): string;
  /** The refresh token `POST /v2/auth/token` accepts together with `clientId: botEmail`. */
  readonly refreshToken: string;
  /** `bot+<id>@web1on1.chat`, the form from which chipchat derives the bot user id. */
  readonly botEmail: string;
  /** Successful token renewals so far. */
  readonly tokenRefreshes: number;
  /** Stores a contact; `id` and `conversation` are 24-hex ids like Mongo ObjectIds unless given. */
  addContact(c: Partial<SandboxContact> & { organization: string }): SandboxContact;
  getContact(id: string): SandboxContact | undefined;
  listContacts(): SandboxContact[];
  /** Every `/v2/*` request, in arrival order; entries are updated in place when answered. */
  requests: RecordedRequest[];
  clearRequests(): void;
  /** Forgets contacts, requests, queued and standing faults, and the token renewal count. */
  reset(): void;
  /** Replaces the standing faults; `setFaults({})` removes them. */
  setFaults(f: Web1on1Faults): void;
  /**
   * Answers the next `count` requests (with `method`, when given) with `status`, `Retry-After` when
   * `retryAfterSec` is set, and `body` (default: the API's error shape). Checked before standing faults.
   */
  failNext(
    count: number,
    f: { status: number; retryAfterSec?: number; method?: string; body?: unknown },
  ): void;
  /** Never answers the next `count` requests (with `method`, when given) until `close()`. */
  hangNext(count: number, f?: { method?: string }): void;
  /** For `ms` from now, every `/v2/*` request answers 429 with `Retry-After: retryAfterSec`. */
  rateLimitFor(ms: number, retryAfterSec: number): void;
  /** Stops listening and destroys every socket, hanging ones included; aborts webhooks in flight. */
  close(): Promise<void>;
}

/** `sha1=<hex HMAC-SHA1 of rawBody keyed with secret>`: the `X-Hub-Signature` Web1on1 (and chipchat) compute. */
export function signHubSignature(rawBody: string, secret: string): string {
  return `sha1=${createHmac('sha1', secret).update(rawBody, 'utf8').digest('hex')}`;
}

// Query parameters the Web1on1 API treats as paging/projection options rather than filters.
const RESERVED_QUERY = new Set(['limit', 'offset', 'sort', 'select', 'populate']);
const DEFAULT_TOKEN_TTL_SEC = 86_400;
const REFRESH_TOKEN_TTL_SEC = 365 * 86_400;

type Outcome =
  | { kind: 'hang' }
  | { kind: 'fault'; status: number; headers: Record<string, string>; body: unknown }
  | { kind: 'handle' };

interface QueuedFailure {
  status: number;
  retryAfterSec?: number;
  method?: string;
  body?: unknown;
}

/**
 * Starts a stand-in for the Web1on1 REST API as chipchat 0.7.4 calls it: bearer JWT auth (HS256,
 * `jwt expired` when expired), token renewal at `POST /v2/auth/token`, and `/v2/contacts` list (exact
 * dot-path filters), get, create and PATCH (top-level merge; nested objects and arrays are replaced).
 * Errors use the API's shape `{ error: { status, name, message } }`, whose `message` chipchat copies
 * onto the error it throws. Other processes and humans reach the controls over HTTP:
 * - `GET /_sandbox/contacts`, `POST /_sandbox/contacts` (body: a contact with `organization`);
 * - `GET /_sandbox/requests`;
 * - `POST /_sandbox/faults` with `Web1on1Faults` (without `random`), or
 *   `{ failNext: { count, status, retryAfterSec?, method?, body? } }`,
 *   `{ hangNext: { count, method? } }`, `{ rateLimitFor: { ms, retryAfterSec } }`;
 * - `POST /_sandbox/token` (body: optional `{ expiresInSec, scope, email }`) →
 *   `{ token, refreshToken, email }`;
 * - `POST /_sandbox/reset`.
 */
export async function startWeb1on1Sandbox(
  opts: Web1on1SandboxOptions = {},
): Promise<Web1on1Sandbox> {
  const host = opts.host ?? '127.0.0.1';
  const organizationId = opts.organizationId ?? objectId();
  const signingKey = randomBytes(32);
  const botUserId = objectId();
  const botEmail = `bot+${botUserId}@web1on1.chat`;
  const contacts = new Map<string, SandboxContact>();
  const requests: RecordedRequest[] = [];
  let failures: QueuedFailure[] = [];
  let hangs: Array<{ method?: string }> = [];
  let faults: Web1on1Faults = {};
  let rateLimitedUntil = 0;
  let rateLimitRetryAfterSec = 0;
  let tokenRefreshes = 0;
  const timers = new Set<NodeJS.Timeout>();
  const webhooksInFlight = new Set<AbortController>();

  const now = () => Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>) => signJwt(claims, signingKey);

  function issueToken(o: { expiresInSec?: number; scope?: string[]; email?: string } = {}): string {
    const iat = now();
    return sign({
      _id: botUserId,
      email: o.email ?? botEmail,
      organization: organizationId,
      orgPath: organizationId,
      role: 'bot',
      scope: o.scope ?? ['bot'],
      grant_type: 'access_token',
      iat,
      exp: iat + (o.expiresInSec ?? DEFAULT_TOKEN_TTL_SEC),
    });
  }

  // chipchat's constructor throws on a token whose grant_type is refresh_token, so the two kinds
  // cannot be mixed up by a test.
  const refreshToken = sign({
    _id: botUserId,
    email: botEmail,
    grant_type: 'refresh_token',
    iat: now(),
    exp: now() + REFRESH_TOKEN_TTL_SEC,
  });

  function addContact(c: Partial<SandboxContact> & { organization: string }): SandboxContact {
    const at = new Date().toISOString();
    const { id, organization, conversation, profile, links, ...rest } = structuredClone(c);
    const contact: SandboxContact = {
      id: id ?? objectId(),
      organization,
      conversation: conversation ?? objectId(),
      profile: profile ?? {},
      links: links ?? [],
      createdAt: at,
      updatedAt: at,
      ...rest,
    };
    contacts.set(contact.id, contact);
    return structuredClone(contact);
  }

  function failNext(count: number, f: QueuedFailure): void {
    for (let i = 0; i < count; i += 1) failures.push({ ...f });
  }
  function hangNext(count: number, f: { method?: string } = {}): void {
    for (let i = 0; i < count; i += 1) hangs.push({ ...f });
  }
  function rateLimitFor(ms: number, retryAfterSec: number): void {
    rateLimitedUntil = Date.now() + ms;
    rateLimitRetryAfterSec = retryAfterSec;
  }
  function reset(): void {
    contacts.clear();
    requests.length = 0;
    failures = [];
    hangs = [];
    faults = {};
    rateLimitedUntil = 0;
    tokenRefreshes = 0;
  }

  /** Faults are decided when a request arrives, so queued ones are used in arrival order. */
  function decide(method: string): Outcome {
    if (Date.now() < rateLimitedUntil) {
      return {
        kind: 'fault',
        status: 429,
        headers: { 'retry-after': String(rateLimitRetryAfterSec) },
        body: apiError(429, 'Too many requests'),
      };
    }
    const failureAt = failures.findIndex((f) => f.method === undefined || f.method === method);
    if (failureAt >= 0) {
      const [f] = failures.splice(failureAt, 1);
      if (f) {
        const headers: Record<string, string> = {};
        if (f.retryAfterSec !== undefined) headers['retry-after'] = String(f.retryAfterSec);
        return {
          kind: 'fault',
          status: f.status,
          headers,
          body: f.body ?? apiError(f.status, 'Sandbox fault'),
        };
      }
    }
    const hangAt = hangs.findIndex((h) => h.method === undefined || h.method === method);
    if (hangAt >= 0) {
      hangs.splice(hangAt, 1);
      return { kind: 'hang' };
    }
    const random = faults.random ?? Math.random;
    if (faults.hangRate && random() < faults.hangRate) return { kind: 'hang' };
    if (faults.errorRate && random() < faults.errorRate) {
      const status = faults.errorStatus ?? 500;
      return { kind: 'fault', status, headers: {}, body: apiError(status, 'Sandbox fault') };
    }
    return { kind: 'handle' };
  }

  function sendWebhook(event: 'contact.create' | 'contact.update', contact: SandboxContact): void {
    const target = opts.webhook;
    if (!target) return;
    const raw = JSON.stringify({
      id: objectId(),
      event,
      timestamp: Date.now(),
      organization: contact.organization,
      data: { contact },
    });
    const abort = new AbortController();
    webhooksInFlight.add(abort);
    // Fire-and-forget like Web1on1 itself: the API answer never waits for, or fails with, the webhook.
    fetch(target.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature': signHubSignature(raw, target.secret),
      },
      body: raw,
      signal: AbortSignal.any([abort.signal, AbortSignal.timeout(10_000)]),
    })
      .then((res) => res.arrayBuffer())
      .catch(() => undefined)
      .finally(() => webhooksInFlight.delete(abort));
  }

  type Answer = { status: number; body: unknown; headers?: Record<string, string> };

  function authenticate(req: IncomingMessage): Answer | undefined {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1])
      return { status: 401, body: apiError(401, 'No authorization token was found') };
    const verified = verifyJwt(match[1], signingKey);
    if (!verified.ok) return { status: 401, body: apiError(401, verified.message) };
    if (verified.claims.grant_type === 'refresh_token') {
      return { status: 401, body: apiError(401, 'invalid token') };
    }
    return undefined;
  }

  function renewToken(body: unknown): Answer {
    if (
      !isRecord(body) ||
      typeof body.refreshToken !== 'string' ||
      typeof body.clientId !== 'string'
    ) {
      return { status: 400, body: apiError(400, 'clientId and refreshToken are required') };
    }
    const verified = verifyJwt(body.refreshToken, signingKey);
    // The message deliberately does not match chipchat's /jwt expired|invalid signature|invalid token/,
    // which would make chipchat try to renew the renewal.
    if (!verified.ok || verified.claims.grant_type !== 'refresh_token') {
      return { status: 401, body: apiError(401, 'Refresh token rejected') };
    }
    if (verified.claims.email !== body.clientId) {
      return { status: 401, body: apiError(401, 'Refresh token does not belong to this client') };
    }
    tokenRefreshes += 1;
    return { status: 200, body: { token: issueToken(), refreshToken } };
  }

  function listContactsAnswer(query: URLSearchParams): Answer {
    const filters = [...query.entries()].filter(([key]) => !RESERVED_QUERY.has(key));
    const matching = [...contacts.values()].filter((c) =>
      filters.every(([path, expected]) => matches(getPath(c, path), expected)),
    );
    const offset = nonNegativeInt(query.get('offset')) ?? 0;
    const limit = nonNegativeInt(query.get('limit'));
    const page = matching.slice(offset, limit === undefined ? undefined : offset + limit);
    return {
      status: 200,
      body: page,
      headers: { 'x-total-count': String(matching.length) },
    };
  }

  function handleApi(
    method: string,
    pathname: string,
    query: URLSearchParams,
    body: unknown,
  ): Answer {
    if (pathname === '/v2/auth/token') {
      if (method !== 'POST') return { status: 405, body: apiError(405, 'Method not allowed') };
      return renewToken(body);
    }
    const idMatch = /^\/v2\/contacts\/([^/]+)$/.exec(pathname);
    if (pathname === '/v2/contacts') {
      if (method === 'GET') return listContactsAnswer(query);
      if (method === 'POST') {
        if (!isRecord(body)) return { status: 400, body: apiError(400, 'Body must be an object') };
        const { id: _ignored, ...fields } = body;
        const organization =
          typeof fields.organization === 'string' ? fields.organization : organizationId;
        const created = addContact({ ...(fields as Partial<SandboxContact>), organization });
        sendWebhook('contact.create', created);
        return { status: 201, body: created };
      }
      return { status: 405, body: apiError(405, 'Method not allowed') };
    }
    if (idMatch?.[1]) {
      const id = decodeURIComponent(idMatch[1]);
      const stored = contacts.get(id);
      if (method === 'GET') {
        if (!stored) return { status: 404, body: apiError(404, 'Contact not found') };
        return { status: 200, body: stored };
      }
      if (method === 'PATCH') {
        if (!isRecord(body)) return { status: 400, body: apiError(400, 'Body must be an object') };
        if (!stored) return { status: 404, body: apiError(404, 'Contact not found') };
        // Top-level merge only: a nested object or array in the body replaces the stored one whole,
        // as the real API does (so adding a link means sending the full `links` array).
        const { id: _ignored, ...fields } = body;
        Object.assign(stored, structuredClone(fields), { updatedAt: new Date().toISOString() });
        sendWebhook('contact.update', structuredClone(stored));
        return { status: 200, body: stored };
      }
      return { status: 405, body: apiError(405, 'Method not allowed') };
    }
    return { status: 404, body: apiError(404, 'Not found') };
  }

  function handleControl(method: string, pathname: string, raw: string, res: ServerResponse) {
    const body = raw === '' ? {} : parseJson(raw);
    if (method === 'GET' && pathname === '/_sandbox/contacts') {
      return sendJson(res, 200, [...contacts.values()]);
    }
    if (method === 'POST' && pathname === '/_sandbox/contacts') {
      if (!isRecord(body) || typeof body.organization !== 'string') {
        return sendJson(res, 400, apiError(400, 'A contact needs an organization'));
      }
      const created = addContact(body as Partial<SandboxContact> & { organization: string });
      sendWebhook('contact.create', created);
      return sendJson(res, 201, created);
    }
    if (method === 'GET' && pathname === '/_sandbox/requests') return sendJson(res, 200, requests);
    if (method === 'POST' && pathname === '/_sandbox/reset') {
      reset();
      return sendJson(res, 200, { reset: true });
    }
    if (method === 'POST' && pathname === '/_sandbox/token') {
      const o = isRecord(body) ? body : {};
      const token = issueToken({
        ...(typeof o.expiresInSec === 'number' ? { expiresInSec: o.expiresInSec } : {}),
        ...(Array.isArray(o.scope) ? { scope: o.scope.map(String) } : {}),
        ...(typeof o.email === 'string' ? { email: o.email } : {}),
      });
      return sendJson(res, 200, { token, refreshToken, email: botEmail });
    }
    if (method === 'POST' && pathname === '/_sandbox/faults') {
      if (!isRecord(body)) return sendJson(res, 400, apiError(400, 'Body must be an object'));
      const { failNext: next, hangNext: hang, rateLimitFor: limit, ...standing } = body;
      if (isRecord(next)) {
        if (typeof next.status !== 'number') {
          return sendJson(res, 400, apiError(400, 'failNext needs a numeric status'));
        }
        failNext(typeof next.count === 'number' ? next.count : 1, {
          status: next.status,
          ...(typeof next.retryAfterSec === 'number' ? { retryAfterSec: next.retryAfterSec } : {}),
          ...(typeof next.method === 'string' ? { method: next.method.toUpperCase() } : {}),
          ...('body' in next ? { body: next.body } : {}),
        });
      }
      if (isRecord(hang)) {
        hangNext(
          typeof hang.count === 'number' ? hang.count : 1,
          typeof hang.method === 'string' ? { method: hang.method.toUpperCase() } : {},
        );
      }
      if (isRecord(limit)) {
        if (typeof limit.ms !== 'number' || typeof limit.retryAfterSec !== 'number') {
          return sendJson(
            res,
            400,
            apiError(400, 'rateLimitFor needs numeric ms and retryAfterSec'),
          );
        }
        rateLimitFor(limit.ms, limit.retryAfterSec);
      }
      // A body with only queued faults leaves the standing ones alone.
      if (Object.keys(standing).length > 0 || Object.keys(body).length === 0) {
        faults = pickFaults(standing);
      }
      return sendJson(res, 200, {
        faults,
        queuedFailures: failures.length,
        queuedHangs: hangs.length,
        rateLimitedUntil,
      });
    }
    return sendJson(res, 404, apiError(404, 'Not found'));
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const method = (req.method ?? 'GET').toUpperCase();
    readBody(req).then(
      (raw) => {
        if (raw === undefined) return sendJson(res, 413, apiError(413, 'Payload too large'));
        if (url.pathname.startsWith('/_sandbox/')) {
          return handleControl(method, url.pathname, raw, res);
        }
        const parsed = raw === '' ? { ok: true as const, value: undefined } : tryParseJson(raw);
        const record: RecordedRequest = {
          method,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          body: parsed.ok ? parsed.value : raw,
          status: 0,
          startedAt: Date.now(),
          endedAt: 0,
        };
        requests.push(record);
        res.once('close', () => {
          if (record.endedAt === 0) record.endedAt = Date.now();
        });
        const isApi = url.pathname.startsWith('/v2/');
        const outcome: Outcome = isApi ? decide(method) : { kind: 'handle' };
        if (outcome.kind === 'hang') return;

        const answer = (): Answer => {
          if (outcome.kind === 'fault') return outcome;
          if (!isApi) return { status: 404, body: apiError(404, 'Not found') };
          if (url.pathname !== '/v2/auth/token') {
            const denied = authenticate(req);
            if (denied) return denied;
          }
          if (!parsed.ok) return { status: 400, body: apiError(400, 'Malformed JSON body') };
          return handleApi(method, url.pathname, url.searchParams, parsed.value);
        };
        const respond = () => {
          const a = answer();
          record.status = a.status;
          record.endedAt = Date.now();
          sendJson(res, a.status, a.body, a.headers);
        };
        const latency = faults.latencyMs ?? opts.latencyMs ?? 0;
        if (latency <= 0) return respond();
        const timer = setTimeout(() => {
          timers.delete(timer);
          respond();
        }, latency);
        timers.add(timer);
      },
      () => res.destroy(),
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    issueToken,
    refreshToken,
    botEmail,
    get tokenRefreshes() {
      return tokenRefreshes;
    },
    addContact,
    getContact: (id) => {
      const c = contacts.get(id);
      return c === undefined ? undefined : structuredClone(c);
    },
    listContacts: () => [...contacts.values()].map((c) => structuredClone(c)),
    requests,
    clearRequests: () => {
      requests.length = 0;
    },
    reset,
    setFaults: (f) => {
      faults = { ...f };
    },
    failNext: (count, f) =>
      failNext(count, f.method === undefined ? f : { ...f, method: f.method.toUpperCase() }),
    hangNext: (count, f = {}) =>
      hangNext(count, f.method === undefined ? f : { method: f.method.toUpperCase() }),
    rateLimitFor,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const abort of webhooksInFlight) abort.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A 24-hex id like a Mongo ObjectId. */
function objectId(): string {
  return randomBytes(12).toString('hex');
}

function apiError(status: number, message: string) {
  return { error: { status, name: errorName(status), message } };
}

function errorName(status: number): string {
  if (status === 401) return 'UnauthorizedError';
  if (status === 404) return 'NotFoundError';
  if (status === 429) return 'TooManyRequestsError';
  if (status >= 500) return 'ServerError';
  return 'BadRequestError';
}

function base64url(input: Buffer | string): string {
  return Buffer.from(input).toString('base64url');
}

function signJwt(claims: Record<string, unknown>, key: Buffer): string {
  const head = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = base64url(JSON.stringify(claims));
  const signature = createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${signature}`;
}

type Verified = { ok: true; claims: Record<string, unknown> } | { ok: false; message: string };

/** The checks and messages of `jsonwebtoken.verify`, which the Web1on1 API answers with. */
function verifyJwt(token: string, key: Buffer): Verified {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, message: 'jwt malformed' };
  const [head = '', body = '', signature = ''] = parts;
  let claims: unknown;
  try {
    const header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as unknown;
    if (!isRecord(header) || header.alg !== 'HS256')
      return { ok: false, message: 'invalid algorithm' };
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, message: 'invalid token' };
  }
  if (!isRecord(claims)) return { ok: false, message: 'invalid token' };
  const expected = createHmac('sha256', key).update(`${head}.${body}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, message: 'invalid signature' };
  }
  if (typeof claims.exp === 'number' && claims.exp <= Date.now() / 1000) {
    return { ok: false, message: 'jwt expired' };
  }
  return { ok: true, claims };
}

function getPath(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}

/** Exact match of a stored value against a query value; `[a,b]` matches either, and arrays match any element. */
function matches(actual: unknown, expected: string): boolean {
  if (/^\[.*\]$/.test(expected)) {
    return expected
      .slice(1, -1)
      .split(',')
      .some((one) => matches(actual, one));
  }
  if (Array.isArray(actual)) return actual.some((item) => matches(item, expected));
  if (actual === null || actual === undefined) return false;
  if (typeof actual === 'object') return false;
  return String(actual) === expected;
}

function nonNegativeInt(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

function tryParseJson(raw: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch {
    return { ok: false };
  }
}

function parseJson(raw: string): unknown {
  const parsed = tryParseJson(raw);
  return parsed.ok ? parsed.value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pickFaults(body: Record<string, unknown>): Web1on1Faults {
  const picked: Web1on1Faults = {};
  for (const key of ['latencyMs', 'errorRate', 'errorStatus', 'hangRate'] as const) {
    const value = body[key];
    if (typeof value === 'number') picked[key] = value;
  }
  return picked;
}
