/**
 * Fairness across a worker crash: dealer A posts 300 events, then dealer B 30, against a budget of
 * 100 requests/s (two per event, so A alone is ~6 s of work). Once the sandbox has seen 40 PATCHes,
 * both worker processes are SIGKILLed at the same instant and one new worker starts; the dead
 * workers' jobs stay `active` until their locks lapse (~20 s, as in the worker-crash scenario).
 *
 * Invariants: every event answered 202 ends completed, none dead-lettered, every contact carries
 * its link exactly once. Fairness: B's links are all made while A still has most of its backlog
 * waiting (jobs orphaned by the kill aside: they wait for their locks to lapse, by design).
 * First-in-first-out would link all 300 of A's first.
 */
import { QUEUE } from '@contact-linker/queues';
import { describe, expect, it } from 'vitest';
import { expectedLinks, report, systemForSuite, whenSeen } from './system.ts';

const A_EVENTS = 300;
const B_EVENTS = 30;
const KILL_AFTER_PATCHES = 40;

describe('fault: worker processes SIGKILLed mid-dispatch under a two-dealer flood', () => {
  const running = systemForSuite({
    workers: 2,
    web1on1LatencyMs: 20,
    workerEnv: { WORKER_CONCURRENCY: '8', WEB1ON1_RATE_LIMIT: '100/1s' },
  });

  it('links every event once and keeps the dealers taking turns after recovery', async () => {
    const sys = running();
    const sandbox = sys.web1on1.inProcess;
    if (!sandbox) throw new Error('this scenario watches the in-process sandbox');
    const a = await sys.seedContacts(A_EVENTS, 'flood', 'dealer-a');
    const b = await sys.seedContacts(B_EVENTS, 'small', 'dealer-b');
    const aJobs = await sys.postAll(a.map((s) => s.event));
    const bJobs = await sys.postAll(b.map((s) => s.event));

    const patches = () => sandbox.requests.filter((r) => r.method === 'PATCH');
    await whenSeen(() => patches().length >= KILL_AFTER_PATCHES, {
      timeoutMs: 30_000,
      message: `${KILL_AFTER_PATCHES} PATCHes at the sandbox`,
    });
    for (const worker of sys.workers) process.kill(worker.pid, 'SIGKILL');
    const exits = await Promise.all(sys.workers.map((w) => w.exited));
    expect(exits.map((e) => e.signal)).toEqual(sys.workers.map(() => 'SIGKILL'));
    // Their jobs wait for their locks to lapse, by design; the turns are about the others.
    const orphanedEmails = new Set(
      (await sys.queues[QUEUE.linkContact].getJobs(['active'])).map((j) => j.data.email),
    );
    const orphaned = orphanedEmails.size;

    await sys.startWorker();
    await sys.waitDrained(90_000);

    const result = await sys.checkInvariants({
      linkJobs: [...aJobs, ...bJobs],
      links: expectedLinks([...a, ...b]),
    });
    expect(result.linkCompleted).toBe(A_EVENTS + B_EVENTS);
    expect(orphaned, 'jobs left active by the killed workers').toBeGreaterThan(0);

    // The order links were made in (the first successful PATCH of each Web1on1 contact), but for
    // the jobs orphaned by the kill.
    const dealerOf = new Map(
      [...a.map((s) => [s, 'a'] as const), ...b.map((s) => [s, 'b'] as const)]
        .filter(([s]) => !orphanedEmails.has(s.email))
        .map(([s, dealer]) => [s.contact.id, dealer]),
    );
    const linked: string[] = [];
    const seen = new Set<string>();
    for (const r of patches()) {
      const id = r.path.split('/').pop() ?? '';
      const dealer = dealerOf.get(id);
      if (r.status !== 200 || seen.has(id) || dealer === undefined) continue;
      seen.add(id);
      linked.push(dealer);
    }
    const lastB = linked.lastIndexOf('b');
    const aBeforeLastB = linked.slice(0, lastB).filter((d) => d === 'a').length;
    report('fairness-crash', {
      a_events: A_EVENTS,
      b_events: B_EVENTS,
      jobs_orphaned_active: orphaned,
      a_links_before_last_b: aBeforeLastB,
    });
    // Taking turns, B's last link comes after about as many of A's as B has (plus the jobs in
    // flight at the kill); first-in-first-out would put all 300 of A's first.
    expect(aBeforeLastB).toBeLessThan(A_EVENTS / 2);
  });
});
