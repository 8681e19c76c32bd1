/**
 * Throw when the remote side asked us to slow down (HTTP 429). `retryAfterMs` is how long no request
 * may be sent; the worker pauses the whole queue for that long and retries the job without spending an
 * attempt.
 */
export class RateLimitedError extends Error {
  readonly retryAfterMs: number;
  readonly status: number | undefined;

  constructor(
    message: string,
    options: { retryAfterMs: number; cause?: unknown; status?: number },
  ) {
    super(message, { cause: options.cause });
    this.name = 'RateLimitedError';
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }
}
