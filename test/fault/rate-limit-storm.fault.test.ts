/**
 * 429 storm: while 200 events stream in (40/s over 5 s) for two worker processes, the Web1on1 API
 * answers every request with 429 and `Retry-After: 2` for 3 s. A correct system sends nothing for 2 s
 * after a 429, from any worker, then tries again (and meets the storm's tail once more).
 *
 * Invariant, at the Web1on1 sandbox (in its own process, so its timestamps are the API's view):
 * for every 429 answered at `e` (its `endedAt`), no request started in `(e + 200 ms, e + 1995 ms)`.
 * - The 200 ms tolerance admits requests already granted by the shared budget before the pause
 *   reached Redis: the worker needs the 429, then PTTL + SET on Redis, to pause the others, while a
 *   request granted just before still needs its reserve answer, got's hooks and the HTTP send. On
 *   the shared two-core host such stragglers arrived 0–89 ms after the first 429 over five runs;
 *   200 ms is that with twofold headroom and still a tenth of the pause, so a system that ignored
 *   the pause, or honoured it more than 200 ms late, cannot pass.
 * - The 5 ms at the end absorb the two clocks' millisecond rounding (the pause is set at `e + δ`
 *   with `PX 2000`, so it ends after `e + 2000`).
 * `JOB_ATTEMPTS=1`: a 429 must not use up an attempt, so a job that met the storm and was charged
 * for it is dead-lettered at once, and the final check (no dead letters, every contact linked exactly
 * once) fails.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordedRequest } from '@contact-linker/testkit';
import { describe, expect, it } from 'vitest';
import { expectedLinks, mapLimit, report, systemForSuite } from './system.ts';

const EVENTS = 200;
const PER_SECOND = 40;
const STORM_AFTER_MS = 1_000;
const STORM_MS = 3_000;
const RETRY_AFTER_S = 2;
const IN_FLIGHT_TOLERANCE_MS = 200;
const CLOCK_SLACK_MS = 5;

/** 429s in bursts: a burst is one pause, plus the stragglers that were already in flight. */
function pauseCount(limited: readonly RecordedRequest[]): number {
  let pauses = 0;
  let burstFrom = Number.NEGATIVE_INFINITY;
  for (const r of limited) {
    if (r.endedAt > burstFrom + IN_FLIGHT_TOLERANCE_MS) {
      pauses++;
      burstFrom = r.endedAt;
    }
  }
  return pauses;
}

/** Requests that started inside the pause a 429 demands, beyond the in-flight tolerance. */
function startedWhilePaused(requests: readonly RecordedRequest[]): RecordedRequest[] {
  const pauses = requests
    .filter((r) => r.status === 429)
    .map((r) => ({
      from: r.endedAt + IN_FLIGHT_TOLERANCE_MS,
      to: r.endedAt + RETRY_AFTER_S * 1000 - CLOCK_SLACK_MS,
    }));
  return requests.filter((r) => pauses.some((p) => r.startedAt > p.from && r.startedAt < p.to));
}

describe('fault: Web1on1 429 storm', () => {
  const running = systemForSuite({
    workers: 2,
    jobAttempts: 1,
    web1on1OwnProcess: true,
    web1on1LatencyMs: 20,
    workerEnv: { WORKER_CONCURRENCY: '16', WEB1ON1_RATE_LIMIT: '1000/1s' },
  });

  it('sends nothing while Web1on1 asked to pause, and links everything afterwards', async () => {
    const system = running();
    const seeded = await system.seedContacts(EVENTS, 'storm');
    const started = performance.now();
    const storm = (async () => {
      await sleep(STORM_AFTER_MS);
      await system.web1on1.rateLimitFor(STORM_MS, RETRY_AFTER_S);
    })();
    // A steady stream: event i is sent at i / PER_SECOND s.
    const answers = await mapLimit(seeded, EVENTS, async (s, i) => {
      await sleep(Math.max(0, (i * 1000) / PER_SECOND - (performance.now() - started)));
      return system.postContact(s.event);
    });
    await storm;
    expect(answers.filter((a) => a.status !== 202)).toEqual([]);
    await system.waitDrained(60_000);

    const result = await system.checkInvariants({
      linkJobs: answers.map((a) => a.jobId as string),
      links: expectedLinks(seeded),
    });
    expect(result.linkCompleted).toBe(EVENTS);

    const requests = (await system.web1on1.requests()).sort((a, b) => a.startedAt - b.startedAt);
    const limited = requests.filter((r) => r.status === 429);
    const first = limited[0];
    if (!first) throw new Error('the storm produced no 429 at all');
    const violations = startedWhilePaused(requests);
    // How late the in-flight stragglers of the first 429 arrived, and how long the API then rested.
    const stragglers = requests.filter(
      (r) => r.startedAt > first.endedAt && r.startedAt <= first.endedAt + IN_FLIGHT_TOLERANCE_MS,
    );
    const resumed = requests.find(
      (r) => r.startedAt > first.endedAt + IN_FLIGHT_TOLERANCE_MS && r !== first,
    );
    report('rate-limit-storm', {
      events: EVENTS,
      requests: requests.length,
      '429s': limited.length,
      pauses: pauseCount(limited),
      violations: violations.length,
      max_straggler_ms: Math.max(0, ...stragglers.map((r) => r.startedAt - first.endedAt)),
      first_pause_ms: resumed ? resumed.startedAt - first.endedAt : 'none',
      tolerance_ms: IN_FLIGHT_TOLERANCE_MS,
      echoes: result.echoes,
    });
    expect(
      violations.map((r) => ({ method: r.method, startedAt: r.startedAt, status: r.status })),
      `requests started while paused; 429s ended at ${limited.map((r) => r.endedAt).join(', ')}`,
    ).toEqual([]);
    // The storm outlasted one pause, so the workers met it twice and still finished.
    expect(pauseCount(limited)).toBeGreaterThan(1);
  });
});
