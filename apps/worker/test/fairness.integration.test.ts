/**
 * Fairness inside one worker process: while one organization's jobs hold every slot of a tight
 * budget, another organization's job gets its requests in turn, not behind all of theirs.
 * (Which job starts next is the fair order's, proved in packages/queues; this is the budget's half.)
 */
import { redisTest, waitFor } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { settled, startWorkerStack } from './worker-harness.ts';

describe('the Web1on1 budget between organizations in one worker', () => {
  redisTest(
    "a newcomer's requests go in turn with a backlog's, not behind it",
    async ({ redisUrl, prefix }) => {
      // 20 requests a second and room for every job at once: all of A's 16 jobs wait for slots.
      const stack = await startWorkerStack({
        redisUrl,
        prefix,
        notify: false,
        concurrency: 17,
        rateLimit: { max: 20, durationMs: 1000 },
      });
      try {
        const requests = () => stack.web1on1.requests;
        for (let i = 0; i < 16; i++) {
          stack.web1on1.addContact({ organization: 'dealer-a', profile: { email: `a${i}@x.nl` } });
        }
        const b = stack.web1on1.addContact({
          organization: 'dealer-b',
          profile: { email: 'b@x.nl' },
        });
        const aJobs = await Promise.all(
          Array.from({ length: 16 }, (_, i) =>
            stack.link({ organization: 'dealer-a', dmsContactId: `A-${i}`, email: `a${i}@x.nl` }),
          ),
        );
        await waitFor(() => requests().length >= 2, { timeoutMs: 10_000 });
        const bJob = await stack.link({
          organization: 'dealer-b',
          dmsContactId: 'B-1',
          email: 'b@x.nl',
        });
        const sentB = requests().length;
        await settled(stack.queues, 'link-contact', bJob);
        const bFirst = requests().findIndex((r) => r.query.organization === 'dealer-b');
        const bPatch = requests().findIndex(
          (r) => r.method === 'PATCH' && r.path === `/v2/contacts/${b.id}`,
        );
        // A's 16 jobs had a GET each waiting when B arrived; first come, first served would put
        // B's GET behind all of them, and its PATCH behind A's PATCHes too.
        expect(bFirst - sentB).toBeLessThanOrEqual(4);
        expect(bPatch - bFirst).toBeLessThanOrEqual(4);
        for (const job of aJobs) await settled(stack.queues, 'link-contact', job);
      } finally {
        await stack.close();
      }
    },
    30_000,
  );
});
