import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitForOptions {
  /**
   * How long to keep polling before giving up.
   * @defaultValue 5_000
   */
  timeoutMs?: number;
  /**
   * Pause between two calls of `fn`.
   * @defaultValue 25
   */
  intervalMs?: number;
  /**
   * Says what was awaited; it starts the timeout error's message.
   * @defaultValue 'condition'
   */
  message?: string;
}

/**
 * Polls `fn` until it returns a truthy value and resolves with that value. A throw counts as "not yet":
 * the last error is kept and becomes the `cause` of the timeout error, so a failing assertion inside
 * `fn` explains why the wait failed. `fn` always runs at least once, even with `timeoutMs: 0`.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 5_000, intervalMs = 25, message = 'condition' }: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  let lastValue: unknown;
  let calls = 0;
  for (;;) {
    calls += 1;
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      lastValue = value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    const left = deadline - performance.now();
    if (left <= 0) break;
    await sleep(Math.min(intervalMs, left));
  }
  const detail =
    lastError === undefined
      ? `last value: ${String(lastValue)}`
      : `last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
  throw new Error(
    `waitFor: ${message} not met within ${timeoutMs} ms (${calls} calls; ${detail})`,
    {
      cause: lastError,
    },
  );
}
