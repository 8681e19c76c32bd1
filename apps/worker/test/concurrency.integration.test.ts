import { QUEUE } from '@contact-linker/queues';
import {
  makeWebhookSecret,
  redisTest,
  startDmsSandbox,
  startWeb1on1Sandbox,
  waitFor,
} from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { ORG, settled, startWorkerStack } from './worker-harness.ts';

describe('links under concurrency', () => {
  redisTest(
    '30 DMS ids for one Web1on1 contact through two workers end as exactly 30 links',
    async ({ redisUrl, prefix }) => {
      const web1on1 = await startWeb1on1Sandbox({ organizationId: ORG, latencyMs: 30 });
      const secret = makeWebhookSecret();
      const dms = await startDmsSandbox({ secret });
      const shared = { web1on1, dms, secret };
      const stacks = [
        await startWorkerStack({ redisUrl, prefix, shared, concurrency: 16 }),
        await startWorkerStack({ redisUrl, prefix, shared, concurrency: 16 }),
      ];
      try {
        const contact = web1on1.addContact({ organization: ORG, profile: { email: 'one@x.nl' } });
        const jobs = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            stacks[i % 2]!.link({ dmsContactId: `D-${i}`, email: 'one@x.nl' }),
          ),
        );
        const results = await Promise.all(
          jobs.map((job) => settled(stacks[0]!.queues, QUEUE.linkContact, job)),
        );
        expect(
          results.map((r) => r.returnvalue?.outcome ?? `${r.state}: ${r.job.failedReason}`),
        ).toEqual(Array(30).fill('linked'));
        const urls = web1on1
          .getContact(contact.id)!
          .links.map((l) => l.url)
          .sort();
        expect(urls).toEqual(
          Array.from({ length: 30 }, (_, i) => `https://dms.example.test/customer/D-${i}/`).sort(),
        );
        await waitFor(() => dms.accepted().length === 30, { timeoutMs: 10_000 });
      } finally {
        await Promise.all(stacks.map((s) => s.close()));
        await Promise.all([web1on1.close(), dms.close()]);
      }
    },
  );
});
