import { setTimeout as sleep } from 'node:timers/promises';
import {
  PermanentError,
  RateLimitedError,
  TransientError,
  Web1on1Contact,
  type Web1on1Link,
} from '@contact-linker/contracts';
import { z } from 'zod';
import { outsideBudgetShare, type Web1on1Budget } from './budget.ts';
import { createChipChat, type GotError, type GotHooks, type GotOptions } from './chipchat.ts';
import { isRejectedToken, toClientError } from './errors.ts';

/** What one HTTP request to the Web1on1 API was for. */
export type Web1on1Operation = 'list' | 'get' | 'update' | 'token';

/** Reported after every HTTP request the client sent, token renewals included. */
export interface Web1on1RequestEvent {
  operation: Web1on1Operation;
  /** HTTP status, or `'error'` when no answer came (timeout, connection error). */
  status: number | 'error';
  durationMs: number;
}

export interface Web1on1Tokens {
  token: string;
  refreshToken?: string;
}

/** Where the current access token lives; share one between processes so one renewal serves all. */
export interface Web1on1TokenStore {
  get(): Promise<Web1on1Tokens | undefined>;
  set(tokens: Web1on1Tokens): Promise<void>;
  /**
   * Takes the renewal lock shared by every user of the store for at most `ttlMs`; resolves to its
   * release function, or `undefined` when someone else holds it (then wait for `get()` to change).
   * Without it, each client renews on its own.
   */
  lock?(ttlMs: number): Promise<(() => Promise<void>) | undefined>;
}

export interface Web1on1ClientOptions {
  /** Web1on1 REST API base URL, given to chipchat as `host`, e.g. `https://api.web1on1.chat`. */
  host: string;
  /** Bot access token (a JWT: chipchat decodes it). */
  token: string;
  /** With `email`, lets the client renew an expired token at `POST /v2/auth/token`. */
  refreshToken?: string;
  /** The bot's email, sent as `clientId` when renewing. */
  email?: string;
  /**
   * Limit for one HTTP request, from sending it to the whole answer; then it fails as `TransientError`.
   * @defaultValue 10_000
   */
  timeoutMs?: number;
  /**
   * The gate every HTTP request passes (token renewals included): `acquire` is awaited after
   * chipchat prepared the request and before its timeout starts, and when it throws, nothing is sent
   * and the call rejects with that error (converted by `toClientError` unless it already is a
   * `PermanentError`, `RateLimitedError` or `TransientError`). A 429 answer calls `pause` with its
   * `Retry-After` before the call rejects, so no process sends anything until it has passed.
   * @defaultValue no gate
   */
  budget?: Pick<Web1on1Budget, 'acquire' | 'pause'>;
  /** Called after every HTTP request with its outcome, for metrics. Exceptions from it are ignored. */
  onRequest?: (e: Web1on1RequestEvent) => void;
  /**
   * Current tokens, read when the API rejects the token (another process may have renewed it
   * already) and written after a renewal.
   * @defaultValue an in-memory store seeded with `token` and `refreshToken`
   */
  tokenStore?: Web1on1TokenStore;
}

/** What `findContacts` found, from one request. */
export interface FoundContacts {
  /** The matching contacts of the one page asked for: at most {@link FIND_CONTACTS_LIMIT}. */
  contacts: Web1on1Contact[];
  /**
   * More than one contact matches: two came back, or one did and the API says there are more (a
   * `Link: <…>; rel="next"` header, or an `x-total-count` above what came back), as when it pages
   * below the limit asked for.
   */
  several: boolean;
}

export interface Web1on1Client {
  /**
   * Contacts of `organization` whose `profile.email` (or `profile.telephone`) equals the given value
   * exactly; with both, both must match. One request for at most {@link FIND_CONTACTS_LIMIT}, enough
   * to tell none, one and several apart; a next page is never fetched.
   */
  findContacts(q: {
    organization: string;
    email?: string;
    telephone?: string;
  }): Promise<FoundContacts>;
  getContact(id: string): Promise<Web1on1Contact>;
  /**
   * Read-modify-write: GET the contact (or take `current`, when the caller knows it is up to date);
   * when a link with the same `url` exists → `{ status: 'already_linked', contact }`, else PATCH
   * `{ links: [...existing, link] }` → `{ status: 'linked', contact: updatedContact }`. The API
   * replaces arrays on PATCH, so two concurrent calls for one contact can lose a link: callers
   * serialise per contact.
   */
  addLink(
    contactId: string,
    link: { label: string; url: string; icon?: string },
    current?: Web1on1Contact,
  ): Promise<{ status: 'linked' | 'already_linked'; contact: Web1on1Contact }>;
}

/**
 * Page size `findContacts` asks for: two tell none, one and several apart, and a lookup never needs
 * more (several matches are `ambiguous`, whichever they are).
 */
export const FIND_CONTACTS_LIMIT = 2;

const DEFAULT_TIMEOUT_MS = 10_000;
// Longer than one token request can take (its own 10 s timeout), so a live holder never loses it.
const RENEWAL_LOCK_MS = 15_000;
const RENEWAL_POLL_MS = 100;
// A renewed token that is rejected again (say the store held a stale one) gets one more renewal.
const MAX_RENEWALS_PER_CALL = 2;

const TokenAnswer = z.object({
  token: z.string().min(1),
  refreshToken: z.string().min(1).optional(),
});
const ContactList = z.array(Web1on1Contact);
/** A list answer: its contacts, and what its headers say of further matches (unreadable: nothing). */
const ContactPage = z.object({
  contacts: ContactList,
  link: z.string().optional().catch(undefined),
  total: z.coerce.number().int().nonnegative().optional().catch(undefined),
});

/**
 * The Web1on1 REST client: a thin wrapper over chipchat 0.7.4 that
 * - sends every request through chipchat with got's hidden retries off and a per-request timeout
 *   (see `createChipChat`), so a failure reaches the caller at once as a retry class;
 * - awaits the budget and reports `onRequest` for every HTTP request through got hooks, so the
 *   requests chipchat makes on its own and token renewals are covered too;
 * - asks the list endpoint for one page through chipchat's got instance rather than its
 *   `contacts.list`: the same request (chipchat's query format, hooks, token), plus the answer's
 *   headers, which `contacts.list` drops (it keeps only `x-*` ones) and which say whether more
 *   contacts match than came back. chipchat's `list` follows `Link: rel="next"` when a `pagination`
 *   option is set (got's `paginate.all`, `client.js:328-377`); nothing here sets one, and this path
 *   cannot page at all;
 * - validates every answer with the contracts' zod schemas. A malformed answer (not an array for a
 *   list, a contact without `id`, a 2xx body that is not JSON) is a `TransientError`: it is far more
 *   often a proxy or a half-finished deploy than a permanent API change, and when it is permanent the
 *   job still ends in the dead-letter queue once its attempts run out;
 * - renews an expired token itself instead of leaving it to chipchat: chipchat's renewal
 *   (`client.js:119-169`) starts one renewal per failing request (no single flight), reports a
 *   failed renewal as the original `401 jwt expired` even when the token endpoint was merely down
 *   (so a short auth outage would dead-letter jobs), and its shared-store path never retries with
 *   the stored token because it assigns the token before comparing (`client.js:138-141`).
 */
export function createWeb1on1Client(opts: Web1on1ClientOptions): Web1on1Client {
  let refreshToken = opts.refreshToken;
  let memory: Web1on1Tokens = {
    token: opts.token,
    ...(opts.refreshToken === undefined ? {} : { refreshToken: opts.refreshToken }),
  };
  const store: Web1on1TokenStore = opts.tokenStore ?? {
    get: async () => memory,
    set: async (tokens) => {
      memory = tokens;
    },
  };
  const { hooks, originalErrorOf } = createRequestHooks(opts);
  const chip = createChipChat({
    host: opts.host,
    token: opts.token,
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    hooks,
  });
  let renewal: Promise<void> | undefined;

  function useTokens(tokens: Web1on1Tokens): void {
    chip.auth.token = tokens.token;
    if (tokens.refreshToken !== undefined) refreshToken = tokens.refreshToken;
  }

  /** One renewal at a time per client; calls that fail meanwhile wait for it instead of starting another. */
  function renew(rejectedToken: string | undefined, rejection: unknown): Promise<void> {
    if (chip.auth.token !== rejectedToken) return Promise.resolve(); // renewed since that request left
    // The renewal serves every share. In the share of the call that met the expired token it would
    // queue behind that organization's other requests, each first sent with the expired token.
    renewal ??= outsideBudgetShare(() => renewOnce(rejectedToken, rejection)).finally(() => {
      renewal = undefined;
    });
    return renewal;
  }

  async function renewOnce(rejectedToken: string | undefined, rejection: unknown): Promise<void> {
    const stored = await store.get();
    if (stored?.token && stored.token !== rejectedToken) {
      useTokens(stored);
      return;
    }
    if (!store.lock) return renewNow(rejection);
    const release = await store.lock(RENEWAL_LOCK_MS);
    if (!release) return awaitRenewalElsewhere(rejectedToken);
    try {
      // The holder before us may have finished between our read and our lock.
      const latest = await store.get();
      if (latest?.token && latest.token !== rejectedToken) return useTokens(latest);
      await renewNow(rejection);
    } finally {
      await release().catch(() => {});
    }
  }

  /** Another process holds the renewal lock: take its token when it lands in the store. */
  async function awaitRenewalElsewhere(rejectedToken: string | undefined): Promise<void> {
    const deadline = performance.now() + RENEWAL_LOCK_MS;
    while (performance.now() < deadline) {
      await sleep(RENEWAL_POLL_MS);
      const stored = await store.get();
      if (stored?.token && stored.token !== rejectedToken) return useTokens(stored);
    }
    throw new TransientError('Web1on1 token renewal by another process did not finish in time');
  }

  async function renewNow(rejection: unknown): Promise<void> {
    const sentRefreshToken = refreshToken;
    if (sentRefreshToken === undefined || opts.email === undefined) throw toClientError(rejection);
    let answer: unknown;
    try {
      const response = await chip.fetch({
        method: 'POST',
        prefixUrl: opts.host,
        url: 'v2/auth/token',
        json: { clientId: opts.email, refreshToken: sentRefreshToken },
        responseType: 'json',
      });
      answer = response.body;
    } catch (error) {
      throw clientErrorOf(error);
    }
    const parsed = TokenAnswer.safeParse(answer);
    if (!parsed.success) {
      throw new TransientError('Web1on1 token renewal answered without a token', {
        cause: parsed.error,
      });
    }
    // The API may or may not rotate the refresh token; keep the one we have when it sends none.
    const tokens: Web1on1Tokens = {
      token: parsed.data.token,
      refreshToken: parsed.data.refreshToken ?? sentRefreshToken,
    };
    useTokens(tokens);
    await store.set(tokens);
  }

  function clientErrorOf(error: unknown) {
    return toClientError(originalErrorOf(error) ?? error);
  }

  /** One chipchat call: renews and repeats it when the token is rejected, validates the answer. */
  async function call<T>(
    what: string,
    send: () => Promise<unknown>,
    schema: z.ZodType<T>,
  ): Promise<T> {
    let answer: unknown;
    for (let renewals = 0; ; renewals += 1) {
      const sentWith = chip.auth.token;
      try {
        answer = await send();
        break;
      } catch (error) {
        if (renewals >= MAX_RENEWALS_PER_CALL || !isRejectedToken(error)) {
          const clientError = clientErrorOf(error);
          if (clientError instanceof RateLimitedError && clientError.status === 429) {
            await opts.budget?.pause(clientError.retryAfterMs);
          }
          throw clientError;
        }
        // A token store that fails (Redis down) is as transient as the API being down.
        await renew(sentWith, error).catch((renewError: unknown) => {
          throw toClientError(renewError);
        });
      }
    }
    const parsed = schema.safeParse(answer);
    if (!parsed.success) {
      throw new TransientError(`Web1on1 ${what} answered with an unexpected shape`, {
        cause: parsed.error,
      });
    }
    return parsed.data;
  }

  const getContact = (id: string) =>
    call('GET /v2/contacts/:id', () => chip.contacts.get(id), Web1on1Contact);

  return {
    async findContacts({ organization, email, telephone }) {
      if (email === undefined && telephone === undefined) {
        throw new PermanentError('findContacts needs an email or a telephone');
      }
      const query: Array<[string, string]> = [
        ['organization', organization],
        ['limit', String(FIND_CONTACTS_LIMIT)],
      ];
      if (email !== undefined) query.push(['profile.email', email]);
      if (telephone !== undefined) query.push(['profile.telephone', telephone]);
      // Built as chipchat's `contacts.list` builds it (`buildQs`): names as they are, values through
      // encodeURIComponent (so an E.164 "+" arrives as "+").
      const search = query.map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('&');
      const page = await call(
        'GET /v2/contacts',
        async () => {
          const response = await chip.fetch({
            method: 'GET',
            prefixUrl: opts.host,
            url: `v2/contacts?${search}`,
            responseType: 'json',
          });
          const { link, 'x-total-count': total } = response.headers;
          return { contacts: response.body, link, total };
        },
        ContactPage,
      );
      const { contacts } = page;
      const more =
        hasNextPage(page.link) || (page.total !== undefined && page.total > contacts.length);
      return { contacts, several: contacts.length > 1 || (contacts.length === 1 && more) };
    },

    getContact,

    async addLink(contactId, link, current) {
      const contact = current ?? (await getContact(contactId));
      const existing: Web1on1Link[] = contact.links ?? [];
      if (existing.some((l) => l.url === link.url)) return { status: 'already_linked', contact };
      const added: Web1on1Link = { label: link.label, url: link.url };
      if (link.icon !== undefined) added.icon = link.icon;
      const updated = await call(
        'PATCH /v2/contacts/:id',
        () => chip.contacts.update(contactId, { links: [...existing, added] }),
        Web1on1Contact,
      );
      return { status: 'linked', contact: updated };
    },
  };
}

/**
 * got hooks for the budget and `onRequest`. One got options object stands for one HTTP request
 * (retries would get a fresh one, and there are none), so timings are keyed by it. A request is
 * reported once: from `afterResponse` when an answer came, else from `beforeError` (timeouts,
 * connection errors, a 2xx whose body is not JSON, which skips `afterResponse`).
 */
function createRequestHooks(opts: Pick<Web1on1ClientOptions, 'budget' | 'onRequest'>): {
  hooks: GotHooks;
  originalErrorOf(error: unknown): unknown;
} {
  const startedAt = new WeakMap<GotOptions, number>();
  const reported = new WeakSet<GotOptions>();
  // got wraps an error thrown by a beforeRequest hook in a RequestError that keeps only its message
  // and code, and skips beforeError hooks; keep the original to hand it back.
  const hookErrors = new WeakMap<GotOptions, unknown>();

  function report(options: GotOptions | undefined, status: number | 'error'): void {
    if (!options || reported.has(options)) return;
    const started = startedAt.get(options);
    if (started === undefined) return;
    reported.add(options);
    try {
      opts.onRequest?.({
        operation: operationOf(options),
        status,
        durationMs: performance.now() - started,
      });
    } catch {
      // Metrics must never change the outcome of a request.
    }
  }

  return {
    hooks: {
      beforeRequest: [
        async (options) => {
          if (opts.budget) {
            try {
              await opts.budget.acquire();
            } catch (error) {
              hookErrors.set(options, error);
              throw error;
            }
          }
          startedAt.set(options, performance.now());
        },
      ],
      afterResponse: [
        (response) => {
          report(response.request.options, response.statusCode);
          return response;
        },
      ],
      beforeError: [
        (error: GotError) => {
          report(error.options, error.response?.statusCode ?? 'error');
          return error;
        },
      ],
    },
    originalErrorOf(error) {
      const options = (error as { options?: unknown } | null)?.options;
      return typeof options === 'object' && options !== null
        ? hookErrors.get(options as GotOptions)
        : undefined;
    },
  };
}

/** Whether a `Link` header (RFC 8288) names a `rel="next"` page. */
export function hasNextPage(link: string | undefined): boolean {
  if (!link) return false;
  for (const [, params = ''] of link.matchAll(/<[^>]*>([^<]*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
    const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (relations.includes('next')) return true;
  }
  return false;
}

function operationOf(options: GotOptions): Web1on1Operation {
  const path = options.url.pathname;
  if (path.endsWith('/v2/auth/token')) return 'token';
  if (options.method === 'GET') return /\/v2\/[^/]+\/[^/]+$/.test(path) ? 'get' : 'list';
  return 'update';
}
