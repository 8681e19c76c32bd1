import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLinkMemory } from '@contact-linker/link-memory';
import { QUEUE } from '@contact-linker/queues';
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { runCli } from './cli-harness.ts';
import { contactsCsv, seedTest as test } from './seed-fixtures.ts';

type StatsJson = {
  at: string;
  queues: Record<string, Record<string, number>>;
  memory: { links: number; waiting: number };
  backlogs: Array<{
    organization: string;
    tier: string;
    waiting: number;
    oldestWaitSeconds?: number;
  }>;
};

describe('pnpm cli queues stats', () => {
  test('--json counts move when contacts are seeded and one goes live', async ({
    queues,
    redisUrl,
    prefix,
    dir,
  }) => {
    const stats = async () => {
      const { out, exitCode } = await runCli(['queues', 'stats', '--json'], { redisUrl, prefix });
      expect(exitCode).toBe(0);
      return JSON.parse(out) as StatsJson;
    };
    const before = await stats();
    expect(Object.keys(before.queues)).toEqual([
      QUEUE.linkContact,
      QUEUE.notifyDms,
      QUEUE.deadLetter,
    ]);
    expect(before.queues[QUEUE.linkContact]).toEqual({
      waiting: 0,
      prioritized: 0,
      active: 0,
      delayed: 0,
      completed: 0,
      failed: 0,
    });

    const file = join(dir, 'contacts.csv');
    await writeFile(file, contactsCsv(250, 'dealer-1').text);
    await runCli(['seed', file, '--organization', 'dealer-1'], { redisUrl, prefix });
    await queues[QUEUE.linkContact].add('dms.contact', {
      dmsContactId: 'live-1',
      organization: 'dealer-1',
      email: 'live@x.nl',
      receivedAt: new Date().toISOString(),
    });

    const after = await stats();
    // 250 records, 1 of them bad (record 100): seeded ones wait below live ones.
    expect(after.queues[QUEUE.linkContact]).toMatchObject({ prioritized: 249, waiting: 1 });
    expect(Date.parse(after.at)).toBeGreaterThanOrEqual(Date.parse(before.at));
    expect(after.memory).toEqual({ links: 0, waiting: 0 });
    // The live job above was added around the fair order, so only the seeded ones count.
    expect(before.backlogs).toEqual([]);
    expect(after.backlogs).toEqual([
      {
        organization: 'dealer-1',
        tier: 'bulk',
        waiting: 249,
        oldestWaitSeconds: expect.any(Number),
      },
    ]);
    expect(after.backlogs[0]?.oldestWaitSeconds).toBeLessThan(60);

    const redis = new Redis(redisUrl);
    try {
      const memory = createLinkMemory({ redis, prefix, ttlMs: 60_000, linkUrl: (id) => id });
      const contact = { organization: 'dealer-1', receivedAt: new Date().toISOString() };
      await memory.remember(
        { ...contact, dmsContactId: 'D-1', email: 'a@x.nl' },
        { contactId: 'w-1', conversation: null, url: 'D-1' },
      );
      await memory.wait({ ...contact, dmsContactId: 'D-2', email: 'b@x.nl' });
      await memory.wait({ ...contact, dmsContactId: 'D-3', phoneE164: '+31612345678' });
    } finally {
      redis.disconnect();
    }
    expect((await stats()).memory).toEqual({ links: 1, waiting: 2 });

    const table = await runCli(['queues', 'stats'], { redisUrl, prefix });
    expect(table.out.split('\n')).toEqual([
      'QUEUE         WAITING  PRIORITIZED  ACTIVE  DELAYED  COMPLETED  FAILED',
      'link-contact        1          249       0        0          0       0',
      'notify-dms          0            0       0        0          0       0',
      'dead-letter         0            0       0        0          0       0',
      '',
      'remembered links: 1  waiting DMS contacts: 2',
      '',
      'largest link-contact backlogs (top 1)',
      'ORGANIZATION  TIER  WAITING  OLDEST WAIT',
      expect.stringMatching(/^dealer-1 {6}bulk {6}249 +\d+(\.\d)? s$/),
    ]);
  });

  test('--watch redraws until SIGINT, then ends cleanly with exit code 0', async ({
    redisUrl,
    prefix,
  }) => {
    const run = runCli(['queues', 'stats', '--watch', '--interval', '0.1'], { redisUrl, prefix });
    await new Promise((resolve) => setTimeout(resolve, 450));
    // The command's own handler is the only SIGINT listener in this worker; emitting the event
    // runs it without signalling the process.
    expect(process.listenerCount('SIGINT')).toBe(1);
    process.emit('SIGINT', 'SIGINT');
    const { out, exitCode } = await run;
    expect(exitCode).toBe(0);
    expect(process.listenerCount('SIGINT')).toBe(0);
    const redraws = out.split('\n').filter((line) => line.startsWith('queue depths at '));
    expect(redraws.length).toBeGreaterThanOrEqual(2);
  });

  test('read-only commands create no key under the prefix they are given', async ({
    redisUrl,
    prefix,
  }) => {
    for (const args of [
      ['queues', 'stats'],
      ['queues', 'stats', '--json'],
      ['dlq', 'list'],
      ['dlq', 'show', 'no-such-letter'],
      ['dlq', 'purge'],
    ]) {
      await runCli(args, { redisUrl, prefix });
    }
    const redis = new Redis(redisUrl);
    try {
      const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
      expect(await redis.keys(pattern)).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  test('says on stderr which Redis and prefix it reads, leaving stdout to the data', async ({
    redisUrl,
    prefix,
  }) => {
    const host = new URL(redisUrl).host;
    const json = await runCli(['queues', 'stats', '--json'], { redisUrl, prefix });
    expect(json.err).toBe(`redis ${host}, QUEUE_PREFIX ${prefix}`);
    expect(() => JSON.parse(json.out)).not.toThrow();
    const dlq = await runCli(['dlq', 'list'], { redisUrl, prefix });
    expect(dlq.err).toBe(`redis ${host}, QUEUE_PREFIX ${prefix}`);
    expect(dlq.out).toBe('no dead letters');
  });

  test('exits 1 on a bad --interval', async ({ redisUrl, prefix }) => {
    const { exitCode } = await runCli(['queues', 'stats', '--interval', 'soon'], {
      redisUrl,
      prefix,
    });
    expect(exitCode).toBe(1);
  });
});
