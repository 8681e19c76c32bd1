/**
 * Permanent failures: a DMS that answers 410 to a notification and a Web1on1 API that answers 404 to
 * the PATCH of a link. Neither is retried: each goes to the dead-letter queue at once, and a replay
 * (the same `replayDeadLetter` the admin API and CLI use) after the fault is gone delivers or links
 * it. Then the move itself is attacked: eight links whose PATCH always 404s, and the only worker
 * SIGKILLed the moment the first of their dead letters lands in Redis, so jobs die before, during and
 * after their move; a new worker recovers them.
 *
 * Invariant:
 * - the 410 and the 404 each produce exactly one dead letter (`listDeadLetters`), after exactly one
 *   request; the origin job is failed and `GET /jobs/:id` says `dead-lettered`;
 * - after replay the notification is delivered under its original `webhook-id`, the link is on its
 *   contact exactly once, both origin jobs completed, and the dead-letter queue is empty;
 * - after the kill, each of the eight jobs ends failed with exactly one dead letter (none lost,
 *   none written twice, none completed), and no link was added.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { listDeadLetters, QUEUE, replayDeadLetter } from '@contact-linker/queues';
import { waitFor } from '@contact-linker/testkit';
import { describe, expect, it } from 'vitest';
import { ORG, objectId, report, systemForSuite, whenSeen } from './system.ts';

const KILLED_JOBS = 8;

describe('fault: permanent failures and the dead-letter queue', () => {
  const linkJobs: string[] = [];
  const webhookIds: string[] = [];
  const links = new Map<string, string[]>();

  const running = systemForSuite({ workers: 1, workerEnv: { WEB1ON1_RATE_LIMIT: '1000/1s' } });

  const letters = () => listDeadLetters(running().queues[QUEUE.deadLetter]);
  const jobState = async (jobId: string) =>
    ((await running().jobStatus(jobId))?.body as { state?: string } | undefined)?.state;

  it('dead-letters a notification the DMS answers 410 once, and replay delivers it', async () => {
    const system = running();
    system.dms.failNext(1, { status: 410 });
    const envelope = system.contactUpdate({
      id: objectId(),
      conversation: objectId(),
      profile: { email: 'gone@example.com', name: 'Gone' },
    });
    webhookIds.push(envelope.id);
    expect((await system.postWebhook(envelope)).body).toEqual({ status: 'queued' });
    const letter = await waitFor(
      async () => (await letters()).find((l) => l.queue === QUEUE.notifyDms),
      { timeoutMs: 10_000, message: 'a notify-dms dead letter' },
    );
    // Long enough for a wrongly scheduled retry (backoff from 1 s) to show up.
    await sleep(2_500);
    const tries = () => system.dms.deliveries.filter((d) => d.webhookId === envelope.id);
    expect(tries().map((d) => d.status)).toEqual([410]);
    expect(await letters()).toEqual([letter]);
    expect(letter.failedReason).toMatch(/410/);

    expect(await replayDeadLetter(system.queues, letter.id)).toMatchObject({ replayed: true });
    await waitFor(() => tries().some((d) => d.status === 200 && d.verified), {
      timeoutMs: 10_000,
      message: 'the replayed notification delivered',
    });
    expect(tries().map((d) => d.status)).toEqual([410, 200]);
    expect(new Set(tries().map((d) => d.rawBody)).size).toBe(1);
    expect(await letters()).toEqual([]);
  });

  it('dead-letters a link whose PATCH answers 404 once, and replay links it', async () => {
    const system = running();
    const [target] = await system.seedContacts(1, 'patch404');
    if (!target) throw new Error('no contact seeded');
    await system.web1on1.failNext(1, { status: 404, method: 'PATCH' });
    const [jobId] = await system.postAll([
      { id: target.dmsId, organization: ORG, email: target.email },
    ]);
    if (!jobId) throw new Error('no job accepted');
    linkJobs.push(jobId);
    links.set(target.contact.id, [target.dmsId]);
    await waitFor(async () => (await jobState(jobId)) === 'dead-lettered', {
      timeoutMs: 10_000,
      message: `job ${jobId} dead-lettered`,
    });
    await sleep(2_500);
    const patches = async () =>
      (await system.apiRequests()).filter(
        (r) => r.path.endsWith(target.contact.id) && r.method === 'PATCH',
      );
    expect((await patches()).map((r) => r.status)).toEqual([404]);
    const [letter, ...more] = await letters();
    expect(more).toEqual([]);
    expect(letter).toMatchObject({ queue: QUEUE.linkContact, attemptsMade: 1 });

    expect(await replayDeadLetter(system.queues, letter?.id ?? '')).toEqual({
      replayed: true,
      queue: QUEUE.linkContact,
      jobId,
    });
    await waitFor(async () => (await jobState(jobId)) === 'completed', {
      timeoutMs: 10_000,
      message: `replayed job ${jobId} completed`,
    });
    expect((await patches()).map((r) => r.status)).toEqual([404, 200]);
    expect(await letters()).toEqual([]);
    await system.waitDrained(10_000);
    await system.checkInvariants({ linkJobs, webhookIds, links });
  });

  it('neither loses nor duplicates a dead letter when the worker is SIGKILLed during the move', async () => {
    const system = running();
    const [worker] = system.workers;
    if (!worker) throw new Error('no worker');
    const seeded = await system.seedContacts(KILLED_JOBS, 'killed');
    // Every PATCH from now on is refused, the re-runs after the kill included.
    await system.web1on1.failNext(10_000, { status: 404, method: 'PATCH' });
    const dlq = system.queues[QUEUE.deadLetter];
    const requestsBefore = (await system.apiRequests()).length;
    const posting = system.postAll(
      seeded.map((s) => s.event),
      KILLED_JOBS,
    );
    // Redis round trips, not a timer: the kill follows the first letter within about a millisecond,
    // while its job (and the others, a step or two behind) still has to be failed.
    let firstLetterAt = 0;
    await whenSeen(
      () => {
        void dlq.count().then((n) => {
          if (n > 0 && firstLetterAt === 0) {
            process.kill(worker.pid, 'SIGKILL');
            firstLetterAt = performance.now();
          }
        });
        return firstLetterAt > 0;
      },
      { timeoutMs: 15_000, message: 'the first dead letter' },
    );
    expect((await worker.exited).signal).toBe('SIGKILL');
    const jobIds = await posting;
    const failedPatches = (await system.apiRequests())
      .slice(requestsBefore)
      .filter((r) => r.method === 'PATCH' && r.status === 404);
    const atKill = await Promise.all(
      jobIds.map(async (id) => ({
        state: await system.queues[QUEUE.linkContact].getJobState(id),
        letter: (await dlq.getJob(`${QUEUE.linkContact}-${id}`)) !== undefined,
      })),
    );

    await system.startWorker();
    await waitFor(
      async () => {
        const states = await Promise.all(jobIds.map(jobState));
        return states.every((s) => s === 'dead-lettered');
      },
      { timeoutMs: 70_000, intervalMs: 250, message: 'every killed job dead-lettered' },
    );
    const recoveredMs = performance.now() - firstLetterAt;
    await system.waitDrained(10_000);

    for (const s of seeded) links.set(s.contact.id, []);
    const result = await system.checkInvariants({
      linkJobs: [...linkJobs, ...jobIds],
      webhookIds,
      links,
      deadLetters: KILLED_JOBS,
    });
    expect(result.linkDeadLettered).toBe(KILLED_JOBS);
    const letterJobIds = (await system.deadLetterJobs()).map((l) => l.data.jobId).sort();
    expect(letterJobIds).toEqual([...jobIds].sort());

    report('permanent-failure', {
      killed_jobs: KILLED_JOBS,
      failed_patches_at_kill: failedPatches.length,
      letters_at_kill: atKill.filter((j) => j.letter).length,
      lettered_but_active_at_kill: atKill.filter((j) => j.letter && j.state === 'active').length,
      failed_at_kill: atKill.filter((j) => j.state === 'failed').length,
      recover_s: (recoveredMs / 1000).toFixed(1),
      echoes: result.echoes,
    });
  });
});
