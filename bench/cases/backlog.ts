/**
 * backlog: a large waiting backlog. N link-contact jobs (full 1,000,000; smoke 10,000) are added with
 * addBulk, exactly as the product's ingress builds them, and Redis `used_memory` grows by some bytes
 * per waiting job; the reference is the minimal ingress's job (the ~300-byte body, one add, BullMQ's
 * default options), N of them on another prefix. Then one product worker drains its backlog for a
 * fixed time budget (draining 1M takes far too long on 2 cores), with its JS heap and RSS read after
 * a full GC at start, after 10k jobs and at the end (bench/lib/gc-probe.ts, preloaded through
 * NODE_OPTIONS); then the minimal worker drains the same number of reference jobs, read the same way.
 *
 * The drained jobs do the full work against the sandbox: they cycle over a pool of seeded contacts
 * (one sandbox contact per job is impossible at this size: the sandbox's list is a linear scan).
 */

import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { linkContactEntry, toLinkContactJob } from '@contact-linker/queues';
import type { Queue } from 'bullmq';
import { startMinimalWorker, startProductWorker, stopProcs } from '../lib/apps.ts';
import type { BenchCase, BenchContext, CaseOutput, Goal } from '../lib/context.ts';
import {
  dmsEmail,
  dmsEvent,
  LINK_QUEUE,
  ORG,
  PRODUCT_ATTEMPTS,
  seedContacts,
} from '../lib/data.ts';
import {
  addJobs,
  type BulkEntry,
  finishedCount,
  memoryUsage,
  openQueue,
  usedMemory,
} from '../lib/jobs.ts';
import { type Proc, REPO_ROOT } from '../lib/procs.ts';

interface Probe {
  seq: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  gc: boolean;
}

const MiB = 2 ** 20;
const GC_PROBE = pathToFileURL(join(REPO_ROOT, 'bench', 'lib', 'gc-probe.ts')).href;

/** SIGUSR2 → the probe runs gc() and writes memoryUsage(); waits for the fresh answer. */
async function probe(proc: Proc, file: string): Promise<Probe> {
  const read = (): Probe | undefined => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as Probe;
    } catch {
      return undefined;
    }
  };
  const before = read()?.seq ?? 0;
  process.kill(proc.pid, 'SIGUSR2');
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
    const answer = read();
    if (answer && answer.seq > before) {
      if (!answer.gc) throw new Error(`${proc.label}: gc() is not exposed (--expose-gc missing)`);
      return answer;
    }
    await sleep(20);
  }
  throw new Error(`${proc.label}: no gc probe answer within 15 s\n${proc.tail()}`);
}

/** Product job `i`: DMS contact `BENCH-kp-i`, whose email is that of pool contact `i % pool`. */
function makeProductJobs(tag: string, pool: number) {
  // The data exactly as toLinkContactJob makes it, built directly for speed (1M of them); checked
  // once against the real function below.
  const receivedAt = new Date().toISOString();
  const make = (i: number): BulkEntry => {
    const data = {
      dmsContactId: `BENCH-${tag}-${i}`,
      organization: ORG,
      email: dmsEmail(tag, i % pool).toLowerCase(),
      phoneE164: '+31612345678',
      phoneRaw: '06 1234 5678',
      receivedAt,
    };
    return linkContactEntry(data, { attempts: PRODUCT_ATTEMPTS, bulk: false });
  };
  const event = { ...dmsEvent(tag, 7), email: dmsEmail(tag, 7 % pool) };
  const real = toLinkContactJob(event, 'NL', new Date(receivedAt));
  if (JSON.stringify(real) !== JSON.stringify(make(7).data)) {
    throw new Error(`backlog job data drifted from toLinkContactJob: ${JSON.stringify(real)}`);
  }
  return make;
}

function makeReferenceJobs(tag: string, pool: number) {
  return (i: number): BulkEntry => ({
    name: 'dms.contact',
    data: { ...dmsEvent(tag, i), email: dmsEmail(tag, i % pool) },
  });
}

/** Bytes of the list holding a paused queue's waiting jobs (`paused`, or `wait` in newer BullMQ). */
async function waitingListBytes(ctx: BenchContext, prefix: string): Promise<number> {
  const paused = await memoryUsage(ctx.conn, `${prefix}:${LINK_QUEUE}:paused`);
  return Number.isNaN(paused) ? memoryUsage(ctx.conn, `${prefix}:${LINK_QUEUE}:wait`) : paused;
}

interface DrainResult {
  start: Probe;
  checkpoint: Probe;
  checkpointJobs: number;
  end: Probe;
  drained: number;
  seconds: number;
}

/**
 * Releases `queue` to the already running `proc`, probes at start, after `checkpoint` jobs, and when
 * `stop(drained, elapsedS)` says so.
 */
async function drain(
  ctx: BenchContext,
  queue: Queue,
  proc: Proc,
  file: string,
  checkpoint: number,
  stop: (drained: number, elapsedS: number) => boolean,
): Promise<DrainResult> {
  const start = await probe(proc, file);
  const base = await finishedCount(queue);
  const t0 = performance.now();
  await queue.resume();
  let checkpointProbe: Probe | undefined;
  let checkpointJobs = 0;
  let lastLog = t0;
  for (;;) {
    await sleep(100);
    const counts = await finishedCount(queue);
    const drained = counts.completed + counts.failed - base.completed - base.failed;
    const elapsedS = (performance.now() - t0) / 1000;
    if (checkpointProbe === undefined && drained >= checkpoint) {
      checkpointJobs = drained;
      checkpointProbe = await probe(proc, file);
    }
    if (performance.now() - lastLog > 15_000) {
      lastLog = performance.now();
      ctx.log(`    ${proc.label}: ${drained} jobs in ${elapsedS.toFixed(0)} s`);
    }
    if (stop(drained, elapsedS)) {
      const end = await probe(proc, file);
      await queue.pause();
      const after = await finishedCount(queue);
      return {
        start,
        checkpoint: checkpointProbe ?? end,
        checkpointJobs: checkpointProbe === undefined ? drained : checkpointJobs,
        end,
        drained: after.completed + after.failed - base.completed - base.failed,
        seconds: elapsedS,
      };
    }
  }
}

export const backlogCase: BenchCase = async (ctx): Promise<CaseOutput> => {
  const n = ctx.smoke ? 10_000 : 1_000_000;
  const pool = ctx.smoke ? 500 : 2000;
  const checkpoint = ctx.smoke ? 500 : 10_000;
  const drainBudgetS = ctx.smoke ? 0.5 : 90;
  const referenceCapS = drainBudgetS * 2;
  const probeFile = (name: string) => join(tmpdir(), `cl-bench-gc-${process.pid}-${name}.json`);
  const files = [probeFile('product'), probeFile('reference')];
  const gcOptions = ['--expose-gc', `--import=${GC_PROBE}`];
  const record: Record<string, number> = {};
  const procs: Proc[] = [];
  const productPrefix = '{bench-backlog-product}';
  const referencePrefix = '{bench-backlog-reference}';
  const productQueue = openQueue(ctx.conn, productPrefix);
  const referenceQueue = openQueue(ctx.conn, referencePrefix);
  const breakdown: Record<string, number> = {};

  try {
    await ctx.flush();
    ctx.sandbox.reset();
    await productQueue.pause();
    await referenceQueue.pause();
    const progress = (what: string) => (added: number) => {
      if (added % 200_000 === 0) ctx.log(`    ${what}: ${added} added`);
    };

    const m0 = await usedMemory(ctx.conn);
    let t = performance.now();
    await addJobs(productQueue, n, makeProductJobs('kp', pool), {
      onProgress: progress('product'),
    });
    record.add_s_product = (performance.now() - t) / 1000;
    const m1 = await usedMemory(ctx.conn);
    t = performance.now();
    await addJobs(referenceQueue, n, makeReferenceJobs('kr', pool), {
      onProgress: progress('reference'),
    });
    record.add_s_reference = (performance.now() - t) / 1000;
    const m2 = await usedMemory(ctx.conn);
    record.bytes_per_job_product = (m1 - m0) / n;
    record.bytes_per_job_reference = (m2 - m1) / n;
    ctx.log(
      `  ${n} waiting jobs: product ${record.bytes_per_job_product.toFixed(0)} B/job (added in ${record.add_s_product.toFixed(1)} s), reference ${record.bytes_per_job_reference.toFixed(0)} B/job (${record.add_s_reference.toFixed(1)} s)`,
    );

    // Where the bytes go: one job of each, key by key.
    const [newest] = await productQueue.getJobs(['waiting'], 0, 0);
    if (newest) {
      breakdown.product_job_hash = await memoryUsage(
        ctx.conn,
        `${productPrefix}:${LINK_QUEUE}:${newest.id}`,
      );
      const dedup = (newest.opts as { deduplication?: { id: string } }).deduplication?.id;
      breakdown.product_dedup_key = await memoryUsage(
        ctx.conn,
        `${productPrefix}:${LINK_QUEUE}:de:${dedup}`,
      );
    }
    breakdown.reference_job_hash = await memoryUsage(
      ctx.conn,
      `${referencePrefix}:${LINK_QUEUE}:1`,
    );
    breakdown.product_wait_list_per_job = (await waitingListBytes(ctx, productPrefix)) / n;
    breakdown.reference_wait_list_per_job = (await waitingListBytes(ctx, referencePrefix)) / n;

    // Both workers start now, on their paused queues; each is released in turn.
    const [product, reference] = await Promise.all([
      startProductWorker(ctx, {
        label: 'backlog-product-worker',
        prefix: productPrefix,
        nodeOptions: gcOptions,
        env: { BENCH_GC_PROBE_FILE: files[0]! },
      }),
      startMinimalWorker(ctx, {
        label: 'backlog-minimal-worker',
        prefix: referencePrefix,
        nodeOptions: gcOptions,
        env: { BENCH_GC_PROBE_FILE: files[1]! },
      }),
    ]);
    procs.push(product.proc, reference);

    // Product worker: drain for the time budget.
    seedContacts(ctx.sandbox, 'kp', 0, pool);
    const p = await drain(
      ctx,
      productQueue,
      product.proc,
      files[0]!,
      checkpoint,
      (_d, s) => s >= drainBudgetS,
    );
    await stopProcs(ctx, [product.proc]);
    ctx.log(`  product worker drained ${p.drained} jobs in ${p.seconds.toFixed(1)} s`);

    // Reference worker: the same number of jobs.
    ctx.sandbox.reset();
    seedContacts(ctx.sandbox, 'kr', 0, pool);
    const r = await drain(
      ctx,
      referenceQueue,
      reference,
      files[1]!,
      checkpoint,
      (d, s) => d >= p.drained || s >= referenceCapS,
    );
    await stopProcs(ctx, [reference]);
    ctx.log(`  minimal worker drained ${r.drained} jobs in ${r.seconds.toFixed(1)} s`);

    for (const [who, d] of [
      ['product', p],
      ['reference', r],
    ] as const) {
      record[`drained_${who}`] = d.drained;
      record[`drain_jobs_s_${who}`] = d.drained / d.seconds;
      record[`checkpoint_jobs_${who}`] = d.checkpointJobs;
      for (const [at, probed] of [
        ['start', d.start],
        ['checkpoint', d.checkpoint],
        ['end', d.end],
      ] as const) {
        record[`heap_mib_${at}_${who}`] = probed.heapUsed / MiB;
        record[`rss_mib_${at}_${who}`] = probed.rss / MiB;
      }
    }
  } finally {
    await stopProcs(ctx, procs);
    await productQueue.close();
    await referenceQueue.close();
    ctx.sandbox.reset();
    await ctx.flush();
    await Promise.all(files.map((f) => rm(f, { force: true })));
  }

  const bytesRatio = record.bytes_per_job_product! / record.bytes_per_job_reference!;
  const heapGrowth = record.heap_mib_end_product! - record.heap_mib_checkpoint_product!;
  const heapFlat = heapGrowth <= Math.max(0.1 * record.heap_mib_checkpoint_product!, 4);
  const rssRatio = record.rss_mib_end_product! / record.rss_mib_end_reference!;
  const goals: Goal[] = [
    {
      name: 'memory-redis',
      figure: `${record.bytes_per_job_product!.toFixed(0)} B per waiting job = ${bytesRatio.toFixed(2)}× the reference's ${record.bytes_per_job_reference!.toFixed(0)} B (${n.toLocaleString('en-US')} jobs)`,
      target: '≤ 1.0×',
      pass: bytesRatio <= 1.0,
    },
    {
      name: 'memory-heap',
      figure: `worker heap after GC ${record.heap_mib_checkpoint_product!.toFixed(1)} MiB after ${record.checkpoint_jobs_product} jobs → ${record.heap_mib_end_product!.toFixed(1)} MiB after ${record.drained_product} jobs (${heapGrowth >= 0 ? '+' : ''}${heapGrowth.toFixed(1)} MiB)`,
      target: 'flat: ≤ +10 % or ≤ +4 MiB',
      pass: heapFlat,
    },
    {
      name: 'memory-rss',
      figure: `worker RSS ${record.rss_mib_end_product!.toFixed(0)} MiB = ${rssRatio.toFixed(2)}× the minimal worker's ${record.rss_mib_end_reference!.toFixed(0)} MiB after ${record.drained_product} / ${record.drained_reference} jobs`,
      target: '≤ 1.2×',
      pass: rssRatio <= 1.2,
    },
  ];
  const row = (metric: string, unit: string, product: string, reference: string) => ({
    metric,
    unit,
    product,
    reference,
    referenceName: 'minimal',
  });
  return {
    name: 'backlog',
    runs: [record],
    rows: [
      row('Redis bytes per waiting job', 'B', 'bytes_per_job_product', 'bytes_per_job_reference'),
      row('addBulk time for the backlog', 's', 'add_s_product', 'add_s_reference'),
      row(
        'worker heap after GC, start',
        'MiB',
        'heap_mib_start_product',
        'heap_mib_start_reference',
      ),
      row(
        `worker heap after GC, ${checkpoint} jobs`,
        'MiB',
        'heap_mib_checkpoint_product',
        'heap_mib_checkpoint_reference',
      ),
      row('worker heap after GC, end', 'MiB', 'heap_mib_end_product', 'heap_mib_end_reference'),
      row('worker RSS after GC, start', 'MiB', 'rss_mib_start_product', 'rss_mib_start_reference'),
      row(
        `worker RSS after GC, ${checkpoint} jobs`,
        'MiB',
        'rss_mib_checkpoint_product',
        'rss_mib_checkpoint_reference',
      ),
      row('worker RSS after GC, end', 'MiB', 'rss_mib_end_product', 'rss_mib_end_reference'),
      row('jobs drained', 'jobs', 'drained_product', 'drained_reference'),
      row(
        'drain rate with the backlog',
        'jobs/s',
        'drain_jobs_s_product',
        'drain_jobs_s_reference',
      ),
    ],
    goals,
    details: { breakdownBytes: breakdown },
    notes: [
      `One run (full: ${n.toLocaleString('en-US')} jobs twice plus the drains take minutes; three would not fit the 15-minute cap). Bytes/job = INFO used_memory delta ÷ N.`,
      `Per key (MEMORY USAGE): product job hash ${breakdown.product_job_hash ?? 'n/a'} B + dedup key ${breakdown.product_dedup_key ?? 'n/a'} B + wait list ${breakdown.product_wait_list_per_job?.toFixed(1) ?? 'n/a'} B/job; reference job hash ${breakdown.reference_job_hash ?? 'n/a'} B + wait list ${breakdown.reference_wait_list_per_job?.toFixed(1) ?? 'n/a'} B/job.`,
      `Product worker drained for ${drainBudgetS} s (1 process, concurrency 16, no budget, notify off); the minimal worker then drained the same number of its jobs (cap ${referenceCapS} s). Jobs cycle over ${pool} seeded contacts. Heap/RSS read after gc() via bench/lib/gc-probe.ts.`,
    ],
  };
};
