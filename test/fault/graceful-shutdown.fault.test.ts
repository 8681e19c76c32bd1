/**
 * Graceful shutdown under load: 100 events for two worker processes with 100 ms Web1on1 latency;
 * while jobs are mid-request, the ingress and both workers get SIGTERM at once, as a deploy does.
 * Then a new ingress (same port) and a new worker start and drain what is left.
 *
 * Invariant:
 * - every process exits with code 0, within the workers' 25 s drain timeout;
 * - a clean shutdown leaves no job `active` (none abandoned to stall recovery, which would show up
 *   as a ~20 s wait after the restart);
 * - every event answered 202 ends completed with its link exactly once, nothing dead-lettered, and
 *   the DMS accepted a `contact.linked` for each.
 */
import { QUEUE } from '@contact-linker/queues';
import { describe, expect, it } from 'vitest';
import { expectedLinks, report, systemForSuite, whenSeen } from './system.ts';

const EVENTS = 100;

describe('fault: SIGTERM under load', () => {
  const running = systemForSuite({
    workers: 2,
    web1on1LatencyMs: 100,
    workerEnv: { WORKER_CONCURRENCY: '16', WEB1ON1_RATE_LIMIT: '1000/1s' },
  });

  it('finishes in-flight work, exits 0, and the next processes lose nothing', async () => {
    const sys = running();
    const sandbox = sys.web1on1.inProcess;
    if (!sandbox) throw new Error('this scenario watches the in-process sandbox');
    const seeded = await sys.seedContacts(EVENTS, 'sigterm');
    const jobIds = await sys.postAll(seeded.map((s) => s.event));
    // Load: both workers full (32 jobs in flight), some links already made.
    await whenSeen(() => sandbox.requests.filter((r) => r.method === 'PATCH').length >= 10, {
      timeoutMs: 20_000,
      message: '10 PATCHes at the sandbox',
    });
    const inFlight = sandbox.requests.filter((r) => r.status === 0).length;
    const stopping = [sys.ingress, ...sys.workers];
    const signalledAt = performance.now();
    const exits = await Promise.all(stopping.map((p) => p.stop('SIGTERM', 30_000)));
    const shutdownMs = performance.now() - signalledAt;
    expect(exits, sys.logs()).toEqual(stopping.map(() => ({ code: 0, signal: null })));

    const counts = await sys.queues[QUEUE.linkContact].getJobCounts(
      'active',
      'waiting',
      'completed',
    );
    expect(counts.active, 'jobs left active by a clean shutdown').toBe(0);

    await Promise.all([sys.startIngress(), sys.startWorker()]);
    const restartedAt = performance.now();
    await sys.waitDrained(60_000);
    const drainMs = performance.now() - restartedAt;

    const result = await sys.checkInvariants({
      linkJobs: jobIds,
      links: expectedLinks(seeded),
    });
    expect(result.linkCompleted).toBe(EVENTS);
    // Nothing was left to stall recovery (15 s locks + 5 s checks).
    expect(drainMs).toBeLessThan(15_000);

    report('graceful-shutdown', {
      events: EVENTS,
      requests_in_flight_at_sigterm: inFlight,
      shutdown_ms: shutdownMs.toFixed(0),
      completed_before_restart: counts.completed ?? 0,
      waiting_at_restart: counts.waiting ?? 0,
      drain_after_restart_s: (drainMs / 1000).toFixed(1),
      echoes: result.echoes,
    });
  });
});
