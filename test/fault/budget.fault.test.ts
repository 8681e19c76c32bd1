/**
 * Budget: `WEB1ON1_RATE_LIMIT=20/1s` shared by two worker processes (16 jobs in flight each) while
 * 300 events, about 600 Web1on1 requests (a list and a PATCH per event, and a GET when the list
 * answer may be stale), are waiting: they are posted while the queue is paused, then released. (Posted
 * while the workers ran, the ingress's burst of 300 requests starved the two cores just as the first
 * Web1on1 requests left, and those reached the sandbox up to 160 ms late, bunched with the next
 * ones.) The limit is about what the API sees, so it is measured at the Web1on1 sandbox from each
 * request's arrival (`startedAt`), not from anything the workers report; the sandbox runs in its own
 * process so its clock readings are not delayed by this one's event loop (see the testkit's
 * `web1on1-sandbox-process.ts`).
 *
 * Invariant: in every sliding 1000 ms window the sandbox saw at most 20 requests; every event
 * answered 202 ends completed (none dead-lettered) and every contact ends with its link exactly once.
 * Also reported: the busiest window and the utilisation, requests / (elapsed s × 20), where elapsed
 * runs from the first request's arrival to the last one's.
 */
import { QUEUE } from '@contact-linker/queues';
import { maxInSlidingWindow } from '@contact-linker/testkit';
import { describe, expect, it } from 'vitest';
import { expectedLinks, report, shortestSpan, systemForSuite } from './system.ts';

const EVENTS = 300;
const LIMIT = 20;
const WINDOW_MS = 1000;

describe('fault: shared Web1on1 request budget', () => {
  const running = systemForSuite({
    workers: 2,
    web1on1OwnProcess: true,
    workerEnv: { WEB1ON1_RATE_LIMIT: `${LIMIT}/1s`, WORKER_CONCURRENCY: '16' },
  });

  it(`never lets the API see more than ${LIMIT} requests in any ${WINDOW_MS} ms`, async () => {
    const sys = running();
    const seeded = await sys.seedContacts(EVENTS, 'budget');
    const queue = sys.queues[QUEUE.linkContact];
    await queue.pause();
    const jobIds = await sys.postAll(seeded.map((s) => s.event));
    await queue.resume();
    await sys.waitDrained(85_000);

    const result = await sys.checkInvariants({
      linkJobs: jobIds,
      links: expectedLinks(seeded),
    });
    expect(result.linkCompleted).toBe(EVENTS);

    // Every /v2 request counts against the budget, token renewals included.
    const arrivals = (await sys.web1on1.requests()).map((r) => r.startedAt);
    const max = maxInSlidingWindow(arrivals, WINDOW_MS);
    const elapsedS = (Math.max(...arrivals) - Math.min(...arrivals)) / 1000;
    const first = Math.min(...arrivals);
    // Where windows over the limit start, in seconds after the first request: start-up, or later.
    const busiest = arrivals
      .filter((t) => arrivals.filter((u) => u >= t && u < t + WINDOW_MS).length > LIMIT)
      .map((t) => ((t - first) / 1000).toFixed(1));
    report('budget', {
      over_limit_at_s: [...new Set(busiest)].slice(0, 12).join(',') || '-',
      'max/window': max,
      limit: `${LIMIT}/${WINDOW_MS}ms`,
      // Any LIMIT + 1 requests the API saw were at least this far apart (must be ≥ WINDOW_MS).
      [`min_span_${LIMIT + 1}_ms`]: shortestSpan(arrivals, LIMIT + 1),
      utilisation: (arrivals.length / (elapsedS * LIMIT)).toFixed(2),
      requests: arrivals.length,
      elapsed_s: elapsedS.toFixed(1),
      events: EVENTS,
      echoes: result.echoes,
    });
    // Every event needs at least its list and its PATCH.
    expect(arrivals.length).toBeGreaterThanOrEqual(EVENTS * 2);
    expect(max, `busiest ${WINDOW_MS} ms window at the Web1on1 sandbox`).toBeLessThanOrEqual(LIMIT);
  });
});
