import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import jwt, { type JwtPayload } from 'jsonwebtoken';
import { z } from 'zod';
import {
  buildSandboxApp,
  controlBody,
  createFaults,
  type Failure,
  type Faults,
  httpError,
  listen,
  parseJson,
  registerControls,
} from './faults.ts';

const SandboxContact = z.looseObject({
  id: z.string(),
  organization: z.string(),
  conversation: z.string(),
  profile: z.looseObject({
    email: z.string().optional(),
    telephone: z.string().optional(),
    name: z.string().optional(),
  }),
  links: z.array(
    z.object({ label: z.string().optional(), url: z.string(), icon: z.string().optional() }),
  ),
});
/** A contact as the sandbox stores it; every field beyond the typed ones is kept and returned as-is. */
export type SandboxContact = z.infer<typeof SandboxContact>;

/** Body of `POST /_sandbox/contacts`. */
const NewContact = SandboxContact.partial().required({ organization: true });
/** Body of `POST /_sandbox/token`. */
const TokenOptions = z.object({
  /** @defaultValue 86_400; a negative value gives an already-expired token */
  expiresInSec: z.number().optional(),
  /** @defaultValue ['bot'] */
  scope: z.array(z.string()).optional(),
  /** @defaultValue the sandbox's `botEmail` */
  email: z.string().optional(),
});
type TokenOptions = z.infer<typeof TokenOptions>;
/** Body of `POST /v2/auth/token`, as chipchat sends it. */
const TokenRenewal = z.object({ clientId: z.string(), refreshToken: z.string() });

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

/**
 * Standing faults; they apply to every `/v2/*` request (token renewal included) until replaced.
 * `latencyMs` defaults to the `latencyMs` the sandbox was started with.
 */
export type Web1on1Faults = Faults;

export interface Web1on1SandboxOptions {
  /** @defaultValue 0 (a free port) */
  port?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** Delay before every `/v2/*` answer unless `setFaults` sets another. @defaultValue 0 */
  latencyMs?: number;
  /**
   * Where to POST signed `contact.create` / `contact.update` / `contact.delete` webhooks after a
   * contact was created, changed or deleted over HTTP (`POST`/`PATCH`/`DELETE /v2/contacts`,
   * `POST /_sandbox/contacts`), in Web1on1's documented envelope (see `startWeb1on1Sandbox`).
   * `addContact()` is seeding and sends none.
   */
  webhook?: { url: string; secret: string };
  /** Organization claim of issued tokens and default organization of created contacts. @defaultValue a random 24-hex id */
  organizationId?: string;
  /**
   * The status an expired token is answered with (body message `jwt expired`): Web1on1's API
   * documentation says `403`, while chipchat renews only on `401`. Other token problems (`invalid
   * signature`, a missing token) are `401` either way. @defaultValue 401
   */
  tokenExpiredStatus?: 401 | 403;
  /**
   * The most contacts one list answer holds, whatever its `limit` asks for. When more match than an
   * answer holds (by `limit` or by this), it carries `Link: <url>; rel="next"` to the next page, as
   * the API does. @defaultValue no cap: `limit` alone decides
   */
  pageSize?: number;
}

export interface Web1on1Sandbox {
  /** `http://127.0.0.1:<port>`: give it to chipchat as `host`. */
  url: string;
  /**
   * An HS256 JWT signed by the sandbox, carrying the claims chipchat decodes (`_id`, `organization`,
   * `scope`). Scope defaults to `['bot']`, so chipchat allows token renewal with it.
   * @defaultValue expiresInSec 86_400; a negative value gives an already-expired token
   */
  issueToken(opts?: TokenOptions): string;
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
  failNext(count: number, f: Failure): void;
  /**
   * Never answers the next `count` requests (with `method`, when given) until `close()`. With
   * `afterApply`, each is applied first (a PATCH or create is stored and its webhook sent; a request
   * the API refuses is answered with its error as usual) and only the answer is held: a client that
   * gives up or dies then has changed the contact without knowing it.
   */
  hangNext(count: number, f?: { method?: string; afterApply?: boolean }): void;
  /** For `ms` from now, every `/v2/*` request answers 429 with `Retry-After: retryAfterSec`. */
  rateLimitFor(ms: number, retryAfterSec: number): void;
  /** Stops listening and destroys every socket, hanging ones included; aborts webhooks in flight. */
  close(): Promise<void>;
}

/** What varies between two Web1on1 webhook events; {@link web1on1Envelope} builds the rest. */
export interface Web1on1EnvelopeParts {
  /** The event's id (a UUID). */
  id: string;
  /** `<resource>.<create|update|delete>`; the action gives the activity's type. */
  event: string;
  at: Date;
  organization: string;
  /** `<API url>/v2`: the base of the actor's and the object's URLs. */
  apiBase: string;
  /** The Web1on1 user who did it. */
  actorId: string;
  /** The API URL of the resource the event is about. */
  object: string;
  /** The activity's summary is `<who> <verb>d <what>`, e.g. `Bot updated contact Jane`. */
  who: string;
  what: string;
  /** The resource (`contact`, `user`) and `links`, the API URLs involved keyed by resource name. */
  data: Record<string, unknown>;
}

/** The Activity Streams type of each action. */
const ACTIVITY_TYPES: Record<string, string> = {
  create: 'Create',
  update: 'Update',
  delete: 'Delete',
};

/**
 * A webhook event in Web1on1's documented envelope: `id`, `event`, `timestamp` (ISO-8601),
 * `organization`, `activity` (Activity Streams: `@context`, `type`, `actor`, `object`, `published`,
 * `summary`) and `data`. The sandbox's webhooks and `webhook:send` both build theirs here.
 */
export function web1on1Envelope(parts: Web1on1EnvelopeParts) {
  const type = ACTIVITY_TYPES[parts.event.split('.')[1] ?? ''] ?? 'Update';
  const timestamp = parts.at.toISOString();
  return {
    id: parts.id,
    event: parts.event,
    timestamp,
    organization: parts.organization,
    activity: {
      '@context': 'https://www.w3.org/ns/activitystreams',
      type,
      actor: { id: `${parts.apiBase}/users/${parts.actorId}`, type: 'Person' },
      object: { id: parts.object, type: 'Object' },
      published: timestamp,
      summary: `${parts.who} ${type.toLowerCase()}d ${parts.what}`,
    },
    data: parts.data,
  };
}

/** `sha1=<hex HMAC-SHA1 of rawBody keyed with secret>`: the `X-Hub-Signature` Web1on1 (and chipchat) compute. */
export function signHubSignature(rawBody: string, secret: string): string {
  return `sha1=${createHmac('sha1', secret).update(rawBody, 'utf8').digest('hex')}`;
}

// Query parameters the Web1on1 API treats as paging/projection options rather than filters.
const RESERVED_QUERY = new Set(['limit', 'offset', 'sort', 'select', 'populate']);
const DEFAULT_TOKEN_TTL_SEC = 86_400;
const REFRESH_TOKEN_TTL_SEC = 365 * 86_400;

/**
 * Starts a stand-in for the Web1on1 REST API as chipchat 0.7.4 calls it and Web1on1 documents it:
 * bearer JWT auth (HS256, `jwt expired` when expired, answered 401 or, with `tokenExpiredStatus`,
 * 403), token renewal at `POST /v2/auth/token`, and `/v2/contacts` list (exact dot-path filters,
 * `limit` and `offset`, `x-total-count`, and `Link: <…>; rel="next"` while more match than the
 * answer holds), get, create, PATCH (top-level merge; nested objects and arrays are replaced) and
 * DELETE. Errors use the API's shape `{ error: { status, name, message } }`, whose `message`
 * chipchat copies onto the error it throws. Webhooks go out in the documented envelope: `id` (a
 * UUID), `event`, `timestamp` (ISO-8601), `organization`, `activity` (Activity Streams: `@context`,
 * `type`, `actor`, `object`, `published`, `summary`) and `data` with the `contact` and `links`, the
 * API URLs of the resources involved keyed by resource name. Other processes and humans reach the
 * controls over HTTP:
 * - `GET /_sandbox/contacts`, `POST /_sandbox/contacts` (body: a contact with `organization`);
 * - `GET /_sandbox/requests` (every recorded request; `?from=<n>`: those from index `n` on), with
 *   `x-total-count` = how many are recorded;
 * - `POST /_sandbox/faults` with `Web1on1Faults` (without `random`), or
 *   `{ failNext: { count, status, retryAfterSec?, method?, body? } }`,
 *   `{ hangNext: { count, method?, afterApply? } }`, `{ rateLimitFor: { ms, retryAfterSec } }`;
 * - `POST /_sandbox/token` (body: optional `{ expiresInSec, scope, email }`) →
 *   `{ token, refreshToken, email }`;
 * - `POST /_sandbox/reset`.
 */
export async function startWeb1on1Sandbox(
  opts: Web1on1SandboxOptions = {},
): Promise<Web1on1Sandbox> {
  const organizationId = opts.organizationId ?? objectId();
  const signingKey = randomBytes(32);
  const botUserId = objectId();
  const botEmail = `bot+${botUserId}@web1on1.chat`;
  const contacts = new Map<string, SandboxContact>();
  const requests: RecordedRequest[] = [];
  const recorded = new WeakMap<FastifyRequest, RecordedRequest>();
  const faults = createFaults({ errorBody: apiError, latencyMs: opts.latencyMs });
  const tokenExpiredStatus = opts.tokenExpiredStatus ?? 401;
  let tokenRefreshes = 0;
  const webhooksInFlight = new Set<AbortController>();
  /** `<url>/v2`, known once it listens: the base of `data.links`, `activity` and `Link` URLs. */
  let apiBase = '';

  const now = () => Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>) =>
    jwt.sign(claims, signingKey, { algorithm: 'HS256' });

  /** jsonwebtoken's messages (`jwt expired`, `invalid signature`, …), which chipchat renews on. */
  function verify(token: string): { claims?: JwtPayload; error?: string } {
    try {
      const claims = jwt.verify(token, signingKey, { algorithms: ['HS256'] });
      return typeof claims === 'string' ? { error: 'invalid token' } : { claims };
    } catch (error) {
      return { error: error instanceof Error ? error.message : 'invalid token' };
    }
  }

  function issueToken(o: TokenOptions = {}): string {
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

  function reset(): void {
    contacts.clear();
    requests.length = 0;
    faults.clear();
    tokenRefreshes = 0;
  }

  /** The event in Web1on1's documented envelope, done by the bot user the tokens stand for. */
  function envelopeOf(event: ContactEvent, contact: SandboxContact) {
    const contactUrl = `${apiBase}/contacts/${contact.id}`;
    return web1on1Envelope({
      id: randomUUID(),
      event,
      at: new Date(),
      organization: contact.organization,
      apiBase,
      actorId: botUserId,
      object: contactUrl,
      who: 'Bot',
      what: `contact ${contact.profile.name ?? contact.id}`,
      data: {
        contact,
        links: {
          organization: `${apiBase}/organizations/${contact.organization}`,
          contact: contactUrl,
          conversation: `${apiBase}/conversations/${contact.conversation}`,
        },
      },
    });
  }

  function sendWebhook(event: ContactEvent, contact: SandboxContact): void {
    const target = opts.webhook;
    if (!target) return;
    const raw = JSON.stringify(envelopeOf(event, contact));
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

  /**
   * Every request outside `/_sandbox/` passes here before its route: it is recorded, then faults,
   * latency, bearer auth and the JSON body check apply, in the API's order. Routes get the parsed body.
   */
  async function intercept(request: FastifyRequest, reply: FastifyReply) {
    const url = new URL(request.url, 'http://sandbox');
    const raw = typeof request.body === 'string' && request.body !== '' ? request.body : undefined;
    const parsed = raw === undefined ? { ok: true, value: undefined } : parseJson(raw);
    const record: RecordedRequest = {
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: parsed.ok ? parsed.value : raw,
      status: 0,
      startedAt: Date.now(),
      endedAt: 0,
    };
    requests.push(record);
    recorded.set(request, record);
    reply.raw.once('close', () => {
      if (record.endedAt === 0) record.endedAt = Date.now();
    });
    const isApi = url.pathname.startsWith('/v2/');
    if (!(await faults.intercept(reply, isApi ? request.method : undefined))) return reply;
    if (!isApi) return; // the 404 handler answers
    if (url.pathname !== '/v2/auth/token') {
      const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
      if (!bearer) throw httpError(401, 'No authorization token was found');
      const { claims, error } = verify(bearer);
      if (error) throw httpError(error === 'jwt expired' ? tokenExpiredStatus : 401, error);
      if (claims?.grant_type === 'refresh_token') throw httpError(401, 'invalid token');
    }
    if (!parsed.ok) throw httpError(400, 'Malformed JSON body');
    request.body = parsed.value;
  }

  async function renewToken(request: FastifyRequest) {
    const body = TokenRenewal.safeParse(request.body);
    if (!body.success) throw httpError(400, 'clientId and refreshToken are required');
    const { claims } = verify(body.data.refreshToken);
    // The message deliberately does not match chipchat's /jwt expired|invalid signature|invalid token/,
    // which would make chipchat try to renew the renewal.
    if (claims?.grant_type !== 'refresh_token') throw httpError(401, 'Refresh token rejected');
    if (claims.email !== body.data.clientId) {
      throw httpError(401, 'Refresh token does not belong to this client');
    }
    tokenRefreshes += 1;
    return { token: issueToken(), refreshToken };
  }

  function listContacts(request: FastifyRequest, reply: FastifyReply) {
    // Every filter pair counts, a repeated key too, so the raw query rather than Fastify's object.
    const query = new URL(request.url, 'http://sandbox').searchParams;
    const filters = [...query].filter(([key]) => !RESERVED_QUERY.has(key));
    const matching = [...contacts.values()].filter((c) =>
      filters.every(([path, expected]) => matches(getPath(c, path), expected)),
    );
    const offset = nonNegativeInt(query.get('offset')) ?? 0;
    // `limit=0` asks for nothing in particular, like no limit.
    const limit = nonNegativeInt(query.get('limit')) || undefined;
    const size = Math.min(
      limit ?? Number.POSITIVE_INFINITY,
      opts.pageSize ?? Number.POSITIVE_INFINITY,
    );
    const page = Number.isFinite(size)
      ? matching.slice(offset, offset + size)
      : matching.slice(offset);
    reply.header('x-total-count', String(matching.length));
    if (offset + page.length < matching.length && page.length > 0) {
      const next = new URLSearchParams(query);
      next.set('offset', String(offset + page.length));
      next.set('limit', String(limit ?? size));
      reply.header('link', `<${apiBase}/contacts?${next}>; rel="next"`);
    }
    return page;
  }

  function createContact(request: FastifyRequest, reply: FastifyReply) {
    if (!isRecord(request.body)) throw httpError(400, 'Body must be an object');
    const { id: _ignored, ...fields } = request.body;
    const organization =
      typeof fields.organization === 'string' ? fields.organization : organizationId;
    const created = addContact({ ...(fields as Partial<SandboxContact>), organization });
    sendWebhook('contact.create', created);
    reply.code(201);
    return created;
  }

  function storedContact(request: FastifyRequest): SandboxContact {
    const stored = contacts.get((request.params as { id: string }).id);
    if (!stored) throw httpError(404, 'Contact not found');
    return stored;
  }

  function patchContact(request: FastifyRequest) {
    if (!isRecord(request.body)) throw httpError(400, 'Body must be an object');
    const stored = storedContact(request);
    // Top-level merge only: a nested object or array in the body replaces the stored one whole,
    // as the real API does (so adding a link means sending the full `links` array).
    const { id: _ignored, ...fields } = request.body;
    Object.assign(stored, structuredClone(fields), { updatedAt: new Date().toISOString() });
    sendWebhook('contact.update', structuredClone(stored));
    return stored;
  }

  /** Deletes the contact; its `contact.delete` webhook carries it as it was. */
  function deleteContact(request: FastifyRequest) {
    const stored = storedContact(request);
    contacts.delete(stored.id);
    sendWebhook('contact.delete', structuredClone(stored));
    return stored;
  }

  // The API's paths and their methods; any other method on one of these paths is a 405, not a 404.
  const routes: Record<string, Record<string, RouteHandlerMethod>> = {
    '/v2/auth/token': { POST: renewToken },
    '/v2/contacts': { GET: listContacts, POST: createContact },
    '/v2/contacts/:id': { GET: storedContact, PATCH: patchContact, DELETE: deleteContact },
  };

  function apiRoutes(api: FastifyInstance) {
    api.addHook('preHandler', intercept);
    api.addHook('onSend', async (request, reply) => {
      const record = recorded.get(request);
      if (record) Object.assign(record, { status: reply.statusCode, endedAt: Date.now() });
    });
    for (const [url, handlers] of Object.entries(routes)) {
      for (const [method, handler] of Object.entries(handlers)) {
        api.route({
          method,
          url,
          async handler(request, reply) {
            const answer = await handler.call(this, request, reply);
            // hangNext({ afterApply }): the change is stored; its answer never leaves.
            if (!faults.heldAfterApply(reply)) return answer;
            reply.hijack();
            return reply;
          },
        });
      }
      api.route({
        url,
        method: api.supportedMethods.filter((m) => !(m in handlers)),
        handler: () => {
          throw httpError(405, 'Method not allowed');
        },
      });
    }
    api.setNotFoundHandler(() => {
      throw httpError(404, 'Not found');
    });
  }

  function controlRoutes(control: FastifyInstance) {
    control.get('/contacts', () => [...contacts.values()]);
    control.post('/contacts', (request, reply) => {
      const created = addContact(controlBody(NewContact, request.body));
      sendWebhook('contact.create', created);
      reply.code(201);
      return created;
    });
    control.get('/requests', (request, reply) => {
      const from = new URL(request.url, 'http://sandbox').searchParams.get('from');
      reply.header('x-total-count', String(requests.length));
      return requests.slice(nonNegativeInt(from) ?? 0);
    });
    control.post('/reset', () => {
      reset();
      return { reset: true };
    });
    control.post('/token', (request) => ({
      token: issueToken(controlBody(TokenOptions, request.body)),
      refreshToken,
      email: botEmail,
    }));
  }

  const app = buildSandboxApp(apiError);
  await registerControls(app, faults, controlRoutes);
  // Its own scope, so the recording hooks and the 404 handler leave the controls alone.
  await app.register(async (api) => apiRoutes(api));
  const url = await listen(app, opts.host ?? '127.0.0.1', opts.port ?? 0);
  apiBase = `${url}/v2`;

  return {
    url,
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
    setFaults: faults.set,
    failNext: faults.failNext,
    hangNext: faults.hangNext,
    rateLimitFor: faults.rateLimitFor,
    close: async () => {
      faults.close();
      for (const abort of webhooksInFlight) abort.abort();
      await app.close();
    },
  };
}

type ContactEvent = 'contact.create' | 'contact.update' | 'contact.delete';

/** A 24-hex id like a Mongo ObjectId. */
function objectId(): string {
  return randomBytes(12).toString('hex');
}

function apiError(status: number, message: string) {
  return { error: { status, name: errorName(status), message } };
}

function errorName(status: number): string {
  if (status === 401) return 'UnauthorizedError';
  if (status === 403) return 'ForbiddenError';
  if (status === 404) return 'NotFoundError';
  if (status === 429) return 'TooManyRequestsError';
  if (status >= 500) return 'ServerError';
  return 'BadRequestError';
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
