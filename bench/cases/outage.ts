/**
 * outage: the product ingress and one worker; DMS events stream at 50/s. After a while the sandbox
 * answers 503 to every Web1on1 request for 5 s, then recovers; the stream goes on a little longer.
 * Every event answered 202 must end linked; the figure is the time from recovery until the last of
 * them is linked (the sandbox's endedAt of the PATCH carrying its link).
 *
 * "Backoff in force": the product retries with BullMQ's exponential backoff from 1 s with ±50 %
 * jitter, i.e. attempt n+1 waits between 0.5 and 1 × 2^(n-1) s. A job that keeps failing from the
 * first moment of an outage of D seconds fails k times before recovery, where k is the largest number
 * of failures the fastest (all-minimum-delay) schedule fits in D; its k-th failure may schedule a
 * delay of up to 2^(k-1) s. That delay is the backoff in force: for D = 5 s, k = 4 (failures at 0,
 * 0.5, 1.5, 3.5 s) and the backoff in force is 8 s, so the target is 5 s + 8 s = 13 s.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startProductIngress, startProductWorker, stopProcs } from '../lib/apps.ts';
import type { BenchCase, CaseOutput, Goal } from '../lib/context.ts';
import { dmsBody, dmsId, linkUrlFor, seedContacts } from '../lib/data.ts';
import { finishedCount, openQueue } from '../lib/jobs.ts';
import { countLinked, linkTimes } from '../lib/links.ts';
import { postPaced } from '../lib/load.ts';
import type { Proc } from '../lib/procs.ts';
import { max, median } from '../lib/stats.ts';

const BACKOFF_BASE_S = 1;
const BACKOFF_JITTER = 0.5;

/** The longest retry delay a job failing throughout an outage of `outageS` may have been given. */
export function backoffInForceS(outageS: number): number {
  let failures = 0;
  let at = 0;
  while (at < outageS) {
    failures += 1;
    at += BACKOFF_BASE_S * 2 ** (failures - 1) * (1 - BACKOFF_JITTER);
  }
  return BACKOFF_BASE_S * 2 ** (failures - 1);
}

export const outageCase: BenchCase = async (ctx): Promise<CaseOutput> => {
  const ratePerS = 50;
  const beforeS = ctx.smoke ? 0.5 : 2;
  const outageS = ctx.smoke ? 0.5 : 5;
  const afterS = ctx.smoke ? 0.5 : 3;
  const inForceS = backoffInForceS(outageS);
  const targetS = 5 + inForceS;
  const runs: Array<Record<string, number>> = [];

  for (let run = 0; run < ctx.runs; run++) {
    ctx.sandbox.reset();
    const prefix = `{bench-outage-${run}}`;
    const procs: Proc[] = [];
    const queue = openQueue(ctx.conn, prefix);
    try {
      const [ingress, worker] = await Promise.all([
        startProductIngress(ctx, { label: 'outage-ingress', prefix }),
        startProductWorker(ctx, { label: 'outage-worker', prefix }),
      ]);
      procs.push(ingress.proc, worker.proc);
      const tag = `o${run}`;
      const durationS = beforeS + outageS + afterS;
      const contactIds = seedContacts(ctx.sandbox, tag, 0, Math.round(ratePerS * durationS));
      let outageAt = 0;
      let recoveredAt = 0;
      const posts = await postPaced({
        url: `${ingress.url}/updatecontact`,
        ratePerS,
        durationS,
        body: (i) => dmsBody(tag, i),
        onTick: (elapsedMs) => {
          if (outageAt === 0 && elapsedMs >= beforeS * 1000) {
            ctx.sandbox.setFaults({ errorRate: 1, errorStatus: 503 });
            outageAt = Date.now();
          }
          if (outageAt !== 0 && recoveredAt === 0 && elapsedMs >= (beforeS + outageS) * 1000) {
            ctx.sandbox.setFaults({});
            recoveredAt = Date.now();
          }
        },
      });
      if (recoveredAt === 0) {
        ctx.sandbox.setFaults({});
        recoveredAt = Date.now();
      }
      const accepted = posts.filter((p) => p.status === 202);
      const acceptedIds = accepted.map((p) => dmsId(tag, p.i));
      const acceptedContacts = accepted.map((p) => contactIds[p.i]!);
      // Generous: well past the target, so a slow recovery is measured rather than cut off.
      const deadline = recoveredAt + (targetS + 15) * 1000;
      while (
        countLinked(ctx.sandbox, acceptedContacts, acceptedIds) < accepted.length &&
        Date.now() < deadline
      ) {
        await sleep(100);
      }
      const times = linkTimes(ctx.sandbox);
      const linkedAt = accepted
        .map((p) => times.get(linkUrlFor(dmsId(tag, p.i))))
        .filter((t): t is number => t !== undefined);
      const lost = accepted.length - linkedAt.length;
      const completed = await queue.getJobs(['completed'], 0, -1);
      const counts = await finishedCount(queue);
      const record = {
        accepted: accepted.length,
        not_accepted: posts.length - accepted.length,
        lost,
        recovery_s: lost > 0 ? Number.NaN : (max(linkedAt) - recoveredAt) / 1000,
        answered_503: ctx.sandbox.requests.filter((r) => r.status === 503).length,
        max_attempts: max(completed.map((j) => j.attemptsMade)),
        failed_jobs: counts.failed,
      };
      ctx.log(
        `  run ${run + 1}: ${accepted.length}/${posts.length} accepted, ${lost} lost, all linked ${record.recovery_s.toFixed(2)} s after recovery (${record.answered_503} requests answered 503, max ${record.max_attempts} attempts)`,
      );
      runs.push(record);
    } finally {
      ctx.sandbox.setFaults({});
      await stopProcs(ctx, procs);
      await queue.close();
      ctx.sandbox.reset();
      await ctx.flush();
    }
  }

  const lost = runs.reduce((sum, r) => sum + r.lost! + r.not_accepted!, 0);
  const recovery = median(runs.map((r) => r.recovery_s!));
  const goals: Goal[] = [
    {
      name: 'outage',
      figure: `${lost} events lost; everything linked ${recovery.toFixed(2)} s after recovery (median; backoff in force ${inForceS} s)`,
      target: `0 lost, ≤ 5 s + ${inForceS} s = ${targetS} s`,
      pass: lost === 0 && recovery <= targetS,
    },
  ];
  const row = (metric: string, unit: string, product: string) => ({ metric, unit, product });
  return {
    name: 'outage',
    runs,
    rows: [
      row('events lost (202 but never linked)', 'events', 'lost'),
      row('recovery → all linked', 's', 'recovery_s'),
      row('requests answered 503', 'req', 'answered_503'),
      row('most attempts of one job', 'attempts', 'max_attempts'),
    ],
    goals,
    notes: [
      `${ratePerS} events/s: ${beforeS} s healthy, ${outageS} s of 503 to every Web1on1 request, ${afterS} s healthy; 1 ingress + 1 worker, WEB1ON1_RATE_LIMIT=1000000/1s, JOB_ATTEMPTS=10.`,
      `Backoff in force = ${inForceS} s: the longest delay BullMQ's exponential backoff (1 s, ±50 % jitter) can have scheduled for a job failing since the outage began (fastest schedule fits ${Math.log2(inForceS) + 1} failures into ${outageS} s; the last may wait up to 2^${Math.log2(inForceS)} s).`,
    ],
  };
};
