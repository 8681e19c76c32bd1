import { redisTest, waitFor } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { ORG, startWorkerStack } from './worker-harness.ts';

describe('worker shutdown', () => {
  redisTest(
    'close() lets in-flight jobs finish before it resolves',
    async ({ redisUrl, prefix }) => {
      const stack = await startWorkerStack({ redisUrl, prefix });
      try {
        stack.web1on1.addContact({ organization: ORG, profile: { email: 'slow@example.com' } });
        stack.web1on1.setFaults({ latencyMs: 300 });
        const job = await stack.link({ dmsContactId: 'D-1', email: 'slow@example.com' });
        await waitFor(async () => (await job.getState()) === 'active');
        await stack.runtime.close();
        expect(await job.getState()).toBe('completed');
      } finally {
        await stack.close();
      }
    },
  );
});
