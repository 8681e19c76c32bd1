/**
 * Flaky Web1on1: for a 15 s period 30 % of Web1on1 requests answer 503 and 5 % never answer (the
 * client gives up after 10 s), while 300 events arrive for two worker processes (16 jobs in flight
 * each). Then the API recovers and the backlog of retries drains.
 *
 * Why a period and not the whole run: one event takes two or three requests (list, PATCH, and a GET
 * before the PATCH when the list answer may be stale), so an attempt succeeds with (0.95 × 0.7)³ ≈ 0.29
 * to (0.95 × 0.7)² ≈ 0.44, and the unluckiest of 300 jobs would need ~16 attempts;
 * with exponential backoff from 1 s that is hours of waiting, not a test. `JOB_ATTEMPTS=20` leaves
 * no job dead-lettered by bad luck within the period (at most ~6 attempts fit in 15 s of backoff).
 *
 * Invariant: every event answered 202 ends completed (none dead-lettered), every contact ends with
 * its link exactly once (a retried PATCH never adds a second one), and the DMS accepted a
 * `contact.linked` for each.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { QUEUE } from '@contact-linker/queues';
import { describe, expect, it } from 'vitest';
import { expectedLinks, report, systemForSuite } from './system.ts';

const EVENTS = 300;
const FAULT_PERIOD_MS = 15_000;

describe('fault: flaky Web1on1 (503s and hanging requests)', () => {
  const running = systemForSuite({
    workers: 2,
    jobAttempts: 20,
    workerEnv: { WORKER_CONCURRENCY: '16', WEB1ON1_RATE_LIMIT: '1000/1s' },
  });

  it('links every event exactly once through 30 % 503s and 5 % hangs', async () => {
    const sys = running();
    const seeded = await sys.seedContacts(EVENTS, 'flaky');
    await sys.web1on1.setFaults({ errorRate: 0.3, errorStatus: 503, hangRate: 0.05 });
    const faultsFrom = performance.now();
    const jobIds = await sys.postAll(seeded.map((s) => s.event));
    await sleep(Math.max(0, FAULT_PERIOD_MS - (performance.now() - faultsFrom)));
    await sys.web1on1.setFaults({});
    const drainMs = await sys.waitDrained(70_000);
    const totalMs = performance.now() - faultsFrom;

    const result = await sys.checkInvariants({
      linkJobs: jobIds,
      links: expectedLinks(seeded),
    });
    expect(result.linkCompleted).toBe(EVENTS);

    const requests = await sys.apiRequests();
    const failed = requests.filter((r) => r.status === 503).length;
    const hung = requests.filter((r) => r.status === 0).length;
    // The faults really happened, at about the rates asked for.
    expect(failed).toBeGreaterThan(100);
    expect(hung).toBeGreaterThan(10);
    // BullMQ counts the successful attempt too.
    const attempts = (await sys.allJobs(QUEUE.linkContact)).map((j) => j.attemptsMade);
    report('flaky-web1on1', {
      events: EVENTS,
      requests: requests.length,
      '503s': failed,
      hung,
      max_attempts: Math.max(...attempts),
      retried_jobs: attempts.filter((n) => n > 1).length,
      fault_period_s: FAULT_PERIOD_MS / 1000,
      drained_after_heal_s: (drainMs / 1000).toFixed(1),
      total_s: (totalMs / 1000).toFixed(1),
      echoes: result.echoes,
    });
  });
});
