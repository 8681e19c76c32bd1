export { type ClientError, errorForStatus } from './error-for-status.ts';
export { PermanentError } from './permanent-error.ts';
export { RateLimitedError } from './rate-limited-error.ts';
export { parseRetryAfter } from './retry-after.ts';
export { TransientError } from './transient-error.ts';
