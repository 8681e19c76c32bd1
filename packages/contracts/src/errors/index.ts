export { PermanentError } from './permanent-error.ts';
export { RateLimitedError } from './rate-limited-error.ts';
export { TransientError } from './transient-error.ts';
export { parseRetryAfter } from './retry-after.ts';
