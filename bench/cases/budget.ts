/**
 * budget: the shared Web1on1 request budget under saturation. WEB1ON1_RATE_LIMIT=50/1s (smoke:
 * 20/1s), with 1 and with 2 product worker processes, each configuration on its own prefix (so its
 * own budget) and measured one after the other against the one sandbox; every request in the
 * sandbox's log is attributed to its configuration by the contact it is about. Reference
 * (informational): BullMQ's stock limiter `{ max, duration }` on a worker making one request per job.
 *
 * utilisation = the mean number of requests that arrived in a 1000 ms window, over every window
 *               inside the saturated interval (from 1 s after release to the end), ÷ limit;
 * max window  = the most requests that arrived in any sliding 1000 ms window, over all processes of
 *               the configuration, from release to the end, ÷ limit (also reported for windows
 *               inside the saturated interval only, to tell a start-up burst from steady state).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { startMinimalWorker, startProductWorker, stopProcs } from '../lib/apps.ts';
import type { BenchCase, CaseOutput, Goal } from '../lib/context.ts';
import { productJob, referenceJob, seedContacts, tagOfEmail } from '../lib/data.ts';
import { addJobs, openQueue } from '../lib/jobs.ts';
import type { Proc } from '../lib/procs.ts';
import { max, maxInSlidingWindow, meanInSlidingWindow, median } from '../lib/stats.ts';

type Config = 'product1' | 'product2' | 'bullmq';

/** The budget's default margin for a 1 s window (`packages/web1on1/src/budget.ts`). */
const MARGIN_MS = 40;

export const budgetCase: BenchCase = async (ctx): Promise<CaseOutput> => {
  // Smoke leaves the two-process configuration out, to stay within its time.
  const CONFIGS: Config[] = ctx.smoke ? ['product1', 'bullmq'] : ['product1', 'product2', 'bullmq'];
  const limit = ctx.smoke ? 20 : 50;
  const saturatedS = ctx.smoke ? 1.2 : 7;
  const warmS = ctx.smoke ? 0.5 : 1;
  const runs: Array<Record<string, number>> = [];

  // One configuration at a time: the sandbox stamps arrivals in this process, and the stock
  // limiter's bursts of `limit` requests in a few ms delayed the stamps of the product's requests
  // that arrived meanwhile, bunching them into windows they were not sent in (1.08× measured so).
  const measure = async (run: number, config: Config): Promise<Record<string, number>> => {
    const CONFIGS = [config];
    ctx.sandbox.reset();
    const owner = new Map<string, Config>();
    const queues = new Map<Config, Queue>();
    const procs: Proc[] = [];
    const record: Record<string, number> = {};
    try {
      const starting: Array<Promise<Proc>> = [];
      for (const config of CONFIGS) {
        const tag = `b${run}${config}`;
        owner.set(tag, config);
        const prefix = `{bench-budget-${config}-${run}}`;
        const queue = openQueue(ctx.conn, prefix);
        queues.set(config, queue);
        await queue.pause();
        // Three times what the budget lets through (product: 3 requests per job; reference: 1).
        const jobs = Math.ceil(limit * (warmS + saturatedS + 1) * (config === 'bullmq' ? 1.5 : 1));
        for (const id of seedContacts(ctx.sandbox, tag, 0, jobs)) owner.set(id, config);
        await addJobs(queue, jobs, (i) =>
          config === 'bullmq' ? referenceJob(tag, i) : productJob(tag, i),
        );
        const rateLimit = `${limit}/1s`;
        if (config === 'bullmq') {
          starting.push(
            startMinimalWorker(ctx, {
              label: 'budget-bullmq-limiter',
              prefix,
              mode: 'one-request',
              limiter: { max: limit, duration: 1000 },
            }),
          );
        } else {
          for (let p = 0; p < (config === 'product1' ? 1 : 2); p++) {
            starting.push(
              startProductWorker(ctx, { label: `budget-${config}`, prefix, rateLimit }).then(
                (s) => s.proc,
              ),
            );
          }
        }
      }
      procs.push(...(await Promise.all(starting)));
      const t0 = Date.now();
      await Promise.all([...queues.values()].map((q) => q.resume()));
      await sleep((warmS + saturatedS) * 1000);
      const tEnd = Date.now();
      await stopProcs(ctx, procs);
      procs.length = 0;

      const arrivals = new Map<Config, number[]>(CONFIGS.map((c) => [c, []]));
      for (const request of ctx.sandbox.requests) {
        const id = /^\/v2\/contacts\/([^/]+)$/.exec(request.path)?.[1];
        const tag =
          id === undefined
            ? tagOfEmail(request.query['profile.email'] ?? '')
            : decodeURIComponent(id);
        const config = tag === undefined ? undefined : owner.get(tag);
        if (config !== undefined && request.startedAt <= tEnd) {
          arrivals.get(config)!.push(request.startedAt);
        }
      }
      const from = t0 + warmS * 1000;
      const to = from + saturatedS * 1000;
      for (const config of CONFIGS) {
        const times = arrivals.get(config)!;
        record[`utilisation_${config}`] = meanInSlidingWindow(times, 1000, from, to) / limit;
        record[`max_window_${config}`] = maxInSlidingWindow(times, 1000) / limit;
        record[`max_window_steady_${config}`] =
          maxInSlidingWindow(
            times.filter((t) => t >= from),
            1000,
          ) / limit;
        record[`first_arrival_ms_${config}`] = (times.length > 0 ? Math.min(...times) : tEnd) - t0;
        record[`requests_${config}`] = times.length;
      }
      ctx.log(
        `  run ${run + 1}: ${config} utilisation ${record[`utilisation_${config}`]!.toFixed(3)}, max window ${record[`max_window_${config}`]!.toFixed(2)}×`,
      );
    } finally {
      await stopProcs(ctx, procs);
      await Promise.all([...queues.values()].map((q) => q.close()));
      ctx.sandbox.reset();
      await ctx.flush();
    }
    return record;
  };

  for (let run = 0; run < ctx.runs; run++) {
    const record: Record<string, number> = {};
    for (const config of CONFIGS) Object.assign(record, await measure(run, config));
    runs.push(record);
  }

  const products = CONFIGS.filter((c) => c !== 'bullmq');
  const utilisation = Math.min(
    ...products.map((c) => median(runs.map((r) => r[`utilisation_${c}`] ?? Number.NaN))),
  );
  const worstWindow = max(
    runs.flatMap((r) => products.map((c) => r[`max_window_${c}`] ?? Number.NaN)),
  );
  const goals: Goal[] = [
    {
      name: 'budget',
      figure: `utilisation ${utilisation.toFixed(3)}× the limit (lower of ${products.length === 2 ? '1 and 2 processes' : '1 process'}, median), max in any 1000 ms window ${worstWindow.toFixed(2)}× (worst of all runs)`,
      target: 'utilisation ≥ 0.95×, max window ≤ 1.0×',
      pass: utilisation >= 0.95 && worstWindow <= 1.0,
    },
  ];
  const row = (metric: string, product: string) => ({ metric, unit: '× limit', product });
  return {
    name: 'budget',
    runs,
    rows: [
      row('utilisation, 1 process', 'utilisation_product1'),
      row('utilisation, 2 processes', 'utilisation_product2'),
      row('max sliding 1 s window, 1 process', 'max_window_product1'),
      row('max sliding 1 s window, 2 processes', 'max_window_product2'),
      row('max window after the 1st s, 1 process', 'max_window_steady_product1'),
      row('max window after the 1st s, 2 processes', 'max_window_steady_product2'),
      row('BullMQ limiter utilisation (info)', 'utilisation_bullmq'),
      row('BullMQ limiter max window (info)', 'max_window_bullmq'),
    ].filter((r) => CONFIGS.some((c) => r.product.endsWith(`_${c}`))),
    goals,
    notes: [
      `WEB1ON1_RATE_LIMIT=${limit}/1s; saturated interval ${saturatedS} s after ${warmS} s; concurrency 16 per process; arrivals as the sandbox logged them (startedAt). Utilisation is the mean count over all 1 s windows in the saturated interval (robust to where bursts fall), ÷ limit.`,
      `The product's budget adds a ${MARGIN_MS} ms margin to the window (grant ≠ arrival), so its ceiling is 1000/${1000 + MARGIN_MS} = ${(1000 / (1000 + MARGIN_MS)).toFixed(3)}× of the limit.`,
      'BullMQ limiter reference: minimal worker, one request per job, `limiter: { max, duration: 1000 }` (counts jobs per fixed window).',
    ],
  };
};
