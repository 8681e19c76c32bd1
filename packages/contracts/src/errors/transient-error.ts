/**
 * Throw when the same request may well succeed later: 5xx, 408, timeouts, connection failures, or a
 * contact that does not exist yet. The job is retried with exponential backoff and jitter until its
 * attempts run out.
 */
export class TransientError extends Error {
  readonly status: number | undefined;

  constructor(message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TransientError';
    this.status = options.status;
  }
}
