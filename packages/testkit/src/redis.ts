import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { test } from 'vitest';
import { freePort, spawnWatched, startWatchdog, type WatchedChild } from './child-process.ts';

/** A Redis for tests, from whichever source `startRedis` found. */
export interface RedisHandle {
  url: string;
  kind: 'testcontainers' | 'env' | 'private';
  /** Stops what this handle started; a `REDIS_URL` Redis is left alone. */
  stop(): Promise<void>;
}

/** A `redis-server` child process owned by the test process, for tests that stop or kill Redis. */
export interface PrivateRedis extends RedisHandle {
  kind: 'private';
  port: number;
  /** Working directory (AOF files); removed when the test process exits. */
  dir: string;
  /** Starts it again on the same port and directory after `stop()` or `kill()`; no-op while running. */
  start(): Promise<void>;
  /** Graceful shutdown (the AOF, when on, is flushed; no RDB is written); no-op when stopped. */
  stop(): Promise<void>;
  /** `SIGKILL`: whatever was not yet on disk is lost, like a crashed host. */
  kill(): Promise<void>;
}

export interface PrivateRedisOptions {
  /** @defaultValue false */
  appendonly?: boolean;
  /** Only meaningful with `appendonly`. @defaultValue 'everysec' (Redis's own default) */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** @defaultValue a free port */
  port?: number;
  /** More `redis-server` arguments, e.g. `['--cluster-enabled', 'yes']`. */
  extraArgs?: readonly string[];
  /**
   * Own process group, out of reach of a terminal's Ctrl-C, for a script (`pnpm dev`) that stops
   * it last, after the processes using it. @defaultValue false
   */
  detached?: boolean;
}

const REDIS_SERVER = 'redis-server';
const REDIS_IMAGE = 'redis:7.4-alpine';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
/** The container-runtime probe never takes longer than this, with or without a runtime. */
const PROBE_TIMEOUT_MS = 1_500;

/**
 * The Redis for a test run, chosen once per call in this order:
 * 1. testcontainers, when it finds a container runtime that answers within ~1.5 s;
 * 2. `REDIS_URL`, when set (e.g. a CI service container);
 * 3. a private `redis-server` on a free port.
 * `stop()` stops only what this call started.
 */
export async function startRedis(): Promise<RedisHandle> {
  if (await containerRuntimeAvailable()) {
    try {
      // Loaded only when a runtime answered: the docker client stack is heavy and useless otherwise.
      const { RedisContainer } = await import('@testcontainers/redis');
      const container = await new RedisContainer(REDIS_IMAGE).start();
      const stop = async () => void (await container.stop());
      return { url: container.getConnectionUrl(), kind: 'testcontainers', stop };
    } catch (error) {
      // A runtime that answers pings but cannot pull or run the image (offline, quota): say so once
      // and keep the suite running on the next source instead of failing every test.
      console.warn(`testkit: testcontainers Redis failed (${messageOf(error)}); falling back`);
    }
  }
  const url = process.env.REDIS_URL;
  if (url) return { url, kind: 'env', stop: async () => {} };
  return startPrivateRedis();
}

/** A unique, hash-tagged key prefix (`{cl-test-<uuid>}`): every key under it lands in one Cluster slot. */
export function uniquePrefix(): string {
  return `{cl-test-${randomUUID()}}`;
}

/**
 * Deletes the keys that start with `prefix` (SCAN MATCH + UNLINK) and returns how many went. Never
 * touches any other key, so it is safe on a Redis the tests share with others. Glob characters in
 * `prefix` are matched literally, and prefixes under 8 characters are refused, so a slip cannot wipe a
 * shared Redis.
 */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<number> {
  if (prefix.length < 8)
    throw new Error(`deleteKeysWithPrefix: refusing the short prefix "${prefix}"`);
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  return withClient(url, { maxRetriesPerRequest: 1 }, async (client) => {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  });
}

/**
 * Starts a `redis-server` child bound to 127.0.0.1 with no RDB snapshots, in a fresh temp directory,
 * and resolves once it answers PING. It dies with the test process however that ends (the exit hook
 * and watchdog of `spawnWatched`), and a second watchdog removes the directory then, which also
 * covers a test process that dies while this server is stopped.
 */
export async function startPrivateRedis(opts: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'cl-redis-'));
  startWatchdog({ name: 'cl-redis-dir-watchdog', removePath: dir });
  let port = opts.port ?? (await freePort());
  let child: WatchedChild | undefined;
  // SIGTERM is Redis's graceful SHUTDOWN: it flushes the AOF when on, and `--save ''` means no RDB.
  const args = () => [
    ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir],
    ...['--appendonly', opts.appendonly ? 'yes' : 'no'],
    ...['--appendfsync', opts.appendfsync ?? 'everysec', '--daemonize', 'no'],
    ...(opts.extraArgs ?? []),
  ];
  const start = async () => {
    if (!child?.running()) child = await spawnRedis(args(), port, dir, opts.detached ?? false);
  };

  // A free port can be taken between the check and the bind; only then try another one.
  for (let attempt = 1; ; attempt += 1) {
    try {
      await start();
      break;
    } catch (error) {
      if (opts.port !== undefined || attempt >= 5 || !/in use/i.test(messageOf(error))) throw error;
      port = await freePort();
    }
  }

  return {
    kind: 'private',
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    start,
    stop: async () => {
      if (!child?.running()) return;
      if ((await child.signalAndWait('SIGTERM', STOP_TIMEOUT_MS)) === 'timeout') await child.kill();
    },
    kill: async () => {
      await child?.kill();
    },
  };
}

type RedisTestFixtures = ReturnType<typeof buildRedisTest>;

function buildRedisTest() {
  return (
    test
      // biome-ignore lint/correctness/noEmptyPattern: vitest reads fixture dependencies from the pattern and rejects anything else
      .extend('redis', { scope: 'worker' }, async ({}, { onCleanup }): Promise<RedisHandle> => {
        const redis = await startRedis();
        onCleanup(() => redis.stop());
        return redis;
      })
      .extend('redisUrl', ({ redis }) => redis.url)
      .extend('prefix', ({ redis }, { onCleanup }) => {
        const prefix = uniquePrefix();
        onCleanup(async () => {
          await deleteKeysWithPrefix(redis.url, prefix);
        });
        return prefix;
      })
  );
}

/**
 * vitest fixture: `redis` (a `RedisHandle` from `startRedis`, started once per vitest worker and
 * stopped when it ends), `redisUrl`, and a per-test `prefix` (`uniquePrefix()`) whose keys are deleted
 * after the test. Build every key and queue prefix from `prefix`; never flush.
 *
 * Outside a vitest run (e.g. `pnpm dev` importing the sandboxes from this kit, or a process a test
 * spawned) `test.extend` throws, so there it is a stand-in that throws that error on first use.
 */
export const redisTest: RedisTestFixtures = buildRedisTestOrStub();

function buildRedisTestOrStub(): RedisTestFixtures {
  try {
    return buildRedisTest();
  } catch (error) {
    const fail = () => {
      throw new Error(`redisTest is only usable inside a vitest run: ${messageOf(error)}`, {
        cause: error,
      });
    };
    return new Proxy(() => {}, { get: fail, apply: fail }) as unknown as RedisTestFixtures;
  }
}

// --- private redis-server plumbing -------------------------------------------------------------

async function spawnRedis(
  args: string[],
  port: number,
  dir: string,
  detached: boolean,
): Promise<WatchedChild> {
  const child = spawnWatched(REDIS_SERVER, args, {
    command: REDIS_SERVER,
    detached,
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    watchdogName: 'cl-redis-watchdog',
    maxLines: 50,
    // As before the move to spawnWatched: a script that never stops its Redis can still exit.
    unref: true,
  });
  let reason = '';
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (child.running() && performance.now() < deadline) {
    const info = await withClient(`redis://127.0.0.1:${port}`, FAIL_FAST, async (client) => {
      await client.ping();
      return client.info('server');
    }).catch(() => undefined);
    if (info !== undefined) {
      // Something else may already listen on this port; make sure the answer came from our child.
      if (new RegExp(`process_id:${child.pid}\\r?\\n`).test(info)) return child;
      reason = 'port already in use by another redis-server';
      break;
    }
    await sleep(20);
  }
  await child.kill();
  const tail = [...child.stdout, ...child.stderr].filter((line) => line.trim()).slice(-3);
  throw new Error(
    `redis-server on port ${port} did not start: ${reason || tail.join(' | ') || 'no log output (timed out)'}`,
  );
}

/** For polling a starting redis-server: one try each (no ready check: PING answers LOADING). */
const FAIL_FAST: RedisOptions = {
  maxRetriesPerRequest: 0,
  retryStrategy: () => null,
  enableReadyCheck: false,
  connectTimeout: 1_000,
  commandTimeout: 1_000,
};

/** Runs `fn` on a connection of its own, closed afterwards. */
async function withClient<T>(
  url: string,
  options: RedisOptions,
  fn: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis(url, { ...options, lazyConnect: true });
  // Failures surface through the commands; this only keeps ioredis from logging them too.
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    // After a refused connect ioredis is already 'end', and disconnecting then arms a 2 s timer
    // that nothing clears, which would hold a script open.
    if (client.status !== 'end') client.disconnect();
  }
}

// --- testcontainers --------------------------------------------------------------------------

/**
 * Whether testcontainers' own `getContainerRuntimeClient()` finds a runtime (`tc.host`, `DOCKER_HOST`,
 * the usual sockets), asked in a child that is killed after `PROBE_TIMEOUT_MS`: the call has no time
 * bound of its own (a runtime that accepts and never answers hangs it) and cannot be cancelled, and in
 * a child its docker client stack stays out of this process when there is no runtime.
 */
async function containerRuntimeAvailable(): Promise<boolean> {
  const testcontainers = createRequire(import.meta.url).resolve('testcontainers');
  const script =
    'require(process.argv[1]).getContainerRuntimeClient().then(() => process.exit(0), () => process.exit(1))';
  const probe = spawnWatched('container-runtime probe', ['-e', script, testcontainers], {
    cwd: tmpdir(),
    // What testcontainers reads (DOCKER_HOST, HOME, XDG_RUNTIME_DIR, …) as this process sees it.
    env: { ...process.env } as Record<string, string>,
    watchdogName: 'cl-runtime-probe-watchdog',
  });
  const status = await Promise.race([
    probe.exited,
    sleep(PROBE_TIMEOUT_MS, 'timeout' as const, { ref: false }),
  ]);
  if (status === 'timeout') await probe.kill();
  return status !== 'timeout' && status.code === 0;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
