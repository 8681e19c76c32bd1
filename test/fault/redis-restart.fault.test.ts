/**
 * Redis restart: events stream in at 20/s for 9 s while Redis (AOF, `appendfsync always`) is shut
 * down 3 s in and started again on the same port 2 s later. The ingress and both workers are left
 * alone: they must notice and reconnect by themselves.
 *
 * Invariant:
 * - every request sent after Redis had stopped and answered before it was started again is a 503
 *   with `Retry-After`; no request at all goes unanswered, takes 1 s or more, or answers anything but
 *   202 or 503 (a request that straddles a transition may be either);
 * - the ingress answers 202 again after the restart;
 * - every event answered 202, before, around or after the outage, ends completed with its link on its
 *   contact exactly once (none dead-lettered), and the DMS accepted a `contact.linked` for each.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { mapLimit, report, systemForSuite } from './system.ts';

const PER_SECOND = 20;
const STREAM_MS = 9_000;
const STOP_AFTER_MS = 3_000;
const DOWN_MS = 2_000;
const EVENTS = (STREAM_MS / 1000) * PER_SECOND;

describe('fault: Redis stopped and started again under load', () => {
  const running = systemForSuite({
    workers: 2,
    redis: { appendonly: true, appendfsync: 'always' },
    web1on1LatencyMs: 50,
    workerEnv: { WORKER_CONCURRENCY: '16', WEB1ON1_RATE_LIMIT: '1000/1s' },
  });

  it('answers 503 fast while Redis is away and loses nothing it accepted', async () => {
    const system = running();
    const seeded = await system.seedContacts(EVENTS, 'restart');
    const started = performance.now();
    const outage = (async () => {
      await sleep(STOP_AFTER_MS);
      const stopping = performance.now();
      await system.redis.stop();
      const downFrom = performance.now();
      await sleep(DOWN_MS);
      const downTo = performance.now();
      await system.redis.start();
      return { stopping, downFrom, downTo, upAt: performance.now() };
    })();
    const answers = await mapLimit(seeded, EVENTS, async (s, i) => {
      await sleep(Math.max(0, (i * 1000) / PER_SECOND - (performance.now() - started)));
      return system.postContact(s.event);
    });
    const { stopping, downFrom, downTo, upAt } = await outage;

    const summary = (a: (typeof answers)[number]) =>
      `${a.status} in ${a.ms.toFixed(0)} ms at +${(a.sentAt - started).toFixed(0)} ms`;
    const whileDown = answers.filter((a) => a.sentAt >= downFrom && a.sentAt + a.ms <= downTo);
    expect(whileDown.length, 'requests entirely inside the outage').toBeGreaterThan(20);
    expect(
      whileDown.filter((a) => a.status !== 503 || a.retryAfter === null).map(summary),
      'answers while Redis was down',
    ).toEqual([]);
    expect(
      answers.filter((a) => ![202, 503].includes(a.status) || a.ms >= 1000).map(summary),
      'answers that were neither 202 nor 503, or took 1 s or more',
    ).toEqual([]);
    const backAt = answers.find((a) => a.sentAt >= upAt && a.status === 202);
    if (!backAt) throw new Error(`no 202 after Redis came back\n${system.logs()}`);

    const accepted = answers.flatMap((a, i) => (a.status === 202 ? [{ a, s: seeded[i] }] : []));
    await system.waitDrained(60_000);
    const result = await system.checkInvariants({
      linkJobs: accepted.map(({ a }) => a.jobId as string),
      links: new Map(accepted.flatMap(({ s }) => (s ? [[s.contact.id, [s.dmsId]]] : []))),
    });
    expect(result.linkCompleted).toBe(accepted.length);
    expect(
      system.workers.map((w) => w.running()),
      'workers kept running through the outage',
    ).toEqual(system.workers.map(() => true));

    report('redis-restart', {
      events: EVENTS,
      accepted: accepted.length,
      '503s': answers.filter((a) => a.status === 503).length,
      answered_while_down: whileDown.length,
      max_answer_ms_while_down: Math.max(...whileDown.map((a) => a.ms)).toFixed(0),
      max_answer_ms: Math.max(...answers.map((a) => a.ms)).toFixed(0),
      shutdown_ms: (downFrom - stopping).toFixed(0),
      down_ms: (upAt - downFrom).toFixed(0),
      first_202_after_restart_ms: (backAt.sentAt + backAt.ms - upAt).toFixed(0),
      echoes: result.echoes,
    });
  });
});
