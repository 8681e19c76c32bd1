import { createRedisConnection } from '@contact-linker/queues';
import { redisTest } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { createContactWrites } from '../src/contact-writes.ts';

const test = redisTest.extend('writes', async ({ redisUrl, prefix }, { onCleanup }) => {
  const redis = createRedisConnection(redisUrl, { role: 'worker' });
  onCleanup(() => redis.quit().then(() => undefined));
  return createContactWrites(redis, prefix);
});

describe('contact writes', () => {
  test('a list taken before a write, or during one, is not trusted; one taken after is', async ({
    writes,
  }) => {
    const before = await writes.clock();
    expect(await writes.unchangedSince('c-1', before)).toBe(true);

    await writes.pending('c-1');
    // A writer that dies here leaves the mark: nobody trusts any list until it expires.
    expect(await writes.unchangedSince('c-1', before)).toBe(false);
    expect(await writes.unchangedSince('c-1', await writes.clock())).toBe(false);

    await writes.done('c-1');
    expect(await writes.unchangedSince('c-1', before)).toBe(false);
    const after = await writes.clock();
    expect(after).toBeGreaterThan(before);
    expect(await writes.unchangedSince('c-1', after)).toBe(true);
    // Marks are per contact.
    expect(await writes.unchangedSince('c-2', before)).toBe(true);
  });
});
