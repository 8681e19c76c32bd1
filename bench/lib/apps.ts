/**
 * Starting the processes under measurement: the real product processes (`node apps/…/main.ts`,
 * configured by environment only, as an operator runs them) and the baselines in bench/baselines.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext } from './context.ts';
import { LINK_QUEUE, LINK_URL_TEMPLATE } from './data.ts';
import { freePort, type Proc, spawnNode, waitForHttp } from './procs.ts';

export const API_KEY = 'bench-api-key-0123456789abcdef';
export const WEBHOOK_SECRET = 'bench-webhook-secret-0123456789';
/** "No budget": far above anything this machine can send. */
export const NO_BUDGET = '1000000/1s';

export interface Server {
  proc: Proc;
  url: string;
}

/**
 * The product ingress (`node apps/ingress/src/main.ts`), resolved when `/readyz` answers 200. `port`
 * (default: a free one) lets a caller name its URL before it runs, e.g. as a sandbox's webhook target.
 */
export async function startProductIngress(
  ctx: BenchContext,
  { label, prefix, port: wanted }: { label: string; prefix: string; port?: number },
): Promise<Server> {
  const port = wanted ?? (await freePort());
  const proc = spawnNode(
    label,
    'apps/ingress/src/main.ts',
    [],
    {
      REDIS_URL: ctx.redis.url,
      QUEUE_PREFIX: prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      DMS_API_KEYS: API_KEY,
      WEB1ON1_WEBHOOK_SECRET: WEBHOOK_SECRET,
      INGRESS_RATE_LIMIT: NO_BUDGET,
      LOG_LEVEL: 'warn',
      ...ctx.productEnv,
    },
    ctx.nodeOptions(label),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(proc, `${url}/readyz`);
  return { proc, url };
}

export interface WorkerSettings {
  label: string;
  prefix: string;
  /** WEB1ON1_RATE_LIMIT. @defaultValue NO_BUDGET */
  rateLimit?: string;
  /** Extra NODE_OPTIONS (the gc probe). */
  nodeOptions?: string[];
  /** Extra environment (the gc probe's file). */
  env?: Record<string, string>;
  /** The Web1on1 API to call. @defaultValue the bench's sandbox (`ctx.sandbox`) */
  web1on1?: { url: string; token: string };
}

/** The product worker (`node apps/worker/src/main.ts`), resolved when its `/readyz` answers 200. */
export async function startProductWorker(
  ctx: BenchContext,
  { label, prefix, rateLimit = NO_BUDGET, nodeOptions = [], env = {}, web1on1 }: WorkerSettings,
): Promise<Server> {
  const port = await freePort();
  const proc = spawnNode(
    label,
    'apps/worker/src/main.ts',
    [],
    {
      REDIS_URL: ctx.redis.url,
      QUEUE_PREFIX: prefix,
      WORKER_PORT: String(port),
      WEB1ON1_API_URL: web1on1?.url ?? ctx.sandbox.url,
      WEB1ON1_TOKEN: web1on1?.token ?? ctx.sandbox.issueToken(),
      WEB1ON1_RATE_LIMIT: rateLimit,
      WORKER_CONCURRENCY: '16',
      DMS_CONTACT_URL_TEMPLATE: LINK_URL_TEMPLATE,
      LOG_LEVEL: 'warn',
      ...ctx.productEnv,
      ...env,
    },
    [...ctx.nodeOptions(label), ...nodeOptions],
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(proc, `${url}/readyz`);
  return { proc, url };
}

/** A baseline server (bare-fastify, minimal-ingress) on a free port, once it printed READY. */
export async function startBaselineServer(
  ctx: BenchContext,
  script: 'bare-fastify' | 'minimal-ingress',
  { label, prefix = '' }: { label: string; prefix?: string },
): Promise<Server> {
  const port = await freePort();
  const options = { port, redisUrl: ctx.redis.url, prefix, queue: LINK_QUEUE };
  const proc = spawnNode(
    label,
    `bench/baselines/${script}.ts`,
    [JSON.stringify(options)],
    {},
    ctx.nodeOptions(label),
  );
  await proc.waitForLine(/^READY$/);
  return { proc, url: `http://127.0.0.1:${port}` };
}

export interface MinimalWorkerSettings {
  label: string;
  prefix: string;
  mode?: 'link' | 'one-request';
  limiter?: { max: number; duration: number };
  nodeOptions?: string[];
  env?: Record<string, string>;
}

/** bench/baselines/minimal-worker.ts at concurrency 16 against the sandbox, once it printed READY. */
export async function startMinimalWorker(
  ctx: BenchContext,
  { label, prefix, mode = 'link', limiter, nodeOptions = [], env = {} }: MinimalWorkerSettings,
): Promise<Proc> {
  const options = {
    redisUrl: ctx.redis.url,
    prefix,
    queue: LINK_QUEUE,
    apiUrl: ctx.sandbox.url,
    token: ctx.sandbox.issueToken(),
    concurrency: 16,
    mode,
    linkTemplate: LINK_URL_TEMPLATE,
    ...(limiter ? { limiter } : {}),
  };
  const proc = spawnNode(
    label,
    'bench/baselines/minimal-worker.ts',
    [JSON.stringify(options)],
    env,
    [...ctx.nodeOptions(label), ...nodeOptions],
  );
  await proc.waitForLine(/^READY$/);
  return proc;
}

/**
 * Stops processes after a measurement. Without `--profile` a SIGKILL is enough (nothing they would
 * still do matters); with it, SIGTERM so each writes its CPU profile on the way out.
 */
export async function stopProcs(ctx: BenchContext, procs: Proc[]): Promise<void> {
  if (ctx.profile) await Promise.all(procs.map((p) => p.stop(30_000)));
  else await Promise.all(procs.map((p) => p.kill()));
  // Let the redis-server notice the closed connections before the next FLUSHALL.
  await sleep(20);
}
