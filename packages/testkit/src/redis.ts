import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { test } from 'vitest';
import { freePort, killOnExit } from './child-process.ts';

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
  /** Working directory (AOF files, log); removed when the test process exits. */
  dir: string;
  /** Starts it again on the same port and directory after `stop()` or `kill()`; no-op while running. */
  start(): Promise<void>;
  /** Graceful `SHUTDOWN` (the AOF, when on, is flushed; no RDB is written); no-op when stopped. */
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
}

const REDIS_SERVER = 'redis-server';
const REDIS_IMAGE = 'redis:7.4-alpine';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
/** The container-runtime probe never takes longer than this, with or without a runtime. */
const PROBE_TIMEOUT_MS = 1_500;

/**
 * The Redis for a test run, chosen once per call in this order:
 * 1. testcontainers, when a container runtime answers its ping within ~1.5 s;
 * 2. `REDIS_URL`, when set (e.g. a CI service container);
 * 3. a private `redis-server` on a free port.
 * `stop()` stops only what this call started.
 */
export async function startRedis(): Promise<RedisHandle> {
  if (await containerRuntimeAvailable()) {
    try {
      return await startContainerRedis();
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
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  // Failures surface through the commands below; this only keeps ioredis from logging them too.
  client.on('error', () => {});
  try {
    await client.connect();
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    client.disconnect();
  }
}

/**
 * Starts a `redis-server` child bound to 127.0.0.1 with no RDB snapshots, in a fresh temp directory,
 * and resolves once it answers PING. It dies with the test process however that ends: an `exit` hook
 * kills it, and a watchdog shell reading the test process's pipe kills it (and removes the directory)
 * when the pipe closes, which also covers `SIGKILL` and vitest terminating a worker.
 */
export async function startPrivateRedis(opts: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'cl-redis-'));
  startWatchdog(dir);
  let port = opts.port ?? (await freePort());
  let child: ChildProcess | undefined;
  const args = () => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    opts.appendonly ? 'yes' : 'no',
    '--appendfsync',
    opts.appendfsync ?? 'everysec',
    '--dir',
    dir,
    '--pidfile',
    join(dir, 'redis.pid'),
    '--logfile',
    join(dir, 'redis.log'),
    '--daemonize',
    'no',
    ...(opts.extraArgs ?? []),
  ];

  async function start(): Promise<void> {
    if (child) return;
    child = await spawnRedis(args(), port, dir);
    const started = child;
    started.once('exit', () => {
      if (child === started) child = undefined;
    });
  }

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
      const running = child;
      if (!running) return;
      const exited = onceExit(running);
      await command(port, opts.appendonly ? ['SHUTDOWN'] : ['SHUTDOWN', 'NOSAVE']).catch(() => {});
      await Promise.race([exited, sleep(STOP_TIMEOUT_MS)]);
      if (running.exitCode === null && running.signalCode === null) {
        running.kill('SIGKILL');
        await exited;
      }
    },
    kill: async () => {
      const running = child;
      if (!running) return;
      const exited = onceExit(running);
      running.kill('SIGKILL');
      await exited;
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

/**
 * A `sh` child that blocks reading a pipe only this process holds open. When the test process ends in
 * any way, the pipe closes, `cat` returns, and the shell kills the redis-server named in the pidfile and
 * removes the directory. Redis removes its pidfile on a clean shutdown and `spawnRedis` removes it after
 * any other exit, so a stale pid is never signalled.
 */
function startWatchdog(dir: string): void {
  const script =
    'cat >/dev/null; pid=$(cat "$1/redis.pid" 2>/dev/null) && kill -9 "$pid"; rm -rf "$1"';
  const watchdog = spawn('/bin/sh', ['-c', script, 'cl-redis-watchdog', dir], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.on('error', () => {});
  watchdog.stdin?.on('error', () => {});
  watchdog.unref();
  (watchdog.stdin as Socket | null)?.unref();
}

async function spawnRedis(args: string[], port: number, dir: string): Promise<ChildProcess> {
  const pidfile = join(dir, 'redis.pid');
  const log = join(dir, 'redis.log');
  const child = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
  child.unref();
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  const pid = child.pid;
  const forget = pid === undefined ? () => true : killOnExit(pid);
  child.once('exit', () => {
    forget();
    // A SIGKILLed redis leaves its pidfile behind; the pid may be reused later, so forget it.
    if (pid !== undefined && readPid(pidfile) === pid) rmSync(pidfile, { force: true });
  });

  let reason = '';
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (spawnError) throw new Error(`cannot run ${REDIS_SERVER}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) break;
    const reply = await command(port, ['PING']).catch(() => undefined);
    if (reply === '+PONG') {
      // Something else may already listen on this port; make sure the answer came from our child.
      const info = await command(port, ['INFO', 'server']).catch(() => '');
      if (new RegExp(`process_id:${child.pid}\\r?\\n`).test(info)) return child;
      reason = 'port already in use by another redis-server';
      break;
    }
    await sleep(20);
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  const tail = (await readFile(log, 'utf8').catch(() => ''))
    .trim()
    .split('\n')
    .slice(-3)
    .join(' | ');
  throw new Error(
    `redis-server on port ${port} did not start: ${reason || tail || 'no log output (timed out)'}`,
  );
}

function readPid(pidfile: string): number | undefined {
  try {
    return Number(readFileSync(pidfile, 'utf8').trim());
  } catch {
    return undefined;
  }
}

function onceExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Sends one command over a fresh connection and returns the raw first reply (`+PONG`, `-ERR …`, or a
 * bulk string's content). Plain RESP over `net` instead of ioredis: while redis-server is starting or
 * stopping, ioredis would retry and log; this fails fast and quietly.
 */
function command(port: number, args: string[]): Promise<string> {
  const payload = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let data = '';
    const done = (error: Error | undefined, value?: string) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(value ?? '');
    };
    socket.setTimeout(1_000, () => done(new Error('timeout')));
    socket.on('error', (error) => done(error));
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
      const reply = parseReply(data);
      if (reply !== undefined) done(undefined, reply);
    });
    socket.on('end', () => done(new Error(`connection closed${data ? `: ${data}` : ''}`)));
  });
}

function parseReply(data: string): string | undefined {
  const lineEnd = data.indexOf('\r\n');
  if (lineEnd < 0) return undefined;
  if (data[0] !== '$') return data.slice(0, lineEnd);
  const length = Number(data.slice(1, lineEnd));
  if (length < 0) return '';
  const body = Buffer.from(data.slice(lineEnd + 2), 'utf8');
  return body.length >= length ? body.subarray(0, length).toString('utf8') : undefined;
}

// --- testcontainers --------------------------------------------------------------------------

async function startContainerRedis(): Promise<RedisHandle> {
  // Loaded only when a runtime answered: the docker client stack is heavy and useless otherwise.
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer(REDIS_IMAGE).start();
  return {
    url: container.getConnectionUrl(),
    kind: 'testcontainers',
    stop: async () => {
      await container.stop();
    },
  };
}

type Endpoint = { socketPath: string } | { host: string; port: number; tls: boolean };

/**
 * Whether a container runtime answers, checked the way testcontainers finds one (`tc.host` and
 * `docker.host` in ~/.testcontainers.properties, `DOCKER_HOST`, the usual root and rootless sockets)
 * but with a hard time bound and no logging: a missing socket costs a `stat`, a dead endpoint at most
 * `PROBE_TIMEOUT_MS`. A `docker` CLI without a daemon is ignored, since only the daemon matters.
 */
async function containerRuntimeAvailable(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const endpoints = runtimeEndpoints(env);
  if (endpoints.length === 0) return false;
  const pings = endpoints.map((endpoint) => pingRuntime(endpoint));
  return new Promise<boolean>((resolve) => {
    let pending = pings.length;
    for (const ping of pings) {
      void ping.then((ok) => {
        pending -= 1;
        if (ok) resolve(true);
        else if (pending === 0) resolve(false);
      });
    }
  });
}

function runtimeEndpoints(env: NodeJS.ProcessEnv): Endpoint[] {
  const properties = readTestcontainersProperties();
  const tlsVerify = (env.DOCKER_TLS_VERIFY ?? properties['docker.tls.verify']) === '1';
  const endpoints: Endpoint[] = [];
  for (const uri of [properties['tc.host'], properties['docker.host'], env.DOCKER_HOST]) {
    const endpoint = uri ? parseDockerHost(uri, tlsVerify) : undefined;
    if (endpoint) endpoints.push(endpoint);
  }
  const sockets = [
    '/var/run/docker.sock',
    env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'docker.sock') : undefined,
    join(homedir(), '.docker', 'run', 'docker.sock'),
    join(homedir(), '.docker', 'desktop', 'docker.sock'),
    join('/run', 'user', String(userInfo().uid), 'docker.sock'),
  ];
  for (const socketPath of sockets) {
    if (socketPath && existsSync(socketPath)) endpoints.push({ socketPath });
  }
  return endpoints.filter((e) => !('socketPath' in e) || existsSync(e.socketPath));
}

function parseDockerHost(uri: string, tls: boolean): Endpoint | undefined {
  try {
    const url = new URL(uri);
    if (url.protocol === 'unix:') return { socketPath: url.pathname };
    if (url.protocol === 'tcp:' || url.protocol === 'http:' || url.protocol === 'https:') {
      const port = Number(url.port || (tls || url.protocol === 'https:' ? 2376 : 2375));
      return { host: url.hostname, port, tls: tls || url.protocol === 'https:' };
    }
  } catch {
    // not a URL testcontainers could use either
  }
  return undefined;
}

function readTestcontainersProperties(): Record<string, string> {
  const properties: Record<string, string> = {};
  let text: string;
  try {
    text = readFileSync(join(homedir(), '.testcontainers.properties'), 'utf8');
  } catch {
    return properties;
  }
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([\w.]+)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (match?.[1] && match[2] !== undefined && !line.trimStart().startsWith('#')) {
      properties[match[1]] = match[2];
    }
  }
  return properties;
}

/** `GET /_ping` answered 200; over TLS (no client certificates here) an accepted TCP connection. */
function pingRuntime(endpoint: Endpoint): Promise<boolean> {
  return new Promise((resolve) => {
    if ('tls' in endpoint && endpoint.tls) {
      const socket = connect({ host: endpoint.host, port: endpoint.port });
      socket.setTimeout(PROBE_TIMEOUT_MS, () => socket.destroy());
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('close', () => resolve(false));
      socket.once('error', () => resolve(false));
      return;
    }
    const req = request(
      { ...endpoint, path: '/_ping', method: 'GET', timeout: PROBE_TIMEOUT_MS },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.on('close', () => resolve(false));
    req.end();
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
