import {
  type ClientError,
  errorForStatus,
  PermanentError,
  RateLimitedError,
  TransientError,
} from '@contact-linker/contracts';

interface ResponseLike {
  statusCode: number;
  headers?: Record<string, unknown>;
  body?: unknown;
  request?: { options?: unknown };
}

/**
 * Converts whatever a chipchat call rejected with into the retry classes, at this one boundary:
 * - got's `HTTPError` (chipchat copies the API's `error.message` onto it) → `errorForStatus`: 429 is
 *   `RateLimitedError` with `Retry-After` (seconds or HTTP date), 408 and 5xx `TransientError`, other
 *   4xx `PermanentError`;
 * - the bare got response chipchat rejects with when a 2xx body carries `error` (`client.js:386-390`),
 *   and a 2xx whose body is not JSON (`ParseError`) → `TransientError`, like any answer that may be
 *   a broken proxy and may well be fine on the next try;
 * - timeouts, connection errors (`ECONNREFUSED`, `ECONNRESET`, …) and anything else without an HTTP
 *   status → `TransientError`.
 * A `ClientError` passes through unchanged. The original is kept as `cause`. The message names the
 * method, the path (never the query, which carries emails and phone numbers) and the API's own message
 * with emails, phone numbers and tokens masked; the `cause` is not masked, so do not log it whole.
 */
export function toClientError(error: unknown): ClientError {
  if (
    error instanceof PermanentError ||
    error instanceof RateLimitedError ||
    error instanceof TransientError
  ) {
    return error;
  }
  const response = responseOf(error);
  const where = describeRequest(error, response);
  const { name, code } = nameAndCode(error);
  // Before the status: a timeout while reading a body has a response, but says nothing about it.
  if (name === 'TimeoutError') {
    return new TransientError(`Web1on1 ${where} timed out`, { cause: error });
  }
  if (response) {
    const status = response.statusCode;
    const apiMessage = apiMessageOf(response.body);
    const message = `Web1on1 ${where} answered ${status}${apiMessage ? `: ${apiMessage}` : ''}`;
    if (status < 300) {
      return new TransientError(`${message} (unusable ${status} answer)`, { cause: error, status });
    }
    return errorForStatus(status, {
      message,
      retryAfter: headerOf(response.headers, 'retry-after'),
      cause: error,
    });
  }
  const reason = code && code !== 'ERR_GOT_REQUEST_ERROR' ? code : name;
  return new TransientError(`Web1on1 ${where} failed: ${reason}`, { cause: error });
}

/**
 * An answer this client treats as "renew the token and retry": a 401 or a 403 whose API message is
 * `jwt expired`, `invalid signature` or `invalid token`. chipchat renews on the 401 only
 * (`client.js:120-122`), but Web1on1's API documentation answers an expired token with 403, and the
 * contract names both; any other 401 or 403 (a missing scope, a refused renewal) is not a token to
 * renew, and stays a `PermanentError`.
 */
export function isRejectedToken(error: unknown): boolean {
  const response = responseOf(error);
  if (response?.statusCode !== 401 && response?.statusCode !== 403) return false;
  return /jwt expired|invalid signature|invalid token/i.test(rawApiMessageOf(response.body) ?? '');
}

/** Masks what must never reach a log line: emails, bearer tokens/JWTs and phone-number-like digit runs. */
export function maskSensitive(text: string): string {
  return text
    .replace(/eyJ[\w-]*\.[\w-]*\.?[\w-]*/g, '<token>')
    .replace(/Bearer\s+\S+/gi, 'Bearer <token>')
    .replace(/[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+/g, '<email>')
    .replace(/(?<![\w])\+?\d[\d\s().\-/]{4,}\d(?![\w])/g, '<number>');
}

function responseOf(error: unknown): ResponseLike | undefined {
  if (!isObject(error)) return undefined;
  const nested = (error as { response?: unknown }).response;
  if (isResponseLike(nested)) return nested;
  // chipchat rejects with the got response itself when a 2xx body carries `error`.
  if (isResponseLike(error) && 'body' in error) return error;
  return undefined;
}

function isResponseLike(value: unknown): value is ResponseLike {
  return isObject(value) && typeof (value as { statusCode?: unknown }).statusCode === 'number';
}

function rawApiMessageOf(body: unknown): string | undefined {
  if (!isObject(body)) return undefined;
  const inner = (body as { error?: unknown }).error;
  if (typeof inner === 'string') return inner;
  if (isObject(inner)) {
    const message = (inner as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  }
  return undefined;
}

function apiMessageOf(body: unknown): string | undefined {
  const raw = rawApiMessageOf(body);
  if (raw === undefined) return undefined;
  const masked = maskSensitive(raw).trim();
  return masked.length > 200 ? `${masked.slice(0, 200)}…` : masked;
}

function describeRequest(error: unknown, response: ResponseLike | undefined): string {
  const options =
    (isObject(error) ? (error as { options?: unknown }).options : undefined) ??
    response?.request?.options;
  if (!isObject(options)) return 'request';
  const { method, url } = options as { method?: unknown; url?: unknown };
  const path = url instanceof URL ? url.pathname : undefined;
  if (typeof method !== 'string' || path === undefined) return 'request';
  return `${method} ${path}`;
}

function headerOf(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return typeof value === 'string' ? value : undefined;
}

function nameAndCode(error: unknown): { name: string; code: string | undefined } {
  if (!isObject(error)) return { name: typeof error, code: undefined };
  const { name, code } = error as { name?: unknown; code?: unknown };
  return {
    name: typeof name === 'string' ? name : 'Error',
    code: typeof code === 'string' ? code : undefined,
  };
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}
