import { readFile, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { contentKey, QUEUE, tierOfPriority } from '@contact-linker/queues';
import { describe, expect } from 'vitest';
import { checkpointKey, readCheckpoint, seedJobId } from '../src/seed/checkpoint.ts';
import { runSeed } from '../src/seed/run-seed.ts';
import { runCli } from './cli-harness.ts';
import {
  contactsCsv,
  forgetPendingContent,
  queuedContactIds,
  seedIdOf,
  seedTest as test,
} from './seed-fixtures.ts';

const ORG = 'dealer-1';
const RECORDS = 10_000;

async function writeContacts(dir: string, records = RECORDS) {
  const csv = contactsCsv(records, ORG);
  const file = join(dir, 'contacts.csv');
  await writeFile(file, csv.text);
  return { file, ...csv };
}

/** The `line N` numbers the summary lists under `rejected:`. */
function listedLines(out: string): number[] {
  return [...out.matchAll(/^ {2}line (\d+): /gm)].map((m) => Number(m[1]));
}

describe('pnpm cli seed', () => {
  test('queues the valid records of a 10,000-record CSV and reports the 50 bad ones by line', async ({
    queues,
    redisUrl,
    prefix,
    dir,
  }) => {
    const { file, bad, good } = await writeContacts(dir);
    expect(bad).toHaveLength(50);
    const rejectsFile = join(dir, 'rejects.ndjson');

    const { out, exitCode } = await runCli(
      ['seed', file, '--organization', ORG, '--rejects', rejectsFile],
      { redisUrl, prefix },
    );

    expect(exitCode).toBe(0);
    expect(out.split('\n')[0]).toBe('accepted 9950, rejected 50');
    expect(listedLines(out)).toEqual(bad.slice(0, 20).map((b) => b.line));
    expect(out).toContain(`  … and 30 more, all in ${rejectsFile}`);
    const written = (await readFile(rejectsFile, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { line: number; reason: string });
    expect(written.map((r) => r.line)).toEqual(bad.map((b) => b.line));
    written.forEach((r, i) => {
      expect(r.reason).toMatch(bad[i]!.reason);
    });

    const counts = await queues[QUEUE.linkContact].getJobCounts('prioritized', 'waiting');
    expect(counts).toMatchObject({ prioritized: 9950, waiting: 0 });
    // A job exactly like one from POST /updatecontacts, under the line's own job id.
    const [line, contactId] = [...good].find(([, id]) => id === 'C6')!;
    const job = await queues[QUEUE.linkContact].getJob(seedJobId(await seedIdOf(file, ORG), line));
    expect(job?.name).toBe('dms.contact.bulk');
    expect(job?.data).toEqual({
      dmsContactId: contactId,
      organization: ORG,
      phoneE164: '+31612000006',
      phoneRaw: '0612000006',
      receivedAt: expect.any(String),
    });
    expect(job?.opts).toMatchObject({ attempts: 3 });
    expect(tierOfPriority(job?.opts.priority)).toBe('bulk');
    expect(job?.deduplicationId).toBe(contentKey(job!.data));
  });

  test('resumes after an interruption and a crash before a checkpoint, queuing every line once', async ({
    queues,
    redisClient,
    redisUrl,
    prefix,
    dir,
  }) => {
    const { file } = await writeContacts(dir);
    const controller = new AbortController();
    const checkpoints: number[] = [];
    const first = await runSeed({
      file,
      format: 'csv',
      organization: ORG,
      queues,
      redis: redisClient,
      prefix,
      attempts: 3,
      defaultPhoneCountry: 'NL',
      signal: controller.signal,
      onBatch: ({ number, lastLine }) => {
        checkpoints.push(lastLine);
        if (number === 4) controller.abort();
      },
    });
    expect(first.interrupted).toBe(true);
    expect(first.enqueued).toBe(2000);
    expect(await queues[QUEUE.linkContact].count()).toBe(2000);
    const key = checkpointKey(prefix, await seedIdOf(file, ORG));
    expect(await readCheckpoint(redisClient, key)).toMatchObject({
      line: checkpoints[3],
      done: false,
    });

    // A crash after the addBulk of batches 3 and 4 but before their checkpoints: the checkpoint is
    // still at batch 2. And those jobs may have finished since, which ends their content dedup.
    await redisClient.hset(key, 'line', String(checkpoints[1]));
    expect(await forgetPendingContent(redisClient, prefix)).toBe(2000);

    const { out, exitCode } = await runCli(['seed', file, '--organization', ORG], {
      redisUrl,
      prefix,
    });
    expect(exitCode).toBe(0);
    expect(out).toContain('accepted 9950, rejected 50');
    expect(out).toContain(`resumed after line ${checkpoints[1]}`);
    expect(out).not.toContain('matched a contact already queued');
    const ids = await queuedContactIds(queues);
    expect(ids).toHaveLength(9950);
    expect(new Set(ids).size).toBe(9950);
    expect(await readCheckpoint(redisClient, key)).toMatchObject({ done: true });

    // Run once more: the checkpoint says done, so nothing is even offered to Redis.
    const again = await runCli(['seed', file, '--organization', ORG], { redisUrl, prefix });
    expect(again.out).toContain('nothing new to queue');
    expect(await queues[QUEUE.linkContact].count()).toBe(9950);
  });

  test('--restart goes through the file again and adds no line twice', async ({
    queues,
    redisClient,
    redisUrl,
    prefix,
    dir,
  }) => {
    const { file } = await writeContacts(dir);
    await runCli(['seed', file, '--organization', ORG], { redisUrl, prefix });
    expect(await queues[QUEUE.linkContact].count()).toBe(9950);
    await forgetPendingContent(redisClient, prefix);

    const { out, exitCode } = await runCli(
      ['seed', file, '--organization', ORG, '--restart', '--batch-size', '1000'],
      { redisUrl, prefix },
    );
    expect(exitCode).toBe(0);
    expect(out.split('\n')[0]).toBe('accepted 9950, rejected 50');
    expect(out).not.toContain('resumed');
    expect(await queues[QUEUE.linkContact].count()).toBe(9950);
  });

  test('an edited file is a new seed; contacts still pending are folded into their job', async ({
    queues,
    redisUrl,
    prefix,
    dir,
  }) => {
    const { file } = await writeContacts(dir, 40);
    await runCli(['seed', file, '--organization', ORG], { redisUrl, prefix });
    const later = new Date(Date.now() + 60_000);
    await utimes(file, later, later);

    const { out } = await runCli(['seed', file, '--organization', ORG], { redisUrl, prefix });
    expect(out).not.toContain('nothing new to queue');
    expect(out).toContain(
      '40 accepted record(s) matched a contact already queued with the same content',
    );
    expect(await queues[QUEUE.linkContact].count()).toBe(40);
  });

  test('reads NDJSON: fields as in a JSON body, bad lines by number', async ({
    queues,
    redisUrl,
    prefix,
    dir,
  }) => {
    const file = join(dir, 'contacts.ndjson');
    await writeFile(
      file,
      [
        JSON.stringify({ id: 1, email: ' Ann@Example.COM ', name: 'Ann' }),
        JSON.stringify({ id: 'B-2', telephone: '+31 20 123 4567', phone: '999' }),
        '',
        '{"id": 3, "email": ',
        JSON.stringify({ id: 4, organization: ORG, phone: '0201234568' }),
        JSON.stringify({ id: 5, organization: 'elsewhere', email: 'e@x.nl' }),
        JSON.stringify([{ id: 6 }]),
        JSON.stringify({ id: 7 }),
        JSON.stringify({ id: 8, email: 'h@x.nl', extra: { prototype: 1 } }),
      ].join('\n'),
    );

    const { out, exitCode } = await runCli(['seed', file, '--organization', ORG], {
      redisUrl,
      prefix,
    });

    expect(exitCode).toBe(0);
    expect(out.split('\n')).toEqual([
      'accepted 3, rejected 5',
      'rejected:',
      expect.stringMatching(/^ {2}line 4: invalid JSON: /),
      `  line 6: organization "elsewhere" is not the seed's organization "${ORG}"`,
      '  line 7: not a JSON object',
      '  line 8: email: email, telephone or phone is required',
      '  line 9: forbidden key prototype',
    ]);
    const jobs = await queues[QUEUE.linkContact].getJobs(['prioritized'], 0, -1);
    const byId = new Map(jobs.map((job) => [job.data.dmsContactId, job]));
    expect([...byId.keys()].sort()).toEqual(['1', '4', 'B-2']);
    expect(byId.get('1')?.data.email).toBe('ann@example.com');
    expect(byId.get('B-2')?.data.phoneE164).toBe('+31201234567');
    const seed = await seedIdOf(file, ORG);
    expect(byId.get('4')?.id).toBe(seedJobId(seed, 5));
  });

  test('exits 1 on a missing file, bad options, an unusable header, or Redis down', async ({
    queues,
    redisUrl,
    prefix,
    dir,
  }) => {
    const run = (args: string[], url = redisUrl) => runCli(args, { redisUrl: url, prefix });
    const missing = await run(['seed', join(dir, 'nope.csv'), '--organization', ORG]);
    expect(missing.exitCode).toBe(1);
    expect(missing.err).toBe(`cannot read ${join(dir, 'nope.csv')}: no such file`);

    const { file } = await writeContacts(dir, 3);
    for (const args of [
      ['seed', file],
      ['seed', file, '--organization', 'not valid'],
      ['seed', file, '--organization', ORG, '--batch-size', '0'],
      ['seed', file, '--organization', ORG, '--batch-size', '1001'],
      ['seed', file, '--organization', ORG, '--resume', '--restart'],
      ['seed', file, '--organization', ORG, '--format', 'xml'],
      ['seed', join(dir, 'contacts.txt'), '--organization', ORG],
    ]) {
      expect((await run(args)).exitCode, args.join(' ')).toBe(1);
    }

    const headerless = join(dir, 'headerless.csv');
    await writeFile(headerless, 'C1,a@x.nl\nC2,b@x.nl\n');
    const noHeader = await run(['seed', headerless, '--organization', ORG]);
    expect(noHeader.exitCode).toBe(1);
    expect(noHeader.err).toContain(`${headerless}: line 1: the CSV header needs an "id" column`);
    expect(await queues[QUEUE.linkContact].count()).toBe(0);

    const down = await run(
      ['seed', file, '--organization', ORG],
      `redis://127.0.0.1:${await closedPort()}`,
    );
    expect(down.exitCode).toBe(1);
    expect(down.err).toMatch(/^Redis at 127\.0\.0\.1:\d+ did not answer within 3 s \(REDIS_URL\)$/);
  });
});

/** A local port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}
