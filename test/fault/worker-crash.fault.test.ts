/**
 * Worker crash: 400 events for two worker processes (16 jobs in flight each, 100 ms Web1on1 latency
 * so jobs are caught mid-request); once the sandbox has seen 120 PATCHes, every worker process is
 * SIGKILLed at the same instant, jobs in the middle of a link included, and one new worker starts.
 * The dead workers' jobs stay `active` until their 15 s locks lapse, then the new worker's 5 s
 * stalled check puts them back, so recovery takes up to ~20 s by design.
 *
 * Invariant: every event answered 202 ends completed, none dead-lettered (the dead-letter queue is
 * empty), every contact ends with its link exactly once (a job re-run after its PATCH finds the link
 * and does not add it again), and the DMS accepted a `contact.linked` for each.
 */
import { QUEUE } from '@contact-linker/queues';
import { describe, expect, it } from 'vitest';
import { expectedLinks, report, systemForSuite, whenSeen } from './system.ts';

const EVENTS = 400;
const KILL_AFTER_PATCHES = 120;

describe('fault: worker processes SIGKILLed mid-batch', () => {
  const running = systemForSuite({
    workers: 2,
    web1on1LatencyMs: 100,
    workerEnv: { WORKER_CONCURRENCY: '16', WEB1ON1_RATE_LIMIT: '1000/1s' },
  });

  it('loses and duplicates nothing when every worker dies at once', async () => {
    const sys = running();
    const sandbox = sys.web1on1.inProcess;
    if (!sandbox) throw new Error('this scenario watches the in-process sandbox');
    const seeded = await sys.seedContacts(EVENTS, 'crash');
    const posting = sys.postAll(seeded.map((s) => s.event));
    const patches = () => sandbox.requests.filter((r) => r.method === 'PATCH');
    await whenSeen(() => patches().length >= KILL_AFTER_PATCHES, {
      timeoutMs: 30_000,
      message: `${KILL_AFTER_PATCHES} PATCHes at the sandbox`,
    });
    // Both in the same tick: no survivor gets to finish the other one's jobs.
    for (const worker of sys.workers) process.kill(worker.pid, 'SIGKILL');
    const killedAt = performance.now();
    const patchesAtKill = patches().length;
    const inFlightAtKill = sandbox.requests.filter((r) => r.status === 0).length;
    const exits = await Promise.all(sys.workers.map((w) => w.exited));
    expect(exits.map((e) => e.signal)).toEqual(sys.workers.map(() => 'SIGKILL'));
    const orphaned = (await sys.queues[QUEUE.linkContact].getJobCounts('active')).active ?? 0;
    const jobIds = await posting;

    await sys.startWorker();
    await sys.waitDrained(60_000);
    const recoveredMs = performance.now() - killedAt;

    const result = await sys.checkInvariants({
      linkJobs: jobIds,
      links: expectedLinks(seeded),
    });
    expect(result.linkCompleted).toBe(EVENTS);
    expect(orphaned, 'jobs left active by the killed workers').toBeGreaterThan(0);

    const outcomes = (await sys.allJobs(QUEUE.linkContact)).map(
      (j) => (j.returnvalue as { outcome?: string } | null)?.outcome,
    );
    report('worker-crash', {
      events: EVENTS,
      killed_workers: sys.workers.length,
      patches_at_kill: patchesAtKill,
      requests_in_flight_at_kill: inFlightAtKill,
      jobs_orphaned_active: orphaned,
      already_linked_on_rerun: outcomes.filter((o) => o === 'already_linked').length,
      total_patches: patches().length,
      recover_s: (recoveredMs / 1000).toFixed(1),
      echoes: result.echoes,
    });
  });
});
