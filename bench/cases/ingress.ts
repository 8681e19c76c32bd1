/**
 * ingress: `POST /updatecontact` at 50 connections against a bare Fastify echo server and a minimal
 * "one queue.add per request" ingress; `POST /updatecontacts` (1000 items per body) against a
 * minimal "parse + one addBulk" reference. All three servers run as their own processes, started
 * together, and are measured one after the other in an order that rotates per run.
 */
import { type Server, startBaselineServer, startProductIngress, stopProcs } from '../lib/apps.ts';
import type { BenchContext, CaseOutput, Goal } from '../lib/context.ts';
import { dmsBody } from '../lib/data.ts';
import { redisCommands } from '../lib/jobs.ts';
import { runLoad } from '../lib/load.ts';
import { cpuMsOf } from '../lib/procs.ts';
import { median } from '../lib/stats.ts';

const SINGLE = ['bare', 'minimal', 'product'] as const;
const BULK = ['minimal', 'product'] as const;
const BULK_ITEMS = 1000;

/** CPU ms of the redis-server so far. */
const redisCpuMs = (ctx: BenchContext) => cpuMsOf(ctx.redisPid);

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export async function ingressCase(ctx: BenchContext): Promise<CaseOutput> {
  const warmS = ctx.smoke ? 0.2 : 1;
  const measureS = ctx.smoke ? 0.3 : 5;
  const bulkS = 4;
  const connections = 50;
  const bulkConnections = 4;
  const runs: Array<Record<string, number>> = [];

  for (let run = 0; run < ctx.runs; run++) {
    const servers: Record<(typeof SINGLE)[number], Server> = Object.fromEntries(
      await Promise.all([
        startBaselineServer(ctx, 'bare-fastify', { label: 'ingress-bare' }).then((s) => [
          'bare',
          s,
        ]),
        startBaselineServer(ctx, 'minimal-ingress', {
          label: 'ingress-minimal',
          prefix: `{bench-ingress-minimal-${run}}`,
        }).then((s) => ['minimal', s]),
        startProductIngress(ctx, {
          label: 'ingress-product',
          prefix: `{bench-ingress-product-${run}}`,
        }).then((s) => ['product', s]),
      ]),
    );
    const record: Record<string, number> = {};
    try {
      for (const name of rotate(SINGLE, run)) {
        const server = servers[name];
        const tag = `i${run}${name[0]}`;
        let n = 0;
        const body = () => dmsBody(tag, n++);
        await runLoad({
          url: server.url,
          path: '/updatecontact',
          connections,
          durationS: warmS,
          body,
        });
        const cpu0 = cpuMsOf(server.proc.pid);
        const redis0 = redisCpuMs(ctx);
        const commands0 = await redisCommands(ctx.conn);
        const result = await runLoad({
          url: server.url,
          path: '/updatecontact',
          connections,
          durationS: measureS,
          body,
        });
        const cpuMs = cpuMsOf(server.proc.pid) - cpu0;
        const redisMs = redisCpuMs(ctx) - redis0;
        const commands = (await redisCommands(ctx.conn)) - commands0 - 1;
        if (result.non2xx > 0 || result.errors > 0) {
          ctx.log(`  ${name}: ${result.non2xx} non-2xx, ${result.errors} errors`);
        }
        record[`rps_${name}`] = result.rps;
        record[`p50_${name}`] = result.p50;
        record[`p99_${name}`] = result.p99;
        record[`cpu_us_per_req_${name}`] = (cpuMs * 1000) / Math.max(1, result.ok);
        record[`redis_cpu_us_per_req_${name}`] = (redisMs * 1000) / Math.max(1, result.ok);
        record[`redis_cmds_per_req_${name}`] = commands / Math.max(1, result.ok);
        record[`failed_${name}`] = result.non2xx + result.errors;
        ctx.log(
          `  run ${run + 1} /updatecontact ${name}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms`,
        );
      }
      for (const name of rotate(BULK, run)) {
        const server = servers[name];
        const tag = `b${run}${name[0]}`;
        let n = 0;
        const body = () => {
          const items: string[] = [];
          const r = n++;
          for (let i = 0; i < BULK_ITEMS; i++) items.push(dmsBody(`${tag}-${r}`, i));
          return `{"contacts":[${items.join(',')}]}`;
        };
        const cpu0 = cpuMsOf(server.proc.pid);
        const result = await runLoad({
          url: server.url,
          path: '/updatecontacts',
          connections: bulkConnections,
          durationS: bulkS,
          // Smoke: one body per connection, so at least one completes however cold the server is.
          ...(ctx.smoke ? { amount: bulkConnections } : {}),
          body,
        });
        const cpuMs = cpuMsOf(server.proc.pid) - cpu0;
        record[`items_s_${name}`] = result.rps * BULK_ITEMS;
        record[`bulk_cpu_us_per_item_${name}`] =
          (cpuMs * 1000) / Math.max(1, result.ok * BULK_ITEMS);
        record[`bulk_failed_${name}`] = result.non2xx + result.errors;
        ctx.log(
          `  run ${run + 1} /updatecontacts ${name}: ${(result.rps * BULK_ITEMS).toFixed(0)} items/s`,
        );
      }
    } finally {
      await stopProcs(
        ctx,
        Object.values(servers).map((s) => s.proc),
      );
      await ctx.flush();
    }
    record.rps_ratio_minimal = record.rps_product! / record.rps_minimal!;
    record.p99_ratio_minimal = record.p99_product! / record.p99_minimal!;
    runs.push(record);
  }

  const med = (key: string) => median(runs.map((r) => r[key] ?? Number.NaN));
  const rpsRatio = med('rps_ratio_minimal');
  const p99Ratio = med('p99_ratio_minimal');
  const bulkRatio = median(runs.map((r) => r.items_s_product! / r.items_s_minimal!));
  const failed =
    runs.reduce((sum, r) => sum + (r.failed_product ?? 0) + (r.bulk_failed_product ?? 0), 0) > 0;
  const goals: Goal[] = [
    {
      name: 'ingress',
      figure: `${rpsRatio.toFixed(2)}× minimal-ingress req/s, p99 ${p99Ratio.toFixed(2)}× its p99`,
      target: 'req/s ≥ 1.0×, p99 ≤ 1.2×; stretch ≥ 1.5×',
      pass: rpsRatio >= 1.0 && p99Ratio <= 1.2 && !failed,
    },
    {
      name: 'ingress-stretch',
      figure: `${rpsRatio.toFixed(2)}× minimal-ingress req/s`,
      target: '≥ 1.5×',
      pass: rpsRatio >= 1.5 && !failed,
    },
    {
      name: 'bulk',
      figure: `${bulkRatio.toFixed(2)}× the minimal bulk reference items/s`,
      target: '≥ 1.0×',
      pass: bulkRatio >= 1.0 && !failed,
    },
  ];
  const notes = [
    `${connections} connections, ${measureS} s measured after ${warmS} s warm-up, per server; bulk: ${bulkConnections} connections, ${BULK_ITEMS} items per body, ${ctx.smoke ? `${bulkConnections} bodies` : `${bulkS} s`}.`,
    'CPU per request: utime+stime of the server process over the measured window ÷ 2xx answers; Redis CPU likewise from the redis-server process.',
  ];
  if (failed)
    notes.push('The product answered some requests with a non-2xx or an error: see the JSON.');
  return {
    name: 'ingress',
    runs,
    rows: [
      {
        metric: '/updatecontact req/s',
        unit: 'req/s',
        product: 'rps_product',
        reference: 'rps_minimal',
        referenceName: 'minimal-ingress',
      },
      {
        metric: '/updatecontact p50',
        unit: 'ms',
        product: 'p50_product',
        reference: 'p50_minimal',
        referenceName: 'minimal-ingress',
      },
      {
        metric: '/updatecontact p99',
        unit: 'ms',
        product: 'p99_product',
        reference: 'p99_minimal',
        referenceName: 'minimal-ingress',
      },
      {
        metric: 'Node CPU per request',
        unit: 'µs',
        product: 'cpu_us_per_req_product',
        reference: 'cpu_us_per_req_minimal',
        referenceName: 'minimal-ingress',
      },
      {
        metric: 'Redis CPU per request',
        unit: 'µs',
        product: 'redis_cpu_us_per_req_product',
        reference: 'redis_cpu_us_per_req_minimal',
        referenceName: 'minimal-ingress',
      },
      {
        metric: 'Redis commands per request',
        unit: 'cmd',
        product: 'redis_cmds_per_req_product',
        reference: 'redis_cmds_per_req_minimal',
        referenceName: 'minimal-ingress',
      },
      {
        metric: '/updatecontact req/s vs bare',
        unit: 'req/s',
        product: 'rps_product',
        reference: 'rps_bare',
        referenceName: 'bare-fastify',
      },
      {
        metric: '/updatecontact p99 vs bare',
        unit: 'ms',
        product: 'p99_product',
        reference: 'p99_bare',
        referenceName: 'bare-fastify',
      },
      {
        metric: 'Node CPU per request vs bare',
        unit: 'µs',
        product: 'cpu_us_per_req_product',
        reference: 'cpu_us_per_req_bare',
        referenceName: 'bare-fastify',
      },
      {
        metric: '/updatecontacts items/s',
        unit: 'items/s',
        product: 'items_s_product',
        reference: 'items_s_minimal',
        referenceName: 'minimal bulk',
      },
      {
        metric: 'bulk Node CPU per item',
        unit: 'µs',
        product: 'bulk_cpu_us_per_item_product',
        reference: 'bulk_cpu_us_per_item_minimal',
        referenceName: 'minimal bulk',
      },
    ],
    goals,
    notes,
  };
}
