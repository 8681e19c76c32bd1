import { PermanentError } from './permanent-error.ts';
import { RateLimitedError } from './rate-limited-error.ts';
import { parseRetryAfter } from './retry-after.ts';
import { TransientError } from './transient-error.ts';

export type ClientError = PermanentError | RateLimitedError | TransientError;

/**
 * The one place where an HTTP answer that is not a success becomes a retry class, shared by the
 * Web1on1 and DMS clients so both follow the contract the same way:
 * 429 → rate limited (honouring `Retry-After`); 408 and 5xx → transient; everything else (3xx, since
 * redirects are never followed, 400/401/403/404/410/…) → permanent.
 */
export function errorForStatus(
  status: number,
  {
    message,
    retryAfter,
    cause,
    now,
  }: { message: string; retryAfter?: string | null; cause?: unknown; now?: number },
): ClientError {
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(retryAfter, now === undefined ? {} : { now });
    return new RateLimitedError(message, { retryAfterMs, cause, status });
  }
  if (status === 408 || status >= 500) return new TransientError(message, { cause, status });
  return new PermanentError(message, { cause, status });
}
