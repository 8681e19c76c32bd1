/**
 * Concurrency: 30 DMS contacts that all match ONE Web1on1 contact (same email), posted at once to two
 * worker processes, with 30 ms Web1on1 latency so the read-modify-write of `links` of every job
 * overlaps with others. The API's PATCH replaces the whole array, so without the per-contact lock
 * two jobs would each write "existing + mine" and one link would be lost.
 *
 * Invariant: every event answered 202 ends completed (none dead-lettered), and the contact ends with
 * exactly 30 links, each DMS url exactly once.
 */
import { describe, expect, it } from 'vitest';
import { ORG, report, systemForSuite } from './system.ts';

const EVENTS = 30;

describe('fault: concurrent links to one Web1on1 contact', () => {
  const running = systemForSuite({
    workers: 2,
    web1on1LatencyMs: 30,
    workerEnv: { WORKER_CONCURRENCY: '16', WEB1ON1_RATE_LIMIT: '1000/1s' },
  });

  it('ends with exactly one link per DMS id', async () => {
    const sys = running();
    const [shared] = await sys.web1on1.addContacts([
      { organization: ORG, profile: { email: 'shared@example.com', name: 'Shared Contact' } },
    ]);
    if (!shared) throw new Error('sandbox stored no contact');
    const dmsIds = Array.from({ length: EVENTS }, (_, i) => `CONC-${i}`);
    const started = performance.now();
    // All at once: as many requests in flight as events.
    const jobIds = await sys.postAll(
      dmsIds.map((id) => ({ id, organization: ORG, email: 'shared@example.com' })),
      EVENTS,
    );
    const drainMs = await sys.waitDrained(60_000);
    const elapsed = performance.now() - started;

    const result = await sys.checkInvariants({
      linkJobs: jobIds,
      links: new Map([[shared.id, dmsIds]]),
    });
    expect(result.linkCompleted).toBe(EVENTS);
    const requests = await sys.apiRequests();
    const links = (await sys.web1on1.contacts()).find((c) => c.id === shared.id)?.links ?? [];
    expect(links).toHaveLength(EVENTS);

    report('concurrency', {
      events: EVENTS,
      links: links.length,
      patches: requests.filter((r) => r.method === 'PATCH').length,
      requests: requests.length,
      elapsed_s: (elapsed / 1000).toFixed(1),
      drain_s: (drainMs / 1000).toFixed(1),
      echoes: result.echoes,
    });
  });
});
