import {
  type ClientError,
  errorForStatus,
  PermanentError,
  RateLimitedError,
  TransientError,
} from '@contact-linker/contracts';

/** A DMS answer that was not 2xx: only its status and headers matter, never its body. */
export interface DmsHttpFailure {
  status: number;
  headers: Headers;
}

export interface ToClientErrorContext {
  /** The timeout that was in force, for the message of a timed-out request. */
  timeoutMs?: number;
  /** Clock for `Retry-After` given as an HTTP date. @defaultValue Date.now() */
  now?: number;
}

/**
 * The one place where a failed DMS delivery becomes a retry class. HTTP answers go through
 * `errorForStatus` (429 → RateLimitedError honouring `Retry-After`; 408 and 5xx → TransientError;
 * 3xx, since redirects are never followed, 410 and every other 4xx → PermanentError). A timeout, a
 * network error, or anything else thrown by `fetch` → TransientError with the original as `cause`.
 * Errors that already are a retry class pass through unchanged. Messages carry the status, the
 * `Location` of a redirect and the transport error code, never the request body or the secret.
 */
export function toClientError(
  failure: DmsHttpFailure | unknown,
  { timeoutMs, now }: ToClientErrorContext = {},
): ClientError {
  if (
    failure instanceof PermanentError ||
    failure instanceof RateLimitedError ||
    failure instanceof TransientError
  ) {
    return failure;
  }
  if (isHttpFailure(failure)) {
    const { status, headers } = failure;
    const location = headers.get('location');
    const message =
      status === 0 || (status >= 300 && status < 400)
        ? `DMS answered ${status || 'a redirect'}; redirects are not followed${location ? ` (Location: ${location})` : ''}`
        : `DMS answered ${status}`;
    return errorForStatus(status, {
      message,
      retryAfter: headers.get('retry-after'),
      ...(now === undefined ? {} : { now }),
    });
  }
  if (
    failure instanceof Error &&
    (failure.name === 'TimeoutError' || failure.name === 'AbortError')
  ) {
    const within = timeoutMs === undefined ? '' : ` within ${timeoutMs} ms`;
    return new TransientError(`DMS did not answer${within}`, { cause: failure });
  }
  return new TransientError(`DMS request failed: ${transportReason(failure)}`, { cause: failure });
}

function isHttpFailure(value: unknown): value is DmsHttpFailure {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { status?: unknown }).status === 'number' &&
    (value as { headers?: unknown }).headers instanceof Headers
  );
}

/** undici reports `TypeError('fetch failed')` with the socket error (`ECONNREFUSED`, …) as its cause. */
function transportReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return error.message;
}
