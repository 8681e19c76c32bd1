import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';

/**
 * The one place chipchat is constructed. chipchat ships no types, so the slice of it (and of the
 * got 11 instance it carries as `fetch`) that this package touches is typed here by hand, from
 * `chipchat/lib/client.js` and `got/dist/source`. Internal: not exported from the package.
 */

/** Normalised got options as hooks see them (the same object for one HTTP request). */
export interface GotOptions {
  method: string;
  url: URL;
  headers: Record<string, string | string[] | undefined>;
}

export interface GotResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  request: { options: GotOptions };
}

/** got's `RequestError` family; `response` and `options` are non-enumerable there. */
export interface GotError extends Error {
  code?: string;
  options?: GotOptions;
  response?: GotResponse;
}

export interface GotHooks {
  beforeRequest: Array<(options: GotOptions) => Promise<void>>;
  afterResponse: Array<(response: GotResponse) => GotResponse>;
  beforeError: Array<(error: GotError) => GotError>;
}

interface GotInstance {
  (options: Record<string, unknown>): Promise<GotResponse>;
  defaults: { options: unknown };
  mergeOptions(...sources: unknown[]): unknown;
}

export interface ChipChatInstance {
  /** Decoded token claims plus `token`; chipchat's `beforeRequest` reads `auth.token` for every request. */
  auth: { token?: string; refreshToken?: string };
  /** chipchat's got instance (`client.js:77-184`), created with `mutableDefaults: true`. */
  fetch: GotInstance;
  contacts: {
    list(query: Record<string, unknown>): Promise<unknown>;
    get(id: string): Promise<unknown>;
    update(id: string, body: Record<string, unknown>): Promise<unknown>;
  };
}

type ChipChatConstructor = new (opts: {
  host: string;
  token: string;
  fetchExtensions: GotHooks;
}) => ChipChatInstance;

export interface ChipChatSetup {
  host: string;
  token: string;
  timeoutMs: number;
  hooks: GotHooks;
}

/**
 * A chipchat instance whose got defaults are fixed once after construction (they are mutable,
 * `client.js:179`):
 * - `retry.limit: 0`: got 11 would otherwise retry GETs twice on 408/413/429/5xx and network errors,
 *   honouring Retry-After, which hides 429s from the rate limiter and makes a failing GET take
 *   seconds; BullMQ alone decides about retries;
 * - `timeout.request`: chipchat sets none, so a hanging API would hold a worker slot forever;
 * - keep-alive agents, so a busy worker reuses connections instead of a TLS handshake per request.
 * Our hooks go in through chipchat's `fetchExtensions` (`client.js:242`): chipchat appends its own
 * `beforeRequest` (which sets `Authorization`) before ours and puts its `afterResponse` and
 * `beforeError` after ours. No `refreshToken` is passed, which switches chipchat's own renewal off
 * (`client.js:120`); the client renews itself (see `client.ts`).
 */
export function createChipChat(setup: ChipChatSetup): ChipChatInstance {
  const ChipChat = createRequire(import.meta.url)('chipchat') as ChipChatConstructor;
  const chip = new ChipChat({ host: setup.host, token: setup.token, fetchExtensions: setup.hooks });
  if (!chip.auth.token) {
    // chipchat only keeps a token it could decode as a JWT, and then fails every request with
    // "token should be specified" (`client.js:114`); say so once, at start-up, instead.
    throw new TypeError('The Web1on1 token is not a JWT, so chipchat cannot use it');
  }
  chip.fetch.defaults.options = chip.fetch.mergeOptions(chip.fetch.defaults.options, {
    retry: { limit: 0 },
    timeout: { request: setup.timeoutMs },
    agent: {
      http: new HttpAgent({ keepAlive: true }),
      https: new HttpsAgent({ keepAlive: true }),
    },
  });
  return chip;
}
