/**
 * `pnpm bench [--smoke] [--only <case>[,<case>…]] [--profile] [--traces]`: the benchmark suite.
 *
 * Starts its own redis-server, the Web1on1 sandbox (in this process) and the real product
 * processes, runs each case three times (once with `--smoke`) next to its references in the same
 * run, prints one table and the goal lines, and writes bench/results/<case>.json. Every child,
 * the sandbox and the redis-server are stopped at the end, on error and on SIGINT.
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRedisConnection } from '@contact-linker/queues';
import {
  type OtlpReceiver,
  type PrivateRedis,
  startOtlpReceiver,
  startPrivateRedis,
  startWeb1on1Sandbox,
  type Web1on1Sandbox,
} from '@contact-linker/testkit';
import type { Redis } from 'ioredis';
import { backlogCase } from './cases/backlog.ts';
import { budgetCase } from './cases/budget.ts';
import { e2eCase } from './cases/e2e.ts';
import { economyCase } from './cases/economy.ts';
import { fairnessCase } from './cases/fairness.ts';
import { ingressCase } from './cases/ingress.ts';
import { outageCase } from './cases/outage.ts';
import { workerCase } from './cases/worker.ts';
import type { BenchCase, BenchContext, CaseOutput } from './lib/context.ts';
import { ORG } from './lib/data.ts';
import { stopAll } from './lib/procs.ts';
import { profileOptions, renderProfiles, summarizeProfiles } from './lib/profile.ts';
import {
  goalLine,
  machineInfo,
  RESULTS_DIR,
  renderTable,
  type TableRow,
  tableRows,
  writeResult,
} from './lib/report.ts';

const CASES: Record<string, BenchCase> = {
  ingress: ingressCase,
  worker: workerCase,
  budget: budgetCase,
  e2e: e2eCase,
  outage: outageCase,
  backlog: backlogCase,
  economy: economyCase,
  fairness: fairnessCase,
};

const USAGE = `usage: pnpm bench [--smoke] [--only <case>[,<case>...]] [--profile] [--traces]
  --smoke    each case once with tiny sizes (a "does it still run" check, < 30 s)
  --only     run only these cases: ${Object.keys(CASES).join(', ')}
  --profile  run the processes under --cpu-prof; .cpuprofile files go to bench/results/profiles/,
             and the top 15 self-time functions per process role are printed (figures are perturbed)
  --traces   the product processes trace every request and job (OTEL_EXPORTER_OTLP_ENDPOINT set to a
             receiver in this process that counts and discards); results go to <case>.traces.json`;

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    traces: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const selected = args.only ? args.only.split(',').map((s) => s.trim()) : Object.keys(CASES);
const unknown = selected.filter((name) => !(name in CASES));
if (unknown.length > 0) {
  console.error(`unknown case(s): ${unknown.join(', ')}\n${USAGE}`);
  process.exit(2);
}

const started = performance.now();
const startedAt = new Date();
const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
const profileDir = join(RESULTS_DIR, 'profiles', stamp);
const log = (message: string) =>
  console.error(
    `[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}`,
  );

let redis: PrivateRedis | undefined;
let conn: Redis | undefined;
let sandbox: Web1on1Sandbox | undefined;
let traceSink: OtlpReceiver | undefined;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopAll(5_000).catch(() => {});
    await sandbox?.close().catch(() => {});
    await traceSink?.close().catch(() => {});
    conn?.disconnect();
    await redis?.stop().catch(() => {});
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping every process`);
    void cleanup().finally(() => process.exit(130));
  });
}

let exitCode = 0;
try {
  if (args.profile) mkdirSync(profileDir, { recursive: true });
  redis = await startPrivateRedis();
  conn = createRedisConnection(redis.url, { role: 'worker', name: 'bench' });
  const serverInfo = await conn.info('server');
  const redisPid = Number(/process_id:(\d+)/.exec(serverInfo)?.[1]);
  const redisVersion = /redis_version:(\S+)/.exec(serverInfo)?.[1] ?? 'unknown';
  sandbox = await startWeb1on1Sandbox({ organizationId: ORG });
  // Tracing as an operator turns it on: the standard variable alone, everything else the SDK's
  // defaults (http/protobuf, every trace sampled, batched exports).
  traceSink = args.traces ? await startOtlpReceiver({ discard: true }) : undefined;
  const machine = machineInfo(redisVersion);
  log(
    `${args.smoke ? 'smoke' : 'full'} run of ${selected.join(', ')} on ${machine.cpuModel} ×${machine.nproc}, node ${machine.node}, redis ${machine.redis}${traceSink ? `, product processes traced to ${traceSink.endpoint}` : ''}`,
  );

  const activeConn = conn;
  const ctx: BenchContext = {
    smoke: args.smoke,
    profile: args.profile,
    runs: args.smoke ? 1 : 3,
    redis,
    redisPid,
    conn: activeConn,
    sandbox,
    log,
    nodeOptions: (label) => (args.profile ? profileOptions(profileDir, label) : []),
    productEnv: traceSink ? { OTEL_EXPORTER_OTLP_ENDPOINT: traceSink.endpoint } : {},
    flush: async () => {
      await activeConn.flushall();
    },
  };

  const rows: TableRow[] = [];
  const goals: string[] = [];
  const notes: string[] = [];
  for (const name of selected) {
    const caseStarted = performance.now();
    const loadStart = loadavg()[0]!;
    const exportedBefore = traceSink ? { ...traceSink.requests } : undefined;
    log(`case ${name} (load average ${loadStart.toFixed(2)})`);
    let output: CaseOutput;
    try {
      output = await CASES[name]!(ctx);
    } catch (error) {
      exitCode = 1;
      log(
        `case ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`,
      );
      goals.push(`GOAL ${name}: case did not complete (see stderr) FAIL`);
      await stopAll(5_000);
      await ctx.flush().catch(() => {});
      sandbox.reset();
      continue;
    }
    const durationS = (performance.now() - caseStarted) / 1000;
    if (traceSink && exportedBefore) {
      const requests = traceSink.requests.protobuf - exportedBefore.protobuf;
      const mb = (traceSink.requests.bytes - exportedBefore.bytes) / 1e6;
      output.notes.push(`traced: ${requests} OTLP export requests (${mb.toFixed(1)} MB) received`);
    }
    const file = writeResult(output, {
      smoke: args.smoke,
      profile: args.profile,
      traces: args.traces,
      machine,
      startedAt,
      durationS,
      loadavg: { start: loadStart, end: loadavg()[0]! },
    });
    log(`case ${name} done in ${durationS.toFixed(1)} s → ${file}`);
    rows.push(...tableRows(output));
    goals.push(...output.goals.map(goalLine));
    notes.push(...output.notes.map((n) => `${name}: ${n}`));
  }

  console.log('');
  console.log(renderTable(rows));
  console.log('');
  for (const note of notes) console.log(`- ${note}`);
  console.log('');
  for (const goal of goals) console.log(goal);
  if (args.profile) {
    await stopAll(30_000);
    console.log('');
    console.log(renderProfiles(summarizeProfiles(profileDir)));
    console.log(`(profiles in ${profileDir})`);
  }
  console.log(
    `\n${args.smoke ? 'smoke' : 'full'} bench finished in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
} catch (error) {
  exitCode = 1;
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
} finally {
  await cleanup();
}
// The testkit's redis stop() leaves a 10 s timer behind; nothing is left to wait for.
process.exit(exitCode);
