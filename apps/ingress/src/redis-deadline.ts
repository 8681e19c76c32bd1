import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError } from './errors.ts';

/** How long Redis may take before the ingress answers 503; the contract allows 1 s in all. */
export const REDIS_DEADLINE_MS = 800;

/**
 * Resolves with `work`, or fails with `queue_unavailable` (503, `Retry-After: 1`) when `work` fails
 * or has not settled within `ms`. The timer is cancelled as soon as `work` settles.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  const settled = new AbortController();
  const expired = sleep(ms, undefined, { signal: settled.signal, ref: false }).then(() => {
    throw new Error(`Redis did not answer within ${ms} ms`);
  });
  try {
    return await Promise.race([work, expired]);
  } catch (cause) {
    throw new ApiError('queue_unavailable', { headers: { 'retry-after': '1' }, cause });
  } finally {
    // Rejects `expired` with an AbortError, which the race has already handled.
    settled.abort();
  }
}
