/**
 * Group commit: calls that arrive while the event loop handles one batch of sockets are collected
 * and written with one `flush`, so N concurrent requests cost one Redis round trip instead of N.
 * Each caller still waits for, and gets, the outcome of its own item; when the flush fails, every
 * caller of that batch gets the error (none of them answers 2xx).
 */
export function createGroupCommit<T, R>(
  flush: (items: T[]) => Promise<R[]>,
  {
    /** Flushes early when this many items are waiting. @defaultValue 256 */
    maxBatch = 256,
  }: { maxBatch?: number } = {},
): (item: T) => Promise<R> {
  let pending: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  let scheduled = false;

  const run = async () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    try {
      const results = await flush(batch.map((entry) => entry.item));
      for (const [i, entry] of batch.entries()) entry.resolve(results[i] as R);
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  };

  return (item) =>
    new Promise<R>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (pending.length >= maxBatch) void run();
      else if (!scheduled) {
        scheduled = true;
        // setImmediate runs after the poll phase, i.e. after every socket that had data in this
        // loop turn was read and its request parsed: that is the natural batch.
        setImmediate(run);
      }
    });
}
