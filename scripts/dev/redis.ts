/**
 * Which Redis `pnpm dev` runs against: the one at `REDIS_URL` (default local) when it answers, else
 * a private `redis-server` from `PATH` on a free port, started for this run and stopped with it.
 * Without either, a one-line hint on how to get one.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { type PrivateRedis, startPrivateRedis } from '@contact-linker/testkit';
import { Redis } from 'ioredis';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** A problem the user fixes by reading `message` (one line); printed without a stack trace. */
export class DevSetupError extends Error {
  override name = 'DevSetupError';
}

export interface DevRedis {
  url: string;
  /** The redis-server this run started, or `undefined` when `REDIS_URL` answered. */
  private: PrivateRedis | undefined;
  /** Stops the private redis-server (its data goes with it); nothing for a Redis found running. */
  stop(): Promise<void>;
}

export interface ChooseRedisOptions {
  /** `REDIS_URL`, or `DEFAULT_REDIS_URL` when unset. */
  url: string;
  /** Where to look for `redis-server`. @defaultValue `process.env.PATH` */
  path?: string | undefined;
  /** Tells the user what was chosen. */
  log?: (line: string) => void;
}

/**
 * The Redis for a dev run.
 * @throws DevSetupError when nothing answers at `url` and there is no `redis-server` on `path`.
 */
export async function chooseRedis({
  url,
  path = process.env.PATH,
  log = () => {},
}: ChooseRedisOptions): Promise<DevRedis> {
  if (await redisAnswers(url)) return { url, private: undefined, stop: async () => {} };
  if (!findOnPath('redis-server', path)) throw new DevSetupError(noRedisHint(url));
  // Its own process group: the terminal's Ctrl-C must not stop Redis before the ingress and worker,
  // which still use it while they shut down.
  const redis = await startPrivateRedis({ detached: true });
  log(
    `pnpm dev: nothing answers at ${redactUrl(url)}; started a private redis-server at ${redis.url} for this run (it stops, with its data, when pnpm dev stops)`,
  );
  return { url: redis.url, private: redis, stop: () => redis.stop() };
}

/** Whether a Redis answers PING at `url` within about a second. */
export async function redisAnswers(url: string, timeoutMs = 1_000): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    enableOfflineQueue: false,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    if (probe.status !== 'end') probe.disconnect();
  }
}

/** The full path of an executable `command` in a `PATH`-style list, or `undefined`. */
export function findOnPath(command: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The one line printed when there is no Redis and no `redis-server`: how to get one. */
export function noRedisHint(url: string): string {
  const port = portOf(url);
  return (
    `pnpm dev: nothing answers at ${redactUrl(url)} and there is no redis-server on PATH to start a private one: ` +
    `install it (\`sudo apt-get install redis-server\` or \`brew install redis\`) and run pnpm dev again, ` +
    `or start one yourself (\`redis-server --port ${port} --daemonize yes\`)`
  );
}

/** The port a Redis URL names, Redis's 6379 when it names none (or cannot be read). */
export function portOf(url: string): number {
  try {
    return Number(new URL(url).port || 6379);
  } catch {
    return 6379;
  }
}

/** `url` without the password it may carry. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'REDIS_URL';
  }
}
