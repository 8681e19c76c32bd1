import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

export type RedisRole = 'producer' | 'worker';

/** A single Redis or a Redis Cluster: every command this project sends works on both. */
export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  role: RedisRole;
  name?: string;
  overrides?: RedisOptions;
  /**
   * `host:port` of some Cluster nodes (REDIS_CLUSTER_NODES): connects to the Cluster instead of
   * `url`. Every key this project writes starts with the hash-tagged QUEUE_PREFIX, so each job's and
   * each lock's keys share one slot, as BullMQ's Lua scripts require.
   */
  clusterNodes?: readonly string[];
}

/**
 * The one place that opens Redis connections.
 *
 * - `producer` (ingress): no offline queue and one try per command, so when Redis is down a
 *   request fails at once and the ingress can answer 503 within a second instead of hanging.
 * - `worker` (worker, CLI): commands wait for the connection and it reconnects forever, as BullMQ
 *   workers require (`maxRetriesPerRequest: null`), so a Redis restart pauses work instead of
 *   killing it. The CLI checks that Redis answers before it starts, then waits like a worker.
 */
export function createRedisConnection(
  url: string,
  options: RedisConnectionOptions & { clusterNodes?: undefined },
): Redis;
export function createRedisConnection(url: string, options: RedisConnectionOptions): RedisClient;
export function createRedisConnection(
  url: string,
  { role, name, overrides = {}, clusterNodes }: RedisConnectionOptions,
): RedisClient {
  const reconnect = (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000);
  const base: RedisOptions =
    role === 'producer'
      ? {
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: 2000,
          retryStrategy: reconnect,
        }
      : {
          enableOfflineQueue: true,
          maxRetriesPerRequest: null,
          retryStrategy: reconnect,
        };
  const redisOptions: RedisOptions = {
    ...base,
    ...(name === undefined ? {} : { connectionName: name }),
    ...overrides,
  };
  if (clusterNodes && clusterNodes.length > 0) {
    const cluster: ClusterOptions = {
      redisOptions,
      enableOfflineQueue: redisOptions.enableOfflineQueue ?? true,
      clusterRetryStrategy: reconnect,
    };
    return new Cluster(
      clusterNodes.map((node) => {
        const [host, port] = node.split(':');
        return { host: host ?? '127.0.0.1', port: Number(port ?? 6379) };
      }),
      cluster,
    );
  }
  return new Redis(url, redisOptions);
}

/**
 * A second connection like `connection`, with ioredis auto-pipelining: commands issued in one
 * event-loop turn leave in one socket write. For the product's own short, independent commands
 * (request budget, contact locks and marks, notification state), which several concurrent jobs
 * issue at once; on a loopback Redis every socket write costs the writer tens of microseconds of
 * CPU (bench profile: 15 % of the worker's CPU), and this saved ~5 % of the worker's CPU per job.
 * Never for BullMQ: auto-pipelining on its connections has been reported to break it
 * (taskforcesh/bullmq#457). The caller closes it.
 */
export function createPipelinedDuplicate(connection: RedisClient): RedisClient {
  const duplicate =
    connection instanceof Cluster
      ? connection.duplicate(undefined, { enableAutoPipelining: true })
      : connection.duplicate({ enableAutoPipelining: true });
  // The original connection reports Redis outages; without a listener ioredis prints each error.
  duplicate.on('error', () => {});
  return duplicate;
}

/**
 * Whether Redis answers PING within `timeoutMs`. Worker connections queue commands while
 * disconnected, so a bare `ping()` would hang a readiness probe until Redis came back.
 */
export async function redisReady(redis: RedisClient, timeoutMs = 1000): Promise<boolean> {
  return Promise.race([
    redis.ping().then(
      (answer) => answer === 'PONG',
      () => false,
    ),
    sleep(timeoutMs, false, { ref: false }),
  ]);
}

/**
 * Redis's `maxmemory-policy`, or `undefined` where CONFIG is not allowed (managed Redis often
 * disables it). Anything but `noeviction` lets Redis drop queued jobs silently under memory pressure,
 * so both processes warn about it at start.
 */
export async function evictionPolicy(redis: RedisClient): Promise<string | undefined> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as unknown;
    return Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : undefined;
  } catch {
    return undefined;
  }
}

/** Logs a warning when Redis may evict keys; a no-op when the policy is safe or unknown. */
export async function warnUnlessNoEviction(
  redis: RedisClient,
  logger: { warn(obj: object, msg: string): void },
): Promise<void> {
  const policy = await evictionPolicy(redis);
  if (policy !== undefined && policy !== 'noeviction') {
    logger.warn(
      { maxmemoryPolicy: policy },
      'Redis maxmemory-policy is not noeviction: under memory pressure Redis may delete queued jobs',
    );
  }
}
