/**
 * Throw when retrying cannot help: the request itself is wrong (4xx other than 408/429), the target is
 * gone (410), or the data can never be processed. The worker turns it into BullMQ's
 * `UnrecoverableError`, so the job goes to the dead-letter queue at once.
 */
export class PermanentError extends Error {
  /** HTTP status that caused it, when there was one. */
  readonly status: number | undefined;

  constructor(message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = 'PermanentError';
    this.status = options.status;
  }
}
