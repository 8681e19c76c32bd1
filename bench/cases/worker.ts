/**
 * worker: link-contact jobs/s at concurrency 16, sandbox at 0 ms and 50 ms latency, no request
 * budget, notify off. Product with 1 and with 2 worker processes, against the minimal chipchat
 * worker. Method: for each configuration, the queue is paused, N jobs for N seeded sandbox contacts
 * are preloaded with addBulk, the (already running) workers are released with `resume()`, and the
 * time from there to the newest job's `finishedOn` gives jobs/s.
 */
import type { Queue } from 'bullmq';
import { startMinimalWorker, startProductWorker, stopProcs } from '../lib/apps.ts';
import type { BenchCase, BenchContext, CaseOutput, Goal } from '../lib/context.ts';
import { productJob, referenceJob, seedContacts } from '../lib/data.ts';
import { addJobs, finishedCount, openQueue, redisCommands, waitDrained } from '../lib/jobs.ts';
import { cpuMsOf, type Proc } from '../lib/procs.ts';
import { median } from '../lib/stats.ts';

type Config = 'product1' | 'product2' | 'reference';

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

interface Running {
  config: Config;
  queue: Queue;
  procs: Proc[];
}

async function startConfig(ctx: BenchContext, config: Config, run: number): Promise<Running> {
  const prefix = `{bench-worker-${config}-${run}}`;
  const queue = openQueue(ctx.conn, prefix);
  // Paused before any worker exists, so nothing runs until the measurement starts.
  await queue.pause();
  let procs: Proc[];
  if (config === 'reference') {
    procs = [await startMinimalWorker(ctx, { label: 'worker-minimal', prefix })];
  } else {
    const count = config === 'product1' ? 1 : 2;
    procs = await Promise.all(
      Array.from({ length: count }, () =>
        startProductWorker(ctx, { label: `worker-${config}`, prefix }).then((s) => s.proc),
      ),
    );
  }
  return { config, queue, procs };
}

export const workerCase: BenchCase = async (ctx): Promise<CaseOutput> => {
  const latencies = ctx.smoke ? [0] : [0, 50];
  const configs: Config[] = ctx.smoke
    ? ['product1', 'reference']
    : ['product1', 'product2', 'reference'];
  const jobsAt = (latencyMs: number) => (ctx.smoke ? 150 : latencyMs === 0 ? 2000 : 500);
  const drainTimeoutMs = ctx.smoke ? 10_000 : 60_000;
  const runs: Array<Record<string, number>> = [];
  let benchCpuWarning = false;

  for (let run = 0; run < ctx.runs; run++) {
    const record: Record<string, number> = {};
    const running = await Promise.all(configs.map((c) => startConfig(ctx, c, run)));
    try {
      for (const latencyMs of latencies) {
        const n = jobsAt(latencyMs);
        for (const config of rotate(configs, run)) {
          const { queue, procs } = running.find((r) => r.config === config)!;
          const tag = `w${run}-${latencyMs}-${config}`;
          ctx.sandbox.reset();
          ctx.sandbox.setFaults({ latencyMs });
          seedContacts(ctx.sandbox, tag, 0, n);
          await addJobs(queue, n, (i) =>
            config === 'reference' ? referenceJob(tag, i) : productJob(tag, i),
          );
          const base = await finishedCount(queue);
          const cpu0 = procs.map((p) => cpuMsOf(p.pid));
          const commands0 = await redisCommands(ctx.conn);
          const bench0 = process.cpuUsage();
          const wall0 = performance.now();
          const t0 = Date.now();
          await queue.resume();
          const drained = await waitDrained(
            queue,
            base.completed + base.failed + n,
            drainTimeoutMs,
          );
          const wallMs = performance.now() - wall0;
          await queue.pause();
          const done = drained.completed - base.completed;
          const seconds = Math.max(0.001, (drained.lastFinishedOn - t0) / 1000);
          const commands = (await redisCommands(ctx.conn)) - commands0;
          const workerCpuMs = procs.reduce((sum, p, i) => sum + cpuMsOf(p.pid) - cpu0[i]!, 0);
          const bench = process.cpuUsage(bench0);
          const benchCpuPct = ((bench.user + bench.system) / 1000 / wallMs) * 100;
          if (benchCpuPct > 80) benchCpuWarning = true;
          const key = `${latencyMs}ms_${config}`;
          record[`jobs_s_${key}`] = done / seconds;
          record[`worker_cpu_ms_per_job_${key}`] = workerCpuMs / Math.max(1, done);
          record[`bench_cpu_pct_${key}`] = benchCpuPct;
          record[`redis_cmds_per_job_${key}`] = commands / Math.max(1, done);
          record[`requests_per_job_${key}`] = ctx.sandbox.requests.length / Math.max(1, done);
          record[`failed_${key}`] = drained.failed - base.failed + (drained.timedOut ? 1 : 0);
          ctx.log(
            `  run ${run + 1} ${latencyMs} ms ${config}: ${(done / seconds).toFixed(0)} jobs/s (${done}/${n} in ${seconds.toFixed(2)} s, bench CPU ${benchCpuPct.toFixed(0)} %)${drained.timedOut ? ' TIMED OUT' : ''}`,
          );
        }
      }
    } finally {
      await stopProcs(
        ctx,
        running.flatMap((r) => r.procs),
      );
      await Promise.all(running.map((r) => r.queue.close()));
      ctx.sandbox.reset();
      await ctx.flush();
    }
    runs.push(record);
  }

  const ratio = median(runs.map((r) => r.jobs_s_0ms_product1! / r.jobs_s_0ms_reference!));
  const incomplete = runs.some((r) => (r.failed_0ms_product1 ?? 0) > 0);
  const goals: Goal[] = [
    {
      name: 'worker',
      figure: `${ratio.toFixed(2)}× the minimal chipchat worker's jobs/s (0 ms sandbox, 1 process each)`,
      target: '≥ 1.0×',
      pass: ratio >= 1.0 && !incomplete,
    },
  ];
  const notes = [
    `concurrency 16 per process, WEB1ON1_RATE_LIMIT=1000000/1s, no DMS_NOTIFY_URL; ${jobsAt(0)} jobs at 0 ms${ctx.smoke ? '' : `, ${jobsAt(50)} at 50 ms`}; one seeded sandbox contact per job.`,
    'The product makes 2 Web1on1 requests per job when its list answer is fresh (list, PATCH under a per-contact lock) and 3 when a write of its own may have changed the contact since (list, GET, PATCH); the reference makes 2 (list, PATCH from the list answer, unlocked).',
    'Bench-process CPU is the sandbox (plus the 25 ms drain poll, which also adds a few Redis commands per job to both sides): the same sandbox serves product and reference.',
  ];
  if (benchCpuWarning) {
    notes.push(
      'WARNING: the bench process (sandbox) used > 80 % of a core in some drain: it may cap jobs/s.',
    );
  }
  const row = (metric: string, unit: string, product: string, reference: string, name: string) => ({
    metric,
    unit,
    product,
    reference,
    referenceName: name,
  });
  const rows = [
    row(
      'jobs/s @0 ms, 1 process',
      'jobs/s',
      'jobs_s_0ms_product1',
      'jobs_s_0ms_reference',
      'minimal-worker',
    ),
    row(
      'worker CPU per job @0 ms',
      'ms',
      'worker_cpu_ms_per_job_0ms_product1',
      'worker_cpu_ms_per_job_0ms_reference',
      'minimal-worker',
    ),
    row(
      'Web1on1 requests per job',
      'req',
      'requests_per_job_0ms_product1',
      'requests_per_job_0ms_reference',
      'minimal-worker',
    ),
    row(
      'Redis commands per job',
      'cmd',
      'redis_cmds_per_job_0ms_product1',
      'redis_cmds_per_job_0ms_reference',
      'minimal-worker',
    ),
    row(
      'sandbox (bench) CPU @0 ms',
      '% core',
      'bench_cpu_pct_0ms_product1',
      'bench_cpu_pct_0ms_reference',
      'minimal-worker',
    ),
  ];
  if (!ctx.smoke) {
    rows.push(
      row(
        'jobs/s @0 ms, 2 vs 1 process',
        'jobs/s',
        'jobs_s_0ms_product2',
        'jobs_s_0ms_product1',
        'product ×1',
      ),
      row(
        'jobs/s @50 ms, 1 process',
        'jobs/s',
        'jobs_s_50ms_product1',
        'jobs_s_50ms_reference',
        'minimal-worker',
      ),
      row(
        'jobs/s @50 ms, 2 vs 1 process',
        'jobs/s',
        'jobs_s_50ms_product2',
        'jobs_s_50ms_product1',
        'product ×1',
      ),
    );
  }
  return { name: 'worker', runs, rows, goals, notes };
};
