import { describe, expect, it } from 'vitest';
import { withDeadline } from './redis-deadline.ts';

const unavailable = expect.objectContaining({
  code: 'queue_unavailable',
  statusCode: 503,
  headers: { 'retry-after': '1' },
});

describe('withDeadline', () => {
  it('resolves with the work when it settles in time', async () => {
    expect(await withDeadline(Promise.resolve(42), 50)).toBe(42);
  });

  it('answers queue_unavailable once the deadline passes, without waiting for the work', async () => {
    const started = performance.now();
    await expect(withDeadline(new Promise(() => {}), 30)).rejects.toEqual(unavailable);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('answers queue_unavailable when the work fails, keeping its error as the cause', async () => {
    const failure = new Error('connection refused');
    const error = await withDeadline(Promise.reject(failure), 50).catch((e: unknown) => e);
    expect(error).toEqual(unavailable);
    expect((error as Error).cause).toBe(failure);
  });
});
