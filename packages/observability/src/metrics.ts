import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of both processes, each on its own registry so tests and processes never
 * share counters. Label values are fixed vocabularies (route templates, queue names, outcomes,
 * status codes): nothing a caller sends, so no email or phone number can become a label.
 */

const SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Waiting in a queue: from milliseconds when idle to hours behind a dealer's re-sync. */
const WAIT_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 10_800];

export interface QueueDepthSource {
  /** Counts per state for each queue, read on every scrape. */
  depths(): Promise<Array<{ queue: string; counts: Record<string, number> }>>;
}

/** How long a scrape waits for the queue depths before it answers without them. */
const DEPTH_DEADLINE_MS = 2000;

/**
 * Reads the depths at scrape time. When Redis fails or does not answer within
 * {@link DEPTH_DEADLINE_MS} the scrape still succeeds, without depth samples: a failed scrape would
 * make Prometheus report the process down (`up == 0`) when it is Redis that is, which
 * `contact_linker_redis_ready` says.
 */
function queueDepthGauge(registry: Registry, source: QueueDepthSource) {
  return new Gauge({
    name: 'contact_linker_queue_jobs',
    help: 'Jobs per queue and state, read from Redis at scrape time',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      const settled = new AbortController();
      const depths = await Promise.race([
        source.depths().catch(() => []),
        sleep(DEPTH_DEADLINE_MS, [], { ref: false, signal: settled.signal }).catch(() => []),
      ]);
      settled.abort();
      this.reset();
      for (const { queue, counts } of depths) {
        for (const [state, count] of Object.entries(counts)) this.set({ queue, state }, count);
      }
    },
  });
}

/** Resolves whether Redis answers now (the process's readiness check); a rejection counts as not ready. */
export type RedisReadySource = () => Promise<boolean>;

/** 1 when the process's own readiness check found Redis answering at scrape time, else 0. */
function redisReadyGauge(registry: Registry, ready: RedisReadySource) {
  return new Gauge({
    name: 'contact_linker_redis_ready',
    help: '1 when Redis answered the readiness check (what /readyz reports) at scrape time, else 0',
    registers: [registry],
    async collect() {
      this.set((await ready().catch(() => false)) ? 1 : 0);
    },
  });
}

export function createIngressMetrics({
  queues,
  redisReady,
}: {
  queues: QueueDepthSource;
  redisReady?: RedisReadySource;
}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  queueDepthGauge(registry, queues);
  if (redisReady) redisReadyGauge(registry, redisReady);
  const requests = new Counter({
    name: 'contact_linker_http_requests_total',
    help: 'HTTP requests by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'contact_linker_http_request_duration_seconds',
    help: 'HTTP request duration by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: SECONDS,
    registers: [registry],
  });
  return {
    registry,
    observeRequest(route: string, method: string, status: number, seconds: number) {
      const labels = { route, method, status: String(status) };
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
  };
}
export type IngressMetrics = ReturnType<typeof createIngressMetrics>;

export function createWorkerMetrics({
  queues,
  redisReady,
}: {
  queues?: QueueDepthSource;
  redisReady?: RedisReadySource;
} = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  if (queues) queueDepthGauge(registry, queues);
  if (redisReady) redisReadyGauge(registry, redisReady);
  const jobs = new Counter({
    name: 'contact_linker_jobs_total',
    help: 'Jobs finished by queue and outcome (linked, not_found, delivered, unchanged, retry, dead_lettered, rate_limited, …)',
    labelNames: ['queue', 'outcome'] as const,
    registers: [registry],
  });
  const jobDuration = new Histogram({
    name: 'contact_linker_job_duration_seconds',
    help: 'Time one job run took, by queue and outcome',
    labelNames: ['queue', 'outcome'] as const,
    buckets: SECONDS,
    registers: [registry],
  });
  const web1on1 = new Histogram({
    name: 'contact_linker_web1on1_request_duration_seconds',
    help: 'Web1on1 API requests by operation and status (status "error": no answer)',
    labelNames: ['operation', 'status'] as const,
    buckets: SECONDS,
    registers: [registry],
  });
  const dms = new Histogram({
    name: 'contact_linker_dms_request_duration_seconds',
    help: 'DMS notification requests by status (status "error": no answer)',
    labelNames: ['status'] as const,
    buckets: SECONDS,
    registers: [registry],
  });
  const budgetWait = new Histogram({
    name: 'contact_linker_web1on1_budget_wait_seconds',
    help: 'Time requests waited for the shared Web1on1 request budget',
    buckets: SECONDS,
    registers: [registry],
  });
  const pauses = new Counter({
    name: 'contact_linker_rate_limit_pauses_total',
    help: 'Jobs put back as delayed after a 429 or because the budget was exhausted, by queue',
    labelNames: ['queue'] as const,
    registers: [registry],
  });
  const requests = new Counter({
    name: 'contact_linker_web1on1_requests_total',
    help: 'Web1on1 API requests by purpose: search (list), read (get), write (update), token',
    labelNames: ['purpose'] as const,
    registers: [registry],
  });
  const linkWait = new Histogram({
    name: 'contact_linker_link_wait_seconds',
    help: 'Time from accept (the job was queued) to the first start of a link-contact job, by tier: live or bulk',
    labelNames: ['tier'] as const,
    buckets: WAIT_SECONDS,
    registers: [registry],
  });
  const links = new Counter({
    name: 'contact_linker_links_total',
    help: 'Links added to Web1on1 contacts, by what started them: dms_post or webhook',
    labelNames: ['via'] as const,
    registers: [registry],
  });
  return {
    registry,
    observeJob(queue: string, outcome: string, seconds: number) {
      jobs.inc({ queue, outcome });
      jobDuration.observe({ queue, outcome }, seconds);
    },
    observeWeb1on1(operation: string, status: number | 'error', ms: number) {
      web1on1.observe({ operation, status: String(status) }, ms / 1000);
      requests.inc({ purpose: PURPOSE[operation] ?? operation });
    },
    observeLinkWait(tier: 'live' | 'bulk', seconds: number) {
      linkWait.observe({ tier }, seconds);
    },
    observeLink(via: 'dms_post' | 'webhook') {
      links.inc({ via });
    },
    observeDms(status: number | 'error', ms: number) {
      dms.observe({ status: String(status) }, ms / 1000);
    },
    observeBudgetWait(ms: number) {
      budgetWait.observe(ms / 1000);
    },
    observePause(queue: string) {
      pauses.inc({ queue });
    },
  };
}
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** What each Web1on1 operation is for, the budget's point of view. */
const PURPOSE: Record<string, string> = {
  list: 'search',
  get: 'read',
  update: 'write',
  token: 'token',
};
