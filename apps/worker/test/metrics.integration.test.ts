import { QUEUE, TIER_BANDS } from '@contact-linker/queues';
import { parsePrometheusText, redisTest, sampleValue, waitFor } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { ORG, settled, startWorkerStack } from './worker-harness.ts';

describe('worker metrics', () => {
  redisTest(
    'count jobs by outcome and time Web1on1 and DMS requests',
    async ({ redisUrl, prefix }) => {
      const stack = await startWorkerStack({ redisUrl, prefix });
      try {
        stack.web1on1.addContact({ organization: ORG, profile: { email: 'jane@example.com' } });
        stack.web1on1.failNext(1, { status: 503 });
        const linked = await stack.link({ dmsContactId: 'D-1', email: 'jane@example.com' });
        stack.web1on1.addContact({ organization: ORG, profile: { email: 'twin@example.com' } });
        stack.web1on1.addContact({ organization: ORG, profile: { email: 'twin@example.com' } });
        const twin = await stack.link({ dmsContactId: 'D-2', email: 'twin@example.com' });
        await settled(stack.queues, QUEUE.linkContact, linked);
        await settled(stack.queues, QUEUE.linkContact, twin);
        await waitFor(() => stack.dms.accepted().length === 1);
        await waitFor(async () => (await stack.queues[QUEUE.notifyDms].getCompletedCount()) === 1);

        const samples = parsePrometheusText(await stack.metrics.registry.metrics());
        const jobs = 'contact_linker_jobs_total';
        expect(sampleValue(samples, jobs, { queue: 'link-contact', outcome: 'retry' })).toBe(1);
        expect(sampleValue(samples, jobs, { queue: 'link-contact', outcome: 'linked' })).toBe(1);
        expect(sampleValue(samples, jobs, { queue: 'link-contact', outcome: 'ambiguous' })).toBe(1);
        expect(sampleValue(samples, jobs, { queue: 'notify-dms', outcome: 'delivered' })).toBe(1);
        const web1on1 = 'contact_linker_web1on1_request_duration_seconds_count';
        expect(sampleValue(samples, web1on1, { operation: 'list', status: '503' })).toBe(1);
        expect(sampleValue(samples, web1on1, { operation: 'update', status: '200' })).toBe(1);
        // By purpose: the 503 list, the list that found Jane and the twins' list; Jane's PATCH.
        const requests = 'contact_linker_web1on1_requests_total';
        expect(sampleValue(samples, requests, { purpose: 'search' })).toBe(3);
        expect(sampleValue(samples, requests, { purpose: 'write' })).toBe(1);
        expect(sampleValue(samples, 'contact_linker_links_total', { via: 'dms_post' })).toBe(1);
        expect(
          sampleValue(samples, 'contact_linker_dms_request_duration_seconds_count', {
            status: '200',
          }),
        ).toBe(1);
        // Two live jobs waited for their first start (the retried one is counted once); no bulk.
        const wait = 'contact_linker_link_wait_seconds_count';
        expect(sampleValue(samples, wait, { tier: 'live' })).toBe(2);
        expect(sampleValue(samples, wait, { tier: 'bulk' })).toBeUndefined();
        const text = await stack.metrics.registry.metrics();
        expect(text).not.toContain('jane@example.com');
      } finally {
        await stack.close();
      }
    },
  );
});

describe('link-contact wait', () => {
  redisTest('is observed by tier, live and bulk apart', async ({ redisUrl, prefix }) => {
    const stack = await startWorkerStack({ redisUrl, prefix, notify: false });
    try {
      const bulk = await stack.queues[QUEUE.linkContact].add(
        'dms.contact.bulk',
        {
          dmsContactId: 'B-1',
          organization: ORG,
          email: 'bulk@example.com',
          receivedAt: new Date().toISOString(),
        },
        { priority: TIER_BANDS.bulk.last, jobId: 'bulk-wait-1' },
      );
      await settled(stack.queues, QUEUE.linkContact, bulk);
      const samples = parsePrometheusText(await stack.metrics.registry.metrics());
      const wait = 'contact_linker_link_wait_seconds_count';
      expect(sampleValue(samples, wait, { tier: 'bulk' })).toBe(1);
      expect(sampleValue(samples, wait, { tier: 'live' })).toBeUndefined();
    } finally {
      await stack.close();
    }
  });
});
