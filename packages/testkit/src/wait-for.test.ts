import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.ts';

describe('waitFor', () => {
  it('resolves with the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls += 1;
        return calls >= 3 ? { calls } : undefined;
      },
      { intervalMs: 1 },
    );
    expect(value).toEqual({ calls: 3 });
  });

  it('treats a throw as "not yet" and awaits async functions', async () => {
    let calls = 0;
    const value = await waitFor(
      async () => {
        calls += 1;
        if (calls < 3) throw new Error('not ready');
        return 'ready';
      },
      { intervalMs: 1 },
    );
    expect(value).toBe('ready');
  });

  it('times out with the message, the last error as cause, and no earlier than timeoutMs', async () => {
    const last = new Error('still 0 jobs');
    const started = performance.now();
    const error = await waitFor(
      () => {
        throw last;
      },
      { timeoutMs: 100, intervalMs: 10, message: 'jobs to complete' },
    ).catch((e: unknown) => e as Error);
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(
      /^waitFor: jobs to complete not met within 100 ms \(\d+ calls; last error: still 0 jobs\)$/,
    );
    expect(error.cause).toBe(last);
  });

  it('reports the last falsy value when nothing threw', async () => {
    await expect(waitFor(() => 0, { timeoutMs: 20, intervalMs: 5 })).rejects.toThrow(
      /condition not met within 20 ms .*last value: 0/,
    );
  });

  it('calls fn at least once even with timeoutMs 0', async () => {
    await expect(waitFor(() => 'now', { timeoutMs: 0 })).resolves.toBe('now');
  });
});
