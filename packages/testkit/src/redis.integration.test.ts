/**
 * The Redis harness: private redis-server lifecycles (these tests always use their own server, since
 * they stop and kill it), the harness choice, prefix isolation, and the `redisTest` fixture.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  deleteKeysWithPrefix,
  type PrivateRedis,
  redisTest,
  startPrivateRedis,
  startRedis,
  uniquePrefix,
} from './redis.ts';
import { waitFor } from './wait-for.ts';

const started: PrivateRedis[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((r) => r.stop()));
});

async function privateRedis(opts?: Parameters<typeof startPrivateRedis>[0]) {
  const redis = await startPrivateRedis(opts);
  started.push(redis);
  return redis;
}

/** One short-lived connection per call, so a stopped server leaves no reconnecting client behind. */
async function withClient<T>(url: string, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startPrivateRedis', () => {
  it('answers PING on 127.0.0.1 from a fresh temp dir', async () => {
    const redis = await privateRedis();
    expect(redis.kind).toBe('private');
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(redis.dir.startsWith(tmpdir())).toBe(true);
    await expect(withClient(redis.url, (c) => c.ping())).resolves.toBe('PONG');
    const save = await withClient(redis.url, (c) => c.config('GET', 'save'));
    expect(save).toEqual(['save', '']);
  });

  it('keeps the data across stop/start when AOF is on', async () => {
    const redis = await privateRedis({ appendonly: true, appendfsync: 'always' });
    await withClient(redis.url, (c) => c.set('k', 'kept'));
    await redis.stop();
    expect(await accepting(redis.port)).toBe(false);
    await redis.start();
    await expect(withClient(redis.url, (c) => c.get('k'))).resolves.toBe('kept');
  });

  it('loses the data across stop/start without AOF (SHUTDOWN NOSAVE, no RDB)', async () => {
    const redis = await privateRedis();
    await withClient(redis.url, (c) => c.set('k', 'gone'));
    await redis.stop();
    await redis.start();
    await expect(withClient(redis.url, (c) => c.get('k'))).resolves.toBeNull();
  });

  it('kill() SIGKILLs it; start() brings it back with what appendfsync always had written', async () => {
    const redis = await privateRedis({ appendonly: true, appendfsync: 'always' });
    await withClient(redis.url, (c) => c.set('k', 'fsynced'));
    await redis.kill();
    expect(await accepting(redis.port)).toBe(false);
    await redis.start();
    await expect(withClient(redis.url, (c) => c.get('k'))).resolves.toBe('fsynced');
  });

  it('refuses a port that another redis-server already holds', async () => {
    const first = await privateRedis();
    await expect(startPrivateRedis({ port: first.port })).rejects.toThrow(
      /did not start: .*in use/,
    );
    await expect(withClient(first.url, (c) => c.ping())).resolves.toBe('PONG');
  });

  it.each(['SIGKILL', 'exit'] as const)(
    'dies with the test process (%s), and its directory is removed',
    async (ending) => {
      const script = [
        `import { startPrivateRedis } from ${JSON.stringify(join(import.meta.dirname, 'redis.ts'))};`,
        'const redis = await startPrivateRedis();',
        'console.log(JSON.stringify({ port: redis.port, dir: redis.dir }));',
        // Exits only when told, after the test has seen the server up: exiting right after the
        // print raced the test's first look at the port.
        "process.stdin.once('data', () => process.exit(0));",
      ].join('\n');
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      try {
        const [line] = await createInterface({ input: child.stdout! })
          [Symbol.asyncIterator]()
          .next()
          .then((r) => [r.value as string]);
        const { port, dir } = JSON.parse(line ?? '{}') as { port: number; dir: string };
        expect(await accepting(port)).toBe(true);
        if (ending === 'SIGKILL') child.kill('SIGKILL');
        else child.stdin?.write('exit\n');
        await waitFor(async () => !(await accepting(port)) && !existsSync(dir), {
          timeoutMs: 5_000,
          message: 'the orphaned redis-server to be gone',
        });
      } finally {
        child.kill('SIGKILL');
      }
    },
  );

  it('its directory is removed when the test process dies while the server is stopped', async () => {
    const script = [
      `import { startPrivateRedis } from ${JSON.stringify(join(import.meta.dirname, 'redis.ts'))};`,
      'const redis = await startPrivateRedis();',
      'await redis.stop();',
      'console.log(redis.dir);',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const first = await createInterface({ input: child.stdout! })[Symbol.asyncIterator]().next();
      const dir = String(first.value);
      expect(existsSync(dir)).toBe(true);
      child.kill('SIGKILL');
      await waitFor(() => !existsSync(dir), {
        timeoutMs: 5_000,
        message: 'the directory to be removed',
      });
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('startRedis', () => {
  // These need a machine where the harness finds no container runtime; env points it at a dead one.
  const rootfulSocket = existsSync('/var/run/docker.sock');
  const rootlessSocket = existsSync(join('/run/user', String(userInfo().uid), 'docker.sock'));
  const saved = { ...process.env };
  let home: string | undefined;
  let silent: Server | undefined;

  afterEach(async () => {
    for (const key of ['DOCKER_HOST', 'REDIS_URL', 'HOME', 'XDG_RUNTIME_DIR']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    if (home) await rm(home, { recursive: true, force: true });
    if (silent) await new Promise((resolve) => silent?.close(resolve));
    home = undefined;
    silent = undefined;
  });

  /** DOCKER_HOST at a TCP port that accepts and never answers: the slowest kind of dead runtime. */
  async function deadRuntime() {
    home = await mkdtemp(join(tmpdir(), 'cl-home-'));
    // Reads (so it notices the probe hanging up) but never answers.
    silent = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent?.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    process.env.DOCKER_HOST = `tcp://127.0.0.1:${address.port}`;
    process.env.HOME = home;
    process.env.XDG_RUNTIME_DIR = home;
  }

  it.skipIf(rootfulSocket || rootlessSocket)(
    'without a container runtime or REDIS_URL: a private redis, decided within 2 s',
    async () => {
      await deadRuntime();
      delete process.env.REDIS_URL;
      const t0 = performance.now();
      const handle = await startRedis();
      try {
        expect(performance.now() - t0).toBeLessThan(2_500);
        expect(handle.kind).toBe('private');
        await expect(withClient(handle.url, (c) => c.ping())).resolves.toBe('PONG');
      } finally {
        await handle.stop();
      }
      expect(await accepting(Number(new URL(handle.url).port))).toBe(false);
    },
  );

  it.skipIf(rootfulSocket || rootlessSocket)(
    'with REDIS_URL: uses it, and stop() leaves that Redis running',
    async () => {
      const external = await privateRedis();
      await deadRuntime();
      process.env.REDIS_URL = external.url;
      const handle = await startRedis();
      expect(handle).toMatchObject({ kind: 'env', url: external.url });
      await handle.stop();
      await expect(withClient(external.url, (c) => c.ping())).resolves.toBe('PONG');
    },
  );
});

describe('uniquePrefix', () => {
  it('is hash-tagged and unique', () => {
    const a = uniquePrefix();
    expect(a).toMatch(/^\{cl-test-[0-9a-f-]{36}\}$/);
    expect(uniquePrefix()).not.toBe(a);
  });
});

let firstTest: { prefix: string; url: string } | undefined;

describe('redisTest', () => {
  redisTest('gives a working Redis and a fresh prefix', async ({ redis, redisUrl, prefix }) => {
    expect(redisUrl).toBe(redis.url);
    expect(['testcontainers', 'env', 'private']).toContain(redis.kind);
    await withClient(redisUrl, async (c) => {
      await c.set(`${prefix}:a`, '1');
      await c.hset(`${prefix}:h`, 'f', 'v');
      expect(await c.get(`${prefix}:a`)).toBe('1');
    });
    firstTest = { prefix, url: redisUrl };
  });

  redisTest('deleted the previous test prefix keys afterwards', async ({ prefix, redisUrl }) => {
    expect(firstTest).toBeDefined();
    expect(prefix).not.toBe(firstTest?.prefix);
    expect(redisUrl).toBe(firstTest?.url);
    const left = await withClient(redisUrl, (c) => c.keys(`${firstTest?.prefix}*`));
    expect(left).toEqual([]);
  });

  redisTest('deleteKeysWithPrefix deletes only its prefix', async ({ redisUrl, prefix }) => {
    const other = uniquePrefix();
    // A key that starts like `prefix` but is not under it: the closing brace is part of the prefix.
    const lookalike = `${prefix.slice(0, -1)}0}:x`;
    try {
      await withClient(redisUrl, async (c) => {
        const pipeline = c.pipeline();
        for (let i = 0; i < 1500; i += 1) pipeline.set(`${prefix}:k${i}`, '1');
        pipeline.set(`${other}:keep`, '1');
        pipeline.set(`${other}*:literal-star`, '1');
        pipeline.set(lookalike, '1');
        await pipeline.exec();
      });
      await expect(deleteKeysWithPrefix(redisUrl, prefix)).resolves.toBe(1500);
      // `*` in a prefix is a literal, not a glob: only the key that really starts with it goes.
      await expect(deleteKeysWithPrefix(redisUrl, `${other}*`)).resolves.toBe(1);
      await withClient(redisUrl, async (c) => {
        expect(await c.exists(`${prefix}:k0`, `${prefix}:k1499`)).toBe(0);
        expect(await c.get(`${other}:keep`)).toBe('1');
        expect(await c.get(lookalike)).toBe('1');
      });
    } finally {
      await deleteKeysWithPrefix(redisUrl, other);
      await withClient(redisUrl, (c) => c.del(lookalike));
    }
  });

  it('deleteKeysWithPrefix refuses an empty or short prefix', async () => {
    await expect(deleteKeysWithPrefix('redis://127.0.0.1:1', '')).rejects.toThrow(/short prefix/);
  });
});
